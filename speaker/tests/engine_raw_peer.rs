//! The engine against a hand-driven peer: graceful restart after a lost
//! connection, RFC 7606 treat-as-withdraw, and a session-resetting UPDATE error.

mod engine_common;

use std::net::SocketAddr;

use bgp_proto::attribute::Origin;
use bgp_proto::capability::{GracefulRestart, GracefulRestartFamily};
use bgp_proto::message::message_type;
use bgp_proto::{Capability, Context, Family, Message, PathAttributes, Update};
use bytes::BytesMut;
use engine_common::*;
use speaker::engine::{EngineTuning, Event, PeerSpec};
use speaker::fsm::State;
use speaker::rib::FibChange;
use speaker::GracefulRestartConfig;

/// A spec on `a` for a raw peer at `addr` that connects to us.
fn raw_spec(a: &Node, name: &str, addr: &str) -> PeerSpec {
    let ghost = Node { name: name.to_string(), addr: ip(addr), asn: a.asn, id: v4(addr), ..stub(a) };
    let mut spec = a.spec_for(&ghost);
    spec.fsm.passive = true;
    spec.fsm.families = vec![Family::IPV4_UNICAST];
    spec
}

/// A node value sharing `a`'s engine, only to build specs with.
fn stub(a: &Node) -> Node {
    Node {
        name: String::new(),
        addr: a.addr,
        asn: a.asn,
        id: a.id,
        engine: a.engine.clone(),
        events: tokio::sync::mpsc::unbounded_channel().1,
    }
}

fn announce(prefix: &str, next_hop: &str) -> Message {
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(Default::default()),
        next_hop: Some(v4(next_hop)),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    Message::Update(Update { withdrawn: Vec::new(), attributes, nlri: vec![net(prefix)], discarded: Vec::new() })
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    msg.encode(&Context::default(), &mut buf).expect("encode");
    buf.to_vec()
}

/// Connects a raw peer from `local` to `a` and runs the OPEN exchange.
async fn raw_peer(a: &Node, local: &'static str, caps: Vec<Capability>) -> RawPeer {
    let remote = SocketAddr::new(a.addr, PORT);
    let asn = a.asn;
    tokio::task::spawn_blocking(move || {
        let mut r = RawPeer::connect(local, remote);
        r.establish(asn, local, caps);
        r
    })
    .await
    .expect("raw peer")
}

async fn prefixes(a: &Node) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> =
        a.engine.routes(Default::default()).await.into_iter().map(|r| (r.prefix.prefix.to_string(), r.stale)).collect();
    v.sort();
    v
}

/// A graceful-restart peer whose TCP connection just ends (no
/// NOTIFICATION): its route stays, marked stale, and in the kernel, until
/// its restart time (2 s) passes; then it is removed from the Loc-RIB and the FIB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_graceful_restart_peer_keeps_routes_stale_until_restart_time() {
    let mut a = Node::start("a", "127.33.13.1", 65000).await;
    let mut spec = raw_spec(&a, "r", "127.33.13.2");
    spec.fsm.graceful_restart = Some(GracefulRestartConfig::default());
    a.engine.add_peer(spec).await.expect("add");
    let gr = Capability::GracefulRestart(GracefulRestart {
        restarting: false,
        notification: false,
        reserved_flags: 0,
        restart_time: 2,
        families: vec![GracefulRestartFamily {
            family: Family::IPV4_UNICAST,
            forwarding_preserved: true,
            reserved_flags: 0,
        }],
    });
    let mut r = raw_peer(&a, "127.33.13.2", vec![gr]).await;
    // The raw peer is done with its OPEN exchange; the engine's status follows shortly.
    let restart_able =
        || async { a.engine.peer("r").await.is_some_and(|p| p.peer_capabilities.iter().any(|c| c == "restart-able")) };
    assert!(wait_until(restart_able).await, "{:?}", a.engine.peer("r").await.map(|p| p.peer_capabilities));
    r.send(&announce("10.13.0.0/16", "127.33.13.2"));
    assert!(wait_until(|| async { prefixes(&a).await == vec![("10.13.0.0/16".to_string(), false)] }).await);
    drop(r);
    assert!(
        wait_until(|| async { prefixes(&a).await == vec![("10.13.0.0/16".to_string(), true)] }).await,
        "not kept stale: {:?}",
        prefixes(&a).await
    );
    assert!(wait_until(|| async { prefixes(&a).await.is_empty() }).await, "never swept");

    let mut fib = Vec::new();
    let mut down_reason = None;
    while let Ok(ev) = a.events.try_recv() {
        match ev {
            Event::Fib(c) => fib.push(c),
            Event::PeerState { from: State::Established, reason, .. } => down_reason = reason,
            Event::PeerState { .. } => {}
        }
    }
    let prefix = net("10.13.0.0/16");
    let family = Family::IPV4_UNICAST;
    assert_eq!(
        fib,
        vec![
            FibChange::Replace { family, prefix, next_hops: vec![ip("127.33.13.2")] },
            FibChange::Remove { family, prefix },
        ]
    );
    // We closed with unread data (the engine's End-of-RIB), so the kernel sent a reset.
    let reason = down_reason.as_deref();
    assert!(matches!(reason, Some("Connection closed" | "Socket: Connection reset by peer")), "{reason:?}");
    a.engine.shutdown(None).await;
}

