//! Adj-RIB-Out: update groups (one encode, the same bytes to every member),
//! iBGP and route reflection rules (RFC 4456), eBGP export, initial table
//! with End-of-RIB, route refresh, withdrawals when a peer goes down, and
//! attribute interning. Assertions decode the UPDATE bytes the RIB emits.

mod rib_common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp_proto::attribute::{AsPath, MpNextHop, MpNlri};
use bgp_proto::RouteRefresh;
use bgp_proto::{Family, Nlri, PathAttributes};
use rib_common::*;
use speaker::rib::{FibChange, Input, Output, PeerId};

fn rr_client(n: u8) -> speaker::rib::PeerInfo {
    let mut i = info(n, LOCAL_AS);
    i.rr_client = true;
    i
}

#[test]
fn one_encode_for_a_group_of_two_ebgp_peers() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, LOCAL_AS));
    up(&mut rib, 2, info(2, 65002));
    up(&mut rib, 3, info(3, 65003));
    let before = rib.stats();
    assert_eq!(before.groups, 2, "one iBGP group, one eBGP group");
    let prefixes: Vec<String> = (0..100).map(|i| format!("10.2.{i}.0/24")).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let mut a = attrs(&[65100], "10.0.0.1");
    a.local_pref = Some(300);
    a.med = Some(7);
    let out = announce(&mut rib, 1, a, &refs);
    assert_eq!(rib.stats().encodes - before.encodes, 1, "one encode for the group");
    let sends: Vec<&Output> = out.iter().filter(|o| matches!(o, Output::Send { .. })).collect();
    assert_eq!(sends.len(), 1);
    let Output::Send { peers, messages } = sends[0] else { unreachable!() };
    assert_eq!(peers, &[PeerId(2), PeerId(3)]);
    let updates = decode_all(messages);
    assert_eq!(updates.len(), 1, "100 prefixes fit one message");
    let u = &updates[0];
    assert_eq!(u.nlri.len(), 100);
    // eBGP export: own AS prepended, next hop self, no LOCAL_PREF; MED set
    // inside the AS is passed on.
    assert_eq!(u.attributes.as_path, Some(seq(&[LOCAL_AS, 65100])));
    assert_eq!(u.attributes.next_hop, Some(LOCAL_V4));
    assert_eq!(u.attributes.local_pref, None);
    assert_eq!(u.attributes.med, Some(7));
    // Not back to iBGP peer 1 (its own route, and iBGP without reflection).
    assert!(sent_to(&out, 1).is_empty());
}

#[test]
fn different_export_policy_means_a_different_group() {
    let mut rib = rib();
    let tag: Arc<dyn speaker::rib::Policy> = Arc::new(|_: Family, _: &Nlri, a: &mut PathAttributes| {
        a.communities = Some(vec![0xfde8_0001]);
        true
    });
    rib.set_policy(7, tag);
    up(&mut rib, 1, info(1, LOCAL_AS));
    up(&mut rib, 2, info(2, 65002));
    let mut tagged = info(3, 65003);
    tagged.export_policy = Some(7);
    up(&mut rib, 3, tagged);
    let before = rib.stats().encodes;
    let out = announce(&mut rib, 1, attrs(&[65100], "10.0.0.1"), &["10.2.0.0/24"]);
    assert_eq!(rib.stats().encodes - before, 2);
    assert_eq!(sent_to(&out, 2)[0].attributes.communities, None);
    assert_eq!(sent_to(&out, 3)[0].attributes.communities, Some(vec![0xfde8_0001]));
}

