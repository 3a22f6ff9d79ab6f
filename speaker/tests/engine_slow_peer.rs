//! A peer that stops reading does not hold the others back, and catches up
//! from the Adj-RIB-Out once it reads again.

mod engine_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgp_proto::attribute::RawAttribute;
use bgp_proto::{Family, Message};
use bytes::Bytes;
use engine_common::*;
use speaker::engine::{EngineTuning, RouteFilter};
use speaker::fsm::State;

/// Engine A (queue limit 1 MiB) feeds engine B and a raw peer S that stops
/// reading after the OPEN exchange. A originates 6,000 routes (one 1.2 KB
/// UPDATE each) and withdraws the first 1,000: B ends with exactly the 5,000
/// while S still reads nothing. Then S reads: it ends with exactly the same 5,000
/// routes (the withdrawals it missed included) and a second End-of-RIB,
/// which only the catch-up from the Adj-RIB-Out sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_does_not_stall_others_and_catches_up() {
    let tuning = EngineTuning { peer_queue_bytes: 1 << 20, ..EngineTuning::default() };
    let a = Node::start_with("a", "127.33.12.1", 65000, None, tuning).await;
    let b = Node::start("b", "127.33.12.2", 65000).await;
    a.peer_with(&b).await;
    b.peer_with(&a).await;
    let s_node = Node { addr: ip("127.33.12.3"), ..Node::start("s", "127.33.12.4", 65000).await };
    let mut spec = a.spec_for(&s_node);
    spec.fsm.passive = true;
    spec.fsm.families = vec![Family::IPV4_UNICAST];
    a.engine.add_peer(spec).await.expect("add s");
    let remote = SocketAddr::new(a.addr, PORT);
    let mut s = tokio::task::spawn_blocking(move || {
        let mut s = RawPeer::connect("127.33.12.3", remote);
        s.establish(65000, "127.33.12.3", Vec::new());
        s
    })
    .await
    .expect("raw peer");
    wait_established(&a, &b).await;
    assert!(wait_until(|| async { a.state_of("s").await == Some(State::Established) }).await);

    // ~1.2 KB per UPDATE: 7 MB in all, more than the socket buffers
    // (autotuned up to 4 MB here) and the 1 MiB queue hold.
    let total = 6_000u32;
    let gone = 1_000u32;
    // The bulk is an unknown optional transitive attribute: passed on as is,
    // cheap to decode even in a debug build.
    let bulk = RawAttribute { flags: 0xc0, type_code: 240, value: Bytes::from(vec![0x5a; 1200]) };
    let prefix = |k: u32| format!("10.{}.{}.0/24", k / 256, k % 256);
    for k in 0..total {
        let mut attrs = attrs_v4("192.0.2.1");
        attrs.med = Some(k); // one attribute set, so one UPDATE, per route
        attrs.unknown = vec![bulk.clone()];
        a.engine.originate(Family::IPV4_UNICAST, net(&prefix(k)), attrs).await.expect("originate");
    }
    for k in 0..gone {
        a.engine.withdraw_local(Family::IPV4_UNICAST, net(&prefix(k))).await.expect("withdraw");
    }
    let want: BTreeMap<String, u32> = (gone..total).map(|k| (prefix(k), k)).collect();
    let b_has = || async {
        let routes = b.engine.routes(RouteFilter { family: Some(Family::IPV4_UNICAST), ..Default::default() }).await;
        routes
            .iter()
            .map(|r| (r.prefix.prefix.to_string(), r.attrs.med.unwrap_or(u32::MAX)))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(
        wait_until(|| async { b_has().await == want }).await,
        "b has {} routes; {:?} {:?}",
        b_has().await.len(),
        a.engine.peer("b").await,
        b.engine.peer("a").await
    );
    assert_eq!(a.state_of("s").await, Some(State::Established));

    // S reads now, applying every UPDATE to its table.
    let want_s = want.clone();
    let (table, eors) = tokio::task::spawn_blocking(move || {
        let mut table: BTreeMap<String, u32> = BTreeMap::new();
        let mut eors = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !(table == want_s && eors >= 2) {
            let Some(msg) = s.next() else { continue };
            let Message::Update(u) = msg else { continue };
            if u.is_end_of_rib().is_some() {
                eors += 1;
                continue;
            }
            for n in &u.withdrawn {
                table.remove(&n.prefix.to_string());
            }
            for n in &u.nlri {
                table.insert(n.prefix.to_string(), u.attributes.med.unwrap_or(u32::MAX));
            }
        }
        (table, eors)
    })
    .await
    .expect("reader");
    assert_eq!(table.len(), want.len());
    assert!(table == want, "s's table differs from the Adj-RIB-Out");
    assert!(eors >= 2, "no catch-up: {eors} End-of-RIB");
    a.engine.shutdown(None).await;
    b.engine.shutdown(None).await;
    s_node.engine.shutdown(None).await;
}
