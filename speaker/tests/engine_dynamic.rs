//! Listen ranges (dynamic neighbors, issue #6): a connection from an
//! unconfigured address inside a range becomes a peer, one from outside is
//! refused, the dynamic peer goes away with its session, and a configured
//! peer of the same address takes over.

mod engine_common;

use bgp_proto::Family;
use engine_common::*;
use speaker::engine::{ListenRange, PeerSpec};
use speaker::fsm::State;

/// The template of `node`'s range: iBGP in its own AS, both families.
fn template(node: &Node) -> PeerSpec {
    let mut spec = node.spec_for(node);
    spec.name = "template".to_string();
    spec.local_address = None;
    spec
}

async fn set_range(node: &Node, prefix: &str) {
    let range = ListenRange { prefix: prefix.parse().expect("prefix"), template: template(node) };
    node.engine.set_listen_ranges(vec![range]).await.expect("set_listen_ranges");
}

async fn peer_names(node: &Node) -> Vec<String> {
    node.engine.peers().await.into_iter().map(|p| p.name).collect()
}

/// `node`'s state of its peer named `name` is Established.
async fn established(node: &Node, name: &str) -> bool {
    node.state_of(name).await == Some(State::Established)
}

/// B is configured with A as its peer; A has no peer, only a range that
/// covers B. A accepts B as `Dynamic_127_34_1_2`, both exchange a route,
/// and A's status lists the dynamic peer with B's address, passive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_inside_the_range_is_accepted_and_exchanges_routes() {
    let a = Node::start("a", "127.34.1.1", 65000).await;
    let b = Node::start("b", "127.34.1.2", 65000).await;
    set_range(&a, "127.34.1.0/24").await;
    b.peer_with(&a).await;
    let dyn_name = "Dynamic_127_34_1_2";
    assert!(
        wait_until(|| async { established(&a, dyn_name).await && established(&b, "a").await }).await,
        "no dynamic session: {:?} / {:?}",
        a.engine.peers().await,
        b.engine.peer("a").await
    );
    let st = a.engine.peer(dyn_name).await.expect("dynamic peer status");
    assert_eq!((st.address, st.passive, st.remote_as), (ip("127.34.1.2"), true, 65000));
    assert_eq!(peer_names(&a).await, vec![dyn_name.to_string()]);

    a.engine.originate(Family::IPV4_UNICAST, net("10.1.0.0/16"), attrs_v4("127.34.1.1")).await.expect("originate");
    b.engine.originate(Family::IPV4_UNICAST, net("10.2.0.0/16"), attrs_v4("127.34.1.2")).await.expect("originate");
    let want_a = rows(&[("10.1.0.0/16", None), ("10.2.0.0/16", Some(dyn_name))]);
    let want_b = rows(&[("10.1.0.0/16", Some("a")), ("10.2.0.0/16", None)]);
    assert!(wait_until(|| async { a.best_routes().await == want_a && b.best_routes().await == want_b }).await);
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// C (outside A's range) tries again and again and is refused each time:
/// it never gets past OpenSent and A never lists a peer for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_outside_every_range_is_refused() {
    let a = Node::start("a", "127.34.2.1", 65000).await;
    let c = Node::start("c", "127.34.3.2", 65000).await;
    set_range(&a, "127.34.2.0/24").await;
    c.peer_with(&a).await;
    // Every refused attempt is a Connect → Active (or OpenSent → Idle) round.
    let tried = wait_until(|| async {
        let st = c.engine.peer("a").await.expect("c's peer");
        st.transitions >= 6 && st.last_error.is_some()
    })
    .await;
    assert!(tried, "c did not retry: {:?}", c.engine.peer("a").await);
    let st = c.engine.peer("a").await.expect("c's peer");
    assert_ne!(st.state, State::Established);
    assert!(st.remote_id.is_none(), "c never saw an OPEN from a: {st:?}");
    assert!(peer_names(&a).await.is_empty(), "a created a peer: {:?}", a.engine.peers().await);
    a.engine.shutdown(None).await;
    c.engine.shutdown(None).await;
}

/// When B removes A, the dynamic peer disappears from A together with the
/// route it had learned from B; A's own route stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamic_peer_goes_away_with_its_session() {
    let a = Node::start("a", "127.34.4.1", 65000).await;
    let b = Node::start("b", "127.34.4.2", 65000).await;
    set_range(&a, "127.34.4.0/24").await;
    b.peer_with(&a).await;
    let dyn_name = "Dynamic_127_34_4_2";
    a.engine.originate(Family::IPV4_UNICAST, net("10.1.0.0/16"), attrs_v4("127.34.4.1")).await.expect("originate");
    b.engine.originate(Family::IPV4_UNICAST, net("10.2.0.0/16"), attrs_v4("127.34.4.2")).await.expect("originate");
    let both = rows(&[("10.1.0.0/16", None), ("10.2.0.0/16", Some(dyn_name))]);
    assert!(wait_until(|| async { a.best_routes().await == both }).await, "{:?}", a.best_routes().await);

    b.engine.remove_peer("a", 3, None).await.expect("remove_peer");
    let gone = wait_until(|| async { peer_names(&a).await.is_empty() }).await;
    assert!(gone, "dynamic peer still there: {:?}", a.engine.peers().await);
    assert_eq!(a.best_routes().await, rows(&[("10.1.0.0/16", None)]));
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// While B is up as a dynamic peer, A adds B as a configured peer: the
/// dynamic one is ceased and gone, B reconnects, and B's route is now
/// learned from the configured peer `b`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_peer_for_the_same_address_takes_over() {
    let a = Node::start("a", "127.34.5.1", 65000).await;
    let b = Node::start("b", "127.34.5.2", 65000).await;
    set_range(&a, "127.34.5.0/24").await;
    b.peer_with(&a).await;
    let dyn_name = "Dynamic_127_34_5_2";
    b.engine.originate(Family::IPV4_UNICAST, net("10.2.0.0/16"), attrs_v4("127.34.5.2")).await.expect("originate");
    let via_dyn = rows(&[("10.2.0.0/16", Some(dyn_name))]);
    assert!(wait_until(|| async { a.best_routes().await == via_dyn }).await, "{:?}", a.best_routes().await);

    a.peer_with(&b).await;
    let via_b = rows(&[("10.2.0.0/16", Some("b"))]);
    let taken = wait_until(|| async {
        peer_names(&a).await == vec!["b".to_string()] && established(&a, "b").await && a.best_routes().await == via_b
    })
    .await;
    assert!(taken, "no takeover: {:?} / {:?}", a.engine.peers().await, a.best_routes().await);
    let st = b.engine.peer("a").await.expect("b's peer");
    assert_eq!(st.state, State::Established);
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// A template with a TCP MD5 password is refused (the key is per address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_with_a_password_is_refused() {
    let a = Node::start("a", "127.34.6.1", 65000).await;
    let mut t = template(&a);
    t.password = Some("secret".to_string());
    let range = ListenRange { prefix: "127.34.6.0/24".parse().expect("prefix"), template: t };
    let err = a.engine.set_listen_ranges(vec![range]).await.expect_err("password refused");
    assert!(err.to_string().contains("password"), "{err}");
    a.engine.shutdown(None).await;
}
