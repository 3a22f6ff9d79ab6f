//! Measures the kernel sync in a network namespace of its own (needs root):
//!
//! 1. install rate: N routes through `Fib::apply` + `settle` against the same
//!    N routes through `ip -batch` (`route replace ... proto 12`), each from an
//!    empty table, alternating, several trials;
//! 2. event latency: kernel change (an RTM_NEWROUTE/DELROUTE request sent on
//!    another netlink socket) → `LocalRouteEvent` delivered, p50/p99.
//!
//! `cargo run --release -p fib --example fib_measure -- [ROUTES] [TRIALS] [CHANGES]`
//! (defaults 100000 3 1000).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use fib::message::{build_delete, build_route};
use fib::testns::{is_root, TestNamespace};
use fib::{Fib, FibConfig, Gateway, LocalRouteEvent, Route, RouteChange, RouteFilter, RouteKey, TABLE_MAIN};
use ipnet::IpNet;

fn prefix(i: u32) -> IpNet {
    // 11.0.0.0/24, 11.0.1.0/24, ... : distinct /24s, like per-node blocks.
    IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + (i << 8))), 24).expect("prefix")
}

fn sh(cmd: &str) {
    let ok = std::process::Command::new("sh").arg("-c").arg(cmd).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "command failed: {cmd}");
}

fn count_routes() -> usize {
    let out = std::process::Command::new("ip").args(["route", "show", "proto", "12"]).output().expect("ip");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn flush() {
    sh("ip route flush proto 12");
    assert_eq!(count_routes(), 0);
}

async fn fib_install(routes: u32) -> Duration {
    let (fib, _events) = Fib::open(FibConfig::default()).await.expect("open");
    let changes: Vec<RouteChange> = (0..routes)
        .map(|i| RouteChange::Set(Route::via(prefix(i), Gateway::new("10.10.0.2".parse().expect("gw")))))
        .collect();
    let start = Instant::now();
    fib.apply(changes).await.expect("apply");
    fib.settle().await.expect("settle");
    let took = start.elapsed();
    fib.shutdown().await.expect("shutdown");
    took
}

fn ip_batch_install(routes: u32) -> Duration {
    let mut batch = String::with_capacity(routes as usize * 48);
    for i in 0..routes {
        batch.push_str(&format!("route replace {} via 10.10.0.2 proto 12\n", prefix(i)));
    }
    let path = std::env::temp_dir().join(format!("fib-measure-{}.batch", std::process::id()));
    std::fs::write(&path, batch).expect("batch file");
    let start = Instant::now();
    sh(&format!("ip -batch {}", path.display()));
    let took = start.elapsed();
    let _ = std::fs::remove_file(&path);
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

async fn event_latency(changes: u32) -> Vec<Duration> {
    let watch = RouteFilter::default().protocols([80]);
    let (fib, mut events) = Fib::open(FibConfig { watch, ..FibConfig::default() }).await.expect("open");
    let (conn, handle, _) = rtnetlink::new_connection().expect("writer socket");
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(changes as usize);
    let half = changes / 2;
    for n in 0..changes {
        let (i, add) = if n < half { (n, true) } else { (n - half, false) };
        let p = IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0c00_0000 + (i << 8))), 24).expect("prefix");
        let start = Instant::now();
        let request = async {
            if add {
                handle.route().add(build_route(&Route::blackhole(p), &[], TABLE_MAIN, 80)).execute().await
            } else {
                handle
                    .route()
                    .del(build_delete(&RouteKey { table: TABLE_MAIN, prefix: p, metric: 0 }, 80))
                    .execute()
                    .await
            }
        };
        let seen = async {
            loop {
                let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
                    .await
                    .expect("event within 5 s")
                    .expect("driver alive");
                let hit = match &ev {
                    LocalRouteEvent::Added(r) => add && r.prefix == p,
                    LocalRouteEvent::Removed(r) => !add && r.prefix == p,
                    LocalRouteEvent::Changed { .. } => false,
                };
                if hit {
                    return start.elapsed();
                }
            }
        };
        let (res, took) = tokio::join!(request, seen);
        res.expect("kernel change");
        latencies.push(took);
    }
    fib.shutdown().await.expect("shutdown");
    latencies
}

fn main() {
    if !is_root() {
        eprintln!("fib_measure needs root (network namespaces); nothing measured");
        return;
    }
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let routes = args.first().copied().unwrap_or(100_000);
    let trials = args.get(1).copied().unwrap_or(3);
    let changes = args.get(2).copied().unwrap_or(1000);

    let ns = TestNamespace::new("measure").expect("namespace");
    ns.veth("eth0", "eth0p", Some("10.10.0.1/24")).expect("eth0");
    // The whole process moves into the namespace before any thread starts:
    // the runtime, the sockets and the `ip` children all live there.
    let file = std::fs::File::open(format!("/run/netns/{}", ns.name())).expect("netns file");
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    println!("install {routes} routes (via 10.10.0.2, proto 12) into an empty table, {trials} trials");
    // Series: 0 = fib; 1 = ip -batch alone; 2 = ip -batch while a fib watch
    // listens (the kernel then also builds an event per route, as it does
    // for fib's own installs).
    let mut series: [Vec<Duration>; 3] = Default::default();
    for t in 0..trials as usize {
        // Rotate who goes first so cache effects favour nobody.
        for k in 0..3 {
            let which = (t + k) % 3;
            let d = match which {
                0 => rt.block_on(fib_install(routes)),
                1 => ip_batch_install(routes),
                _ => {
                    let (watch, _events) = rt.block_on(Fib::open(FibConfig::default())).expect("open watch");
                    let d = ip_batch_install(routes);
                    rt.block_on(watch.shutdown()).expect("shutdown");
                    d
                }
            };
            assert_eq!(count_routes(), routes as usize);
            series[which].push(d);
            flush();
        }
    }
    for s in &mut series {
        s.sort();
    }
    let med: Vec<Duration> = series.iter().map(|s| percentile(s, 0.5)).collect();
    println!("  fib (batched netlink):          median {:?}  all {:?}", med[0], series[0]);
    println!("  ip -batch:                      median {:?}  all {:?}", med[1], series[1]);
    println!("  ip -batch, fib watch listening: median {:?}  all {:?}", med[2], series[2]);
    println!(
        "  ratio fib / ip -batch: {:.2} (alone), {:.2} (with a listener)",
        med[0].as_secs_f64() / med[1].as_secs_f64(),
        med[0].as_secs_f64() / med[2].as_secs_f64()
    );

    let mut lat = rt.block_on(event_latency(changes));
    lat.sort();
    println!("event latency over {changes} changes (kernel request sent → event delivered):");
    println!(
        "  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    drop(rt);
    drop(ns);
}
