//! Graceful restart as the receiving speaker (RFC 4724 §4.2): a lost
//! peer's routes are kept as stale, replaced as it re-advertises, and swept
//! at its End-of-RIB or when the deadline passes; Hard Reset skips it.

mod rib_common;

use std::time::Instant;

use bgp_proto::{PathAttributes, Update};
use rib_common::*;
use speaker::rib::{FibChange, Input, PeerId, PeerInfo, Rib};

fn gr_peer(n: u8) -> PeerInfo {
    let mut i = info(n, 65001);
    i.graceful_restart = Some(secs(120));
    i
}

/// Peer 1 (GR, eBGP) with two routes, peer 2 (eBGP) receiving them.
fn setup(now: Instant) -> Rib {
    let mut rib = rib();
    rib.handle(now, Input::PeerUp { peer: PeerId(1), info: gr_peer(1) });
    rib.handle(now, Input::PeerUp { peer: PeerId(2), info: info(2, 65002) });
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/24"]);
    rib
}

#[test]
fn stale_routes_are_kept_then_swept_at_end_of_rib() {
    let now = Instant::now();
    let mut rib = setup(now);
    let out = rib.handle(now, Input::PeerDown { peer: PeerId(1), graceful: true });
    assert!(out.is_empty(), "nothing withdrawn, nothing removed from the FIB: {out:?}");
    let stale = rib.adj_rib_in(PeerId(1));
    assert_eq!(stale.len(), 2);
    assert!(stale.iter().all(|r| r.3));
    assert_eq!(rib.next_deadline(), Some(now + secs(120)));

    let later = now + secs(30);
    rib.handle(later, Input::PeerUp { peer: PeerId(1), info: gr_peer(1) });
    // Re-advertised with a new attribute set: replaces the stale route.
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.11"), &["10.2.0.0/24"]);
    assert_eq!(
        fib(&out),
        [FibChange::Replace { family: V4, prefix: net("10.2.0.0/24"), next_hops: vec![ip("10.0.0.11")] }]
    );
    let fresh: Vec<bool> = rib.adj_rib_in(PeerId(1)).iter().map(|r| r.3).collect();
    assert_eq!(fresh, [false, true]);
    // End-of-RIB: what was not re-advertised goes.
    let out = rib.handle(later, Input::Update { peer: PeerId(1), update: Update::end_of_rib(V4) });
    assert_eq!(withdrawn_to(&out, 2), [net("10.3.0.0/24")]);
    assert_eq!(fib(&out), [FibChange::Remove { family: V4, prefix: net("10.3.0.0/24") }]);
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 1);
    assert_eq!(rib.next_deadline(), None);
}

#[test]
fn stale_routes_are_swept_at_the_deadline() {
    let now = Instant::now();
    let mut rib = setup(now);
    rib.handle(now, Input::PeerDown { peer: PeerId(1), graceful: true });
    assert!(rib.handle_timeout(now + secs(119)).is_empty());
    let out = rib.handle_timeout(now + secs(120));
    let mut w = withdrawn_to(&out, 2);
    w.sort();
    assert_eq!(w, [net("10.2.0.0/24"), net("10.3.0.0/24")]);
    assert_eq!(fib(&out).len(), 2);
    assert!(rib.adj_rib_in(PeerId(1)).is_empty());
    assert_eq!(rib.next_deadline(), None);
}

#[test]
fn hard_reset_skips_graceful_restart() {
    let now = Instant::now();
    let mut rib = setup(now);
    let out = rib.handle(now, Input::PeerDown { peer: PeerId(1), graceful: false });
    assert_eq!(withdrawn_to(&out, 2).len(), 2);
    assert_eq!(rib.next_deadline(), None);
}

#[test]
fn peer_back_without_graceful_restart_loses_stale_routes() {
    let now = Instant::now();
    let mut rib = setup(now);
    rib.handle(now, Input::PeerDown { peer: PeerId(1), graceful: true });
    let out = rib.handle(now + secs(5), Input::PeerUp { peer: PeerId(1), info: info(1, 65001) });
    assert_eq!(fib(&out).len(), 2);
    assert!(rib.adj_rib_in(PeerId(1)).is_empty());
}

/// A restarting RIB deferring selection until two GR peers are done.
fn restarting() -> Rib {
    let mut c = speaker::rib::RibConfig::new(LOCAL_AS, ROUTER_ID);
    c.selection_deferral = Some(speaker::rib::SelectionDeferral { time: secs(60), gr_peers: 2 });
    Rib::new(c)
}

fn deferral_setup(now: Instant) -> (Rib, Vec<speaker::rib::Output>) {
    let mut rib = restarting();
    let mut out = Vec::new();
    for (n, i) in [(1, gr_peer(1)), (2, gr_peer(2)), (3, info(3, 65003))] {
        out.extend(rib.handle(now, Input::PeerUp { peer: PeerId(n), info: i }));
    }
    out.extend(announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]));
    for f in [V4, V6] {
        out.extend(rib.handle(now, Input::Update { peer: PeerId(1), update: Update::end_of_rib(f) }));
    }
    out.extend(announce(&mut rib, 2, attrs(&[65001], "10.0.0.2"), &["10.3.0.0/24"]));
    (rib, out)
}

