//! Node propagation, measured: a Calico-shaped iBGP full mesh in network
//! namespaces ([`tern_speaker::cluster`]), a block blackhole added on node 1
//! the way Felix adds one, and the time until node N's kernel holds the
//! route (and, after the delete, until it no longer does).
//!
//! Shared by the `propagation` example (the benchmark) and
//! `tests/propagation_netns.rs` (the CI smoke, which asserts arrivals and
//! withdrawals, never times).
//!
//! How times are taken: both ends live in this process and read one
//! monotonic clock. The add (or delete) is a netlink request sent from a
//! [`fib::Fib`] opened in node 1's namespace with Felix's protocol number
//! (80), so the route is exactly `blackhole PREFIX proto 80`; the clock is
//! read right before the request is handed over. Arrival is seen on node N
//! by a second [`fib::Fib`] whose watch subscribes to the rtnetlink route
//! multicast group inside that namespace and reports routes of protocol
//! `bird` (12, what both tern and BIRD install); the clock is read when the
//! event for the prefix comes out of it. [`Observe::Poll`] instead runs
//! `ip -n NS route show PREFIX` every few milliseconds, the way the issue's
//! anchor was measured.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fib::{Fib, FibConfig, FibEvents, LocalRouteEvent, Route, RouteChange, RouteFilter, ShutdownMode};
use ipnet::{IpNet, Ipv4Net};
use tern_speaker::cluster::{Cluster, ClusterSpec};

/// The daemon every node of a testbed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Tern,
    /// BIRD 1.6 configured from Calico's templates.
    Bird1,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Tern => "tern",
            System::Bird1 => "bird1",
        }
    }

    pub fn parse(s: &str) -> Option<System> {
        match s {
            "tern" => Some(System::Tern),
            "bird1" | "bird" => Some(System::Bird1),
            _ => None,
        }
    }
}

/// How arrival in node N's kernel is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observe {
    /// rtnetlink route events in node N's namespace.
    Monitor,
    /// `ip -n NS route show PREFIX`, then this pause, until it shows.
    Poll(Duration),
}

/// Protocol number of the watching [`Fib`] on node N: never installs
/// anything, and must differ from `bird` (a watch never reports its own
/// protocol).
const WATCH_PROTOCOL: u8 = 199;

/// One running cluster and its two measuring ends. Fields drop in order:
/// the netlink handles before the cluster removes the namespaces.
pub struct Testbed {
    /// Node 1: installs and deletes the blackholes (protocol 80).
    adder: Fib,
    _adder_events: FibEvents,
    /// Node N: routes of protocol `bird` as they come and go.
    watch: FibEvents,
    _watch: Fib,
    pub system: System,
    /// Index (in `cluster.nodes`) of the node whose kernel is watched.
    pub last: usize,
    pub cluster: Cluster,
}

/// Where the speaker's and BIRD's binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub speaker: PathBuf,
    pub bird1: PathBuf,
}

