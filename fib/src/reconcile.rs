//! The install side, sans-IO: what tern wants in the kernel (desired routes),
//! what it knows it put there (installed), what a previous run left (stale),
//! and the operations that close the gap.
//!
//! The driver pulls operations with [`Reconciler::poll_op`], runs them over
//! netlink (many in flight), and reports each result with
//! [`Reconciler::op_done`]. At most one operation per prefix is in flight, so
//! a replace and a later delete of the same prefix can never be reordered.
//!
//! Rules this module keeps:
//! - a route tern did not install is never replaced or removed: a route of
//!   another protocol at the same table/prefix/metric blocks ours (pending,
//!   retried when it goes away), and deletes carry our protocol number so the
//!   kernel refuses to remove anything else;
//! - routes of our protocol found at start are kept (forwarding continues
//!   across a restart) until re-learned — then replaced in place — or until
//!   end-of-RIB / the deadline, when the ones not re-learned are removed;
//! - a route that cannot be installed yet (no such interface, link down,
//!   gateway unreachable) is pending, logged, and retried on link changes and
//!   on a retry timer: never dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::route::{InvalidRoute, LocalRoute, Route, RouteKey};
use crate::view::Link;

/// Settings of the install side.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Protocol number of the routes tern installs (default 12, `bird`).
    pub protocol: u8,
    /// Table tern installs into (default 254, main).
    pub table: u32,
    /// How long routes of a previous run are kept if end-of-RIB never comes.
    pub stale_deadline: Duration,
    /// How often routes that failed for another reason than a missing link
    /// are tried again.
    pub retry_interval: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig {
            protocol: crate::route::PROTO_BIRD,
            table: crate::route::TABLE_MAIN,
            stale_deadline: Duration::from_secs(120),
            retry_interval: Duration::from_secs(5),
        }
    }
}

/// Why a desired route is not in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingReason {
    /// A next hop names an interface that does not exist (yet).
    MissingInterface(String),
    /// A route of another protocol holds the same table/prefix/metric.
    Conflict { protocol: Option<u8> },
    /// The kernel refused the route; `errno` as the kernel gave it.
    Refused { errno: i32 },
}

/// An operation for the driver to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibOp {
    pub id: u64,
    pub kind: FibOpKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibOpKind {
    /// `ip route replace ROUTE table T proto P`; `ifindexes` are the resolved
    /// interfaces of the next hops, in order (`None` where none was named).
    Replace { route: Arc<Route>, ifindexes: Vec<Option<u32>> },
    /// `ip route del PREFIX table T proto P metric M`.
    Delete { key: RouteKey },
}

impl FibOpKind {
    pub fn prefix(&self) -> IpNet {
        match self {
            FibOpKind::Replace { route, .. } => route.prefix,
            FibOpKind::Delete { key } => key.prefix,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpResult {
    Done,
    /// The kernel's errno (positive: `libc::ENODEV` etc.).
    Failed(i32),
}

const ESRCH: i32 = 3;

/// Something we know of our protocol at one metric of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// What we installed; `None` for a route a previous run left.
    route: Option<Arc<Route>>,
    /// Left by a previous run and not re-learned yet.
    stale: bool,
}

/// Counts and the pending list, for status output and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcilerStatus {
    pub desired: usize,
    pub installed: usize,
    pub stale: usize,
    pub in_flight: usize,
    pub pending: Vec<(IpNet, PendingReason)>,
}

/// The install-side state machine.
#[derive(Debug)]
pub struct Reconciler {
    cfg: ReconcilerConfig,
    desired: HashMap<IpNet, Arc<Route>>,
    /// Our routes in the kernel, by prefix then metric.
    installed: HashMap<IpNet, Slots>,
    /// Routes of other protocols in our table (prefix, metric) → protocol;
    /// and routes of our protocol that this run did not install (`None`).
    foreign: HashMap<(IpNet, u32), Option<u8>>,
    links: HashMap<String, Link>,
    pending: HashMap<IpNet, PendingReason>,
    dirty: VecDeque<IpNet>,
    dirty_set: HashSet<IpNet>,
    in_flight: HashMap<u64, FibOpKind>,
    busy: HashSet<IpNet>,
    next_id: u64,
    adopted: bool,
    stale_deadline: Option<Instant>,
    stale_expired: bool,
    retry_at: Option<Instant>,
}

impl Reconciler {
    pub fn new(cfg: ReconcilerConfig) -> Self {
        Reconciler {
            cfg,
            desired: HashMap::new(),
            installed: HashMap::new(),
            foreign: HashMap::new(),
            links: HashMap::new(),
            pending: HashMap::new(),
            dirty: VecDeque::new(),
            dirty_set: HashSet::new(),
            in_flight: HashMap::new(),
            busy: HashSet::new(),
            next_id: 1,
            adopted: false,
            stale_deadline: None,
            stale_expired: false,
            retry_at: None,
        }
    }

