//! The tokio driver: moves netlink messages between the kernel and the two
//! sans-IO cores ([`KernelView`] for the watch, [`Reconciler`] for installs).
//! One task owns both; callers talk to it through [`Fib`].

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::batch::Batcher;
use crate::filter::RouteFilter;
use crate::message::{parse_link, parse_route, route_dump_request};
use crate::netns::{self, Messages};
use crate::reconcile::{Reconciler, ReconcilerConfig, ReconcilerStatus};
use crate::route::{InvalidRoute, LocalRoute, LocalRouteEvent, Route, PROTO_BIRD, TABLE_MAIN};
use crate::view::{KernelView, Link};
use crate::FibError;

/// What happens to tern's kernel routes when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownMode {
    /// Leave them: forwarding continues, the next run adopts them
    /// (graceful restart).
    #[default]
    Keep,
    /// Remove every route of our protocol that this run knows of.
    Flush,
}

/// Settings of the kernel sync.
#[derive(Debug, Clone)]
pub struct FibConfig {
    /// Protocol number of installed routes (default 12, as BIRD; Felix expects it).
    pub protocol: u8,
    /// Table to install into (default main).
    pub table: u32,
    /// Which kernel routes the watch reports (never those of `protocol`:
    /// they are tern's own installs).
    pub watch: RouteFilter,
    /// How long routes left by a previous run are kept without end-of-RIB.
    pub stale_deadline: Duration,
    /// How often refused routes are tried again (besides on link changes).
    pub retry_interval: Duration,
    pub shutdown: ShutdownMode,
    /// Install/remove requests handed to the kernel in one batch (sent in
    /// `sendmsg`s of up to 64 KiB each).
    pub max_in_flight: usize,
    /// Bound on one request's answer; past it the route is retried.
    pub request_timeout: Duration,
    /// Receive buffer of the event socket, bytes. Too small → lost events
    /// (recovered by a dump); large absorbs bursts.
    pub event_buffer: usize,
    /// Receive buffer of the request socket; must hold the acks of
    /// `max_in_flight` requests.
    pub request_buffer: usize,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            protocol: PROTO_BIRD,
            table: TABLE_MAIN,
            watch: RouteFilter::default(),
            stale_deadline: Duration::from_secs(120),
            retry_interval: Duration::from_secs(5),
            shutdown: ShutdownMode::Keep,
            max_in_flight: 4096,
            request_timeout: Duration::from_secs(10),
            event_buffer: 8 << 20,
            request_buffer: 4 << 20,
        }
    }
}

/// One change of what tern wants in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// Install or replace the route for its prefix.
    Set(Route),
    /// Remove tern's route for the prefix.
    Remove(IpNet),
}

/// Driver state worth showing (`ternctl`, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibStatus {
    pub install: ReconcilerStatus,
    /// Local routes the watch holds.
    pub local_routes: usize,
    /// Full dumps done after lost events or link loss.
    pub resyncs: u64,
    /// `Overrun`s seen on the event socket.
    pub overruns: u64,
    /// Route notifications received (echoes of our own installs are
    /// dropped in the kernel and not counted).
    pub route_events: u64,
}

enum Command {
    Apply(Vec<RouteChange>, oneshot::Sender<Vec<(Route, InvalidRoute)>>),
    Settle(oneshot::Sender<()>),
    Snapshot(oneshot::Sender<Vec<LocalRoute>>),
    Status(oneshot::Sender<FibStatus>),
    EndOfRib,
    Shutdown(ShutdownMode, oneshot::Sender<()>),
}

/// The handle to tern's kernel sync. Dropping it stops the driver with the
/// configured [`ShutdownMode::Keep`] behaviour; call [`Fib::shutdown`] to flush.
pub struct Fib {
    commands: mpsc::UnboundedSender<Command>,
    shutdown: ShutdownMode,
    task: tokio::task::JoinHandle<()>,
}

/// The stream of local-route changes. The first events are the routes the
/// initial dump found, as `Added`.
pub struct FibEvents {
    rx: mpsc::UnboundedReceiver<LocalRouteEvent>,
}

impl FibEvents {
    /// The next event; `None` once the driver has stopped.
    pub async fn recv(&mut self) -> Option<LocalRouteEvent> {
        self.rx.recv().await
    }

    /// An event if one is ready.
    pub fn try_recv(&mut self) -> Option<LocalRouteEvent> {
        self.rx.try_recv().ok()
    }
}

impl Fib {
    /// Starts the kernel sync in the current network namespace: dumps links
    /// and routes, adopts our routes from a previous run, subscribes to events.
    pub async fn open(config: FibConfig) -> Result<(Fib, FibEvents), FibError> {
        Self::start(config, None).await
    }

    /// Same, in the named namespace (`/run/netns/NAME`); the process stays
    /// where it is. For tests and for a daemon that serves a namespace.
    pub async fn open_in_netns(netns: &str, config: FibConfig) -> Result<(Fib, FibEvents), FibError> {
        Self::start(config, Some(netns)).await
    }

