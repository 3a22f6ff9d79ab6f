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
    assert_eq!(pb.import_updates.received, 2, "a announced 10.1.0.0/24 and fd00:1::/64");

    a.engine.withdraw_local(Family::IPV6_UNICAST, net("fd00:1::/64")).await.expect("withdraw");
    let want_b = rows(&[("10.1.0.0/24", Some("a")), ("10.2.0.0/24", None)]);
    assert!(wait_until(|| async { b.best_routes().await == want_b }).await, "b: {:?}", b.best_routes().await);

    a.engine.shutdown(None).await;
    assert!(wait_until(|| async { b.state_of("a").await != Some(State::Established) }).await);
    let want_b = rows(&[("10.2.0.0/24", None)]);
    assert!(wait_until(|| async { b.best_routes().await == want_b }).await, "b: {:?}", b.best_routes().await);
    b.engine.shutdown(None).await;
}

/// Over IPv6 transport (both on ::1, told apart by port) an eBGP session
/// carries IPv6 routes with next hop self = our session address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_transport_sets_next_hop_self_towards_ebgp() {
    use speaker::engine::{Engine, EngineConfig};
    use speaker::rib::RibConfig;
    use std::net::SocketAddr;

    let lo6 = ip("::1");
    let start = |asn: u32, id: &str, port: u16| {
        let rib = RibConfig::new(asn, v4(id));
        Engine::start(EngineConfig { rib, listen: vec![SocketAddr::new(lo6, port)] })
    };
    let (a, _ea) = start(65101, "10.255.0.1", 17911).await.expect("start a");
    let (b, _eb) = start(65102, "10.255.0.2", 17912).await.expect("start b");
    let stub = |name: &str, asn: u32, id: &str| Node {
        name: name.to_string(),
        addr: lo6,
        asn,
        id: v4(id),
        engine: a.clone(),
        events: tokio::sync::mpsc::unbounded_channel().1,
    };
    let (na, nb) = (stub("a", 65101, "10.255.0.1"), stub("b", 65102, "10.255.0.2"));
    let mut to_b = na.spec_for(&nb);
    to_b.port = 17912;
    to_b.fsm.families = vec![Family::IPV6_UNICAST];
    let mut to_a = nb.spec_for(&na);
    to_a.port = 17911;
    to_a.fsm.families = vec![Family::IPV6_UNICAST];
    to_a.fsm.passive = true;
    a.add_peer(to_b).await.expect("add");
    b.add_peer(to_a).await.expect("add");
    let up = wait_until(|| async {
        a.peer("b").await.map(|p| p.state) == Some(State::Established)
            && b.peer("a").await.map(|p| p.state) == Some(State::Established)
    })
    .await;
    assert!(up, "{:?}", a.peer("b").await);
    a.originate(Family::IPV6_UNICAST, net("fd00:6::/48"), attrs_v6("fd00::99")).await.expect("originate");
    let filter = RouteFilter { family: Some(Family::IPV6_UNICAST), ..Default::default() };
    assert!(wait_until(|| async { b.routes(filter.clone()).await.len() == 1 }).await);
    let r = b.routes(filter).await;
    let route = r.first().expect("route");
    assert_eq!(route.from.as_deref(), Some("a"));
    let nh = route.attrs.mp_reach.as_ref().map(|m| m.next_hop.clone());
    assert_eq!(nh, Some(bgp_proto::attribute::MpNextHop::V6("::1".parse().expect("addr"))));
    a.shutdown(None).await;
    b.shutdown(None).await;
}
