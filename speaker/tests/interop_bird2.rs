//! tern against BIRD 2 (`bird2` package) on loopback.

mod interop;

use interop::peers::Daemon;
use interop::scenario::{check_route_refresh, check_routes, Kind};

#[test]
fn interop_bird2_ipv4_routes() {
    check_routes(Kind::Bird2, 1, false);
}

#[test]
fn interop_bird2_ipv6_routes() {
    check_routes(Kind::Bird2, 2, true);
}

#[test]
fn interop_bird2_ipv4_route_refresh() {
    check_route_refresh(Kind::Bird2, 3, false);
}

#[test]
fn interop_bird2_ipv6_route_refresh() {
    check_route_refresh(Kind::Bird2, 4, true);
}

/// The harness's reading of `birdc show route all` (a second route of a
/// prefix on a line of its own, attributes under each).
#[test]
fn interop_harness_parses_bird_routes() {
    use interop::bird::parse_routes;
    let out = "BIRD 2.0.12 ready.\nTable master4:\n\
            10.1.0.0/24          unreachable [tern4 05:16:37.066 from 127.77.1.1] * (100) [AS65001?]\n\
            \tType: BGP univ\n\tBGP.as_path: 65001\n\tBGP.next_hop: 127.77.1.1\n\
            \x20                    unreachable [tern4 05:16:38.066 from 127.77.1.1] (100) [AS65001?]\n\
            \tBGP.as_path: 65001 65009\n\
            10.2.0.0/24          blackhole [s4 05:16:31.009] * (200)\n\tType: static univ\n";
    let r = parse_routes(out);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].prefix, "10.1.0.0/24");
    assert!(r[0].primary && !r[1].primary);
    assert_eq!(r[1].prefix, "10.1.0.0/24");
    assert_eq!(r[1].attr("BGP.as_path"), Some("65001 65009"));
    assert_eq!(r[0].from, Some("127.77.1.1".parse().expect("ip")));
    assert_eq!(r[2].proto, "s4");
    assert_eq!(r[2].kind, "blackhole");
}

/// Enhanced route refresh (RFC 7313) negotiated with BIRD 2 (which
/// announces it by default): refreshes both ways are framed by BoRR/EoRR
/// and leave every route in place, none stale.
#[test]
fn interop_bird2_ipv4_enhanced_route_refresh() {
    let (tern, bird, name) = interop::scenario::pair(Kind::Bird2, 5, false, |_| {});
    let mut spec = interop::scenario::spec_for(&tern, Kind::Bird2, 2, interop::scenario::DAEMON_AS, false);
    spec.fsm.enhanced_route_refresh = true;
    tern.reset_peer(spec);
    bird.wait_established(false);
    tern.wait_established(&name);
    let caps = tern.peer(&name).peer_capabilities;
    assert!(caps.iter().any(|c| c == "enhanced-refresh"), "BIRD announced enhanced route refresh: {caps:?}");
    interop::scenario::route_refresh(&tern, bird.as_ref(), &name, 2, false);
}

/// 2,000 prefixes each way in IPv4 and in IPv6 (many NLRI per UPDATE, as
/// both sides pack them): every one arrives, and every one is withdrawn.
#[test]
fn interop_bird2_many_prefixes() {
    for (n, v6) in [(6u8, false), (7, true)] {
        let (tern, bird, name) = many_prefixes_pair(n, v6);
        interop::wait_for(&format!("BIRD to hold tern's 2000 prefixes (IPv6: {v6})"), || {
            let got = bird.learned(v6).len();
            if got == 2000 {
                Ok(())
            } else {
                Err(got)
            }
        });
        interop::wait_for(&format!("tern to hold BIRD's 2000 prefixes (IPv6: {v6})"), || {
            let got = tern.routes_from(&name).len();
            if got == 2000 {
                Ok(())
            } else {
                Err(got)
            }
        });
        for p in many(1, v6) {
            tern.withdraw(&p);
        }
        bird.withdraw_static("many");
        interop::wait_for("BIRD to drop them all", || match bird.learned(v6).len() {
            0 => Ok(()),
            n => Err(n),
        });
        interop::wait_for("tern to drop them all", || match tern.routes_from(&name).len() {
            0 => Ok(()),
            n => Err(n),
        });
    }
}

/// 2,000 prefixes of source `k`: 172.(16+k).x.y/28 or 2001:db8:f00k::x:y0/124.
fn many(k: u8, v6: bool) -> Vec<String> {
    (0..2000u32)
        .map(|i| {
            if v6 {
                format!("2001:db8:f00{k}::{:x}:{:x}0/124", i / 256, i % 256)
            } else {
                format!("172.{}.{}.{}/28", 16 + k, i / 16, (i % 16) * 16)
            }
        })
        .collect()
}

fn many_prefixes_pair(n: u8, v6: bool) -> (interop::tern::Tern, interop::peers::BirdPeer, String) {
    use interop::peers::{BirdPeer, Opts};
    use interop::scenario::{peer_name, spec_for, DAEMON_AS};
    let net = interop::Net::new(n);
    let tern = interop::tern::Tern::start(net);
    for p in many(1, v6) {
        tern.originate(&p, None);
    }
    let routes: String = many(2, v6).iter().map(|p| format!("route {p} blackhole; ")).collect();
    let opts = Opts {
        asn: DAEMON_AS,
        ipv4: !v6,
        ipv6: v6,
        bird_extra: format!("protocol static many {{ {} {routes} }}\n", if v6 { "ipv6;" } else { "ipv4;" }),
        ..Opts::default()
    };
    let bird = BirdPeer::bird2(net, 2, &opts);
    tern.add_peer(spec_for(&tern, Kind::Bird2, 2, DAEMON_AS, v6));
    (tern, bird, peer_name(2, v6))
}
