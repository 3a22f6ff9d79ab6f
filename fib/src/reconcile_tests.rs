use std::time::{Duration, Instant};

use super::*;
use crate::route::{Gateway, LocalRoute, Route, RouteKind, RouteTarget, TABLE_MAIN};

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn gw(s: &str) -> Gateway {
    Gateway::new(s.parse().expect("addr"))
}

fn kernel(prefix: &str, proto: u8, metric: u32) -> LocalRoute {
    LocalRoute {
        prefix: net(prefix),
        table: TABLE_MAIN,
        kind: RouteKind::Unicast,
        protocol: proto,
        metric,
        interface: None,
        ifindex: None,
        gateway: None,
        src: None,
        multipath: Vec::new(),
    }
}

fn started(now: Instant) -> Reconciler {
    let mut r = Reconciler::new(ReconcilerConfig::default());
    r.kernel_snapshot(&[], now);
    r
}

/// Runs every operation the reconciler wants, answering each with `answer`.
fn drain(r: &mut Reconciler, now: Instant, answer: impl Fn(&FibOpKind) -> OpResult) -> Vec<FibOpKind> {
    let mut ops = Vec::new();
    for _ in 0..10_000 {
        let Some(op) = r.poll_op(now) else { break };
        let result = answer(&op.kind);
        ops.push(op.kind);
        r.op_done(op.id, result, now);
    }
    ops
}

fn ok(_: &FibOpKind) -> OpResult {
    OpResult::Done
}

fn replaced(ops: &[FibOpKind]) -> Vec<String> {
    ops.iter()
        .filter_map(|o| match o {
            FibOpKind::Replace { route, .. } => Some(route.to_string()),
            _ => None,
        })
        .collect()
}

fn deleted(ops: &[FibOpKind]) -> Vec<String> {
    ops.iter()
        .filter_map(|o| match o {
            FibOpKind::Delete { key } => Some(format!("{} metric {}", key.prefix, key.metric)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_route_is_installed_once_and_identical_sets_do_nothing() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    let ops = drain(&mut r, now, ok);
    assert_eq!(replaced(&ops), vec!["10.0.1.0/26 via 192.168.0.2"]);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    assert!(drain(&mut r, now, ok).is_empty());
    assert_eq!(r.status().installed, 1);
    assert!(r.is_idle());
}

#[test]
fn a_change_replaces_and_a_removal_deletes_with_our_key() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    drain(&mut r, now, ok);
    r.set_route(Route::multipath(net("10.0.1.0/26"), vec![gw("192.168.0.2"), gw("192.168.0.3")])).expect("valid");
    let ops = drain(&mut r, now, ok);
    assert_eq!(replaced(&ops), vec!["10.0.1.0/26 via 192.168.0.2 via 192.168.0.3"]);
    assert!(deleted(&ops).is_empty(), "replace in place, no delete");
    r.remove_route(net("10.0.1.0/26"));
    let ops = drain(&mut r, now, ok);
    assert_eq!(deleted(&ops), vec!["10.0.1.0/26 metric 0"]);
    assert_eq!(r.status(), ReconcilerStatus::default());
}

#[test]
fn a_metric_change_installs_the_new_route_before_removing_the_old() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("2001:db8::/64"))).expect("valid");
    drain(&mut r, now, ok);
    r.set_route(Route::blackhole(net("2001:db8::/64")).with_metric(20)).expect("valid");
    let ops = drain(&mut r, now, ok);
    assert_eq!(ops.len(), 2);
    assert!(matches!(&ops[0], FibOpKind::Replace { route, .. } if route.metric == Some(20)));
    assert_eq!(deleted(&ops), vec!["2001:db8::/64 metric 1024"]);
}

#[test]
fn one_operation_per_prefix_is_in_flight() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("10.0.0.0/26"))).expect("valid");
    r.set_route(Route::blackhole(net("10.0.0.64/26"))).expect("valid");
    let a = r.poll_op(now).expect("first");
    let b = r.poll_op(now).expect("second prefix runs in parallel");
    assert_ne!(a.kind.prefix(), b.kind.prefix());
    r.remove_route(net("10.0.0.0/26"));
    assert_eq!(r.poll_op(now), None, "the delete waits for the replace of the same prefix");
    r.op_done(a.id, OpResult::Done, now);
    let c = r.poll_op(now).expect("now the delete");
    assert!(matches!(c.kind, FibOpKind::Delete { key } if key.prefix == net("10.0.0.0/26")));
}

