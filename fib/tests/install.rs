//! Routes tern installs, checked with `ip route` in a namespace of the test's
//! own. Needs root; without it each test says it is skipped and passes.

use std::time::Duration;

use fib::testns::{poll_until, skip_unless_root, TestNamespace};
use fib::{Fib, FibConfig, Gateway, PendingReason, Route, RouteChange, ShutdownMode};
use ipnet::IpNet;

const WAIT: Duration = Duration::from_secs(10);

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn gw(s: &str) -> Gateway {
    Gateway::new(s.parse().expect("address"))
}

/// `ip route` output with line ends trimmed (iproute2 leaves a space).
fn show(ns: &TestNamespace, args: &[&str]) -> String {
    let out = ns.ip(args).expect("ip route show");
    out.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// A namespace with `eth0` (10.10.0.1/24, fd00::1/64) and, if asked, a veth
/// end named `tunl0` standing in for Calico's IPIP device.
fn node(tag: &str, with_tunl0: bool) -> TestNamespace {
    let ns = TestNamespace::new(tag).expect("namespace");
    ns.veth("eth0", "eth0p", Some("10.10.0.1/24")).expect("eth0");
    ns.ip(&["addr", "add", "fd00::1/64", "dev", "eth0", "nodad"]).expect("v6 address");
    if with_tunl0 {
        ns.veth("tunl0", "tunl0p", None).expect("tunl0");
    }
    ns
}

async fn open(ns: &TestNamespace, config: FibConfig) -> Fib {
    let (fib, _events) = Fib::open_in_netns(ns.name(), config).await.expect("open fib");
    fib
}

async fn settle(fib: &Fib) {
    tokio::time::timeout(WAIT, fib.settle()).await.expect("settles in time").expect("driver alive");
}

#[tokio::test]
async fn every_route_form_shows_in_ip_route_exactly() {
    if skip_unless_root("every_route_form_shows_in_ip_route_exactly") {
        return;
    }
    let ns = node("forms", true);
    let fib = open(&ns, FibConfig::default()).await;
    let changes = vec![
        Route::via(net("10.0.1.0/26"), gw("192.168.5.2").dev("tunl0").onlink()),
        Route::multipath(net("10.0.2.0/26"), vec![gw("10.10.0.2"), gw("10.10.0.3")]),
        Route::via(net("10.0.3.0/26"), gw("10.10.0.2")).with_metric(5).with_src("10.10.0.1".parse().expect("src")),
        Route::blackhole(net("10.0.9.0/26")),
        Route::via(net("fd01::/64"), gw("fe80::2").dev("eth0")),
        Route::blackhole(net("fd02::/64")),
        Route::multipath(net("fd03::/64"), vec![gw("fe80::2").dev("eth0"), gw("fe80::3").dev("eth0")]),
    ];
    let rejected = fib.apply(changes.into_iter().map(RouteChange::Set).collect()).await.expect("apply");
    assert!(rejected.is_empty(), "{rejected:?}");
    settle(&fib).await;
    assert_eq!(
        show(&ns, &["route", "show", "proto", "12"]),
        "10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink\n\
         10.0.2.0/26\n\
         \tnexthop via 10.10.0.2 dev eth0 weight 1\n\
         \tnexthop via 10.10.0.3 dev eth0 weight 1\n\
         10.0.3.0/26 via 10.10.0.2 dev eth0 src 10.10.0.1 metric 5\n\
         blackhole 10.0.9.0/26"
    );
    assert_eq!(
        show(&ns, &["-6", "route", "show", "proto", "12"]),
        "fd01::/64 via fe80::2 dev eth0 metric 1024 pref medium\n\
         blackhole fd02::/64 dev lo metric 1024 pref medium\n\
         fd03::/64 metric 1024 pref medium\n\
         \tnexthop via fe80::2 dev eth0 weight 1\n\
         \tnexthop via fe80::3 dev eth0 weight 1"
    );

    // What tern installed does not come back as a local route (the default
    // watch also skips the kernel's own connected routes).
    assert_eq!(fib.snapshot().await.expect("snapshot"), vec![]);

    // Change one in place, remove one: no duplicates, nothing else moves.
    fib.apply(vec![
        RouteChange::Set(Route::via(net("10.0.2.0/26"), gw("10.10.0.4"))),
        RouteChange::Remove(net("10.0.9.0/26")),
        RouteChange::Remove(net("fd02::/64")),
    ])
    .await
    .expect("apply");
    settle(&fib).await;
    assert_eq!(
        show(&ns, &["route", "show", "proto", "12"]),
        "10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink\n\
         10.0.2.0/26 via 10.10.0.4 dev eth0\n\
         10.0.3.0/26 via 10.10.0.2 dev eth0 src 10.10.0.1 metric 5"
    );
    assert_eq!(show(&ns, &["-6", "route", "show", "proto", "12", "type", "blackhole"]), "");
    fib.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_route_via_a_missing_tunl0_is_installed_once_the_link_appears() {
    if skip_unless_root("a_route_via_a_missing_tunl0_is_installed_once_the_link_appears") {
        return;
    }
    let ns = node("tunl0", false);
    let fib = open(&ns, FibConfig::default()).await;
    fib.apply(vec![RouteChange::Set(Route::via(net("10.0.1.0/26"), gw("192.168.5.2").dev("tunl0").onlink()))])
        .await
        .expect("apply");
    settle(&fib).await;
    assert_eq!(show(&ns, &["route", "show", "proto", "12"]), "");
    let status = fib.status().await.expect("status");
    assert_eq!(status.install.pending, vec![(net("10.0.1.0/26"), PendingReason::MissingInterface("tunl0".into()))]);

    // The link appears down first (the kernel refuses onlink routes over a
    // down device), then comes up.
    ns.ip(&["link", "add", "tunl0", "type", "veth", "peer", "name", "tunl0p"]).expect("tunl0");
    ns.ip(&["link", "set", "tunl0p", "up"]).expect("up");
    ns.ip(&["link", "set", "tunl0", "up"]).expect("up");
    let shown = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        (!out.is_empty()).then_some(out)
    })
    .await;
    assert_eq!(shown.as_deref(), Some("10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink"));
    let status = fib.status().await.expect("status");
    assert!(status.install.pending.is_empty(), "{:?}", status.install.pending);

    // The link goes away and comes back: the route follows it.
    ns.ip(&["link", "del", "tunl0"]).expect("del tunl0");
    let gone = poll_until(WAIT, || show(&ns, &["route", "show", "proto", "12"]).is_empty().then_some(())).await;
    assert!(gone.is_some());
    ns.veth("tunl0", "tunl0p", None).expect("tunl0 again");
    let back = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        (!out.is_empty()).then_some(out)
    })
    .await;
    assert_eq!(back.as_deref(), Some("10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink"));
    fib.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn restart_keeps_routes_until_relearned_then_removes_stale_ones() {
    if skip_unless_root("restart_keeps_routes_until_relearned_then_removes_stale_ones") {
        return;
    }
    let ns = node("restart", true);
    // What a previous run left, plus Felix's route that is never ours.
    for cmd in [
        "route add 10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink proto 12",
        "route add 10.0.2.0/26 via 10.10.0.2 proto 12",
        "route add blackhole 10.0.3.0/26 proto 12",
        "route add blackhole 10.0.7.0/26 proto 80",
    ] {
        ns.ip(&cmd.split(' ').collect::<Vec<_>>()).expect(cmd);
    }
    let before = show(&ns, &["route", "show", "proto", "12"]);
    let fib = open(&ns, FibConfig { stale_deadline: Duration::from_secs(3600), ..FibConfig::default() }).await;
    settle(&fib).await;
    assert_eq!(show(&ns, &["route", "show", "proto", "12"]), before, "kept while BGP re-learns");
    assert_eq!(fib.status().await.expect("status").install.stale, 3);

    // BGP re-learns two of them, one with a new next hop.
    fib.apply(vec![
        RouteChange::Set(Route::via(net("10.0.1.0/26"), gw("192.168.5.2").dev("tunl0").onlink())),
        RouteChange::Set(Route::via(net("10.0.2.0/26"), gw("10.10.0.3"))),
    ])
    .await
    .expect("apply");
    settle(&fib).await;
    assert_eq!(
        show(&ns, &["route", "show", "proto", "12"]),
        "10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink\n\
         10.0.2.0/26 via 10.10.0.3 dev eth0\n\
         blackhole 10.0.3.0/26"
    );
    fib.end_of_rib().expect("end of rib");
    let after = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        (!out.contains("10.0.3.0")).then_some(out)
    })
    .await;
    assert_eq!(
        after.as_deref(),
        Some("10.0.1.0/26 via 192.168.5.2 dev tunl0 onlink\n10.0.2.0/26 via 10.10.0.3 dev eth0")
    );
    assert_eq!(show(&ns, &["route", "show", "proto", "80"]), "blackhole 10.0.7.0/26");

    // Shutdown keeps routes (graceful restart) by default.
    fib.shutdown().await.expect("shutdown");
    assert_eq!(show(&ns, &["route", "show", "proto", "12"]).lines().count(), 2);
}