    async fn start(config: FibConfig, netns: Option<&str>) -> Result<(Fib, FibEvents), FibError> {
        let sockets = netns::open(netns, config.request_buffer, config.event_buffer, config.protocol).await?;
        let (req_conn, handle) = sockets.requests;
        let (ev_conn, messages) = sockets.events;
        let batcher = Batcher::new(sockets.install, config.table, config.protocol, config.request_timeout);
        tokio::spawn(req_conn);
        tokio::spawn(ev_conn);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let reconciler = Reconciler::new(ReconcilerConfig {
            protocol: config.protocol,
            table: config.table,
            stale_deadline: config.stale_deadline,
            retry_interval: config.retry_interval,
        });
        let mut driver = Driver {
            view: KernelView::new(config.watch.clone()).ignoring_protocol(config.protocol),
            reconciler,
            handle,
            messages,
            events: events_tx,
            batcher,
            settle_waiters: Vec::new(),
            resync_needed: false,
            resyncs: 0,
            overruns: 0,
            route_events: 0,
            config: config.clone(),
        };
        driver.resync().await?;
        let task = tokio::spawn(driver.run(cmd_rx));
        Ok((Fib { commands: cmd_tx, shutdown: config.shutdown, task }, FibEvents { rx: events_rx }))
    }

    fn send(&self, cmd: Command) -> Result<(), FibError> {
        self.commands.send(cmd).map_err(|_| FibError::Stopped)
    }

    /// Hands changes to the driver; returns the routes rejected as invalid
    /// (everything else is installed, or pending with a logged reason).
    pub async fn apply(&self, changes: Vec<RouteChange>) -> Result<Vec<(Route, InvalidRoute)>, FibError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Apply(changes, tx))?;
        rx.await.map_err(|_| FibError::Stopped)
    }

    /// Waits until every change handed over so far has been answered by the
    /// kernel (routes waiting for a link stay pending).
    pub async fn settle(&self) -> Result<(), FibError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Settle(tx))?;
        rx.await.map_err(|_| FibError::Stopped)
    }

    /// The local routes that pass the filter, as of the last event processed.
    pub async fn snapshot(&self) -> Result<Vec<LocalRoute>, FibError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Snapshot(tx))?;
        rx.await.map_err(|_| FibError::Stopped)
    }

    pub async fn status(&self) -> Result<FibStatus, FibError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx))?;
        rx.await.map_err(|_| FibError::Stopped)
    }

    /// BGP has re-learned its routes: remove what the previous run left and
    /// nobody re-learned, now rather than at the deadline.
    pub fn end_of_rib(&self) -> Result<(), FibError> {
        self.send(Command::EndOfRib)
    }

    /// Stops the driver with the configured shutdown mode.
    pub async fn shutdown(self) -> Result<(), FibError> {
        let mode = self.shutdown;
        self.shutdown_with(mode).await
    }

    /// Stops the driver, keeping or flushing our routes as told.
    pub async fn shutdown_with(self, mode: ShutdownMode) -> Result<(), FibError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Shutdown(mode, tx))?;
        let _ = rx.await;
        let _ = self.task.await;
        Ok(())
    }
}

struct Driver {
    config: FibConfig,
    view: KernelView,
    reconciler: Reconciler,
    handle: Handle,
    messages: Messages,
    events: mpsc::UnboundedSender<LocalRouteEvent>,
    batcher: Batcher,
    settle_waiters: Vec<oneshot::Sender<()>>,
    resync_needed: bool,
    resyncs: u64,
    overruns: u64,
    route_events: u64,
}

impl Driver {
    fn emit(&self, events: impl IntoIterator<Item = LocalRouteEvent>) {
        for e in events {
            // A consumer that went away does not stop the install side.
            let _ = self.events.send(e);
        }
    }

