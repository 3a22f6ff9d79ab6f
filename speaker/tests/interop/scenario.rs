//! Scenarios every daemon goes through, written once against [`Daemon`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use bgp_proto::Family;
use speaker::engine::RouteInfo;

use super::peers::{BirdPeer, Daemon, FrrPeer, GobgpPeer, Opts, Seen};
use super::tern::{Tern, V4, V6};
use super::{wait_for, Net};

/// Prefixes tern originates in test `n`: 10.n.1.0/24, 10.n.11.0/24 or
/// 2001:db8:n:1::/64, 2001:db8:n:11::/64.
pub fn tern_prefixes(net: Net, v6: bool) -> Vec<String> {
    prefixes(net, 1, v6)
}

/// Prefixes daemon `k` originates: 10.n.k.0/24, 10.n.(10+k).0/24 (or IPv6).
pub fn prefixes(net: Net, k: u8, v6: bool) -> Vec<String> {
    let n = net.n;
    if v6 {
        vec![format!("2001:db8:{n}:{k}::/64"), format!("2001:db8:{n}:{}::/64", 10 + u16::from(k))]
    } else {
        vec![format!("10.{n}.{k}.0/24"), format!("10.{n}.{}.0/24", 10 + k)]
    }
}

pub fn norm(prefix: &str) -> String {
    prefix.parse::<ipnet::IpNet>().map(|p| p.to_string()).unwrap_or_else(|_| prefix.to_string())
}

pub fn set(prefixes: &[String]) -> BTreeSet<String> {
    prefixes.iter().map(|p| norm(p)).collect()
}

pub fn seen_set(routes: &[Seen]) -> BTreeSet<String> {
    routes.iter().map(|r| norm(&r.prefix)).collect()
}

pub fn tern_set(routes: &[RouteInfo]) -> BTreeSet<String> {
    routes.iter().map(|r| r.prefix.prefix.to_string()).collect()
}

pub fn family(v6: bool) -> Family {
    if v6 {
        V6
    } else {
        V4
    }
}

/// Waits until the daemon's table holds exactly `want` from tern; returns those routes.
pub fn wait_daemon_has(d: &dyn Daemon, v6: bool, want: &[String]) -> Vec<Seen> {
    let want = set(want);
    wait_for(&format!("{} to hold exactly {want:?} from tern", d.label()), || {
        let routes = d.learned(v6);
        if seen_set(&routes) == want {
            Ok(routes)
        } else {
            Err(routes)
        }
    })
}

/// Waits until tern's table holds exactly `want` from peer `name`.
pub fn wait_tern_has(tern: &Tern, name: &str, want: &[String]) -> Vec<RouteInfo> {
    let want = set(want);
    wait_for(&format!("tern to hold exactly {want:?} from {name}"), || {
        let routes = tern.routes_from(name);
        if tern_set(&routes) == want {
            Ok(routes)
        } else {
            Err(format!(
                "{routes:#?}\nall routes: {:#?}\npeer: {:#?}",
                tern.routes(Default::default()),
                tern.peer(name)
            ))
        }
    })
}

/// The AS numbers of a tern route's AS_PATH.
pub fn tern_as_path(r: &RouteInfo) -> Vec<u32> {
    r.attrs.as_path.as_ref().map(|p| p.segments.iter().flat_map(|s| s.asns.clone()).collect()).unwrap_or_default()
}

/// Routes flow both ways and withdrawals propagate both ways, for one
/// family: tern originates two prefixes and the daemon shows them with AS
/// path `65001` and `next_hop`; the daemon's two prefixes show in tern's
/// table with the daemon's AS; one withdrawn on each side disappears on
/// the other; announced again, it comes back.
///
/// The peer must already be added to tern as [`peer_name`]`(k, v6)`.
pub fn routes_both_ways(kind: Kind, tern: &Tern, d: &dyn Daemon, k: u8, daemon_as: u32, v6: bool) {
    let net = tern.net;
    let name = &peer_name(k, v6);
    let next_hop = expected_next_hop(kind, net, v6);
    let ours = tern_prefixes(net, v6);
    let theirs = prefixes(net, k, v6);
    d.wait_established(v6);
    tern.wait_established(name);

    let seen = wait_daemon_has(d, v6, &ours);
    for r in &seen {
        let want_path = if daemon_as == tern.asn { vec![] } else { vec![tern.asn] };
        assert_eq!(r.as_path, want_path, "AS path of {} in {}", r.prefix, d.label());
        assert_eq!(
            r.next_hop.parse::<IpAddr>().ok(),
            Some(next_hop),
            "next hop of {} in {}: {r:?}",
            r.prefix,
            d.label()
        );
    }
    let got = wait_tern_has(tern, name, &theirs);
    let want_hop = daemon_next_hop(kind, net, k, v6);
    for r in &got {
        assert_eq!(tern_next_hop_of(r), Some(want_hop), "next hop of {:?} in tern: {r:#?}", r.prefix);
        if daemon_as != tern.asn {
            assert_eq!(tern_as_path(r), vec![daemon_as], "AS path of {:?} in tern", r.prefix);
        }
        assert!(r.best, "{:?} from {name} is tern's best route: {r:?}", r.prefix);
        assert!(!r.stale);
    }

    // Withdrawals, both ways.
    tern.withdraw(&ours[0]);
    wait_daemon_has(d, v6, &ours[1..]);
    d.withdraw(&theirs[0]);
    wait_tern_has(tern, name, &theirs[1..]);

    // And back.
    tern.originate(&ours[0], kind.keeps_next_hop().then(|| tern_next_hop(net, v6)));
    d.announce(&theirs[0]);
    wait_daemon_has(d, v6, &ours);
    wait_tern_has(tern, name, &theirs);
}

