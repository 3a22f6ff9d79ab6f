//! Best-path selection (RFC 4271 §9.1.2.2, RFC 4456 §9): one test per
//! tie-break step, each with two routes that differ only at that step, run
//! in both arrival orders; and the ECMP set.

mod rib_common;

use bgp_proto::attribute::{AsPath, AsSegment, Origin, SegmentType};
use bgp_proto::PathAttributes;
use rib_common::*;
use speaker::rib::{FibChange, PeerId, PeerInfo, Rib, RibConfig};

/// Runs both arrival orders on fresh RIBs made by `make`; returns the best
/// peer (1 or 2), which must not depend on the order, and the ECMP set size.
fn winner(make: impl Fn() -> Rib, a: (PeerInfo, PathAttributes), b: (PeerInfo, PathAttributes)) -> (u32, usize) {
    let mut results = Vec::new();
    for order in [[1u32, 2], [2, 1]] {
        let mut rib = make();
        up(&mut rib, 1, a.0.clone());
        up(&mut rib, 2, b.0.clone());
        for p in order {
            let attrs = if p == 1 { a.1.clone() } else { b.1.clone() };
            announce(&mut rib, p, attrs, &["10.1.0.0/24"]);
        }
        let (best, _) = rib.best(V4, net("10.1.0.0/24")).expect("a best route");
        results.push((best.0, rib.ecmp(V4, net("10.1.0.0/24")).len()));
    }
    assert_eq!(results[0], results[1], "selection depends on arrival order");
    results[0]
}

#[test]
fn highest_local_pref_wins() {
    let mut hi = attrs(&[65001], "10.0.0.1");
    hi.local_pref = Some(200);
    let mut lo = attrs(&[65001], "10.0.0.2");
    lo.local_pref = Some(100);
    // Peer 1 has the lower router ID, so only LOCAL_PREF can make 2 win.
    assert_eq!(winner(rib, (info(1, LOCAL_AS), lo.clone()), (info(2, LOCAL_AS), hi.clone())), (2, 1));
    assert_eq!(winner(rib, (info(1, LOCAL_AS), hi), (info(2, LOCAL_AS), lo)), (1, 1));
}

#[test]
fn local_pref_from_ebgp_is_ignored() {
    let mut a = attrs(&[65001], "10.0.0.1");
    a.local_pref = Some(10);
    let mut b = attrs(&[65001], "10.0.0.2");
    b.local_pref = Some(500);
    // Both eBGP: received LOCAL_PREF is dropped, the router ID decides.
    assert_eq!(winner(rib, (info(1, 65001), a), (info(2, 65001), b)).0, 1);
}

#[test]
fn shortest_as_path_wins() {
    let long = attrs(&[65001, 65100], "10.0.0.1");
    let short = attrs(&[65001], "10.0.0.2");
    assert_eq!(winner(rib, (info(1, 65001), long), (info(2, 65001), short)), (2, 1));
}

#[test]
fn as_set_counts_one_and_confederation_segments_none() {
    let mut with_set = attrs(&[65001], "10.0.0.1");
    with_set.as_path = Some(AsPath {
        segments: vec![
            AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512, 64513, 64514] },
            AsSegment { kind: SegmentType::AsSequence, asns: vec![65001] },
            AsSegment { kind: SegmentType::AsSet, asns: vec![1, 2, 3, 4] },
        ],
    });
    // Length 2 (1 + set) against length 3.
    let plain = attrs(&[65001, 7, 8], "10.0.0.2");
    assert_eq!(winner(rib, (info(1, LOCAL_AS), plain), (info(2, LOCAL_AS), with_set)), (2, 1));
}

#[test]
fn lowest_origin_wins() {
    let mut incomplete = attrs(&[65001], "10.0.0.1");
    incomplete.origin = Some(Origin::Incomplete);
    let mut egp = attrs(&[65001], "10.0.0.2");
    egp.origin = Some(Origin::Egp);
    assert_eq!(winner(rib, (info(1, 65001), incomplete), (info(2, 65001), egp)), (2, 1));
}

#[test]
fn lowest_med_wins_within_one_neighbour_as() {
    let mut high = attrs(&[65001], "10.0.0.1");
    high.med = Some(20);
    let mut low = attrs(&[65001], "10.0.0.2");
    low.med = Some(10);
    assert_eq!(winner(rib, (info(1, 65001), high), (info(2, 65001), low)), (2, 1));
}

#[test]
fn med_not_compared_across_neighbour_ases_unless_always_compare() {
    let mut high = attrs(&[65001], "10.0.0.1");
    high.med = Some(20);
    let mut low = attrs(&[65002], "10.0.0.2");
    low.med = Some(10);
    // Different neighbour ASes: MED skipped, router ID 1.1.1.1 wins, both multipath.
    let a = (info(1, 65001), high);
    let b = (info(2, 65002), low);
    assert_eq!(winner(rib, a.clone(), b.clone()), (1, 2));
    let always = || {
        let mut c = RibConfig::new(LOCAL_AS, ROUTER_ID);
        c.always_compare_med = true;
        Rib::new(c)
    };
    assert_eq!(winner(always, a, b), (2, 1));
}

