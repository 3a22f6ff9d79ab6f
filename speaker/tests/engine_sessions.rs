//! Session handling of the engine over loopback TCP: refusing strangers,
//! collisions, removal and reset with the right Cease, maximum prefixes,
//! route refresh.

mod engine_common;

use std::io::Read;
use std::net::SocketAddr;

use bgp_proto::Family;
use engine_common::*;
use speaker::engine::{EngineError, Event};
use speaker::fsm::State;
use speaker::rib::MaxPrefixes;

/// Reads from a socket until EOF/reset or `want` octets (bounded by [`WAIT`]).
fn read_some(s: &mut std::net::TcpStream, want: usize) -> Vec<u8> {
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    got
}

fn connect_from(local: &str, remote: SocketAddr) -> std::net::TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::new(ip(local), 0).into()).expect("bind");
    s.connect_timeout(&remote.into(), WAIT).expect("connect");
    s.into()
}

/// A connection from an address that is no configured peer is closed
/// without a word; one from a configured (passive) peer's address gets our OPEN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_from_an_unconfigured_address_is_refused() {
    let a = Node::start("a", "127.33.4.1", 65000).await;
    let b = Node::start("b", "127.33.4.2", 65000).await;
    let mut spec = a.spec_for(&b);
    spec.fsm.passive = true;
    a.engine.add_peer(spec).await.expect("add");
    let remote = SocketAddr::new(a.addr, PORT);

    let stranger = tokio::task::spawn_blocking(move || read_some(&mut connect_from("127.33.4.9", remote), 19));
    assert_eq!(stranger.await.expect("join"), Vec::<u8>::new(), "a stranger got bytes");

    let known = tokio::task::spawn_blocking(move || read_some(&mut connect_from("127.33.4.2", remote), 19));
    let header = known.await.expect("join");
    assert!(header.len() >= 19, "no OPEN for the configured peer: {header:?}");
    assert_eq!(header.get(18), Some(&1), "first message is an OPEN");
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// Both sides active with no connect delay: the connections cross, the
/// FSMs resolve the collision, and one session comes up and stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collision_of_two_active_peers_leaves_one_stable_session() {
    let mut a = Node::start("a", "127.33.5.1", 65000).await;
    let b = Node::start("b", "127.33.5.2", 65000).await;
    let (sa, sb) = (a.spec_for(&b), b.spec_for(&a));
    let (ra, rb) = tokio::join!(a.engine.add_peer(sa), b.engine.add_peer(sb));
    ra.expect("add");
    rb.expect("add");
    wait_established(&a, &b).await;
    b.engine.originate(Family::IPV4_UNICAST, net("10.5.0.0/16"), attrs_v4("192.0.2.5")).await.expect("originate");
    assert!(wait_until(|| async { a.best_routes().await == rows(&[("10.5.0.0/16", Some("b"))]) }).await);
    assert_eq!(a.state_of("b").await, Some(State::Established));
    assert_eq!(b.state_of("a").await, Some(State::Established));
    while let Ok(ev) = a.events.try_recv() {
        if let Event::PeerState { from, to, reason, .. } = ev {
            assert_ne!(from, State::Established, "session flapped to {to:?}: {reason:?}");
        }
    }
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// remove_peer sends Cease/Peer De-configured: the other side reports it
/// and drops the routes; reset_peer sends Cease/Other Configuration Change
/// and the session comes back with the routes. A second add of the same
/// name is refused, removing an unknown one is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_and_reset_send_their_cease_and_the_peer_sees_it() {
    let a = Node::start("a", "127.33.6.1", 65000).await;
    let mut b = Node::start("b", "127.33.6.2", 65000).await;
    a.peer_with(&b).await;
    b.peer_with(&a).await;
    wait_established(&a, &b).await;
    assert!(matches!(a.engine.add_peer(a.spec_for(&b)).await, Err(EngineError::DuplicatePeer(_))));
    a.engine.originate(Family::IPV4_UNICAST, net("10.6.0.0/16"), attrs_v4("192.0.2.6")).await.expect("originate");
    assert!(wait_until(|| async { b.best_routes().await == rows(&[("10.6.0.0/16", Some("a"))]) }).await);

    a.engine.reset_peer(a.spec_for(&b)).await.expect("reset");
    let seen = wait_until(|| async {
        b.engine.peer("a").await.and_then(|p| p.last_error).as_deref()
            == Some("Received: Cease / Other Configuration Change")
    })
    .await;
    assert!(seen, "b: {:?}", b.engine.peer("a").await);
    wait_established(&a, &b).await;
    assert!(wait_until(|| async { b.best_routes().await == rows(&[("10.6.0.0/16", Some("a"))]) }).await);

    a.engine.remove_peer("b", 3, None).await.expect("remove");
    assert!(a.engine.peer("b").await.is_none());
    let seen = wait_until(|| async {
        b.engine.peer("a").await.and_then(|p| p.last_error).as_deref() == Some("Received: Cease / Peer De-configured")
    })
    .await;
    assert!(seen, "b: {:?}", b.engine.peer("a").await);
    assert!(wait_until(|| async { b.best_routes().await.is_empty() }).await);
    let mut reasons = Vec::new();
    while let Ok(ev) = b.events.try_recv() {
        if let Event::PeerState { from: State::Established, reason: Some(r), .. } = ev {
            reasons.push(r);
        }
    }
    assert!(reasons.contains(&"Received: Cease / Peer De-configured".to_string()), "{reasons:?}");
    assert!(matches!(a.engine.remove_peer("b", 3, None).await, Err(EngineError::NoSuchPeer(_))));
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// A peer limited to two prefixes that is sent three closes the session
/// with Cease/Maximum Number of Prefixes Reached and drops what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefixes_with_close_ends_the_session() {
    let a = Node::start("a", "127.33.7.1", 65000).await;
    let b = Node::start("b", "127.33.7.2", 65000).await;
    a.peer_with(&b).await;
    let mut spec = b.spec_for(&a);
    spec.max_prefixes = Some(MaxPrefixes { limit: 2, close: true });
    b.engine.add_peer(spec).await.expect("add");
    wait_established(&a, &b).await;
    for k in 1..=3 {
        let p = net(&format!("10.7.{k}.0/24"));
        a.engine.originate(Family::IPV4_UNICAST, p, attrs_v4("192.0.2.7")).await.expect("originate");
    }
    let seen = wait_until(|| async {
        a.engine.peer("b").await.and_then(|p| p.last_error).as_deref()
            == Some("Received: Cease / Maximum Number of Prefixes Reached")
    })
    .await;
    assert!(seen, "a: {:?}", a.engine.peer("b").await);
    let err = b.engine.peer("a").await.and_then(|p| p.last_error);
    assert_eq!(err.as_deref(), Some("Error: Cease / Maximum Number of Prefixes Reached"));
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// route_refresh asks the peer for its routes again: they arrive as new
/// UPDATEs (the peer's count of received UPDATEs grows) and the table is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_refresh_makes_the_peer_resend() {
    let a = Node::start("a", "127.33.8.1", 65000).await;
    let b = Node::start("b", "127.33.8.2", 65000).await;
    a.peer_with(&b).await;
    b.peer_with(&a).await;
    wait_established(&a, &b).await;
    b.engine.originate(Family::IPV4_UNICAST, net("10.8.0.0/16"), attrs_v4("192.0.2.8")).await.expect("originate");
    assert!(wait_until(|| async { a.best_routes().await == rows(&[("10.8.0.0/16", Some("b"))]) }).await);
    let before = a.engine.peer("b").await.expect("b").updates_in;
    a.engine.route_refresh("b", Family::IPV4_UNICAST).await.expect("refresh");
    assert!(wait_until(|| async { a.engine.peer("b").await.is_some_and(|p| p.updates_in > before) }).await);
    assert_eq!(a.best_routes().await, rows(&[("10.8.0.0/16", Some("b"))]));
    assert!(matches!(a.engine.route_refresh("x", Family::IPV4_UNICAST).await, Err(EngineError::NoSuchPeer(_))));
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
}

/// A peer that refuses connections is reported the way BIRD does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_reported_as_a_socket_error() {
    let a = Node::start("a", "127.33.9.1", 65000).await;
    // Nobody listens on 127.33.9.2.
    let ghost = Node { addr: ip("127.33.9.2"), ..Node::start("ghost", "127.33.9.3", 65000).await };
    a.peer_with(&ghost).await;
    let seen = wait_until(|| async {
        a.engine.peer("ghost").await.and_then(|p| p.last_error).as_deref() == Some("Socket: Connection refused")
    })
    .await;
    assert!(seen, "{:?}", a.engine.peer("ghost").await);
    let mut a = a;
    let mut reasons = Vec::new();
    while let Ok(ev) = a.events.try_recv() {
        if let Event::PeerState { from: State::Connect, to: State::Active, reason, .. } = ev {
            reasons.push(reason);
        }
    }
    assert!(reasons.contains(&Some("Socket: Connection refused".to_string())), "{reasons:?}");
    a.engine.shutdown(None).await;
    ghost.engine.shutdown(None).await;
}