/// Route refresh both ways: tern asks the daemon for its routes again and
/// counts them coming in again; the daemon asks tern and counts tern's
/// routes again. Tables stay as they were and no session restarts.
pub fn route_refresh(tern: &Tern, d: &dyn Daemon, name: &str, k: u8, v6: bool) {
    let net = tern.net;
    let ours = tern_prefixes(net, v6);
    let theirs = prefixes(net, k, v6);
    d.wait_established(v6);
    tern.wait_established(name);
    wait_daemon_has(d, v6, &ours);
    wait_tern_has(tern, name, &theirs);
    let before = tern.peer(name);

    // tern → daemon: ROUTE-REFRESH; the daemon counts it where it can and
    // re-sends its two routes.
    let refreshes = d.refreshes_received(v6);
    tern.route_refresh(name, family(v6));
    if let Some(before) = refreshes {
        wait_for(&format!("{} to count tern's ROUTE-REFRESH", d.label()), || match d.refreshes_received(v6) {
            Some(now) if now == before + 1 => Ok(()),
            other => Err((before, other)),
        });
    }
    let after = wait_for("tern to count the re-sent routes", || {
        let p = tern.peer(name);
        if p.updates_in > before.updates_in {
            Ok(p)
        } else {
            Err((before.updates_in, p.updates_in))
        }
    });
    assert_eq!(after.transitions, before.transitions, "the session did not restart");
    wait_tern_has(tern, name, &theirs);
    // With enhanced route refresh the peer's BoRR marks them stale and its
    // EoRR sweeps what was not re-sent: all were, so none stays stale.
    wait_for("no stale route after the refresh", || {
        let routes = tern.routes_from(name);
        if routes.iter().all(|r| !r.stale) && tern_set(&routes) == set(&theirs) {
            Ok(())
        } else {
            Err(format!("{routes:#?}"))
        }
    });

    // daemon → tern: the daemon asks, tern re-sends.
    let count = d.received_count(v6);
    if !d.refresh_in(v6) {
        return;
    }
    wait_for(&format!("{} to count tern's routes again", d.label()), || {
        let now = d.received_count(v6);
        if now > count {
            Ok(())
        } else {
            Err((count, now))
        }
    });
    wait_daemon_has(d, v6, &ours);
    assert_eq!(tern.peer(name).transitions, before.transitions, "the session did not restart");
}

/// NEXT_HOP, or MP_REACH_NLRI's (global) next hop, of a route in tern.
pub fn tern_next_hop_of(r: &RouteInfo) -> Option<IpAddr> {
    use bgp_proto::attribute::MpNextHop;
    if let Some(mp) = &r.attrs.mp_reach {
        return match mp.next_hop {
            MpNextHop::V4(a) => Some(IpAddr::V4(a)),
            MpNextHop::V6(a) => Some(IpAddr::V6(a)),
            MpNextHop::V6LinkLocal { global, .. } => Some(IpAddr::V6(global)),
            _ => None,
        };
    }
    r.attrs.next_hop.map(IpAddr::V4)
}

/// The next hop daemon `k` announces its own routes with: its session
/// address for IPv4; for IPv6 BIRD is given 2001:db8:n:k::1 (it will not
/// announce ::1 to a neighbor at ::1), GoBGP and FRR send ::1.
pub fn daemon_next_hop(kind: Kind, net: Net, k: u8, v6: bool) -> IpAddr {
    match (kind, v6) {
        (_, false) => IpAddr::V4(net.v4(k)),
        (Kind::Bird2 | Kind::Bird1, true) => super::peers::daemon_v6_next_hop(net, k).parse().expect("address"),
        (Kind::Gobgp | Kind::Frr, true) => IpAddr::V6(net.v6()),
    }
}