#[test]
fn ebgp_beats_ibgp() {
    let ibgp = attrs(&[65001], "10.0.0.1");
    let ebgp = attrs(&[65001], "10.0.0.2");
    assert_eq!(winner(rib, (info(1, LOCAL_AS), ibgp), (info(2, 65001), ebgp)), (2, 1));
}

#[test]
fn lowest_router_id_wins_but_both_are_multipath() {
    let a = attrs(&[65001], "10.0.0.1");
    let b = attrs(&[65001], "10.0.0.2");
    let mut low = info(2, 65001);
    low.router_id = "1.1.1.0".parse().expect("id");
    assert_eq!(winner(rib, (info(1, 65001), a), (low, b)), (2, 2));
}

#[test]
fn originator_id_replaces_router_id() {
    let mut reflected = attrs(&[65001], "10.0.0.1");
    reflected.originator_id = Some("9.9.9.9".parse().expect("id"));
    let direct = attrs(&[65001], "10.0.0.2");
    // Peer 1 has the lower router ID but its route's ORIGINATOR_ID is higher.
    assert_eq!(winner(rib, (info(1, LOCAL_AS), reflected), (info(2, LOCAL_AS), direct)).0, 2);
}

#[test]
fn shortest_cluster_list_wins() {
    let mut long = attrs(&[65001], "10.0.0.1");
    long.originator_id = Some("9.9.9.9".parse().expect("id"));
    long.cluster_list = Some(vec!["10.9.0.1".parse().expect("id"), "10.9.0.2".parse().expect("id")]);
    let mut short = long.clone();
    short.next_hop = Some("10.0.0.2".parse().expect("nh"));
    short.cluster_list = Some(vec!["10.9.0.3".parse().expect("id")]);
    assert_eq!(winner(rib, (info(1, LOCAL_AS), long), (info(2, LOCAL_AS), short)).0, 2);
}

#[test]
fn lowest_peer_address_wins() {
    let a = attrs(&[65001], "10.0.0.1");
    let b = attrs(&[65001], "10.0.0.2");
    // Two sessions to one router (same router ID): the address decides.
    let mut p1 = info(1, 65001);
    p1.address = ip("10.0.0.200");
    let mut p2 = info(2, 65001);
    p2.router_id = p1.router_id;
    assert_eq!(winner(rib, (p1, a), (p2, b)), (2, 2));
}

#[test]
fn ecmp_set_is_the_routes_equal_up_to_router_id() {
    let mut rib = rib();
    for n in 1..=3 {
        up(&mut rib, u32::from(n), info(n, 65001));
    }
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.1.0.0/24"]);
    assert_eq!(
        fib(&out),
        [FibChange::Replace { family: V4, prefix: net("10.1.0.0/24"), next_hops: vec![ip("10.0.0.1")] }]
    );
    let out = announce(&mut rib, 2, attrs(&[65001], "10.0.0.2"), &["10.1.0.0/24"]);
    assert_eq!(
        fib(&out),
        [FibChange::Replace {
            family: V4,
            prefix: net("10.1.0.0/24"),
            next_hops: vec![ip("10.0.0.1"), ip("10.0.0.2")]
        }]
    );
    // A longer path is not multipath: no FIB change.
    let out = announce(&mut rib, 3, attrs(&[65001, 65009], "10.0.0.3"), &["10.1.0.0/24"]);
    assert_eq!(fib(&out), []);
    assert_eq!(rib.ecmp(V4, net("10.1.0.0/24")), [(PeerId(1), 0), (PeerId(2), 0)]);
    let out = withdraw(&mut rib, 1, &["10.1.0.0/24"]);
    assert_eq!(
        fib(&out),
        [FibChange::Replace { family: V4, prefix: net("10.1.0.0/24"), next_hops: vec![ip("10.0.0.2")] }]
    );
    withdraw(&mut rib, 2, &["10.1.0.0/24"]);
    assert_eq!(rib.ecmp(V4, net("10.1.0.0/24")), [(PeerId(3), 0)]);
    let out = withdraw(&mut rib, 3, &["10.1.0.0/24"]);
    assert_eq!(fib(&out), [FibChange::Remove { family: V4, prefix: net("10.1.0.0/24") }]);
    assert_eq!(rib.stats().destinations, 0);
}

#[test]
fn local_route_beats_ibgp_and_is_not_installed() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, LOCAL_AS));
    announce(&mut rib, 1, attrs(&[], "10.0.0.1"), &["10.1.0.0/24"]);
    let out = rib.handle(
        t0(),
        speaker::rib::Input::Originate { family: V4, nlri: net("10.1.0.0/24"), attrs: attrs(&[], "10.0.0.254") },
    );
    assert_eq!(rib.best(V4, net("10.1.0.0/24")).expect("best").0, PeerId::LOCAL);
    assert_eq!(fib(&out), [FibChange::Remove { family: V4, prefix: net("10.1.0.0/24") }]);
}
