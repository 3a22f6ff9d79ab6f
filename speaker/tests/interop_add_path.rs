//! ADD-PATH (RFC 7911) against BIRD 2 and GoBGP: several paths for one
//! prefix, in both directions.

mod interop;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use bgp_proto::capability::AddPathMode;
use interop::peers::{BirdPeer, Daemon, Opts};
use interop::scenario::{peer_name, spec_for, start_daemon, Kind};
use interop::tern::{Tern, TERN_AS, V4};
use interop::{wait_for, Net};
use speaker::rib::AddPathSend;

/// The one prefix with several paths in test `n`.
fn prefix(net: Net) -> String {
    format!("10.{}.99.0/24", net.n)
}

/// BIRD 2 daemons 3 (AS 65003) and 4 (AS 65004), both announcing the
/// prefix to tern, with next hops 192.0.2.3 and 192.0.2.4.
fn upstreams(tern: &Tern) -> Vec<BirdPeer> {
    let net = tern.net;
    [3u8, 4]
        .into_iter()
        .map(|k| {
            let asn = 65000 + u32::from(k);
            let opts = Opts {
                asn,
                ipv4: true,
                v4_prefixes: vec![prefix(net)],
                v4_next_hop: Some(Ipv4Addr::new(192, 0, 2, k)),
                ..Opts::default()
            };
            let bird = BirdPeer::bird2(net, k, &opts);
            tern.add_peer(spec_for(tern, Kind::Bird2, k, asn, false));
            bird
        })
        .collect()
}

/// The AS paths the daemon shows for the prefix, from tern.
fn paths(d: &dyn Daemon, net: Net) -> BTreeSet<Vec<u32>> {
    d.learned(false).into_iter().filter(|r| r.prefix == prefix(net)).map(|r| r.as_path).collect()
}

/// tern learns the prefix from two upstreams and sends both paths to a
/// daemon that negotiated ADD-PATH receive; the daemon's own table shows
/// both; when one upstream withdraws, the daemon keeps only the other.
fn tern_sends_both_paths(kind: Kind, n: u8) {
    let net = Net::new(n);
    let tern = Tern::start(net);
    let ups = upstreams(&tern);
    let opts = Opts { asn: 65002, ipv4: true, add_path_rx: true, ..Opts::default() };
    let d = start_daemon(kind, net, 2, &opts);
    let mut spec = spec_for(&tern, kind, 2, 65002, false);
    spec.fsm.add_path = vec![(V4, AddPathMode::Send)];
    spec.add_path_send = AddPathSend::All;
    tern.add_peer(spec);
    d.wait_established(false);

    let both: BTreeSet<Vec<u32>> = [vec![TERN_AS, 65003], vec![TERN_AS, 65004]].into_iter().collect();
    wait_for(&format!("{} to show both paths of {}", d.label(), prefix(net)), || {
        let got = paths(d.as_ref(), net);
        if got == both {
            Ok(())
        } else {
            Err(d.learned(false))
        }
    });

    ups[0].withdraw(&prefix(net));
    let one: BTreeSet<Vec<u32>> = [vec![TERN_AS, 65004]].into_iter().collect();
    wait_for(&format!("{} to keep only the path through AS 65004", d.label()), || {
        if paths(d.as_ref(), net) == one {
            Ok(())
        } else {
            Err(d.learned(false))
        }
    });
}

#[test]
fn interop_bird2_add_path_rx_shows_both_paths_from_tern() {
    tern_sends_both_paths(Kind::Bird2, 50);
}

#[test]
fn interop_gobgp_add_path_rx_shows_both_paths_from_tern() {
    tern_sends_both_paths(Kind::Gobgp, 51);
}

/// BIRD 2 holds two routes for the prefix (two static protocols, MED 10
/// and 20 on export) and sends both with `add paths tx`; tern, with
/// ADD-PATH receive, holds both paths from that one peer, one of them best
/// (the lower MED).
#[test]
fn interop_bird2_add_path_tx_tern_holds_both_paths() {
    let net = Net::new(52);
    let tern = Tern::start(net);
    let p = prefix(net);
    let opts = Opts {
        asn: 65002,
        ipv4: true,
        bird_extra: format!(
            "protocol static pa {{ ipv4; route {p} blackhole; }}\nprotocol static pb {{ ipv4; route {p} blackhole; }}\n"
        ),
        bird_export: Some(
            "export filter { if proto = \"pa\" then { bgp_med = 10; accept; } \
             if proto = \"pb\" then { bgp_med = 20; accept; } reject; };"
                .to_string(),
        ),
        bird_channel: "add paths tx;".to_string(),
        ..Opts::default()
    };
    let bird = BirdPeer::bird2(net, 2, &opts);
    let mut spec = spec_for(&tern, Kind::Bird2, 2, 65002, false);
    spec.fsm.add_path = vec![(V4, AddPathMode::Receive)];
    tern.add_peer(spec);
    bird.wait_established(false);
    let name = peer_name(2, false);
    let routes = wait_for(&format!("tern to hold two paths of {p} from {name}"), || {
        let r = tern.routes_from(&name);
        if r.len() == 2 && r.iter().all(|r| r.prefix.prefix.to_string() == p) {
            Ok(r)
        } else {
            Err(format!("{r:#?}"))
        }
    });
    let meds: BTreeSet<Option<u32>> = routes.iter().map(|r| r.attrs.med).collect();
    assert_eq!(meds, [Some(10), Some(20)].into_iter().collect(), "{routes:#?}");
    let best: Vec<_> = routes.iter().filter(|r| r.best).collect();
    assert_eq!(best.len(), 1, "one best path: {routes:#?}");
    assert_eq!(best[0].attrs.med, Some(10), "the lower MED wins");

    // One of them withdrawn: tern keeps the other.
    bird.withdraw_static("pa");
    wait_for("tern to keep only the MED 20 path", || {
        let r = tern.routes_from(&name);
        if r.len() == 1 && r[0].attrs.med == Some(20) {
            Ok(())
        } else {
            Err(format!("{r:#?}"))
        }
    });
}
