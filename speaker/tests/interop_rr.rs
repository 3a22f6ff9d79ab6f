//! tern as route reflector (RFC 4456) for BIRD 2, BIRD 1.6, GoBGP and
//! FRR clients: each client's table shows the others' routes with the
//! originator's router ID as ORIGINATOR_ID and tern's cluster ID as
//! CLUSTER_LIST.

mod interop;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use interop::peers::{Daemon, Opts};
use interop::scenario::{norm, prefixes, spec_for, start_daemon, Kind};
use interop::tern::{Tern, TERN_AS};
use interop::{wait_for, Net};

#[test]
fn interop_rr_reflects_between_bird2_bird1_gobgp_and_frr_clients() {
    let net = Net::new(70);
    let cluster = Ipv4Addr::new(10, 254, net.n, 1);
    let tern = Tern::start_with(net, |rib| rib.cluster_id = Some(cluster));
    let clients = [(2u8, Kind::Bird2), (3, Kind::Gobgp), (4, Kind::Bird1), (5, Kind::Frr)];
    let mut daemons: Vec<(u8, Box<dyn Daemon>)> = Vec::new();
    for (k, kind) in clients {
        // GoBGP drops routes with a loopback next hop, FRR resets the
        // session over one, and tern reflects next hops unchanged: every
        // client announces 192.0.2.k, not itself.
        let opts = Opts {
            asn: TERN_AS,
            ipv4: true,
            v4_prefixes: vec![prefixes(net, k, false)[0].clone()],
            v4_next_hop: Some(Ipv4Addr::new(192, 0, 2, k)),
            ..Opts::default()
        };
        daemons.push((k, start_daemon(kind, net, k, &opts)));
        let mut spec = spec_for(&tern, kind, k, TERN_AS, false);
        spec.rr_client = true;
        tern.add_peer(spec);
    }
    for (k, d) in &daemons {
        d.wait_established(false);
        tern.wait_established(&interop::scenario::peer_name(*k, false));
    }
    for (k, d) in &daemons {
        let others: BTreeSet<String> =
            daemons.iter().filter(|(o, _)| o != k).map(|(o, _)| norm(&prefixes(net, *o, false)[0])).collect();
        let routes = wait_for(&format!("{} to hold the other clients' routes", d.label()), || {
            let routes = d.learned(false);
            let got: BTreeSet<String> = routes.iter().map(|r| norm(&r.prefix)).collect();
            if got == others {
                Ok(routes)
            } else {
                Err(routes)
            }
        });
        for r in &routes {
            let origin = daemons
                .iter()
                .find(|(o, _)| norm(&prefixes(net, *o, false)[0]) == norm(&r.prefix))
                .map(|(o, _)| *o)
                .expect("a client's prefix");
            let originator = Ipv4Addr::new(10, 255, net.n, origin).to_string();
            assert_eq!(r.originator_id.as_deref(), Some(originator.as_str()), "ORIGINATOR_ID in {}: {r:?}", d.label());
            assert_eq!(r.cluster_list, vec![cluster.to_string()], "CLUSTER_LIST in {}: {r:?}", d.label());
            assert!(r.as_path.is_empty(), "iBGP reflection leaves the AS path empty: {r:?}");
        }
    }
}
