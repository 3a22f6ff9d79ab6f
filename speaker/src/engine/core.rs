//! The RIB task: the single owner of route state and of the peer registry.
//!
//! It runs every [`rib::Input`] through the [`Rib`], turns the outputs into
//! [`Event::Fib`]s and writes to the peers' connections, answers the
//! [`Engine`](super::Engine) handle's commands, and hands accepted
//! connections to the peer they come from.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bgp_proto::attribute::MpNlri;
use bgp_proto::error::cease_subcode;
use bgp_proto::message::message_type;
use bgp_proto::update::UpdateBuilder;
use bgp_proto::{Context, Family, Message, Nlri, Notification, RouteRefresh, Update};
use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::conn::{Chunk, Counters, OutQueue};
use super::session::{self, FromPeer, PeerCmd, SessionSetup};
use super::sockopt;
use super::{
    EngineConfig, EngineError, EngineStats, EngineTuning, Event, ListenRange, PeerSpec, PeerStatus, PrefixCounts,
    RouteFilter, RouteInfo, TtlMode,
};
use crate::fsm::State;
use crate::rib::{self, PeerId, PeerPrefixCounts, Policy, PolicyId, Rib};

type Reply<T> = oneshot::Sender<T>;

/// A request from the [`Engine`](super::Engine) handle.
pub(super) enum Command {
    AddPeer(Box<PeerSpec>, Reply<Result<(), EngineError>>),
    RemovePeer {
        name: String,
        subcode: u8,
        communication: Option<String>,
        reply: Reply<Result<JoinHandle<()>, EngineError>>,
    },
    Rib(Box<rib::Input>, Reply<()>),
    RouteRefresh {
        name: String,
        family: Family,
        reply: Reply<Result<oneshot::Receiver<Result<(), EngineError>>, EngineError>>,
    },
    Peers(Option<String>, Reply<Vec<PeerStatus>>),
    Routes(RouteFilter, Reply<Vec<RouteInfo>>),
    Stats(Reply<EngineStats>),
    SetListenRanges(Vec<ListenRange>, Reply<Result<Vec<JoinHandle<()>>, EngineError>>),
    Shutdown {
        communication: Option<String>,
        reply: Reply<Vec<JoinHandle<()>>>,
    },
}

struct PeerEntry {
    spec: PeerSpec,
    ctl: mpsc::UnboundedSender<PeerCmd>,
    task: JoinHandle<()>,
    status: Arc<Mutex<PeerStatus>>,
    counters: Arc<Counters>,
}

/// An Established peer as the RIB task writes to it.
struct UpPeer {
    out: OutQueue,
    ctx: Context,
    families: Vec<Family>,
    /// Over its queue limit: everything for it is dropped until the queue
    /// drains, then its Adj-RIB-Out is sent again.
    resync_pending: bool,
    /// Routes withdrawn in what was dropped (announcements need no record:
    /// the re-sent Adj-RIB-Out carries them).
    dropped_withdrawn: BTreeSet<(Family, Nlri)>,
    /// Octets of the last catch-up still allowed above the limit: the
    /// re-sent table may be larger than the limit itself, and the changes
    /// that follow it must not count it against the peer.
    catch_up: usize,
    /// Messages of the current dispatch, handed to the writer together
    /// (one queue push and one wake-up per peer, not one per UPDATE).
    batch: Vec<Chunk>,
    batch_bytes: usize,
}

pub(super) struct Channels {
    pub cmd: mpsc::UnboundedReceiver<Command>,
    pub incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
    pub events: mpsc::UnboundedSender<Event>,
}

pub(super) struct Core {
    rib: Rib,
    tuning: EngineTuning,
    peers: BTreeMap<PeerId, PeerEntry>,
    by_name: HashMap<String, PeerId>,
    next_id: u32,
    up: HashMap<PeerId, UpPeer>,
    policies: Vec<(Arc<dyn Policy>, PolicyId)>,
    listeners: Vec<Arc<TcpListener>>,
    accept_tasks: Vec<JoinHandle<()>>,
    events: mpsc::UnboundedSender<Event>,
    to_rib: mpsc::Sender<FromPeer>,
    drained: mpsc::UnboundedSender<(PeerId, usize)>,
    /// Listen ranges (dynamic neighbors) and the peers created from them.
    ranges: Vec<ListenRange>,
    dynamic: HashSet<PeerId>,
    /// Peers with a batch in the current dispatch.
    touched: Vec<PeerId>,
}