/// An UPDATE with an invalid ORIGIN is treat-as-withdraw (RFC 7606 §7.1):
/// its prefix goes, the other stays, the session stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn treat_as_withdraw_removes_the_prefix_and_keeps_the_session() {
    let a = Node::start("a", "127.33.14.1", 65000).await;
    a.engine.add_peer(raw_spec(&a, "r", "127.33.14.2")).await.expect("add");
    let mut r = raw_peer(&a, "127.33.14.2", Vec::new()).await;
    r.send(&announce("10.14.1.0/24", "127.33.14.2"));
    r.send(&announce("10.14.2.0/24", "127.33.14.2"));
    let both = vec![("10.14.1.0/24".to_string(), false), ("10.14.2.0/24".to_string(), false)];
    assert!(wait_until(|| async { prefixes(&a).await == both }).await);

    let mut bad = encode(&announce("10.14.1.0/24", "127.33.14.2"));
    let at = bad.windows(4).position(|w| w == [0x40, 1, 1, 0]).expect("ORIGIN attribute");
    if let Some(v) = bad.get_mut(at + 3) {
        *v = 5;
    }
    let decoded = Message::decode(message_type::UPDATE, bad.get(19..).unwrap_or_default(), &Context::default());
    let err = decoded.expect_err("malformed");
    assert_eq!(err.action(), bgp_proto::ErrorAction::TreatAsWithdraw);
    r.send_raw(&bad);
    let one = vec![("10.14.2.0/24".to_string(), false)];
    assert!(wait_until(|| async { prefixes(&a).await == one }).await, "{:?}", prefixes(&a).await);
    r.send(&announce("10.14.3.0/24", "127.33.14.2"));
    let two = vec![("10.14.2.0/24".to_string(), false), ("10.14.3.0/24".to_string(), false)];
    assert!(wait_until(|| async { prefixes(&a).await == two }).await, "session did not carry on");
    assert_eq!(a.state_of("r").await, Some(State::Established));
    a.engine.shutdown(None).await;
}