#[test]
fn export_policy_reject_withholds_the_route() {
    let mut rib = rib();
    rib.set_policy(1, Arc::new(|_: Family, n: &Nlri, _: &mut PathAttributes| n.prefix.prefix_len() <= 16));
    up(&mut rib, 1, info(1, LOCAL_AS));
    let mut e = info(2, 65002);
    e.export_policy = Some(1);
    up(&mut rib, 2, e);
    let out = announce(&mut rib, 1, attrs(&[65100], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/16"]);
    assert_eq!(announced_to(&out, 2), [net("10.3.0.0/16")]);
}

#[test]
fn import_policy_can_reject_and_set_local_pref() {
    let mut rib = rib();
    rib.set_policy(
        1,
        Arc::new(|_: Family, n: &Nlri, a: &mut PathAttributes| {
            a.local_pref = Some(250);
            n.prefix.prefix_len() == 24
        }),
    );
    let mut e = info(1, 65001);
    e.import_policy = Some(1);
    up(&mut rib, 1, e);
    up(&mut rib, 2, info(2, LOCAL_AS));
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/16"]);
    let to_ibgp = sent_to(&out, 2);
    assert_eq!(announced_to(&out, 2), [net("10.2.0.0/24")]);
    assert_eq!(to_ibgp[0].attributes.local_pref, Some(250));
    // Next hop unchanged towards iBGP (no next-hop-self configured).
    assert_eq!(to_ibgp[0].attributes.next_hop, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 1);
}

#[test]
fn ebgp_route_with_our_as_is_dropped() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    let out = announce(&mut rib, 1, attrs(&[65001, LOCAL_AS, 65100], "10.0.0.1"), &["10.2.0.0/24"]);
    assert!(fib(&out).is_empty());
    assert!(rib.adj_rib_in(PeerId(1)).is_empty());
}

#[test]
fn ibgp_routes_are_not_sent_to_ibgp_peers_without_reflection() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, LOCAL_AS));
    up(&mut rib, 2, info(2, LOCAL_AS));
    let out = announce(&mut rib, 1, attrs(&[65100], "10.0.0.1"), &["10.2.0.0/24"]);
    assert!(sent_to(&out, 2).is_empty());
    // An eBGP-learned route does go to both iBGP peers, with LOCAL_PREF.
    up(&mut rib, 3, info(3, 65003));
    let out = announce(&mut rib, 3, attrs(&[65003], "10.0.0.3"), &["10.3.0.0/24"]);
    for p in [1, 2] {
        let u = sent_to(&out, p);
        assert_eq!(announced_to(&out, p), [net("10.3.0.0/24")]);
        assert_eq!(u[0].attributes.local_pref, Some(100));
        assert_eq!(u[0].attributes.as_path, Some(seq(&[65003])));
    }
}

#[test]
fn reflection_from_a_client_goes_to_clients_and_non_clients() {
    let mut rib = rr();
    up(&mut rib, 1, rr_client(1));
    up(&mut rib, 2, rr_client(2));
    up(&mut rib, 3, info(3, LOCAL_AS));
    let out = announce(&mut rib, 1, attrs(&[], "10.0.0.1"), &["10.2.0.0/24"]);
    assert!(sent_to(&out, 1).is_empty(), "never back to the originating peer");
    for p in [2, 3] {
        let u = sent_to(&out, p);
        assert_eq!(u.len(), 1, "peer {p}");
        let a = &u[0].attributes;
        assert_eq!(u[0].nlri, [net("10.2.0.0/24")]);
        assert_eq!(a.originator_id, Some(Ipv4Addr::new(1, 1, 1, 1)));
        assert_eq!(a.cluster_list, Some(vec![CLUSTER_ID]));
        assert_eq!(a.next_hop, Some(Ipv4Addr::new(10, 0, 0, 1)), "next hop unchanged when reflecting");
    }
}

