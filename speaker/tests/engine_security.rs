//! TCP MD5 (RFC 2385) and GTSM (RFC 5082) between engines on loopback.

mod engine_common;

use std::time::Duration;

use engine_common::*;
use speaker::engine::TtlMode;
use speaker::fsm::State;

/// Watches `a`'s peer `name` for `window`: true if an OPEN from the peer
/// ever arrived (OpenConfirm or beyond).
async fn ever_opened(a: &Node, name: &str, window: Duration) -> bool {
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        if a.state_of(name).await.is_some_and(|s| s >= State::OpenConfirm) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// True if `a`'s session with `b` is Established at `a` within `window`.
async fn ever_up(a: &Node, b: &Node, window: Duration) -> bool {
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        if a.state_of(&b.name).await == Some(State::Established) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Same key on both sides: the session comes up. A wrong key on one side:
/// the kernel drops every segment, no OPEN ever arrives,
/// while the peer keeps retrying (its transitions grow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_same_key_establishes_wrong_key_stays_down() {
    let a = Node::start("a", "127.33.10.1", 65000).await;
    let b = Node::start("b", "127.33.10.2", 65000).await;
    let c = Node::start("c", "127.33.10.3", 65000).await;
    for (x, y, key) in [(&a, &b, "s3cret"), (&b, &a, "s3cret"), (&a, &c, "right"), (&c, &a, "wrong")] {
        let mut spec = x.spec_for(y);
        spec.password = Some(key.to_string());
        x.engine.add_peer(spec).await.expect("add");
    }
    wait_established(&a, &b).await;

    assert!(!ever_opened(&c, "a", Duration::from_secs(4)).await, "c got a connection with the wrong key");
    assert_ne!(a.state_of("c").await, Some(State::Established));
    assert_eq!(a.engine.peer("c").await.expect("c").messages_in, 0);
    let tries = c.engine.peer("a").await.expect("a").transitions;
    assert!(tries >= 2, "c did not even try: {tries} transitions");
    assert_eq!(a.state_of("b").await, Some(State::Established), "a-b did not stay up");
    for n in [&a, &b, &c] {
        n.engine.shutdown(None).await;
    }
}

/// GTSM on both sides (one hop): the session comes up. GTSM on one side
/// only: the other sends with the default TTL (64 < 255), so its segments
/// are dropped and the GTSM side never takes the session up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtsm_both_sides_establishes_one_side_only_stays_down() {
    let a = Node::start("a", "127.33.11.1", 65000).await;
    let b = Node::start("b", "127.33.11.2", 65000).await;
    let c = Node::start("c", "127.33.11.3", 65000).await;
    for (x, y, ttl) in [
        (&a, &b, TtlMode::Security { hops: 1 }),
        (&b, &a, TtlMode::Security { hops: 1 }),
        (&a, &c, TtlMode::Security { hops: 1 }),
        (&c, &a, TtlMode::Default),
    ] {
        let mut spec = x.spec_for(y);
        spec.ttl = ttl;
        if y.name == "c" {
            // Only c connects: a waits, so every attempt comes from the TTL-64 side.
            spec.fsm.passive = true;
        }
        x.engine.add_peer(spec).await.expect("add");
    }
    wait_established(&a, &b).await;
    // c hears a (TTL 255 passes any check) and may even think the session
    // is up until its hold timer says otherwise; a hears at most the OPEN
    // that c sends right after the handshake, which the kernel queues before
    // the accepted socket gets its minimum TTL (BIRD and FRR set it at the
    // same point), never c's KEEPALIVE: a never takes the session up.
    assert!(!ever_up(&a, &c, Duration::from_secs(4)).await, "c got through GTSM with TTL 64");
    let heard = a.engine.peer("c").await.expect("c").messages_in;
    assert!(heard <= 1, "a heard {heard} messages from c");
    assert!(c.engine.peer("a").await.expect("a").transitions >= 1);
    for n in [&a, &b, &c] {
        n.engine.shutdown(None).await;
    }
}