/// An UPDATE whose NLRI has a prefix length of 33 resets the session: the
/// engine sends exactly the NOTIFICATION the codec prescribes, reports it,
/// and drops the peer's routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_reset_error_sends_the_prescribed_notification() {
    let a = Node::start("a", "127.33.15.1", 65000).await;
    a.engine.add_peer(raw_spec(&a, "r", "127.33.15.2")).await.expect("add");
    let mut r = raw_peer(&a, "127.33.15.2", Vec::new()).await;
    r.send(&announce("10.15.1.0/24", "127.33.15.2"));
    assert!(wait_until(|| async { prefixes(&a).await.len() == 1 }).await);

    // The announcement again, its NLRI (the last 4 octets: 24, 10, 15, 1)
    // replaced by an over-long prefix, the lengths patched.
    let mut bad = encode(&announce("10.15.1.0/24", "127.33.15.2"));
    bad.truncate(bad.len() - 4);
    bad.extend_from_slice(&[33, 10, 15, 1, 0, 0]);
    let len = u16::try_from(bad.len()).expect("length").to_be_bytes();
    bad.splice(16..18, len);
    let decoded = Message::decode(message_type::UPDATE, bad.get(19..).unwrap_or_default(), &Context::default());
    let want = decoded.expect_err("malformed").notification().expect("a session reset");
    let r = tokio::task::spawn_blocking(move || {
        r.send_raw(&bad);
        loop {
            // Past the End-of-RIB the engine sent at Established.
            if let m @ Message::Notification(_) = r.expect_message() {
                return m;
            }
        }
    });
    assert_eq!(r.await.expect("join"), Message::Notification(want.clone()));
    assert!(wait_until(|| async { prefixes(&a).await.is_empty() }).await);
    let err = a.engine.peer("r").await.and_then(|p| p.last_error);
    assert_eq!(err, Some(format!("Error: {}", want.describe())));
    a.engine.shutdown(None).await;
}

/// A daemon that starts with `hold_accept` and adds its peers afterwards
/// takes a connection made before the peer existed (a restarting
/// reflector's clients reconnect at once): it waited in the kernel's queue,
/// and the session comes up on it instead of it being refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_made_before_its_peer_is_added_waits_with_hold_accept() {
    let tuning = EngineTuning { hold_accept: true, ..EngineTuning::default() };
    let a = Node::start_with("a", "127.33.17.1", 65000, None, tuning).await;
    let remote = SocketAddr::new(a.addr, PORT);
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    let peer = tokio::task::spawn_blocking(move || {
        let mut r = RawPeer::connect("127.33.17.2", remote);
        let _ = connected_tx.send(());
        r.establish(65000, "127.33.17.2", Vec::new());
        r
    });
    tokio::time::timeout(WAIT, connected).await.expect("connected in time").expect("connected");
    // Only now is the peer configured, and connections taken.
    a.engine.add_peer(raw_spec(&a, "r", "127.33.17.2")).await.expect("add");
    a.engine.accept_connections();
    let _raw = peer.await.expect("the OPEN exchange completed on the early connection");
    // The raw side is done at our KEEPALIVE; ours is at its KEEPALIVE, just after.
    let up = wait_until(|| async { a.state_of("r").await == Some(State::Established) }).await;
    assert!(up, "Established on the connection made before the peer was added");
    a.engine.shutdown(None).await;
}

/// A peer that goes quiet after proposing a 3 s hold time: the engine
/// sends Hold Timer Expired and reports it as BIRD does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_gets_hold_timer_expired() {
    let a = Node::start("a", "127.33.16.1", 65000).await;
    a.engine.add_peer(raw_spec(&a, "r", "127.33.16.2")).await.expect("add");
    let remote = SocketAddr::new(a.addr, PORT);
    let got = tokio::task::spawn_blocking(move || {
        let mut r = RawPeer::connect("127.33.16.2", remote);
        r.establish_with_hold(65000, "127.33.16.2", Vec::new(), 3);
        loop {
            if let m @ Message::Notification(_) = r.expect_message() {
                return m;
            }
        }
    });
    let want = bgp_proto::Notification::new(bgp_proto::error::code::HOLD_TIMER_EXPIRED, 0, Vec::new());
    assert_eq!(got.await.expect("join"), Message::Notification(want));
    // The session records the error as it closes, which can be just after
    // the peer has read the NOTIFICATION.
    let reported = wait_until(|| async {
        a.engine.peer("r").await.and_then(|p| p.last_error).as_deref() == Some("Hold timer expired")
    })
    .await;
    assert!(reported, "last error: {:?}", a.engine.peer("r").await.and_then(|p| p.last_error));
    a.engine.shutdown(None).await;
}