#[tokio::test]
async fn the_deadline_removes_stale_routes_without_end_of_rib() {
    if skip_unless_root("the_deadline_removes_stale_routes_without_end_of_rib") {
        return;
    }
    let ns = node("deadline", false);
    ns.ip(&["route", "add", "blackhole", "10.0.3.0/26", "proto", "12"]).expect("stale route");
    let fib = open(&ns, FibConfig { stale_deadline: Duration::from_millis(300), ..FibConfig::default() }).await;
    fib.apply(vec![RouteChange::Set(Route::blackhole(net("10.0.4.0/26")))]).await.expect("apply");
    let after = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        (!out.contains("10.0.3.0")).then_some(out)
    })
    .await;
    assert_eq!(after.as_deref(), Some("blackhole 10.0.4.0/26"));
    fib.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn routes_of_other_programs_are_never_touched_and_flush_removes_only_ours() {
    if skip_unless_root("routes_of_other_programs_are_never_touched_and_flush_removes_only_ours") {
        return;
    }
    let ns = node("foreign", false);
    ns.ip(&["route", "add", "blackhole", "10.0.7.0/26", "proto", "80"]).expect("felix route");
    let fib = open(&ns, FibConfig::default()).await;
    fib.apply(vec![
        RouteChange::Set(Route::via(net("10.0.7.0/26"), gw("10.10.0.2"))),
        RouteChange::Set(Route::blackhole(net("10.0.8.0/26"))),
    ])
    .await
    .expect("apply");
    settle(&fib).await;
    assert_eq!(show(&ns, &["route", "show", "proto", "80"]), "blackhole 10.0.7.0/26");
    assert_eq!(show(&ns, &["route", "show", "proto", "12"]), "blackhole 10.0.8.0/26");
    let pending = fib.status().await.expect("status").install.pending;
    assert_eq!(pending, vec![(net("10.0.7.0/26"), PendingReason::Conflict { protocol: Some(80) })]);

    // Felix withdraws its route: ours goes in.
    ns.ip(&["route", "del", "blackhole", "10.0.7.0/26", "proto", "80"]).expect("del felix route");
    let shown = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        out.contains("10.0.7.0").then_some(out)
    })
    .await;
    assert_eq!(shown.as_deref(), Some("10.0.7.0/26 via 10.10.0.2 dev eth0\nblackhole 10.0.8.0/26"));

    ns.ip(&["route", "add", "blackhole", "10.0.9.0/26", "proto", "80"]).expect("another felix route");
    tokio::time::timeout(WAIT, fib.shutdown_with(ShutdownMode::Flush)).await.expect("in time").expect("flush");
    assert_eq!(show(&ns, &["route", "show", "proto", "12"]), "");
    assert_eq!(show(&ns, &["route", "show", "proto", "80"]), "blackhole 10.0.9.0/26");
}

