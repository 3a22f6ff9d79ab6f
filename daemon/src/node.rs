//! The running daemon: one configuration file → the engine's peers, the
//! kernel sync and the control plane, and the loop that connects them.
//!
//! Data flow (DESIGN.md): kernel routes the node learns (Felix's, the block
//! blackholes) go from [`fib`] into the engine as locally originated routes;
//! routes the engine selects come back as [`Event::Fib`] and are programmed
//! through Calico's kernel rule ([`crate::calico`]). Reload re-reads the file
//! and applies only the difference ([`config::diff`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bgp_proto::{Family, Nlri};
use config::{DesiredState, PeerDiff};
use fib::{Fib, FibConfig, FibEvents, LocalRouteEvent, RouteChange, RouteFilter as KernelFilter};
use ipnet::IpNet;
use speaker::engine::{Engine, EngineConfig, EngineStats, EngineTuning, Event, PeerStatus, RouteFilter, RouteInfo};
use speaker::rib::{FibChange, RibConfig, SelectionDeferral};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::calico::{CalicoHandle, CalicoOptions, Learned};
use crate::peers::{peer_spec, Policies};
use crate::status::{BoxFut, DaemonStatus, KernelStats, StatusSource};

/// How the daemon was started (command line).
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the desired state comes from.
    pub source: Source,
    /// Started after a restart (BIRD's `-R`): announce the R bit and defer
    /// best-path selection until the peers' End-of-RIB (RFC 4724 §4.1).
    pub recovery: bool,
    /// How long the deferral waits at most.
    pub recovery_wait: Duration,
    /// Start no control socket / HTTP server (tests that run many nodes).
    pub no_control: bool,
}

/// Where the daemon's desired state comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A configuration file, re-read on SIGHUP / `ternctl reload`.
    File(PathBuf),
    /// A datastore (etcd): the state derived at start, then every change,
    /// applied as it arrives. SIGHUP / `ternctl reload` do not apply.
    Stream(Box<DesiredStream>),
}

/// A desired state and its later versions (datastore mode).
#[derive(Clone, Debug)]
pub struct DesiredStream {
    pub initial: DesiredState,
    /// Shared so that [`Options`] stays `Clone`; only the daemon receives.
    pub updates: Arc<tokio::sync::Mutex<mpsc::Receiver<DesiredState>>>,
}

/// Counters of the kernel side, shared with the status renderers.
#[derive(Debug, Default)]
struct KernelCounters {
    installed: AtomicU64,
    failed: AtomicU64,
    learned: AtomicU64,
}

type ReloadReply = oneshot::Sender<Result<String, String>>;

/// What the control plane reads. Cheap to clone.
#[derive(Clone)]
pub struct NodeStatus {
    engine: Engine,
    daemon: Arc<Mutex<DaemonStatus>>,
    kernel: Arc<KernelCounters>,
    reload: mpsc::Sender<ReloadReply>,
}

impl StatusSource for NodeStatus {
    fn daemon(&self) -> DaemonStatus {
        self.daemon.lock().map(|d| d.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    fn peers(&self) -> BoxFut<'_, Vec<PeerStatus>> {
        Box::pin(self.engine.peers())
    }

    fn routes(&self, filter: RouteFilter) -> BoxFut<'_, Vec<RouteInfo>> {
        Box::pin(self.engine.routes(filter))
    }

    fn stats(&self) -> BoxFut<'_, EngineStats> {
        Box::pin(self.engine.stats())
    }

    fn kernel(&self) -> KernelStats {
        KernelStats {
            routes_installed: self.kernel.installed.load(Ordering::Relaxed),
            install_failures: self.kernel.failed.load(Ordering::Relaxed),
            routes_learned: self.kernel.learned.load(Ordering::Relaxed),
        }
    }

    fn reload(&self) -> BoxFut<'_, Result<String, String>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.reload.send(tx).await.map_err(|_| "the daemon is shutting down".to_string())?;
            rx.await.map_err(|_| "the daemon is shutting down".to_string())?
        })
    }
}

/// The daemon's mutable state, owned by [`run`]'s loop.
struct Node {
    options: Options,
    state: DesiredState,
    calico: CalicoHandle,
    shared: SharedPolicies,
    engine: Engine,
    fib: Option<Fib>,
    status: NodeStatus,
    /// Prefixes of BIRD's `protocol static` for Calico (blocks, service
    /// ranges) that we originate.
    statics: BTreeSet<IpNet>,
    /// Kernel routes we originate.
    learned: BTreeSet<IpNet>,
    /// Blackholes of ours in the kernel.
    blackholes: BTreeSet<IpNet>,
}