    pub fn config(&self) -> &ReconcilerConfig {
        &self.cfg
    }

    fn mark_dirty(&mut self, prefix: IpNet) {
        if self.dirty_set.insert(prefix) {
            self.dirty.push_back(prefix);
        }
    }

    /// Wants `route` in the kernel (replacing what tern had for its prefix).
    pub fn set_route(&mut self, route: Route) -> Result<(), InvalidRoute> {
        route.validate()?;
        let prefix = route.prefix;
        if self.desired.get(&prefix).map(|r| &**r) != Some(&route) {
            self.pending.remove(&prefix);
            self.desired.insert(prefix, Arc::new(route));
            self.mark_dirty(prefix);
        }
        Ok(())
    }

    /// No longer wants a route for `prefix`.
    pub fn remove_route(&mut self, prefix: IpNet) {
        let prefix = prefix.trunc();
        self.pending.remove(&prefix);
        if self.desired.remove(&prefix).is_some() || self.installed.contains_key(&prefix) {
            self.mark_dirty(prefix);
        }
    }

    /// Removes every route of ours (shutdown with flush): desired ones and
    /// what a previous run left.
    pub fn flush_all(&mut self) {
        self.desired.clear();
        self.pending.clear();
        self.stale_expired = true;
        let prefixes: Vec<IpNet> = self.installed.keys().copied().collect();
        for p in prefixes {
            self.mark_dirty(p);
        }
    }

    /// BGP has re-learned its table: what a previous run left and nobody
    /// re-learned goes now, not at the deadline.
    pub fn end_of_rib(&mut self) {
        if self.stale_expired {
            return;
        }
        self.stale_expired = true;
        self.stale_deadline = None;
        let stale: Vec<IpNet> =
            self.installed.iter().filter(|(_, e)| e.values().any(|e| e.stale)).map(|(p, _)| *p).collect();
        for p in stale {
            self.mark_dirty(p);
        }
    }

    /// A link appeared or changed: routes waiting for an interface (or
    /// refused by the kernel, e.g. link down) are tried again.
    pub fn link_update(&mut self, link: Link) {
        self.links.retain(|_, l| l.index != link.index);
        self.links.insert(link.name.clone(), link);
        self.retry_pending();
    }

    pub fn link_removed(&mut self, index: u32) {
        self.links.retain(|_, l| l.index != index);
    }

    /// Replaces the link table (after a dump).
    pub fn resync_links(&mut self, links: Vec<Link>) {
        self.links = links.into_iter().map(|l| (l.name.clone(), l)).collect();
        self.retry_pending();
    }

    fn retry_pending(&mut self) {
        let prefixes: Vec<IpNet> = self.pending.keys().copied().collect();
        for p in prefixes {
            self.mark_dirty(p);
        }
    }