/// Which real daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bird2,
    Bird1,
    Gobgp,
    Frr,
}

impl Kind {
    /// GoBGP treats a loopback NEXT_HOP as invalid (treat-as-withdraw) and
    /// FRR resets the session over a martian one, so towards them tern
    /// keeps the explicit next hop it originates with ([`tern_next_hop`]);
    /// towards BIRD it uses its own session address (127.77.n.1 / ::1).
    pub fn keeps_next_hop(self) -> bool {
        matches!(self, Kind::Gobgp | Kind::Frr)
    }
}

/// The explicit next hop of tern's routes where [`Kind::keeps_next_hop`]:
/// 192.0.2.n or 2001:db8:n:1::1.
pub fn tern_next_hop(net: Net, v6: bool) -> IpAddr {
    if v6 {
        format!("2001:db8:{}:1::1", net.n).parse().expect("address")
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, net.n))
    }
}

/// The next hop the daemon should show on tern's routes.
pub fn expected_next_hop(kind: Kind, net: Net, v6: bool) -> IpAddr {
    match (kind.keeps_next_hop(), v6) {
        (true, _) => tern_next_hop(net, v6),
        (false, false) => IpAddr::V4(net.v4(1)),
        (false, true) => IpAddr::V6(net.v6()),
    }
}

pub fn start_daemon(kind: Kind, net: Net, k: u8, opts: &Opts) -> Box<dyn Daemon> {
    match kind {
        Kind::Bird2 => Box::new(BirdPeer::bird2(net, k, opts)),
        Kind::Bird1 => Box::new(BirdPeer::bird1(net, k, opts)),
        Kind::Gobgp => Box::new(GobgpPeer::start(net, k, opts)),
        Kind::Frr => Box::new(FrrPeer::start(net, k, opts)),
    }
}

/// The name tern gives daemon `k`'s session of a family.
pub fn peer_name(k: u8, v6: bool) -> String {
    format!("d{k}_{}", if v6 { "v6" } else { "v4" })
}

/// tern's spec for daemon `k`'s session of a family.
pub fn spec_for(tern: &Tern, kind: Kind, k: u8, asn: u32, v6: bool) -> speaker::engine::PeerSpec {
    let net = tern.net;
    let addr = if v6 { IpAddr::V6(net.v6()) } else { IpAddr::V4(net.v4(k)) };
    let mut spec = tern.spec(&peer_name(k, v6), addr, net.port(k), asn);
    if kind.keeps_next_hop() {
        spec.next_hop = speaker::rib::NextHopMode::Keep;
    }
    spec
}

/// tern originating its two prefixes of the family, daemon 2 of `kind`
/// (AS 65002 unless `tweak` says otherwise) with its own two, and the
/// family's session configured on both sides.
pub fn pair(kind: Kind, n: u8, v6: bool, tweak: impl FnOnce(&mut Opts)) -> (Tern, Box<dyn Daemon>, String) {
    let net = Net::new(n);
    let tern = Tern::start(net);
    for p in tern_prefixes(net, v6) {
        tern.originate(&p, kind.keeps_next_hop().then(|| tern_next_hop(net, v6)));
    }
    let mut o = Opts { asn: DAEMON_AS, ipv4: !v6, ipv6: v6, ..Opts::default() };
    if v6 {
        o.v6_prefixes = prefixes(net, 2, true);
    } else {
        o.v4_prefixes = prefixes(net, 2, false);
    }
    tweak(&mut o);
    let daemon = start_daemon(kind, net, 2, &o);
    let mut spec = spec_for(&tern, kind, 2, o.asn, v6);
    spec.password = o.password.clone();
    tern.add_peer(spec);
    (tern, daemon, peer_name(2, v6))
}

pub const DAEMON_AS: u32 = 65002;

/// [`routes_both_ways`] for daemon 2 of `kind` in test `n`.
pub fn check_routes(kind: Kind, n: u8, v6: bool) {
    let (tern, d, _) = pair(kind, n, v6, |_| {});
    routes_both_ways(kind, &tern, d.as_ref(), 2, DAEMON_AS, v6);
}

/// [`route_refresh`] for daemon 2 of `kind` in test `n`.
pub fn check_route_refresh(kind: Kind, n: u8, v6: bool) {
    let (tern, d, name) = pair(kind, n, v6, |_| {});
    route_refresh(&tern, d.as_ref(), &name, 2, v6);
}