fn family_of(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

fn nlri(net: IpNet) -> Nlri {
    Nlri { path_id: None, prefix: net }
}

/// The policy values every peer of a kind shares.
struct SharedPolicies {
    import: Arc<dyn speaker::rib::Policy>,
    export_ibgp: Arc<dyn speaker::rib::Policy>,
    export_ebgp: Arc<dyn speaker::rib::Policy>,
}

impl SharedPolicies {
    fn new(calico: &CalicoHandle) -> Self {
        SharedPolicies {
            import: Arc::new(calico.import_policy()),
            export_ibgp: Arc::new(calico.export_policy(true)),
            export_ebgp: Arc::new(calico.export_policy(false)),
        }
    }
}

/// Calico settings of the rules that come from the datastore's
/// BGPConfiguration (`programClusterRoutes`).
fn calico_options(state: &DesiredState) -> CalicoOptions {
    CalicoOptions { program_cluster_routes: state.calico.program_cluster_routes, ..CalicoOptions::default() }
}

/// Loads and checks the configuration, or returns every diagnostic as text.
pub fn load(path: &std::path::Path) -> Result<DesiredState, String> {
    config::load_desired(path).map_err(|e| e.to_string())
}

/// Runs the daemon until SIGTERM/SIGINT.
///
/// The daemon's loop runs as a task on the runtime's workers, not on the
/// thread that called `block_on`: there every route change crossed threads
/// twice (engine task → loop → kernel sync task), and each crossing waits
/// for the scheduler to run the woken thread (0.4–0.9 ms on a busy 2-core
/// machine, most of tern's node-to-node propagation time; see
/// `bench/README.md`, "Node propagation"). On a worker, a task another task
/// wakes runs next on the same thread.
pub async fn run(options: Options) -> anyhow::Result<()> {
    tokio::spawn(run_loop(options)).await.context("the daemon's task")?
}

async fn run_loop(options: Options) -> anyhow::Result<()> {
    let (state, stream) = match &options.source {
        Source::File(path) => (load(path).map_err(|e| anyhow::anyhow!("{e}"))?, None),
        Source::Stream(s) => (s.initial.clone(), Some(s.updates.clone())),
    };
    let mut updates = match &stream {
        Some(m) => Some(m.lock().await),
        None => None,
    };
    let started = SystemTime::now();
    let mut rib = RibConfig::new(state.asn, state.router_id);
    rib.cluster_id = state.rr_cluster_id;
    // Kernel settings are read at start only: without programming the RIB
    // need not compute or send FIB changes at all.
    rib.fib = state.kernel.program;
    if options.recovery {
        let gr_peers = state.peers.iter().filter(|p| p.graceful_restart_time > 0).count();
        rib.selection_deferral = Some(SelectionDeferral { time: options.recovery_wait, gr_peers });
    }
    let (engine, mut events) =
        // Connections wait in the kernel's queue until the configured peers are added below.
        Engine::start_with(EngineConfig { rib, listen: state.listen.clone() }, EngineTuning { hold_accept: true, ..EngineTuning::default() })
            .await
            .context("starting the BGP engine")?;

    let (fib, mut fib_events) = if state.kernel.program || state.kernel.learn {
        let mut watch = KernelFilter::default().tables([state.kernel.table]);
        if let Some(protos) = &state.kernel.learn_protocols {
            watch = watch.protocols(protos.iter().copied());
        }
        let cfg = FibConfig {
            protocol: state.kernel.protocol,
            table: state.kernel.table,
            watch,
            shutdown: if state.kernel.keep_routes_on_shutdown {
                fib::ShutdownMode::Keep
            } else {
                fib::ShutdownMode::Flush
            },
            ..FibConfig::default()
        };
        let (fib, events) = Fib::open(cfg).await.context("opening the kernel routing table (rtnetlink)")?;
        (Some(fib), Some(events))
    } else {
        (None, None)
    };

    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadReply>(4);
    let daemon = DaemonStatus {
        version: format!("BIRD 1.6.8 (tern {})", env!("CARGO_PKG_VERSION")),
        node_name: state.node_name.clone(),
        router_id: state.router_id,
        local_as: state.asn,
        started,
        last_reconfiguration: started,
    };
    let status = NodeStatus {
        engine: engine.clone(),
        daemon: Arc::new(Mutex::new(daemon)),
        kernel: Arc::new(KernelCounters::default()),
        reload: reload_tx,
    };
    let calico = CalicoHandle::new(&state, calico_options(&state));
    let mut node = Node {
        options: options.clone(),
        state,
        shared: SharedPolicies::new(&calico),
        calico,
        engine,
        fib,
        status: status.clone(),
        statics: BTreeSet::new(),
        learned: BTreeSet::new(),
        blackholes: BTreeSet::new(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if !options.no_control {
        crate::control::spawn(&node.state, Arc::new(status.clone()), stop_rx.clone());
    }
    node.originate_statics().await;
    for p in node.state.peers.clone() {
        node.start_peer(&p).await;
    }
    node.set_listen_ranges().await;
    node.engine.accept_connections();
    info!(
        node = %node.state.node_name,
        router_id = %node.state.router_id,
        asn = node.state.asn,
        peers = node.state.peers.len(),
        "tern-speaker running"
    );

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => node.engine_event(ev).await,
                None => { error!("the BGP engine stopped"); break; }
            },
            ev = recv_kernel(&mut fib_events) => match ev {
                Some(ev) => node.kernel_event(ev).await,
                None => { warn!("the kernel watch stopped"); fib_events = None; }
            },
            new = recv_state(&mut updates) => match new {
                Some(new) => match node.apply(new).await {
                    Ok(s) => info!("datastore change: {s}"),
                    Err(e) => error!("datastore change not applied: {e}"),
                },
                None => { warn!("the datastore watch stopped; running with the last state"); updates = None; }
            },
            reply = reload_rx.recv() => if let Some(reply) = reply {
                let _ = reply.send(node.reload().await);
            },
            _ = hup.recv() => {
                match node.reload().await {
                    Ok(s) => info!("reload (SIGHUP): {s}"),
                    Err(e) => error!("reload (SIGHUP) refused, the running configuration stays: {e}"),
                }
            }
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
        }
    }
    let _ = stop_tx.send(true);
    node.engine.shutdown(Some("tern-speaker shutting down".to_string())).await;
    if let Some(fib) = node.fib.take() {
        if let Err(e) = fib.shutdown().await {
            warn!("kernel sync shutdown: {e}");
        }
    }
    info!("stopped");
    Ok(())
}

