//! Kernel routes added with `ip route` (as Felix adds them) reach tern as
//! local routes; checked in a namespace of the test's own. Needs root;
//! without it each test says it is skipped and passes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fib::testns::{skip_unless_root, TestNamespace};
use fib::{Fib, FibConfig, FibEvents, LocalRoute, LocalRouteEvent, RouteFilter, RouteKind};

const WAIT: Duration = Duration::from_secs(10);

/// The next event that is not filtered out by `keep`, within the bound.
async fn next_event(events: &mut FibEvents, keep: impl Fn(&LocalRouteEvent) -> bool) -> LocalRouteEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, events.recv()).await.expect("event in time").expect("driver alive");
        if keep(&ev) {
            return ev;
        }
    }
}

fn felix_filter() -> RouteFilter {
    RouteFilter::default().protocols([80, 3])
}

#[tokio::test]
async fn felix_routes_appear_change_and_go_as_local_routes() {
    if skip_unless_root("felix_routes_appear_change_and_go_as_local_routes") {
        return;
    }
    let ns = TestNamespace::new("watch").expect("namespace");
    ns.veth("cali1", "cali1p", None).expect("cali1");
    ns.veth("cali2", "cali2p", None).expect("cali2");
    ns.veth("eth0", "eth0p", Some("10.10.0.1/24")).expect("eth0");
    // Present before the start: reported by the initial dump.
    ns.ip(&["route", "add", "blackhole", "10.0.1.0/26", "proto", "80"]).expect("block");
    let config = FibConfig { watch: felix_filter(), ..FibConfig::default() };
    let (fib, mut events) = Fib::open_in_netns(ns.name(), config).await.expect("open");
    let ev = next_event(&mut events, |_| true).await;
    let LocalRouteEvent::Added(block) = ev else { panic!("expected the block from the dump, got {ev:?}") };
    assert_eq!(
        (block.prefix.to_string(), block.kind, block.protocol),
        ("10.0.1.0/26".into(), RouteKind::Blackhole, 80)
    );

    // A workload route, as Felix programs it.
    ns.ip(&["route", "add", "10.0.1.5/32", "dev", "cali1", "proto", "3", "scope", "link"]).expect("workload");
    let ev = next_event(&mut events, |_| true).await;
    let LocalRouteEvent::Added(wl) = ev else { panic!("expected an add, got {ev:?}") };
    assert_eq!(wl.prefix.to_string(), "10.0.1.5/32");
    assert_eq!(wl.protocol, 3);
    assert_eq!(wl.interface.as_deref(), Some("cali1"));
    assert_eq!(wl.metric, 0);

    // Routes outside the filter are not reported; a next event is the change.
    ns.ip(&["route", "add", "blackhole", "10.0.2.0/26", "proto", "12"]).expect("ours");
    ns.ip(&["route", "add", "10.0.3.0/26", "via", "10.10.0.2", "proto", "static"]).expect("static");
    ns.ip(&["route", "replace", "10.0.1.5/32", "dev", "cali2", "proto", "3", "scope", "link"]).expect("move");
    let ev = next_event(&mut events, |_| true).await;
    let LocalRouteEvent::Changed { old, new } = ev else { panic!("expected a change, got {ev:?}") };
    assert_eq!((old.interface.as_deref(), new.interface.as_deref()), (Some("cali1"), Some("cali2")));

    // A metric makes another route (krt_metric for the export rule).
    ns.ip(&["route", "add", "10.0.1.6/32", "via", "10.10.0.2", "proto", "80", "metric", "1024"]).expect("metric");
    let ev = next_event(&mut events, |_| true).await;
    assert!(matches!(&ev, LocalRouteEvent::Added(r)
        if r.metric == 1024 && r.gateway == Some("10.10.0.2".parse().expect("a")) && r.interface.as_deref() == Some("eth0")));

    ns.ip(&["route", "del", "10.0.1.5/32", "dev", "cali2", "proto", "3"]).expect("delete");
    let ev = next_event(&mut events, |_| true).await;
    assert!(matches!(&ev, LocalRouteEvent::Removed(r) if r.prefix.to_string() == "10.0.1.5/32"), "{ev:?}");

    // The snapshot is what `ip route` shows for the selected protocols.
    let snapshot: BTreeSet<String> =
        fib.snapshot().await.expect("snapshot").iter().map(|r| format!("{} proto {}", r.prefix, r.protocol)).collect();
    let shown: BTreeSet<String> = ["80", "3"]
        .iter()
        .flat_map(|p| {
            let lines = ns.lines(&["route", "show", "proto", p]).expect("ip route");
            lines.into_iter().map(move |l| format!("{} proto {p}", route_prefix(&l)))
        })
        .collect();
    assert_eq!(snapshot, shown);
    assert_eq!(snapshot.len(), 2);
    fib.shutdown().await.expect("shutdown");
}