    /// Dumps links and routes and brings both cores in step with them.
    async fn resync(&mut self) -> Result<(), FibError> {
        let links: Vec<Link> = self
            .handle
            .link()
            .get()
            .execute()
            .map_ok(|m| parse_link(&m))
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| FibError::Netlink(e.to_string()))?
            .into_iter()
            .flatten()
            .collect();
        let mut routes = Vec::new();
        for v6 in [false, true] {
            let mut dump = self.handle.route().get(route_dump_request(v6)).execute();
            while let Some(msg) = dump.try_next().await.map_err(|e| FibError::Netlink(e.to_string()))? {
                routes.extend(parse_route(&msg));
            }
        }
        self.view.resync_links(links.clone());
        self.reconciler.resync_links(links);
        self.reconciler.kernel_snapshot(&routes, Instant::now());
        let events = self.view.resync(routes);
        self.emit(events);
        self.resync_needed = false;
        self.resyncs += 1;
        Ok(())
    }

    fn on_message(&mut self, payload: NetlinkPayload<RouteNetlinkMessage>) {
        match payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => {
                self.route_events += 1;
                if let Some(route) = parse_route(&m) {
                    self.reconciler.kernel_route_added(&route);
                    let ev = self.view.route_added(route);
                    self.emit(ev);
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(m)) => {
                self.route_events += 1;
                if let Some(route) = parse_route(&m) {
                    self.reconciler.kernel_route_removed(&route);
                    let ev = self.view.route_removed(&route);
                    self.emit(ev);
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                if let Some(link) = parse_link(&m) {
                    let before = self.view.link(link.index).cloned();
                    // IPv4 routes over a link that goes down vanish without
                    // RTM_DELROUTE: only a dump shows what is left.
                    if before.as_ref().is_some_and(|b| (b.up && !link.up) || b.name != link.name) {
                        self.resync_needed = true;
                    }
                    self.reconciler.link_update(link.clone());
                    let events = self.view.link_update(link);
                    self.emit(events);
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                let index = m.header.index;
                self.reconciler.link_removed(index);
                self.view.link_removed(index);
                self.resync_needed = true;
            }
            NetlinkPayload::Overrun(_) => {
                tracing::warn!("netlink events lost (overrun): dumping the kernel tables again");
                self.overruns += 1;
                self.resync_needed = true;
            }
            _ => {}
        }
    }

    /// Runs what the reconciler wants done, a batch at a time, until it
    /// wants nothing more (results make prefixes due for another look).
    async fn run_ops(&mut self) {
        loop {
            let now = Instant::now();
            let mut ops = Vec::new();
            while ops.len() < self.config.max_in_flight.max(1) {
                let Some(op) = self.reconciler.poll_op(now) else { break };
                ops.push(op);
            }
            if ops.is_empty() {
                return;
            }
            let results = self.batcher.run(ops).await;
            let now = Instant::now();
            for (id, result) in results {
                self.reconciler.op_done(id, result, now);
            }
        }
    }

    fn status(&self) -> FibStatus {
        FibStatus {
            install: self.reconciler.status(),
            local_routes: self.view.len(),
            resyncs: self.resyncs,
            overruns: self.overruns,
            route_events: self.route_events,
        }
    }

    /// Runs until told to stop or until every [`Fib`] handle is gone.
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut stopping: Option<oneshot::Sender<()>> = None;
        let mut stop_deadline = None;
        loop {
            if self.resync_needed {
                if let Err(e) = self.resync().await {
                    tracing::error!(error = %e, "kernel dump failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            self.run_ops().await;
            if self.reconciler.is_idle() {
                for w in self.settle_waiters.drain(..) {
                    let _ = w.send(());
                }
                if let Some(done) = stopping.take() {
                    let _ = done.send(());
                    return;
                }
            }
            if stop_deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::warn!("shutdown flush did not finish in time");
                if let Some(done) = stopping.take() {
                    let _ = done.send(());
                }
                return;
            }
            let timeout = self.reconciler.poll_timeout().or(stop_deadline);
            tokio::select! {
                cmd = commands.recv(), if stopping.is_none() => match cmd {
                    None => return,
                    Some(Command::Apply(changes, reply)) => {
                        let mut rejected = Vec::new();
                        for change in changes {
                            match change {
                                RouteChange::Set(route) => {
                                    if let Err(e) = self.reconciler.set_route(route.clone()) {
                                        tracing::warn!(%route, error = %e, "route rejected");
                                        rejected.push((route, e));
                                    }
                                }
                                RouteChange::Remove(prefix) => self.reconciler.remove_route(prefix),
                            }
                        }
                        let _ = reply.send(rejected);
                    }
                    Some(Command::Settle(reply)) => self.settle_waiters.push(reply),
                    Some(Command::Snapshot(reply)) => { let _ = reply.send(self.view.snapshot()); }
                    Some(Command::Status(reply)) => { let _ = reply.send(self.status()); }
                    Some(Command::EndOfRib) => self.reconciler.end_of_rib(),
                    Some(Command::Shutdown(mode, reply)) => {
                        if mode == ShutdownMode::Flush {
                            self.reconciler.flush_all();
                            stop_deadline = Some(Instant::now() + self.config.request_timeout * 3);
                            stopping = Some(reply);
                        } else {
                            let _ = reply.send(());
                            return;
                        }
                    }
                },
                msg = self.messages.next() => match msg {
                    Some((msg, _)) => {
                        self.on_message(msg.payload);
                        // Take what else is queued before doing work.
                        for _ in 0..1024 {
                            match self.messages.try_recv() {
                                Ok((msg, _)) => self.on_message(msg.payload),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        tracing::error!("netlink event socket closed; kernel sync stops");
                        return;
                    }
                },
                _ = sleep_until(timeout), if timeout.is_some() => {
                    self.reconciler.handle_timeout(Instant::now());
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}