#[tokio::test]
async fn many_routes_install_in_batches_and_match_exactly() {
    if skip_unless_root("many_routes_install_in_batches_and_match_exactly") {
        return;
    }
    let ns = node("batch", false);
    let fib = open(&ns, FibConfig::default()).await;
    let routes: Vec<RouteChange> = (0..5000u32)
        .map(|i| {
            let prefix = IpNet::new(std::net::Ipv4Addr::from(0x0b00_0000 + (i << 8)).into(), 24).expect("prefix");
            RouteChange::Set(Route::via(prefix, gw("10.10.0.2")))
        })
        .collect();
    fib.apply(routes).await.expect("apply");
    settle(&fib).await;
    let lines = ns.lines(&["route", "show", "proto", "12"]).expect("show");
    assert_eq!(lines.len(), 5000);
    assert!(lines.iter().all(|l| l.ends_with("via 10.10.0.2 dev eth0")), "{:?}", &lines[..3]);
    assert!(lines.contains(&"11.19.135.0/24 via 10.10.0.2 dev eth0".to_string()));
    let status = fib.status().await.expect("status");
    assert_eq!((status.install.installed, status.install.pending.len()), (5000, 0));

    // The echoes of our own installs are dropped in the kernel: a later
    // route of another program is (nearly) the only event that arrives.
    ns.ip(&["route", "add", "blackhole", "10.0.7.0/26", "proto", "80"]).expect("felix route");
    let mut seen = 0;
    for _ in 0..1000 {
        seen = fib.status().await.expect("status").route_events;
        if seen >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!((1..100).contains(&seen), "route events received: {seen}");
    fib.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_route_via_an_unreachable_gateway_is_retried_until_it_fits() {
    if skip_unless_root("a_route_via_an_unreachable_gateway_is_retried_until_it_fits") {
        return;
    }
    let ns = node("unreach", false);
    let config = FibConfig { retry_interval: Duration::from_millis(100), ..FibConfig::default() };
    let fib = open(&ns, config).await;
    // One batch: the kernel refuses the middle route and takes the others.
    fib.apply(vec![
        RouteChange::Set(Route::blackhole(net("10.0.4.0/26"))),
        RouteChange::Set(Route::via(net("10.0.5.0/26"), gw("10.99.0.2"))),
        RouteChange::Set(Route::via(net("10.0.6.0/26"), gw("10.10.0.2"))),
    ])
    .await
    .expect("apply");
    settle(&fib).await;
    assert_eq!(
        show(&ns, &["route", "show", "proto", "12"]),
        "blackhole 10.0.4.0/26\n10.0.6.0/26 via 10.10.0.2 dev eth0"
    );
    let pending = fib.status().await.expect("status").install.pending;
    assert_eq!(pending, vec![(net("10.0.5.0/26"), PendingReason::Refused { errno: 101 })], "ENETUNREACH");

    // The gateway's subnet appears (no link event): the retry timer finds it.
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "eth0"]).expect("address");
    let shown = poll_until(WAIT, || {
        let out = show(&ns, &["route", "show", "proto", "12"]);
        out.contains("10.0.5.0").then_some(out)
    })
    .await;
    assert_eq!(
        shown.as_deref(),
        Some("blackhole 10.0.4.0/26\n10.0.5.0/26 via 10.99.0.2 dev eth0\n10.0.6.0/26 via 10.10.0.2 dev eth0")
    );
    fib.shutdown().await.expect("shutdown");
}