/// The prefix of an `ip route show` line (`blackhole 10.0.1.0/26` → the prefix).
fn route_prefix(line: &str) -> String {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let p = if ["blackhole", "unreachable", "prohibit"].contains(&first) {
        words.next().unwrap_or_default()
    } else {
        first
    };
    if p.contains('/') {
        p.to_string()
    } else {
        format!("{p}/32")
    }
}

#[tokio::test]
async fn interface_patterns_exclude_calico_devices() {
    if skip_unless_root("interface_patterns_exclude_calico_devices") {
        return;
    }
    let ns = TestNamespace::new("ifpat").expect("namespace");
    ns.veth("cali9", "cali9p", None).expect("cali9");
    ns.veth("tunl0", "tunl0p", None).expect("tunl0");
    ns.veth("eth0", "eth0p", Some("10.10.0.1/24")).expect("eth0");
    ns.ip(&["route", "add", "10.0.1.9/32", "dev", "cali9", "proto", "3", "scope", "link"]).expect("workload");
    ns.ip(&["route", "add", "10.0.2.0/26", "via", "192.168.0.2", "dev", "tunl0", "onlink", "proto", "80"])
        .expect("ipip");
    ns.ip(&["route", "add", "10.0.3.0/26", "via", "10.10.0.2", "proto", "80"]).expect("plain");
    ns.ip(&["-6", "route", "add", "blackhole", "fd10::/64", "proto", "80"]).expect("v6 block");
    let watch = felix_filter().exclude_interfaces(["cali*", "tunl0", "*.cali"]);
    let (fib, _events) =
        Fib::open_in_netns(ns.name(), FibConfig { watch, ..FibConfig::default() }).await.expect("open");
    let snapshot = fib.snapshot().await.expect("snapshot");
    let prefixes: Vec<String> = snapshot.iter().map(|r| format!("{} metric {}", r.prefix, r.metric)).collect();
    assert_eq!(prefixes, vec!["10.0.3.0/26 metric 0", "fd10::/64 metric 1024"]);
    fib.shutdown().await.expect("shutdown");
}

/// Routes the kernel holds for protocol 80, as `ip route` prints them.
fn kernel_set(ns: &TestNamespace) -> BTreeSet<String> {
    ns.lines(&["route", "show", "proto", "80"]).expect("ip route").iter().map(|l| route_prefix(l)).collect()
}

fn view_set(routes: &[LocalRoute]) -> BTreeSet<String> {
    routes.iter().map(|r| r.prefix.to_string()).collect()
}

#[tokio::test]
async fn lost_events_are_recovered_by_a_dump_with_the_correct_final_set() {
    if skip_unless_root("lost_events_are_recovered_by_a_dump_with_the_correct_final_set") {
        return;
    }
    let ns = TestNamespace::new("overrun").expect("namespace");
    ns.ip(&["route", "add", "blackhole", "10.200.0.0/24", "proto", "80"]).expect("early route");
    // A tiny event buffer, and the flood runs while this (single-threaded)
    // runtime is blocked, so nobody reads: the kernel must drop events.
    let config = FibConfig { watch: felix_filter(), event_buffer: 4096, ..FibConfig::default() };
    let (fib, mut events) = Fib::open_in_netns(ns.name(), config).await.expect("open");
    let mut batch = String::new();
    for i in 0..3000u32 {
        batch.push_str(&format!("route add blackhole 10.{}.{}.0/24 proto 80\n", 1 + i / 256, i % 256));
    }
    for i in (0..3000u32).step_by(3) {
        batch.push_str(&format!("route del blackhole 10.{}.{}.0/24 proto 80\n", 1 + i / 256, i % 256));
    }
    batch.push_str("route del blackhole 10.200.0.0/24 proto 80\n");
    ns.ip_batch(&batch).expect("flood");
    let expected = kernel_set(&ns);
    assert_eq!(expected.len(), 2000);

    let deadline = Instant::now() + WAIT;
    loop {
        let snapshot = fib.snapshot().await.expect("snapshot");
        if view_set(&snapshot) == expected {
            break;
        }
        assert!(Instant::now() < deadline, "view never matched the kernel: {} vs {}", snapshot.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = fib.status().await.expect("status");
    assert!(status.overruns >= 1, "the flood was meant to overflow the event socket: {status:?}");
    assert!(status.resyncs >= 2, "an overrun is followed by a dump: {status:?}");

    // Replaying the event stream gives the same final set as the snapshot.
    let mut replayed = BTreeSet::new();
    while let Some(ev) = events.try_recv() {
        match ev {
            LocalRouteEvent::Added(r) | LocalRouteEvent::Changed { new: r, .. } => {
                replayed.insert(r.prefix.to_string())
            }
            LocalRouteEvent::Removed(r) => replayed.remove(&r.prefix.to_string()),
        };
    }
    assert_eq!(replayed, expected);
    fib.shutdown().await.expect("shutdown");
}