#[test]
fn reflection_from_a_non_client_goes_to_clients_only() {
    let mut rib = rr();
    up(&mut rib, 1, rr_client(1));
    up(&mut rib, 3, info(3, LOCAL_AS));
    up(&mut rib, 4, info(4, LOCAL_AS));
    let mut a = attrs(&[], "10.0.0.3");
    a.originator_id = Some(Ipv4Addr::new(9, 9, 9, 9));
    a.cluster_list = Some(vec![Ipv4Addr::new(10, 9, 0, 1)]);
    let out = announce(&mut rib, 3, a, &["10.2.0.0/24"]);
    assert!(sent_to(&out, 4).is_empty());
    let u = sent_to(&out, 1);
    assert_eq!(u.len(), 1);
    // An existing ORIGINATOR_ID is kept; our cluster ID goes first.
    assert_eq!(u[0].attributes.originator_id, Some(Ipv4Addr::new(9, 9, 9, 9)));
    assert_eq!(u[0].attributes.cluster_list, Some(vec![CLUSTER_ID, Ipv4Addr::new(10, 9, 0, 1)]));
}

#[test]
fn reflection_loops_are_dropped() {
    let mut rib = rr();
    up(&mut rib, 1, rr_client(1));
    up(&mut rib, 2, rr_client(2));
    let mut looped = attrs(&[], "10.0.0.1");
    looped.cluster_list = Some(vec![Ipv4Addr::new(10, 9, 0, 1), CLUSTER_ID]);
    let out = announce(&mut rib, 1, looped, &["10.2.0.0/24"]);
    assert!(fib(&out).is_empty() && sent_to(&out, 2).is_empty());
    let mut ours = attrs(&[], "10.0.0.1");
    ours.originator_id = Some(ROUTER_ID);
    let out = announce(&mut rib, 1, ours, &["10.3.0.0/24"]);
    assert!(fib(&out).is_empty() && sent_to(&out, 2).is_empty());
    assert!(rib.adj_rib_in(PeerId(1)).is_empty());
    // A clean route from the same client is reflected.
    let out = announce(&mut rib, 1, attrs(&[], "10.0.0.1"), &["10.4.0.0/24"]);
    assert_eq!(announced_to(&out, 2), [net("10.4.0.0/24")]);
}

#[test]
fn member_whose_own_route_wins_gets_a_withdrawal_of_the_old_one() {
    let mut rib = rr();
    up(&mut rib, 1, rr_client(1));
    up(&mut rib, 2, rr_client(2));
    announce(&mut rib, 1, attrs(&[65100, 65200], "10.0.0.1"), &["10.2.0.0/24"]);
    // Client 2 now has the better route: client 1 gets it, client 2 must
    // lose the reflected copy of client 1's route.
    let out = announce(&mut rib, 2, attrs(&[65100], "10.0.0.2"), &["10.2.0.0/24"]);
    assert_eq!(announced_to(&out, 1), [net("10.2.0.0/24")]);
    assert_eq!(withdrawn_to(&out, 2), [net("10.2.0.0/24")]);
    assert!(announced_to(&out, 2).is_empty());
}

#[test]
fn initial_table_then_end_of_rib_and_route_refresh_resends() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/24"]);
    announce_v6(&mut rib, 1, attrs(&[65001], "10.0.0.1"), "2001:db8::1", &["2001:db8:1::/48"]);
    let out = up(&mut rib, 2, info(2, 65002));
    let u = sent_to(&out, 2);
    assert_eq!(u.len(), 4);
    assert_eq!(u[0].nlri, [net("10.2.0.0/24"), net("10.3.0.0/24")]);
    let reach = u[1].attributes.mp_reach.as_ref().expect("IPv6 in MP_REACH_NLRI");
    assert_eq!(reach.next_hop, MpNextHop::V6(LOCAL_V6));
    assert_eq!(reach.nlri, MpNlri::Prefixes(vec![net("2001:db8:1::/48")]));
    assert_eq!(u[2].is_end_of_rib(), Some(V4));
    assert_eq!(u[3].is_end_of_rib(), Some(V6));
    // Route refresh of IPv4: the IPv4 table again, no End-of-RIB.
    let out = rib.handle(t0(), Input::RouteRefresh { peer: PeerId(2), refresh: RouteRefresh::new(V4) });
    let u = sent_to(&out, 2);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].nlri, [net("10.2.0.0/24"), net("10.3.0.0/24")]);
    // Peer 1 gets its own routes neither in the dump nor on refresh.
    let out = rib.handle(t0(), Input::RouteRefresh { peer: PeerId(1), refresh: RouteRefresh::new(V4) });
    assert!(sent_to(&out, 1).is_empty());
}