async fn recv_state(
    updates: &mut Option<tokio::sync::MutexGuard<'_, mpsc::Receiver<DesiredState>>>,
) -> Option<DesiredState> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_kernel(events: &mut Option<FibEvents>) -> Option<LocalRouteEvent> {
    match events {
        Some(e) => e.recv().await,
        None => std::future::pending().await,
    }
}

impl Node {
    /// The Calico filters for a peer. One shared value per kind: the RIB
    /// groups peers by policy, so a fresh `Arc` per peer would put every
    /// peer in an update group of its own (200 reflector clients: 73 s
    /// instead of 1.5 s in `bench/run-rr.sh rr 200 500`). The rules behind
    /// them change in place on reload ([`CalicoHandle::set_rules`]).
    fn policies(&self, peer: &config::DesiredPeer) -> Policies {
        let internal = peer.local_asn == peer.remote_asn;
        let export = if internal { &self.shared.export_ibgp } else { &self.shared.export_ebgp };
        Policies { import: Some(self.shared.import.clone()), export: Some(export.clone()) }
    }

    async fn start_peer(&self, p: &config::DesiredPeer) {
        match peer_spec(&self.state, p, self.policies(p), self.options.recovery) {
            Ok(spec) => {
                if let Err(e) = self.engine.add_peer(spec).await {
                    error!(peer = %p.name, "cannot start: {e}");
                }
            }
            Err(e) => error!("{e}"),
        }
    }