/// Most peer messages handled before their outputs are dispatched.
const PEER_MESSAGE_BATCH: usize = 256;

impl Core {
    pub(super) fn spawn(
        config: EngineConfig,
        tuning: EngineTuning,
        listeners: Vec<Arc<TcpListener>>,
        accept_tasks: Vec<JoinHandle<()>>,
        ch: Channels,
    ) -> JoinHandle<()> {
        let (to_rib, from_peers) = mpsc::channel(1024);
        let (drained, drained_rx) = mpsc::unbounded_channel();
        let core = Core {
            rib: Rib::new(config.rib),
            tuning,
            peers: BTreeMap::new(),
            by_name: HashMap::new(),
            next_id: 1,
            up: HashMap::new(),
            policies: Vec::new(),
            listeners,
            accept_tasks,
            events: ch.events,
            to_rib,
            drained,
            ranges: Vec::new(),
            dynamic: HashSet::new(),
            touched: Vec::new(),
        };
        tokio::spawn(core.run(ch.cmd, ch.incoming, from_peers, drained_rx))
    }

    async fn run(
        mut self,
        mut cmd: mpsc::UnboundedReceiver<Command>,
        mut incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
        mut from_peers: mpsc::Receiver<FromPeer>,
        mut drained: mpsc::UnboundedReceiver<(PeerId, usize)>,
    ) {
        loop {
            let deadline = self.rib.next_deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                c = cmd.recv() => match c {
                    Some(Command::Shutdown { communication, reply }) => {
                        let _ = reply.send(self.stop_all(communication));
                        return;
                    }
                    Some(c) => self.command(c),
                    None => {
                        self.stop_all(None);
                        return;
                    }
                },
                Some(m) = from_peers.recv() => self.peer_messages(m, &mut from_peers),
                Some((peer, key)) = drained.recv() => {
                    if self.up.get(&peer).is_some_and(|u| u.out.key() == key) {
                        self.resync(peer);
                    }
                }
                Some((stream, remote)) = incoming.recv() => self.incoming(stream, remote),
                _ = sleep_until(deadline) => {
                    let out = self.rib.handle_timeout(Instant::now());
                    self.dispatch(out);
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::AddPeer(spec, reply) => {
                self.take_over_dynamic(spec.address);
                let _ = reply.send(self.add_peer(*spec));
            }
            Command::SetListenRanges(ranges, reply) => {
                let _ = reply.send(self.set_listen_ranges(ranges));
            }
            Command::RemovePeer { name, subcode, communication, reply } => {
                let _ = reply.send(self.remove_peer(&name, subcode, communication));
            }
            Command::Rib(input, reply) => {
                let out = self.rib.handle(Instant::now(), *input);
                self.dispatch(out);
                let _ = reply.send(());
            }
            Command::RouteRefresh { name, family, reply } => {
                let r = match self.by_name.get(&name).and_then(|id| self.peers.get(id)) {
                    Some(p) => {
                        let (tx, rx) = oneshot::channel();
                        let _ = p.ctl.send(PeerCmd::RouteRefresh(family, tx));
                        Ok(rx)
                    }
                    None => Err(EngineError::NoSuchPeer(name)),
                };
                let _ = reply.send(r);
            }
            Command::Peers(name, reply) => {
                let ids: Vec<PeerId> = match name {
                    Some(n) => self.by_name.get(&n).copied().into_iter().collect(),
                    None => self.peers.keys().copied().collect(),
                };
                let mut counts = if ids.len() == 1 {
                    ids.iter().map(|id| (*id, self.rib.peer_prefix_counts(*id))).collect()
                } else {
                    self.rib.all_peer_prefix_counts()
                };
                let statuses =
                    ids.into_iter().filter_map(|id| self.status(id, counts.remove(&id).unwrap_or_default())).collect();
                let _ = reply.send(statuses);
            }
            Command::Routes(filter, reply) => {
                let _ = reply.send(self.routes(&filter));
            }
            Command::Stats(reply) => {
                let s = self.rib.stats();
                let _ = reply.send(EngineStats {
                    destinations: s.destinations,
                    attribute_sets: s.attribute_sets,
                    update_groups: s.groups,
                    deferring: self.rib.deferring(),
                });
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn policy_id(&mut self, p: &Option<Arc<dyn Policy>>) -> Option<PolicyId> {
        let p = p.as_ref()?;
        // One id per policy value, so peers sharing an export policy share an update group.
        if let Some((_, id)) = self.policies.iter().find(|(q, _)| Arc::ptr_eq(q, p)) {
            return Some(*id);
        }
        let id = PolicyId::try_from(self.policies.len() + 1).unwrap_or(PolicyId::MAX);
        self.rib.set_policy(id, Arc::clone(p));
        self.policies.push((Arc::clone(p), id));
        Some(id)
    }

    /// The listeners a peer at `address` can connect to: those of its
    /// family, and IPv6 ones for IPv4 peers (as IPv4-mapped addresses).
    fn listeners_for(&self, address: IpAddr) -> Vec<Arc<TcpListener>> {
        self.listeners
            .iter()
            .filter(|l| l.local_addr().is_ok_and(|a| a.is_ipv6() || address.is_ipv4()))
            .cloned()
            .collect()
    }

    fn add_peer(&mut self, spec: PeerSpec) -> Result<(), EngineError> {
        if self.by_name.contains_key(&spec.name) {
            return Err(EngineError::DuplicatePeer(spec.name));
        }
        if let Some(key) = &spec.password {
            for l in self.listeners_for(spec.address) {
                sockopt::set_md5_key(l.as_ref(), spec.address, Some(key.as_bytes()))?;
            }
        }
        if let TtlMode::Security { .. } = spec.ttl {
            self.gtsm_listeners(spec.address)?;
        }
        let id = PeerId(self.next_id);
        self.next_id += 1;
        let import = self.policy_id(&spec.import);
        let export = self.policy_id(&spec.export);
        let status = Arc::new(Mutex::new(initial_status(&spec)));
        let counters = Arc::new(Counters::default());
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let setup = SessionSetup {
            id,
            spec: spec.clone(),
            import,
            export,
            to_rib: self.to_rib.clone(),
            drained: self.drained.clone(),
            events: self.events.clone(),
            status: Arc::clone(&status),
            counters: Arc::clone(&counters),
        };
        let task = session::spawn(setup, ctl_rx);
        tracing::info!(peer = %spec.name, address = %spec.address, "peer added");
        self.by_name.insert(spec.name.clone(), id);
        self.peers.insert(id, PeerEntry { spec, ctl, task, status, counters });
        Ok(())
    }

    /// The SYN-ACK of an accepted connection leaves with the listener's
    /// TTL, before the accepted socket gets the peer's options: a GTSM peer
    /// drops it unless it is 255 (RFC 5082 §3).
    fn gtsm_listeners(&self, address: IpAddr) -> Result<(), EngineError> {
        for l in self.listeners_for(address) {
            let r = socket2::SockRef::from(l.as_ref());
            let set = if l.local_addr()?.is_ipv6() { r.set_unicast_hops_v6(255) } else { r.set_ttl_v4(255) };
            set?;
        }
        Ok(())
    }

    fn set_listen_ranges(&mut self, ranges: Vec<ListenRange>) -> Result<Vec<JoinHandle<()>>, EngineError> {
        if let Some(r) = ranges.iter().find(|r| r.template.password.is_some()) {
            let msg = format!("listen range {}: a TCP MD5 password is not supported on listen ranges", r.prefix);
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg).into());
        }
        for r in &ranges {
            if let TtlMode::Security { .. } = r.template.ttl {
                self.gtsm_listeners(r.prefix.addr())?;
            }
        }
        self.ranges = ranges;
        let uncovered: Vec<String> = self
            .dynamic
            .iter()
            .filter_map(|id| self.peers.get(id))
            .filter(|p| !self.ranges.iter().any(|r| r.prefix.contains(&p.spec.address)))
            .map(|p| p.spec.name.clone())
            .collect();
        let mut tasks = Vec::new();
        for name in uncovered {
            tracing::info!(peer = %name, "dynamic peer outside every listen range removed");
            tasks.extend(self.remove_peer(&name, cease_subcode::PEER_DECONFIGURED, None));
        }
        tracing::info!(ranges = self.ranges.len(), "listen ranges set");
        Ok(tasks)
    }

    /// A configured peer replaces a dynamic one of the same address: the
    /// dynamic session gets Cease/Other Configuration Change and its routes
    /// are withdrawn.
    fn take_over_dynamic(&mut self, address: IpAddr) {
        let found = self.dynamic.iter().filter_map(|id| self.peers.get(id)).find(|p| p.spec.address == address);
        if let Some(name) = found.map(|p| p.spec.name.clone()) {
            tracing::info!(peer = %name, "dynamic peer replaced by a configured one");
            let _ = self.remove_peer(&name, cease_subcode::OTHER_CONFIGURATION_CHANGE, None);
        }
    }

    /// Creates the dynamic peer of a connection from `ip` (reaching
    /// `local`), when a listen range covers it.
    fn accept_dynamic(&mut self, ip: IpAddr, local: Option<IpAddr>) -> Option<PeerId> {
        let range = self
            .ranges
            .iter()
            .filter(|r| r.prefix.contains(&ip))
            .filter(|r| r.template.local_address.is_none_or(|l| Some(l) == local || l.is_unspecified()))
            .max_by_key(|r| r.prefix.prefix_len())?;
        let prefix = range.prefix;
        let mut spec = range.template.clone();
        spec.name = format!("Dynamic_{}", ip.to_string().replace(['.', ':'], "_"));
        spec.address = ip;
        spec.fsm.passive = true;
        if let Err(e) = self.add_peer(spec.clone()) {
            tracing::warn!(peer = %spec.name, error = %e, "dynamic peer not created");
            return None;
        }
        let id = self.by_name.get(&spec.name).copied()?;
        self.dynamic.insert(id);
        tracing::info!(peer = %spec.name, range = %prefix, "dynamic peer created");
        Some(id)
    }

    /// Removes a dynamic peer whose session has ended (unless a new
    /// connection brought it back up meanwhile).
    fn dynamic_ended(&mut self, peer: PeerId) {
        if !self.dynamic.contains(&peer) {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        if p.status.lock().is_ok_and(|st| st.state > State::Active) {
            return;
        }
        let name = p.spec.name.clone();
        tracing::info!(peer = %name, "dynamic peer's session ended: peer removed");
        let _ = self.remove_peer(&name, cease_subcode::PEER_DECONFIGURED, None);
    }

    fn remove_peer(
        &mut self,
        name: &str,
        subcode: u8,
        communication: Option<String>,
    ) -> Result<JoinHandle<()>, EngineError> {
        let id = self.by_name.remove(name).ok_or_else(|| EngineError::NoSuchPeer(name.to_string()))?;
        let entry = self.peers.remove(&id).ok_or_else(|| EngineError::NoSuchPeer(name.to_string()))?;
        self.dynamic.remove(&id);
        let _ = entry.ctl.send(PeerCmd::Stop { subcode, communication });
        if entry.spec.password.is_some() && !self.peers.values().any(|p| p.spec.address == entry.spec.address) {
            for l in self.listeners_for(entry.spec.address) {
                if let Err(e) = sockopt::set_md5_key(l.as_ref(), entry.spec.address, None) {
                    tracing::warn!(peer = %name, error = %e, "TCP MD5 key not removed from the listener");
                }
            }
        }
        self.up.remove(&id);
        let out = self.rib.handle(Instant::now(), rib::Input::PeerDown { peer: id, graceful: false });
        self.dispatch(out);
        tracing::info!(peer = %name, "peer removed");
        Ok(entry.task)
    }

    /// Ceases every session (Administrative Shutdown) and stops listening.
    fn stop_all(&mut self, communication: Option<String>) -> Vec<JoinHandle<()>> {
        for t in self.accept_tasks.drain(..) {
            t.abort();
        }
        let mut tasks = Vec::new();
        for (_, p) in std::mem::take(&mut self.peers) {
            let subcode = cease_subcode::ADMINISTRATIVE_SHUTDOWN;
            let _ = p.ctl.send(PeerCmd::Stop { subcode, communication: communication.clone() });
            tasks.push(p.task);
        }
        self.by_name.clear();
        self.up.clear();
        self.dynamic.clear();
        tasks
    }

    fn incoming(&mut self, stream: TcpStream, remote: SocketAddr) {
        let ip = super::conn::canonical(remote.ip());
        let local = stream.local_addr().ok().map(|a| super::conn::canonical(a.ip()));
        let found = self.peers.iter().find(|(_, p)| {
            p.spec.address == ip && p.spec.local_address.is_none_or(|l| Some(l) == local || l.is_unspecified())
        });
        let id = match found {
            Some((id, _)) => Some(*id),
            None => self.accept_dynamic(ip, local),
        };
        match id.and_then(|id| self.peers.get(&id)) {
            Some(p) => {
                tracing::debug!(peer = %p.spec.name, %remote, "incoming connection");
                let _ = p.ctl.send(PeerCmd::Incoming(stream));
            }
            None => tracing::debug!(%remote, "connection from an address that is not a configured peer refused"),
        }
    }

    /// Handles `first` and whatever else the peers have already sent (up
    /// to a bound): the RIB's outputs for consecutive UPDATEs are dispatched
    /// together, so that each peer's queue gets one batch of messages.
    fn peer_messages(&mut self, first: FromPeer, rx: &mut mpsc::Receiver<FromPeer>) {
        let mut held: Vec<rib::Output> = Vec::new();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(m) = next.take() {
            match m {
                FromPeer::Rib(input) => held.extend(self.rib_input(input)),
                other => {
                    // Session changes see everything before them sent.
                    self.dispatch(std::mem::take(&mut held));
                    self.peer_message(other);
                }
            }
            n += 1;
            if n < PEER_MESSAGE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        self.dispatch(held);
    }

    fn peer_message(&mut self, m: FromPeer) {
        let now = Instant::now();
        let out = match m {
            FromPeer::Up { peer, info, out } => {
                if !self.peers.contains_key(&peer) {
                    return;
                }
                let up = UpPeer {
                    out,
                    ctx: info.ctx.clone(),
                    families: info.families.clone(),
                    resync_pending: false,
                    dropped_withdrawn: BTreeSet::new(),
                    // The initial table, like a catch-up, goes out whole.
                    catch_up: usize::MAX,
                    batch: Vec::new(),
                    batch_bytes: 0,
                };
                self.up.insert(peer, up);
                let out = self.rib.handle(now, rib::Input::PeerUp { peer, info: *info });
                self.dispatch(out);
                if let Some(up) = self.up.get_mut(&peer) {
                    up.catch_up = up.out.queued();
                }
                return;
            }
            FromPeer::Ended { peer } => return self.dynamic_ended(peer),
            FromPeer::Down { peer, graceful } => {
                if !self.peers.contains_key(&peer) {
                    return;
                }
                self.up.remove(&peer);
                self.rib.handle(now, rib::Input::PeerDown { peer, graceful })
            }
            FromPeer::Rib(input) => self.rib_input(input),
        };
        self.dispatch(out);
    }

    /// A RIB input from a peer's session, dropped when that session is no
    /// longer up (it raced the session's end).
    fn rib_input(&mut self, input: rib::Input) -> Vec<rib::Output> {
        let peer = match &input {
            rib::Input::Update { peer, .. }
            | rib::Input::Withdraw { peer, .. }
            | rib::Input::RouteRefresh { peer, .. } => Some(*peer),
            _ => None,
        };
        if peer.is_some_and(|p| !self.up.contains_key(&p)) {
            return Vec::new();
        }
        self.rib.handle(Instant::now(), input)
    }

    fn dispatch(&mut self, outputs: Vec<rib::Output>) {
        let mut resync = Vec::new();
        for o in outputs {
            match o {
                rib::Output::Fib(change) => {
                    let _ = self.events.send(Event::Fib(change));
                }
                rib::Output::Send { peers, messages } => {
                    for p in peers {
                        if self.push(p, &messages) {
                            resync.push(p);
                        }
                    }
                }
                rib::Output::MaxPrefixesExceeded { peer, count, limit, close } => {
                    let name = self.peers.get(&peer).map(|p| p.spec.name.clone()).unwrap_or_default();
                    tracing::warn!(peer = %name, count, limit, close, "maximum number of prefixes exceeded");
                    if let (true, Some(p)) = (close, self.peers.get(&peer)) {
                        let n = Notification::cease(cease_subcode::MAX_PREFIXES_REACHED);
                        let _ = p.ctl.send(PeerCmd::Error(n));
                    }
                }
            }
        }
        // Each peer's batch goes out before any catch-up (which follows it).
        for p in std::mem::take(&mut self.touched) {
            if let Some(up) = self.up.get_mut(&p) {
                up.batch_bytes = 0;
                up.out.push_many(std::mem::take(&mut up.batch));
            }
        }
        for p in resync {
            self.resync(p);
        }
    }

    /// Queues `messages` for `peer`, unless its queue is over the limit.
    /// True when the peer must be caught up now (its queue is already empty).
    fn push(&mut self, peer: PeerId, messages: &Arc<[u8]>) -> bool {
        let limit = self.tuning.peer_queue_bytes;
        let Some(up) = self.up.get_mut(&peer) else { return false };
        if up.resync_pending {
            record_withdrawals(up, messages);
            return false;
        }
        let queued = up.out.queued() + up.batch_bytes;
        if queued <= limit && up.catch_up != usize::MAX {
            up.catch_up = 0;
        }
        if queued > 0 && queued + messages.len() > limit.saturating_add(up.catch_up) {
            let name = self.peers.get(&peer).map(|p| p.spec.name.as_str()).unwrap_or_default();
            tracing::warn!(peer = %name, queued, limit, "peer too slow: dropping its updates until it catches up");
            up.resync_pending = true;
            record_withdrawals(up, messages);
            return up.out.set_overflowed();
        }
        if up.batch.is_empty() {
            self.touched.push(peer);
        }
        up.batch_bytes += messages.len();
        up.batch.push(Chunk::Shared(Arc::clone(messages)));
        false
    }

    /// Catches a peer up after its queue overflowed and drained: withdraws
    /// what it missed being withdrawn, sends its Adj-RIB-Out again (the
    /// route refresh path) and End-of-RIB.
    fn resync(&mut self, peer: PeerId) {
        let Some(up) = self.up.get_mut(&peer) else { return };
        up.resync_pending = false;
        // The table goes out whole, whatever its size: it is bounded by the
        // Adj-RIB-Out, and cutting it would start the catch-up over.
        up.catch_up = usize::MAX;
        let dropped = std::mem::take(&mut up.dropped_withdrawn);
        let ctx = up.ctx.clone();
        let families = up.families.clone();
        let out = up.out.clone();
        let advertised: BTreeSet<(Family, Nlri)> = self.rib.advertised(peer).into_iter().collect();
        let mut withdraw: BTreeMap<Family, Vec<Nlri>> = BTreeMap::new();
        for (f, n) in dropped.difference(&advertised) {
            withdraw.entry(*f).or_default().push(*n);
        }
        tracing::info!(%peer, withdrawn = withdraw.values().map(Vec::len).sum::<usize>(), "catching up a slow peer");
        for (f, nlri) in withdraw {
            let mut buf = BytesMut::new();
            match UpdateBuilder::withdrawals(&ctx, f).withdraw(&nlri, &mut buf) {
                Ok(_) => out.push(Chunk::Owned(buf.freeze())),
                Err(e) => tracing::warn!(%peer, family = %f, error = %e, "withdrawals not encoded"),
            }
        }
        for f in &families {
            let input = rib::Input::RouteRefresh { peer, refresh: RouteRefresh::new(*f) };
            let o = self.rib.handle(Instant::now(), input);
            self.dispatch(o);
        }
        for f in families {
            let mut buf = BytesMut::new();
            if Update::end_of_rib(f).encode(&ctx, &mut buf).is_ok() {
                out.push(Chunk::Owned(buf.freeze()));
            }
        }
        if let Some(up) = self.up.get_mut(&peer) {
            up.catch_up = up.out.queued();
        }
    }

    /// A peer's status with its prefix counts (from [`Rib::peer_prefix_counts`]).
    fn status(&self, id: PeerId, counts: BTreeMap<Family, PeerPrefixCounts>) -> Option<PeerStatus> {
        let p = self.peers.get(&id)?;
        let mut st = p.status.lock().ok()?.clone();
        st.messages_in = p.counters.messages_in.load(Ordering::Relaxed);
        st.updates_in = p.counters.updates_in.load(Ordering::Relaxed);
        st.messages_out = p.counters.messages_out.load(Ordering::Relaxed);
        st.updates_out = p.counters.updates_out.load(Ordering::Relaxed);
        st.stale_routes = counts.values().map(|c| c.stale).sum();
        st.prefixes = counts
            .into_iter()
            .map(|(f, c)| (f, PrefixCounts { received: c.received, accepted: c.received, advertised: c.advertised }))
            .collect();
        st.import_updates.received = p.counters.routes_in.load(Ordering::Relaxed);
        st.import_withdraws.received = p.counters.withdraws_in.load(Ordering::Relaxed);
        st.import_updates.accepted = st.prefixes.iter().map(|(_, c)| c.accepted).sum();
        st.export_updates.accepted = st.prefixes.iter().map(|(_, c)| c.advertised).sum();
        Some(st)
    }

    fn routes(&self, filter: &RouteFilter) -> Vec<RouteInfo> {
        let peer_id = match &filter.peer {
            Some(name) => match self.by_name.get(name) {
                Some(id) => Some(*id),
                None => return Vec::new(),
            },
            None => None,
        };
        let mut routes = self.rib.loc_routes(filter.family);
        routes.retain(|r| peer_id.is_none_or(|p| r.peer == p));
        if let Some(want) = filter.prefix {
            if filter.longest_match {
                let best_len = routes
                    .iter()
                    .filter(|r| r.prefix.prefix.contains(&want))
                    .map(|r| r.prefix.prefix.prefix_len())
                    .max();
                routes.retain(|r| r.prefix.prefix.contains(&want) && Some(r.prefix.prefix.prefix_len()) == best_len);
            } else {
                routes.retain(|r| r.prefix.prefix == want);
            }
        }
        routes
            .into_iter()
            .map(|r| {
                let from = (r.peer != PeerId::LOCAL).then(|| self.peers.get(&r.peer)).flatten();
                RouteInfo {
                    family: r.family,
                    prefix: Nlri { path_id: (r.path_id != 0).then_some(r.path_id), ..r.prefix },
                    from: from.map(|p| p.spec.name.clone()),
                    from_address: from.map(|p| p.spec.address),
                    attrs: r.attrs,
                    best: r.best,
                    multipath: r.multipath,
                    stale: r.stale,
                }
            })
            .collect()
    }
}

fn initial_status(spec: &PeerSpec) -> PeerStatus {
    PeerStatus {
        name: spec.name.clone(),
        address: spec.address,
        port: spec.port,
        local_as: spec.fsm.local_as,
        remote_as: spec.fsm.peer_as,
        state: State::Idle,
        since: SystemTime::now(),
        last_error: None,
        passive: spec.fsm.passive,
        rr_client: spec.rr_client,
        import_name: spec.import_name.clone(),
        export_name: spec.export_name.clone(),
        remote_id: None,
        local_address: None,
        hold_time: None,
        keepalive: None,
        families: Vec::new(),
        peer_capabilities: Vec::new(),
        messages_in: 0,
        messages_out: 0,
        updates_in: 0,
        updates_out: 0,
        transitions: 0,
        prefixes: Vec::new(),
        stale_routes: 0,
        import_updates: Default::default(),
        import_withdraws: Default::default(),
        export_updates: Default::default(),
        export_withdraws: Default::default(),
    }
}

/// Notes the routes withdrawn in UPDATEs that a slow peer does not get.
fn record_withdrawals(up: &mut UpPeer, bytes: &[u8]) {
    for (msg_type, body) in super::conn::messages(bytes) {
        if msg_type != message_type::UPDATE || !has_withdrawals(body) {
            continue;
        }
        let Ok(Message::Update(u)) = Message::decode(message_type::UPDATE, body, &up.ctx) else { continue };
        for n in &u.withdrawn {
            up.dropped_withdrawn.insert((Family::IPV4_UNICAST, *n));
        }
        if let Some(unreach) = &u.attributes.mp_unreach {
            if let MpNlri::Prefixes(list) = &unreach.withdrawn {
                for n in list {
                    up.dropped_withdrawn.insert((unreach.family, *n));
                }
            }
        }
    }
}

/// Whether an UPDATE body withdraws anything: IPv4 withdrawn routes or an
/// MP_UNREACH_NLRI attribute (found by walking the attribute headers, so
/// announcements are not decoded in vain). True when unsure.
fn has_withdrawals(body: &[u8]) -> bool {
    let Some(&[w0, w1]) = body.get(..2) else { return true };
    let wlen = usize::from(u16::from_be_bytes([w0, w1]));
    if wlen > 0 {
        return true;
    }
    let Some(&[a0, a1]) = body.get(2..4) else { return true };
    let Some(mut attrs) = body.get(4..4 + usize::from(u16::from_be_bytes([a0, a1]))) else { return true };
    while let Some(&[flags, type_code]) = attrs.get(..2) {
        if type_code == bgp_proto::attribute::type_code::MP_UNREACH_NLRI {
            return true;
        }
        let (len, hdr) = if flags & 0x10 != 0 {
            match attrs.get(2..4) {
                Some(&[l0, l1]) => (usize::from(u16::from_be_bytes([l0, l1])), 4),
                _ => return true,
            }
        } else {
            match attrs.get(2) {
                Some(&l) => (usize::from(l), 3),
                None => return true,
            }
        };
        attrs = attrs.get(hdr + len..).unwrap_or_default();
    }
    false
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::attribute::EncodeOptions;
    use bgp_proto::PathAttributes;

    fn body(buf: &[u8]) -> &[u8] {
        buf.get(19..).unwrap_or_default()
    }

    #[test]
    fn withdrawals_are_found_without_decoding_announcements() {
        let ctx = Context::default();
        let n = [Nlri::new("10.0.0.0/24".parse().expect("net"))];
        let attrs = PathAttributes {
            next_hop: Some("192.0.2.1".parse().expect("addr")),
            origin: Some(bgp_proto::attribute::Origin::Igp),
            as_path: Some(Default::default()),
            ..Default::default()
        };
        let mut ann = BytesMut::new();
        UpdateBuilder::new(&ctx, Family::IPV4_UNICAST, &attrs, EncodeOptions::default())
            .expect("builder")
            .announce(&n, &mut ann)
            .expect("announce");
        assert!(!has_withdrawals(body(&ann)));
        let mut wd = BytesMut::new();
        UpdateBuilder::withdrawals(&ctx, Family::IPV4_UNICAST).withdraw(&n, &mut wd).expect("withdraw");
        assert!(has_withdrawals(body(&wd)));
        let n6 = [Nlri::new("fd00::/64".parse().expect("net"))];
        let mut wd6 = BytesMut::new();
        UpdateBuilder::withdrawals(&ctx, Family::IPV6_UNICAST).withdraw(&n6, &mut wd6).expect("withdraw");
        assert!(has_withdrawals(body(&wd6)));
        assert!(has_withdrawals(&[0, 0, 0, 9, 1]), "a truncated body counts as unsure");
    }
}