#[test]
fn peer_down_withdraws_its_routes() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65002));
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/24", "10.4.0.0/24"]);
    let out = rib.handle(t0(), Input::PeerDown { peer: PeerId(1), graceful: true });
    // No graceful restart negotiated: withdrawn at once.
    let mut w = withdrawn_to(&out, 2);
    w.sort();
    assert_eq!(w, [net("10.2.0.0/24"), net("10.3.0.0/24"), net("10.4.0.0/24")]);
    assert_eq!(fib(&out).len(), 3);
    assert!(fib(&out).iter().all(|c| matches!(c, FibChange::Remove { .. })));
    assert_eq!(rib.stats().destinations, 0);
}

#[test]
fn withdrawal_falls_back_to_the_next_best_route() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65002));
    up(&mut rib, 3, info(3, 65003));
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]);
    announce(&mut rib, 2, attrs(&[65002, 65001], "10.0.0.2"), &["10.2.0.0/24"]);
    let out = withdraw(&mut rib, 1, &["10.2.0.0/24"]);
    let u = sent_to(&out, 3);
    assert_eq!(u.len(), 1, "a replacement, not a withdrawal");
    assert_eq!(u[0].attributes.as_path, Some(seq(&[LOCAL_AS, 65002, 65001])));
    // Peer 2 had peer 1's route and now the best is its own: withdrawn.
    assert_eq!(withdrawn_to(&out, 2), [net("10.2.0.0/24")]);
}

#[test]
fn attribute_sets_are_interned_and_dropped_when_unused() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65001));
    let a = attrs(&[65001], "10.0.0.9");
    announce(&mut rib, 1, a.clone(), &["10.2.0.0/24", "10.3.0.0/24"]);
    announce(&mut rib, 2, a, &["10.4.0.0/24"]);
    let r1 = rib.adj_rib_in(PeerId(1));
    let r2 = rib.adj_rib_in(PeerId(2));
    assert!(Arc::ptr_eq(&r1[0].2, &r1[1].2));
    assert!(Arc::ptr_eq(&r1[0].2, &r2[0].2));
    drop((r1, r2));
    // One received set, one exported set (prepended AS, next hop self).
    assert_eq!(rib.stats().attribute_sets, 2);
    let mut other = attrs(&[65001], "10.0.0.9");
    other.communities = Some(vec![1]);
    announce(&mut rib, 2, other, &["10.5.0.0/24"]);
    assert_eq!(rib.stats().attribute_sets, 4);
    withdraw(&mut rib, 2, &["10.5.0.0/24"]);
    assert_eq!(rib.stats().attribute_sets, 2);
    withdraw(&mut rib, 1, &["10.2.0.0/24", "10.3.0.0/24"]);
    assert_eq!(rib.stats().attribute_sets, 2);
    withdraw(&mut rib, 2, &["10.4.0.0/24"]);
    assert_eq!(rib.stats().attribute_sets, 0);
}

#[test]
fn local_routes_are_announced_and_withdrawn() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, LOCAL_AS));
    up(&mut rib, 2, info(2, 65002));
    let local = PathAttributes { next_hop: Some(LOCAL_V4), ..PathAttributes::default() };
    let out = rib.handle(t0(), Input::Originate { family: V4, nlri: net("192.168.0.0/26"), attrs: local });
    let to_ibgp = sent_to(&out, 1);
    assert_eq!(to_ibgp[0].attributes.as_path, Some(AsPath::default()));
    assert_eq!(to_ibgp[0].attributes.local_pref, Some(100));
    assert_eq!(sent_to(&out, 2)[0].attributes.as_path, Some(seq(&[LOCAL_AS])));
    let out = rib.handle(t0(), Input::WithdrawLocal { family: V4, nlri: net("192.168.0.0/26") });
    assert_eq!(withdrawn_to(&out, 1), [net("192.168.0.0/26")]);
    assert_eq!(withdrawn_to(&out, 2), [net("192.168.0.0/26")]);
}