impl Testbed {
    /// Starts `nodes` nodes of `system` on bridge subnet 10.99.`net`.0/24,
    /// pool 10.`64+net`.0.0/16, and opens the two measuring ends. Needs root.
    pub async fn start(system: System, tag: &str, net: u8, nodes: usize, bins: &Binaries) -> std::io::Result<Testbed> {
        if nodes < 2 {
            return Err(std::io::Error::other("a propagation testbed needs at least 2 nodes"));
        }
        let mut spec = ClusterSpec::mesh(tag, net, nodes, bins.speaker.clone(), true);
        if system == System::Bird1 {
            for n in &mut spec.nodes {
                n.bird = Some(bins.bird1.clone());
            }
        }
        let cluster = Cluster::start(spec)?;
        let last = nodes - 1;
        let ns = |i: usize| {
            cluster.nodes[i].ns.as_ref().map(|n| n.name().to_string()).ok_or_else(|| std::io::Error::other("no netns"))
        };
        let (first_ns, last_ns) = (ns(0)?, ns(last)?);
        // The adder watches nothing (no protocol 0 routes exist in main).
        let adder_cfg = FibConfig {
            protocol: fib::PROTO_FELIX,
            watch: RouteFilter::default().tables([fib::TABLE_MAIN]).protocols([0]),
            shutdown: ShutdownMode::Keep,
            ..FibConfig::default()
        };
        let (adder, adder_events) =
            Fib::open_in_netns(&first_ns, adder_cfg).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        let watch_cfg = FibConfig {
            protocol: WATCH_PROTOCOL,
            watch: RouteFilter::default().tables([fib::TABLE_MAIN]).protocols([fib::PROTO_BIRD]),
            shutdown: ShutdownMode::Keep,
            ..FibConfig::default()
        };
        let (watch_fib, watch) =
            Fib::open_in_netns(&last_ns, watch_cfg).await.map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Testbed { adder, _adder_events: adder_events, watch, _watch: watch_fib, system, last, cluster })
    }

    /// Waits until every node's kernel holds every other node's block
    /// (`proto bird`): the mesh is up everywhere.
    pub fn converge(&self, limit: Duration) -> Result<(), String> {
        let nodes = &self.cluster.nodes;
        let ok = Cluster::wait_for(limit, || {
            nodes.iter().enumerate().all(|(i, n)| {
                let routes = n.routes(&["proto", "bird"]);
                nodes.iter().enumerate().filter(|(j, _)| *j != i).all(|(_, other)| {
                    let block = format!("{} ", other.spec.block);
                    routes.iter().any(|l| l.starts_with(&block) && l.contains(" via "))
                })
            })
        });
        if ok {
            Ok(())
        } else {
            Err(self.dump())
        }
    }

    /// Every node's `proto bird` routes and log, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.cluster.nodes {
            s.push_str(&format!("--- {} routes:\n{}\n", n.spec.name, n.routes(&["proto", "bird"]).join("\n")));
            s.push_str(&format!("--- {} log:\n{}\n", n.spec.name, n.log_text()));
        }
        s
    }

    /// The `k`-th blackhole prefix: a /26 of the pool outside every node's
    /// own block (10.P.100.0/26, 10.P.100.64/26, … 600 distinct).
    pub fn prefix(&self, k: usize) -> Ipv4Net {
        let pool = self.cluster.spec.pool.network().octets();
        let k = k % 600;
        let third = 100 + (k / 4) as u8;
        let fourth = ((k % 4) * 64) as u8;
        Ipv4Net::new(Ipv4Addr::new(pool[0], pool[1], third, fourth), 26).unwrap_or_default()
    }

    /// Adds `blackhole PREFIX proto 80` on node 1; the time until node N's
    /// kernel holds a route for it, or `None` after `limit`.
    pub async fn add(&mut self, prefix: Ipv4Net, observe: Observe, limit: Duration) -> Option<Duration> {
        self.drain();
        let change = RouteChange::Set(Route::blackhole(IpNet::V4(prefix)));
        let t0 = Instant::now();
        self.adder.apply(vec![change]).await.ok()?;
        self.arrival(prefix, true, observe, t0, limit).await
    }

    /// Deletes the blackhole; the time until node N's kernel no longer
    /// holds a route for it, or `None` after `limit`.
    pub async fn remove(&mut self, prefix: Ipv4Net, observe: Observe, limit: Duration) -> Option<Duration> {
        self.drain();
        let t0 = Instant::now();
        self.adder.apply(vec![RouteChange::Remove(IpNet::V4(prefix))]).await.ok()?;
        self.arrival(prefix, false, observe, t0, limit).await
    }

    fn drain(&mut self) {
        while self.watch.try_recv().is_some() {}
    }

    async fn arrival(
        &mut self,
        prefix: Ipv4Net,
        present: bool,
        observe: Observe,
        t0: Instant,
        limit: Duration,
    ) -> Option<Duration> {
        let deadline = t0 + limit;
        match observe {
            Observe::Monitor => loop {
                let left = deadline.checked_duration_since(Instant::now())?;
                let ev = tokio::time::timeout(left, self.watch.recv()).await.ok()??;
                let seen = Instant::now();
                let hit = ev.route().prefix == IpNet::V4(prefix)
                    && match ev {
                        LocalRouteEvent::Added(_) | LocalRouteEvent::Changed { .. } => present,
                        LocalRouteEvent::Removed(_) => !present,
                    };
                if hit {
                    return Some(seen - t0);
                }
            },
            Observe::Poll(every) => {
                let ns = self.cluster.nodes[self.last].ns.as_ref()?.name().to_string();
                tokio::task::spawn_blocking(move || poll(&ns, prefix, present, every, t0, deadline)).await.ok()?
            }
        }
    }
}

/// `ip -n NS route show PREFIX` until it shows (or no longer shows) a
/// `proto bird` route, pausing `every` between runs.
fn poll(ns: &str, prefix: Ipv4Net, present: bool, every: Duration, t0: Instant, deadline: Instant) -> Option<Duration> {
    let p = prefix.to_string();
    loop {
        let out = Command::new("ip").args(["-n", ns, "route", "show", &p]).output().ok()?;
        let seen = Instant::now();
        let shows = String::from_utf8_lossy(&out.stdout).lines().any(|l| l.contains("proto bird"));
        if shows == present {
            return Some(seen - t0);
        }
        if seen >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}
