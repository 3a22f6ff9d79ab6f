//! Two engines over real TCP on loopback.

mod engine_common;

use bgp_proto::Family;
use engine_common::*;
use speaker::engine::RouteFilter;
use speaker::fsm::State;
use speaker::rib::NextHopMode;

/// One MP-BGP session carries IPv4 and IPv6; each side's originated routes
/// reach the other's Loc-RIB with the next hop they were given, and a
/// withdrawal removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_exchange_ipv4_and_ipv6_routes() {
    let a = Node::start("a", "127.33.1.1", 65001).await;
    let b = Node::start("b", "127.33.1.2", 65002).await;
    // Over IPv4 transport we have no IPv6 address of our own to put in
    // as next hop towards an eBGP peer: keep the originated ones.
    for (x, y) in [(&a, &b), (&b, &a)] {
        let mut spec = x.spec_for(y);
        spec.next_hop = NextHopMode::Keep;
        x.engine.add_peer(spec).await.expect("add_peer");
    }
    wait_established(&a, &b).await;

    let pa = a.engine.peer("b").await.expect("peer b");
    assert_eq!(pa.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert_eq!(pa.remote_id, Some(v4("127.33.1.2")));
    assert!(pa.peer_capabilities.iter().any(|c| c == "AS4"), "{:?}", pa.peer_capabilities);
    assert!(pa.peer_capabilities.iter().any(|c| c == "refresh"), "{:?}", pa.peer_capabilities);

    a.engine.originate(Family::IPV4_UNICAST, net("10.1.0.0/24"), attrs_v4("127.33.1.1")).await.expect("originate");
    a.engine.originate(Family::IPV6_UNICAST, net("fd00:1::/64"), attrs_v6("fd00::1")).await.expect("originate");
    b.engine.originate(Family::IPV4_UNICAST, net("10.2.0.0/24"), attrs_v4("127.33.1.2")).await.expect("originate");

    let want_b = rows(&[("10.1.0.0/24", Some("a")), ("10.2.0.0/24", None), ("fd00:1::/64", Some("a"))]);
    assert!(wait_until(|| async { b.best_routes().await == want_b }).await, "b: {:?}", b.best_routes().await);
    let want_a = rows(&[("10.1.0.0/24", None), ("10.2.0.0/24", Some("b")), ("fd00:1::/64", None)]);
    assert!(wait_until(|| async { a.best_routes().await == want_a }).await, "a: {:?}", a.best_routes().await);

    // eBGP: a's AS prepended, the next hop kept.
    let r =
        b.engine.routes(RouteFilter { prefix: Some("10.1.0.0/24".parse().expect("net")), ..Default::default() }).await;
    let attrs = &r.first().expect("route").attrs;
    assert_eq!(attrs.next_hop, Some(v4("127.33.1.1")));
    assert_eq!(
        attrs.as_path.as_ref().map(|p| p.segments.iter().flat_map(|s| s.asns.clone()).collect::<Vec<_>>()),
        Some(vec![65001])
    );

    let pb = b.engine.peer("a").await.expect("peer a");
    let v4_counts = pb.prefixes.iter().find(|(f, _)| *f == Family::IPV4_UNICAST).map(|(_, c)| *c).expect("v4 counts");
    assert_eq!((v4_counts.received, v4_counts.advertised), (1, 1));
    assert!(pb.updates_in >= 2 && pb.updates_out >= 1, "{pb:?}");

    a.engine.withdraw_local(Family::IPV6_UNICAST, net("fd00:1::/64")).await.expect("withdraw");
    let want_b = rows(&[("10.1.0.0/24", Some("a")), ("10.2.0.0/24", None)]);
    assert!(wait_until(|| async { b.best_routes().await == want_b }).await, "b: {:?}", b.best_routes().await);

    a.engine.shutdown(None).await;
    assert!(wait_until(|| async { b.state_of("a").await != Some(State::Established) }).await);
    let want_b = rows(&[("10.2.0.0/24", None)]);
    assert!(wait_until(|| async { b.best_routes().await == want_b }).await, "b: {:?}", b.best_routes().await);
    b.engine.shutdown(None).await;
}