    /// Listen ranges (dynamic neighbors): each range's template is built
    /// like a mesh peer ([`DesiredState::listen_range_peer`]).
    async fn set_listen_ranges(&self) {
        let mut ranges = Vec::new();
        for net in &self.state.listen_ranges {
            let p = self.state.listen_range_peer(*net);
            match peer_spec(&self.state, &p, self.policies(&p), false) {
                Ok(template) => ranges.push(speaker::engine::ListenRange { prefix: *net, template }),
                Err(e) => error!("listen range {net}: {e}"),
            }
        }
        if let Err(e) = self.engine.set_listen_ranges(ranges).await {
            error!("listen ranges not set: {e}");
        }
    }

    async fn originate(&self, net: IpNet, attrs: bgp_proto::PathAttributes) {
        if let Err(e) = self.engine.originate(family_of(&net), nlri(net), attrs).await {
            error!(prefix = %net, "originate: {e}");
        }
    }

    async fn withdraw(&self, net: IpNet) {
        if let Err(e) = self.engine.withdraw_local(family_of(&net), nlri(net)).await {
            error!(prefix = %net, "withdraw: {e}");
        }
    }

    /// BIRD's `protocol static` in Calico's templates: the node's IPAM
    /// blocks (and advertised service ranges) into BGP, their blackholes
    /// into the kernel. Called at start and after a reload.
    async fn originate_statics(&mut self) {
        let routes = self.calico.rules().originated_routes();
        let wanted: BTreeSet<IpNet> = routes.iter().map(|(n, _)| *n).collect();
        for (net, attrs) in routes {
            self.originate(net, attrs).await;
        }
        for net in self.statics.difference(&wanted).copied().collect::<Vec<_>>() {
            if !self.learned.contains(&net) {
                self.withdraw(net).await;
            }
        }
        self.statics = wanted;
        let holes: BTreeSet<IpNet> = self.calico.blackholes().into_iter().map(|r| r.prefix).collect();
        if let Some(fib) = &self.fib {
            if self.state.kernel.program {
                let mut changes: Vec<RouteChange> =
                    holes.iter().map(|n| RouteChange::Set(fib::Route::blackhole(*n))).collect();
                changes.extend(self.blackholes.difference(&holes).map(|n| RouteChange::Remove(*n)));
                self.apply_kernel(fib, changes).await;
            }
        }
        self.blackholes = holes;
    }

    async fn apply_kernel(&self, fib: &Fib, changes: Vec<RouteChange>) {
        let n = changes.iter().filter(|c| matches!(c, RouteChange::Set(_))).count() as u64;
        match fib.apply(changes).await {
            Ok(invalid) => {
                let failed = invalid.len() as u64;
                for (route, why) in invalid {
                    warn!(prefix = %route.prefix, "kernel refused route: {why:?}");
                }
                self.status.kernel.installed.fetch_add(n.saturating_sub(failed), Ordering::Relaxed);
                self.status.kernel.failed.fetch_add(failed, Ordering::Relaxed);
            }
            Err(e) => {
                self.status.kernel.failed.fetch_add(n, Ordering::Relaxed);
                error!("kernel sync: {e}");
            }
        }
    }

    async fn engine_event(&mut self, ev: Event) {
        match ev {
            // The engine logs each change at info level, with its reason.
            Event::PeerState { name, from, to, reason } => {
                tracing::debug!(peer = %name, ?from, ?to, reason = reason.as_deref().unwrap_or(""), "peer state")
            }
            Event::Fib(change) => {
                let Some(fib) = &self.fib else { return };
                if !self.state.kernel.program {
                    return;
                }
                let change = match change {
                    // `calico_kernel_programming`; the kernel's default metric (BIRD 1.6
                    // sets none either), so a route is always replaced in place.
                    FibChange::Replace { prefix, next_hops, .. } => {
                        match self.calico.fib_route(prefix.prefix, &next_hops, None) {
                            Some(route) => RouteChange::Set(route),
                            // Not ours to program (VXLAN pool, Felix-owned, service range):
                            // make sure no older route of ours stays.
                            None if self.blackholes.contains(&prefix.prefix) => return,
                            None => RouteChange::Remove(prefix.prefix),
                        }
                    }
                    FibChange::Remove { prefix, .. } => {
                        if self.blackholes.contains(&prefix.prefix) {
                            return;
                        }
                        RouteChange::Remove(prefix.prefix)
                    }
                };
                self.apply_kernel(fib, vec![change]).await;
            }
        }
    }