#[test]
fn a_missing_interface_waits_for_the_link() {
    let now = Instant::now();
    let mut r = started(now);
    let route = Route::via(net("10.0.1.0/26"), gw("192.168.0.2").dev("tunl0").onlink());
    r.set_route(route.clone()).expect("valid");
    assert!(drain(&mut r, now, ok).is_empty());
    assert_eq!(r.status().pending, vec![(net("10.0.1.0/26"), PendingReason::MissingInterface("tunl0".into()))]);
    assert_eq!(r.poll_timeout(), None, "no timer: the link event retries it");
    r.link_update(Link { index: 2, name: "eth0".into(), up: true });
    assert!(drain(&mut r, now, ok).is_empty());
    r.link_update(Link { index: 9, name: "tunl0".into(), up: true });
    let ops = drain(&mut r, now, ok);
    assert_eq!(ops, vec![FibOpKind::Replace { route: std::sync::Arc::new(route), ifindexes: vec![Some(9)] }]);
    assert!(r.status().pending.is_empty());
}

#[test]
fn a_refused_route_is_retried_on_the_timer_and_on_link_changes() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.9.9"))).expect("valid");
    let ops = drain(&mut r, now, |_| OpResult::Failed(101)); // ENETUNREACH
    assert_eq!(ops.len(), 1, "no busy loop on failure");
    assert_eq!(r.status().pending, vec![(net("10.0.1.0/26"), PendingReason::Refused { errno: 101 })]);
    let at = r.poll_timeout().expect("retry timer");
    r.handle_timeout(at);
    assert_eq!(drain(&mut r, at, ok).len(), 1);
    assert!(r.status().pending.is_empty());
    assert_eq!(r.status().installed, 1);
}

#[test]
fn a_foreign_route_at_the_same_key_is_never_touched() {
    let now = Instant::now();
    let mut r = Reconciler::new(ReconcilerConfig::default());
    r.kernel_snapshot(&[kernel("10.0.1.0/26", 80, 0)], now);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    assert!(drain(&mut r, now, ok).is_empty());
    assert_eq!(r.status().pending, vec![(net("10.0.1.0/26"), PendingReason::Conflict { protocol: Some(80) })]);
    // The same prefix at another metric is a different route: fine.
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2")).with_metric(5)).expect("valid");
    assert_eq!(drain(&mut r, now, ok).len(), 1);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    drain(&mut r, now, ok);
    // Felix takes its route away: ours goes in.
    r.kernel_route_removed(&kernel("10.0.1.0/26", 80, 0));
    let ops = drain(&mut r, now, ok);
    assert_eq!(replaced(&ops), vec!["10.0.1.0/26 via 192.168.0.2"]);
    assert_eq!(deleted(&ops), vec!["10.0.1.0/26 metric 5"]);
}

#[test]
fn a_route_replaced_by_another_program_becomes_theirs() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    drain(&mut r, now, ok);
    r.kernel_route_added(&kernel("10.0.1.0/26", 80, 0));
    assert!(drain(&mut r, now, ok).is_empty());
    r.remove_route(net("10.0.1.0/26"));
    assert!(drain(&mut r, now, ok).is_empty(), "no delete of Felix's route");
}

#[test]
fn our_route_deleted_behind_our_back_is_installed_again() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    drain(&mut r, now, ok);
    r.kernel_route_removed(&kernel("10.0.1.0/26", 12, 0));
    assert_eq!(replaced(&drain(&mut r, now, ok)), vec!["blackhole 10.0.1.0/26"]);
    // The same through a dump (IPv4 routes vanish silently when a link goes).
    r.kernel_snapshot(&[], now);
    assert_eq!(replaced(&drain(&mut r, now, ok)), vec!["blackhole 10.0.1.0/26"]);
    r.kernel_snapshot(&[kernel("10.0.1.0/26", 12, 0)], now);
    assert!(drain(&mut r, now, ok).is_empty());
}