    /// A route in our table was added or replaced (RTM_NEWROUTE).
    pub fn kernel_route_added(&mut self, route: &LocalRoute) {
        if route.table != self.cfg.table {
            return;
        }
        let (prefix, metric) = (route.prefix, route.metric);
        if self.busy.contains(&prefix) {
            // Our own operation's echo, or a race the ack will settle.
            return;
        }
        if route.protocol == self.cfg.protocol {
            if !self.installed.get(&prefix).is_some_and(|e| e.contains_key(&metric)) {
                self.foreign.insert((prefix, metric), None);
            }
            return;
        }
        // Another protocol's route now holds this key: if it was ours, the
        // other program replaced it, and it is theirs now.
        if let Some(entries) = self.installed.get_mut(&prefix) {
            entries.remove(&metric);
            if entries.is_empty() {
                self.installed.remove(&prefix);
            }
        }
        self.foreign.insert((prefix, metric), Some(route.protocol));
        self.mark_dirty(prefix);
    }

    /// A route in our table went away (RTM_DELROUTE).
    pub fn kernel_route_removed(&mut self, route: &LocalRoute) {
        if route.table != self.cfg.table {
            return;
        }
        let (prefix, metric) = (route.prefix, route.metric);
        self.foreign.remove(&(prefix, metric));
        if self.busy.contains(&prefix) {
            return;
        }
        if route.protocol == self.cfg.protocol {
            if let Some(entries) = self.installed.get_mut(&prefix) {
                if entries.remove(&metric).is_some() {
                    tracing::info!(%prefix, metric, "route of ours removed by someone else; installing again if wanted");
                }
                if entries.is_empty() {
                    self.installed.remove(&prefix);
                }
            }
        }
        self.mark_dirty(prefix);
    }

    /// A full dump of the kernel's routes (any table; others are ignored).
    /// The first one adopts the routes of our protocol as stale: kept until
    /// re-learned, end-of-RIB, or the deadline from `now`.
    pub fn kernel_snapshot(&mut self, routes: &[LocalRoute], now: Instant) {
        let mut ours: HashMap<IpNet, HashSet<u32>> = HashMap::new();
        self.foreign.clear();
        for r in routes.iter().filter(|r| r.table == self.cfg.table) {
            if r.protocol == self.cfg.protocol {
                ours.entry(r.prefix).or_default().insert(r.metric);
            } else {
                self.foreign.insert((r.prefix, r.metric), Some(r.protocol));
            }
        }
        if !self.adopted {
            self.adopted = true;
            for (prefix, metrics) in ours {
                let entries = self.installed.entry(prefix).or_default();
                for m in metrics {
                    entries.insert_if_absent(m, Entry { route: None, stale: true });
                }
                self.mark_dirty(prefix);
            }
            if !self.stale_expired && self.installed.values().any(|e| e.values().any(|e| e.stale)) {
                self.stale_deadline = Some(now + self.cfg.stale_deadline);
            }
            for p in self.desired.keys().copied().collect::<Vec<_>>() {
                self.mark_dirty(p);
            }
            return;
        }
        // Later dumps (lost events, a link gone): forget what vanished, and
        // count our-protocol routes we did not install as not ours.
        let prefixes: Vec<IpNet> = self.installed.keys().copied().collect();
        for prefix in prefixes {
            if self.busy.contains(&prefix) {
                continue;
            }
            let present = ours.get(&prefix);
            let Some(entries) = self.installed.get_mut(&prefix) else { continue };
            let before = entries.len();
            entries.retain(|m, _| present.is_some_and(|p| p.contains(m)));
            let (changed, empty) = (entries.len() != before, entries.is_empty());
            if empty {
                self.installed.remove(&prefix);
            }
            if changed {
                self.mark_dirty(prefix);
            }
        }
        for (prefix, metrics) in ours {
            for m in metrics {
                if !self.installed.get(&prefix).is_some_and(|e| e.contains_key(&m)) && !self.busy.contains(&prefix) {
                    self.foreign.insert((prefix, m), None);
                }
            }
        }
        for p in self.desired.keys().copied().collect::<Vec<_>>() {
            self.mark_dirty(p);
        }
    }