#[test]
fn restarting_speaker_defers_selection_until_every_end_of_rib() {
    let now = Instant::now();
    let (mut rib, out) = deferral_setup(now);
    assert!(out.is_empty(), "nothing selected, installed or sent while deferring: {out:?}");
    assert!(rib.deferring());
    assert_eq!(rib.next_deadline(), Some(now + secs(60)));
    let mut out = rib.handle(now, Input::Update { peer: PeerId(2), update: Update::end_of_rib(V4) });
    assert!(out.is_empty());
    out.extend(rib.handle(now, Input::Update { peer: PeerId(2), update: Update::end_of_rib(V6) }));
    assert!(!rib.deferring());
    assert_eq!(fib(&out).len(), 2);
    let to3 = sent_to(&out, 3);
    assert_eq!(announced_to(&out, 3), [net("10.2.0.0/24"), net("10.3.0.0/24")]);
    // The table, then End-of-RIB for each family.
    let eors: Vec<_> = to3.iter().filter_map(|u| u.is_end_of_rib()).collect();
    assert_eq!(eors, [V4, V6]);
    assert_eq!(to3.last().and_then(|u| u.is_end_of_rib()), Some(V6));
}

#[test]
fn selection_deferral_is_bounded() {
    let now = Instant::now();
    let (mut rib, _) = deferral_setup(now);
    assert!(rib.handle_timeout(now + secs(59)).is_empty());
    let out = rib.handle_timeout(now + secs(60));
    assert!(!rib.deferring());
    assert_eq!(fib(&out).len(), 2);
    assert_eq!(announced_to(&out, 3).len(), 2);
}

/// A route originated while selection is deferred (the daemon feeds its
/// kernel routes right after start) goes out once, with the rest of the
/// table, when the deferral ends — not only End-of-RIB.
#[test]
fn route_originated_while_deferring_is_sent_when_the_deferral_ends() {
    let now = Instant::now();
    let mut rib = restarting();
    let local = PathAttributes { origin: Some(bgp_proto::attribute::Origin::Igp), ..PathAttributes::default() };
    let mut out = rib.handle(now, Input::Originate { family: V4, nlri: net("192.168.1.0/26"), attrs: local });
    for (n, i) in [(1, gr_peer(1)), (2, gr_peer(2)), (3, info(3, 65003))] {
        out.extend(rib.handle(now, Input::PeerUp { peer: PeerId(n), info: i }));
    }
    out.extend(announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]));
    assert!(sent_to(&out, 3).is_empty(), "sent while deferring: {out:?}");
    for p in [1, 2] {
        for f in [V4, V6] {
            out.extend(rib.handle(now, Input::Update { peer: PeerId(p), update: Update::end_of_rib(f) }));
        }
    }
    assert!(!rib.deferring());
    let mut to3 = announced_to(&out, 3);
    to3.sort();
    assert_eq!(to3, [net("10.2.0.0/24"), net("192.168.1.0/26")], "each route exactly once");
    let to1 = announced_to(&out, 1);
    assert_eq!(to1, [net("192.168.1.0/26")], "the GR peer gets our route too");
    assert_eq!(sent_to(&out, 1).last().and_then(|u| u.is_end_of_rib()), Some(V6));
}

#[test]
fn end_of_rib_of_one_family_sweeps_only_that_family_and_keeps_the_deadline() {
    let now = Instant::now();
    let mut rib = setup(now);
    announce_v6(&mut rib, 1, attrs(&[65001], "10.0.0.1"), "fd00::1", &["fd00:2::/48"]);
    rib.handle(now, Input::PeerDown { peer: PeerId(1), graceful: true });
    let later = now + secs(30);
    rib.handle(later, Input::PeerUp { peer: PeerId(1), info: gr_peer(1) });
    let out = rib.handle(later, Input::Update { peer: PeerId(1), update: Update::end_of_rib(V4) });
    let mut w = withdrawn_to(&out, 2);
    w.sort();
    assert_eq!(w, [net("10.2.0.0/24"), net("10.3.0.0/24")]);
    // The IPv6 route is still stale, so its deadline still runs.
    let left: Vec<(String, bool)> = rib.adj_rib_in(PeerId(1)).iter().map(|r| (r.1.prefix.to_string(), r.3)).collect();
    assert_eq!(left, [("fd00:2::/48".to_string(), true)]);
    assert_eq!(rib.next_deadline(), Some(later + secs(360)));
    let out = rib.handle(later, Input::Update { peer: PeerId(1), update: Update::end_of_rib(V6) });
    assert_eq!(withdrawn_to(&out, 2), [net("fd00:2::/48")]);
    assert!(rib.adj_rib_in(PeerId(1)).is_empty());
    assert_eq!(rib.next_deadline(), None);
}