#[test]
fn echoes_of_our_own_operations_change_nothing() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    let op = r.poll_op(now).expect("op");
    r.kernel_route_added(&kernel("10.0.1.0/26", 12, 0)); // echo before the ack
    r.op_done(op.id, OpResult::Done, now);
    r.kernel_route_added(&kernel("10.0.1.0/26", 12, 0)); // echo after the ack
    assert!(drain(&mut r, now, ok).is_empty());
    r.remove_route(net("10.0.1.0/26"));
    assert_eq!(drain(&mut r, now, ok).len(), 1);
    r.kernel_route_removed(&kernel("10.0.1.0/26", 12, 0));
    assert!(drain(&mut r, now, ok).is_empty());
}

#[test]
fn restart_keeps_old_routes_until_relearned_then_removes_the_stale_ones() {
    let now = Instant::now();
    let mut r = Reconciler::new(ReconcilerConfig::default());
    r.kernel_snapshot(&[kernel("10.0.1.0/26", 12, 0), kernel("10.0.2.0/26", 12, 0), kernel("10.0.3.0/26", 80, 0)], now);
    assert!(drain(&mut r, now, ok).is_empty(), "kept while BGP re-learns");
    assert_eq!(r.status().stale, 2);
    r.set_route(Route::via(net("10.0.1.0/26"), gw("192.168.0.2"))).expect("valid");
    let ops = drain(&mut r, now, ok);
    assert_eq!(replaced(&ops), vec!["10.0.1.0/26 via 192.168.0.2"], "re-learned: replaced in place");
    assert!(deleted(&ops).is_empty());
    assert_eq!(r.status().stale, 1);
    r.end_of_rib();
    let ops = drain(&mut r, now, ok);
    assert_eq!(deleted(&ops), vec!["10.0.2.0/26 metric 0"], "only the stale one, never Felix's");
    assert_eq!(r.status().stale, 0);
}

#[test]
fn the_deadline_removes_stale_routes_when_end_of_rib_never_comes() {
    let now = Instant::now();
    let mut r = Reconciler::new(ReconcilerConfig { stale_deadline: Duration::from_secs(30), ..Default::default() });
    r.kernel_snapshot(&[kernel("10.0.2.0/26", 12, 0)], now);
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(30)));
    r.handle_timeout(now + Duration::from_secs(29));
    assert!(drain(&mut r, now, ok).is_empty());
    r.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(deleted(&drain(&mut r, now, ok)), vec!["10.0.2.0/26 metric 0"]);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn routes_set_before_the_first_dump_replace_stale_ones() {
    let now = Instant::now();
    let mut r = Reconciler::new(ReconcilerConfig::default());
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    r.kernel_snapshot(&[kernel("10.0.1.0/26", 12, 0)], now);
    let ops = drain(&mut r, now, ok);
    assert_eq!(replaced(&ops), vec!["blackhole 10.0.1.0/26"]);
    assert_eq!(r.status().stale, 0);
}

#[test]
fn flush_removes_everything_of_ours_and_delete_races_are_fine() {
    let now = Instant::now();
    let mut r = Reconciler::new(ReconcilerConfig::default());
    r.kernel_snapshot(&[kernel("10.0.9.0/26", 12, 0)], now);
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    drain(&mut r, now, ok);
    r.flush_all();
    let mut ops = deleted(&drain(&mut r, now, |_| OpResult::Failed(3))); // ESRCH: already gone
    ops.sort();
    assert_eq!(ops, vec!["10.0.1.0/26 metric 0", "10.0.9.0/26 metric 0"]);
    assert_eq!(r.status(), ReconcilerStatus::default());
}

#[test]
fn a_refused_delete_is_retried() {
    let now = Instant::now();
    let mut r = started(now);
    r.set_route(Route::blackhole(net("10.0.1.0/26"))).expect("valid");
    drain(&mut r, now, ok);
    r.remove_route(net("10.0.1.0/26"));
    assert_eq!(drain(&mut r, now, |_| OpResult::Failed(16)).len(), 1); // EBUSY
    let at = r.poll_timeout().expect("retry");
    r.handle_timeout(at);
    assert_eq!(deleted(&drain(&mut r, at, ok)), vec!["10.0.1.0/26 metric 0"]);
    assert!(r.status().pending.is_empty());
}

#[test]
fn invalid_routes_are_rejected_not_dropped_silently() {
    let mut r = Reconciler::new(ReconcilerConfig::default());
    let bad = Route { prefix: net("10.0.0.0/8"), target: RouteTarget::Via(vec![]), metric: None, src: None };
    assert!(r.set_route(bad).is_err());
}