    /// The next deadline the driver should wake up for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.stale_deadline, self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stale_deadline.is_some_and(|d| d <= now) {
            tracing::info!("graceful-restart deadline passed: removing stale routes of the previous run");
            self.end_of_rib();
        }
        if self.retry_at.is_some_and(|d| d <= now) {
            self.retry_at = None;
            self.retry_pending();
        }
    }

    /// The next operation to run, if any; `now` arms the retry timer when a
    /// route is found to be pending.
    pub fn poll_op(&mut self, now: Instant) -> Option<FibOp> {
        while let Some(prefix) = self.dirty.pop_front() {
            self.dirty_set.remove(&prefix);
            if self.busy.contains(&prefix) {
                continue; // `op_done` marks it dirty again
            }
            if let Some(kind) = self.evaluate(prefix, now) {
                let id = self.next_id;
                self.next_id += 1;
                self.busy.insert(prefix);
                self.in_flight.insert(id, kind.clone());
                return Some(FibOp { id, kind });
            }
        }
        None
    }

    fn set_pending(&mut self, prefix: IpNet, reason: PendingReason, now: Instant) {
        if self.pending.get(&prefix) != Some(&reason) {
            tracing::warn!(%prefix, ?reason, "route pending: not in the kernel yet");
        }
        if !matches!(reason, PendingReason::MissingInterface(_)) && self.retry_at.is_none() {
            self.retry_at = Some(now + self.cfg.retry_interval);
        }
        self.pending.insert(prefix, reason);
    }

    fn evaluate(&mut self, prefix: IpNet, now: Instant) -> Option<FibOpKind> {
        let desired = self.desired.get(&prefix).cloned();
        let want_metric = desired.as_ref().map(|r| r.effective_metric());
        if let Some(route) = desired {
            let metric = route.effective_metric();
            let current = self.installed.get(&prefix).and_then(|e| e.get(&metric));
            if current.and_then(|e| e.route.as_ref()) != Some(&route) {
                // While the wanted route cannot go in, whatever of ours is
                // there keeps forwarding.
                if let Some(protocol) = self.foreign.get(&(prefix, metric)).copied() {
                    self.set_pending(prefix, PendingReason::Conflict { protocol }, now);
                    return None;
                }
                match self.resolve(&route) {
                    Ok(ifindexes) => return Some(FibOpKind::Replace { route, ifindexes }),
                    Err(name) => {
                        self.set_pending(prefix, PendingReason::MissingInterface(name), now);
                        return None;
                    }
                }
            } else {
                self.pending.remove(&prefix);
            }
        }
        // Make-before-break: what is left at other metrics goes after the
        // wanted route is in place.
        let entries = self.installed.get(&prefix)?;
        let doomed = entries.iter().find(|(m, e)| Some(**m) != want_metric && (!e.stale || self.stale_expired));
        doomed.map(|(m, _)| FibOpKind::Delete { key: RouteKey { table: self.cfg.table, prefix, metric: *m } })
    }

    fn resolve(&self, route: &Route) -> Result<Vec<Option<u32>>, String> {
        let mut out = Vec::new();
        if let crate::route::RouteTarget::Via(gws) = &route.target {
            for g in gws {
                match &g.interface {
                    None => out.push(None),
                    Some(name) => match self.links.get(name) {
                        Some(link) => out.push(Some(link.index)),
                        None => return Err(name.clone()),
                    },
                }
            }
        }
        Ok(out)
    }

    /// The driver ran operation `id`.
    pub fn op_done(&mut self, id: u64, result: OpResult, now: Instant) {
        let Some(kind) = self.in_flight.remove(&id) else { return };
        let prefix = kind.prefix();
        self.busy.remove(&prefix);
        match (kind, result) {
            (FibOpKind::Replace { route, .. }, OpResult::Done) => {
                let metric = route.effective_metric();
                self.foreign.remove(&(prefix, metric));
                self.installed.entry(prefix).or_default().insert(metric, Entry { route: Some(route), stale: false });
                self.pending.remove(&prefix);
                self.mark_dirty(prefix);
            }
            (FibOpKind::Replace { route, .. }, OpResult::Failed(errno)) => {
                tracing::warn!(%route, errno, "kernel refused route");
                // The kernel may have kept what was there; we no longer know
                // what content sits at this key, so a retry replaces it.
                if let Some(e) = self.installed.get_mut(&prefix).and_then(|e| e.get_mut(&route.effective_metric())) {
                    if e.route.as_ref() == Some(&route) {
                        e.route = None;
                    }
                }
                if self.desired.get(&prefix) == Some(&route) {
                    self.set_pending(prefix, PendingReason::Refused { errno }, now);
                } else {
                    self.mark_dirty(prefix);
                }
            }
            (FibOpKind::Delete { key }, OpResult::Done | OpResult::Failed(ESRCH)) => {
                if let Some(entries) = self.installed.get_mut(&prefix) {
                    entries.remove(&key.metric);
                    if entries.is_empty() {
                        self.installed.remove(&prefix);
                    }
                }
                if !self.desired.contains_key(&prefix) {
                    self.pending.remove(&prefix);
                }
                self.mark_dirty(prefix);
            }
            (FibOpKind::Delete { key }, OpResult::Failed(errno)) => {
                tracing::warn!(prefix = %key.prefix, metric = key.metric, errno, "kernel refused route removal; retrying later");
                if self.retry_at.is_none() {
                    self.retry_at = Some(now + self.cfg.retry_interval);
                }
                self.pending.insert(prefix, PendingReason::Refused { errno });
            }
        }
    }

    /// Nothing to do and nothing in flight (pending routes may remain).
    pub fn is_idle(&self) -> bool {
        self.dirty.is_empty() && self.in_flight.is_empty()
    }

    pub fn status(&self) -> ReconcilerStatus {
        let mut pending: Vec<(IpNet, PendingReason)> = self.pending.iter().map(|(p, r)| (*p, r.clone())).collect();
        pending.sort_by_key(|(p, _)| *p);
        ReconcilerStatus {
            desired: self.desired.len(),
            installed: self.installed.values().map(|e| e.values().filter(|e| !e.stale).count()).sum(),
            stale: self.installed.values().map(|e| e.values().filter(|e| e.stale).count()).sum(),
            in_flight: self.in_flight.len(),
            pending,
        }
    }
}