#[test]
fn enhanced_route_refresh_wraps_the_table_in_borr_eorr() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    let mut e = info(2, 65002);
    e.enhanced_route_refresh = true;
    up(&mut rib, 2, e);
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]);
    let out = rib.handle(t0(), Input::RouteRefresh { peer: PeerId(2), refresh: RouteRefresh::new(V4) });
    let msgs: Vec<&[u8]> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { peers, messages } if peers == &[PeerId(2)] => Some(&messages[..]),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 3);
    // ROUTE-REFRESH (type 5), AFI 1, subtype 1 (BoRR) / 2 (EoRR), SAFI 1.
    assert_eq!(&msgs[0][18..], &[5, 0, 1, 1, 1]);
    assert_eq!(decode_all(msgs[1])[0].nlri, [net("10.2.0.0/24")]);
    assert_eq!(&msgs[2][18..], &[5, 0, 1, 2, 1]);
}

#[test]
fn peer_borr_eorr_sweeps_routes_not_readvertised() {
    use bgp_proto::route_refresh::RouteRefreshSubtype;
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65002));
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/24"]);
    let demarcation = |subtype| RouteRefresh { subtype, ..RouteRefresh::new(V4) };
    rib.handle(
        t0(),
        Input::RouteRefresh { peer: PeerId(1), refresh: demarcation(RouteRefreshSubtype::BeginningOfRefresh) },
    );
    announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]);
    let out = rib
        .handle(t0(), Input::RouteRefresh { peer: PeerId(1), refresh: demarcation(RouteRefreshSubtype::EndOfRefresh) });
    assert_eq!(withdrawn_to(&out, 2), [net("10.3.0.0/24")]);
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 1);
}

/// What `birdc show protocols all` and the metrics show per peer: imported
/// (received, best) and exported counts; the all-peers walk gives each peer
/// what the single-peer one does.
#[test]
fn prefix_counts_per_peer_follow_reflection_and_split_horizon() {
    let mut rib = rr();
    up(&mut rib, 1, rr_client(1));
    up(&mut rib, 2, rr_client(2));
    up(&mut rib, 3, info(3, LOCAL_AS));
    announce(&mut rib, 1, attrs(&[], "10.0.0.1"), &["10.1.0.0/24", "10.1.1.0/24"]);
    announce(&mut rib, 2, attrs(&[], "10.0.0.2"), &["10.2.0.0/24"]);
    announce(&mut rib, 3, attrs(&[], "10.0.0.3"), &["10.3.0.0/24"]);
    let all = rib.all_peer_prefix_counts();
    let v4 = |p: u32| all.get(&PeerId(p)).and_then(|c| c.get(&V4)).copied().unwrap_or_default();
    // Clients 1 and 2 share a group: each gets the other's and the non-client's routes, never its own.
    assert_eq!((v4(1).received, v4(1).best, v4(1).advertised), (2, 2, 2));
    assert_eq!((v4(2).received, v4(2).best, v4(2).advertised), (1, 1, 3));
    // The non-client gets only what clients sent (3 routes), not its own.
    assert_eq!((v4(3).received, v4(3).best, v4(3).advertised), (1, 1, 3));
    for p in 1..=3 {
        assert_eq!(all.get(&PeerId(p)).cloned().unwrap_or_default(), rib.peer_prefix_counts(PeerId(p)), "peer {p}");
    }
    assert!(!all.contains_key(&PeerId::LOCAL), "the local pseudo-peer is not a peer");
}