    async fn kernel_event(&mut self, ev: LocalRouteEvent) {
        if !self.state.kernel.learn {
            return;
        }
        self.status.kernel.learned.fetch_add(1, Ordering::Relaxed);
        match ev {
            LocalRouteEvent::Added(r) | LocalRouteEvent::Changed { new: r, .. } => self.learn(&r).await,
            LocalRouteEvent::Removed(r) => {
                self.unlearn(r.prefix).await;
                self.calico.forget(&r.prefix);
            }
        }
    }

    async fn learn(&mut self, r: &fib::LocalRoute) {
        let net = r.prefix;
        match self.calico.learn(r) {
            Learned::Originate(attrs) => {
                self.originate(net, attrs).await;
                self.learned.insert(net);
            }
            Learned::Reoriginate(attrs) => {
                self.withdraw(net).await;
                self.originate(net, attrs).await;
                self.learned.insert(net);
            }
            Learned::Withdraw => {
                self.unlearn(net).await;
                self.calico.forget(&net);
            }
        }
    }

    /// A learned kernel route is gone (or no longer exported): withdraw it,
    /// unless it is also one of our static routes, which then stays.
    async fn unlearn(&mut self, net: IpNet) {
        if !self.learned.remove(&net) {
            return;
        }
        if self.statics.contains(&net) {
            if let Some((_, attrs)) = self.calico.rules().originated_routes().into_iter().find(|(n, _)| *n == net) {
                self.originate(net, attrs).await;
            }
        } else {
            self.withdraw(net).await;
        }
    }

    /// After the rules changed: run every kernel route through them again.
    async fn relearn(&mut self) {
        let Some(fib) = &self.fib else { return };
        if !self.state.kernel.learn {
            return;
        }
        let routes = match fib.snapshot().await {
            Ok(r) => r,
            Err(e) => {
                warn!("kernel snapshot for re-learning: {e}");
                return;
            }
        };
        let present: BTreeSet<IpNet> = routes.iter().map(|r| r.prefix).collect();
        for r in &routes {
            self.learn(r).await;
        }
        for net in self.learned.difference(&present).copied().collect::<Vec<_>>() {
            self.unlearn(net).await;
            self.calico.forget(&net);
        }
    }

    /// Re-reads the file and applies the difference. An invalid file
    /// changes nothing.
    async fn reload(&mut self) -> Result<String, String> {
        match &self.options.source {
            Source::File(path) => {
                let new = load(path)?;
                self.apply(new).await
            }
            Source::Stream(_) => {
                Err("datastore mode: the configuration comes from the datastore and is applied as it changes".into())
            }
        }
    }

    /// Moves to `new`, touching only what differs: unchanged peers keep
    /// their sessions.
    pub async fn apply(&mut self, new: DesiredState) -> Result<String, String> {
        let d: PeerDiff = config::diff(&self.state, &new);
        let calico_changed = new.calico != self.state.calico;
        let ranges_changed = new.listen_ranges != self.state.listen_ranges;
        if d.is_empty() && !calico_changed && !ranges_changed {
            return Ok(format!("no change ({} peers unchanged)", d.unchanged.len()));
        }
        self.state = new;
        if calico_changed {
            self.calico.set_rules(&self.state, calico_options(&self.state));
            self.originate_statics().await;
            self.relearn().await;
        }
        for p in &d.removed {
            // RFC 4486 §3: Cease / Peer De-configured.
            if let Err(e) = self.engine.remove_peer(&p.name, 3, None).await {
                warn!(peer = %p.name, "remove: {e}");
            }
        }
        for (_, p) in &d.changed {
            match peer_spec(&self.state, p, self.policies(p), false) {
                Ok(spec) => {
                    if let Err(e) = self.engine.reset_peer(spec).await {
                        warn!(peer = %p.name, "reset: {e}");
                    }
                }
                Err(e) => error!("{e}"),
            }
        }
        for p in &d.added {
            self.start_peer(p).await;
        }
        self.set_listen_ranges().await;
        if let Ok(mut d) = self.status.daemon.lock() {
            d.last_reconfiguration = SystemTime::now();
        }
        let summary = format!(
            "reconfigured: {} unchanged, {} changed, {} added, {} removed{}",
            d.unchanged.len(),
            d.changed.len(),
            d.added.len(),
            d.removed.len(),
            if calico_changed { ", Calico routes updated" } else { "" }
        ) + if ranges_changed { ", listen ranges updated" } else { "" };
        info!("{summary}");
        Ok(summary)
    }
}