/// Our routes at the metrics of one prefix: almost always one, so a small
/// vector sorted by metric rather than a map.
#[derive(Debug, Default)]
struct Slots(Vec<(u32, Entry)>);

impl Slots {
    fn position(&self, metric: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&metric, |(m, _)| *m)
    }

    fn get(&self, metric: &u32) -> Option<&Entry> {
        self.position(*metric).ok().and_then(|i| self.0.get(i)).map(|(_, e)| e)
    }

    fn get_mut(&mut self, metric: &u32) -> Option<&mut Entry> {
        self.position(*metric).ok().and_then(|i| self.0.get_mut(i)).map(|(_, e)| e)
    }

    fn contains_key(&self, metric: &u32) -> bool {
        self.position(*metric).is_ok()
    }

    fn insert(&mut self, metric: u32, entry: Entry) {
        match self.position(metric) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = entry;
                }
            }
            Err(i) => self.0.insert(i, (metric, entry)),
        }
    }

    fn insert_if_absent(&mut self, metric: u32, entry: Entry) {
        if let Err(i) = self.position(metric) {
            self.0.insert(i, (metric, entry));
        }
    }

    fn remove(&mut self, metric: &u32) -> Option<Entry> {
        self.position(*metric).ok().map(|i| self.0.remove(i).1)
    }

    fn retain(&mut self, mut keep: impl FnMut(&u32, &mut Entry) -> bool) {
        self.0.retain_mut(|(m, e)| keep(m, e));
    }

    fn iter(&self) -> impl Iterator<Item = (&u32, &Entry)> {
        self.0.iter().map(|(m, e)| (m, e))
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.0.iter().map(|(_, e)| e)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
