//! The RIB: Adj-RIB-In per peer, the Loc-RIB with best path and ECMP set,
//! and Adj-RIB-Out per update group (RFC 4271 §3.2, §9).
//!
//! Sans-IO and single owner: the daemon feeds [`Input`]s through
//! [`Rib::handle`] with the current time and gets [`Output`]s back — kernel
//! (FIB) changes and encoded UPDATE bytes with the peers to send them to.
//! Graceful-restart stale timers are deadlines ([`Rib::next_deadline`],
//! [`Rib::handle_timeout`]). Inputs and outputs are plain values that can be
//! logged and replayed; policies are registered once by id
//! ([`Rib::set_policy`]) so the inputs stay data.
//!
//! Attribute sets are interned ([`Interner`]): every route and every
//! Adj-RIB-Out entry with the same attributes shares one `Arc`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_proto::attribute::MpNlri;
use bgp_proto::route_refresh::RouteRefreshSubtype;
use bgp_proto::{Context, Family, Nlri, PathAttributes, RouteRefresh, Update};
use ipnet::IpNet;
use smallvec::SmallVec;

mod best;
mod intern;
mod out;
mod query;

pub use best::{select, Candidate, DEFAULT_LOCAL_PREF};
pub use intern::Interner;
pub use query::{LocRoute, PeerPrefixCounts};

use crate::policy::next_hop;
use out::{Change, Group};

/// A peer of the RIB, numbered by the daemon. [`PeerId::LOCAL`] is the
/// pseudo-peer of locally originated routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl PeerId {
    /// Locally originated routes (the kernel, the daemon's own networks).
    pub const LOCAL: PeerId = PeerId(0);
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// An import or export filter: may change the attributes, returns whether
/// the route is accepted. Closures of that shape are policies.
pub trait Policy: Send + Sync {
    fn apply(&self, family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> bool;
}

impl<F: Fn(Family, &Nlri, &mut PathAttributes) -> bool + Send + Sync> Policy for F {
    fn apply(&self, family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> bool {
        self(family, nlri, attrs)
    }
}

/// Id of a policy registered with [`Rib::set_policy`].
pub type PolicyId = u32;

/// The RIB's own configuration.
#[derive(Clone, Debug)]
pub struct RibConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Set: we are a route reflector with this cluster ID (RFC 4456 §7).
    pub cluster_id: Option<Ipv4Addr>,
    /// Compare MED between routes from different neighbouring ASes.
    pub always_compare_med: bool,
    /// How long a restarted peer's stale routes are kept after it is back,
    /// waiting for its End-of-RIB (RFC 4724 §4.2 "stale routes timer").
    pub stale_time: Duration,
    /// We are the restarting speaker (RFC 4724 §4.1): hold best-path
    /// selection and all output until End-of-RIB from the GR peers.
    pub selection_deferral: Option<SelectionDeferral>,
    /// Emit [`Output::Fib`] changes. Off when nothing programs the kernel:
    /// next hops are then neither computed nor kept.
    pub fib: bool,
}

/// Selection deferral after our own restart (RFC 4724 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectionDeferral {
    /// Upper bound, counted from the first input.
    pub time: Duration,
    /// How many graceful-restart peers must send End-of-RIB (for every
    /// family of their session) before selection runs early.
    pub gr_peers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deferral {
    Off,
    NotStarted,
    Until(Instant),
}

impl RibConfig {
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            always_compare_med: false,
            stale_time: Duration::from_secs(360),
            selection_deferral: None,
            fib: true,
        }
    }
}

/// What the RIB needs to know about an Established session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Encode context towards the peer (the session's tx context).
    pub ctx: Context,
    /// Families negotiated on the session.
    pub families: Vec<Family>,
    /// A route reflector client of ours (iBGP only).
    pub rr_client: bool,
    /// How the next hop is set towards this peer.
    pub next_hop: NextHopMode,
    /// Our address on the session, used as next hop self.
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
    pub import_policy: Option<PolicyId>,
    pub export_policy: Option<PolicyId>,
    /// The peer's restart time when graceful restart was negotiated
    /// (RFC 4724 §3): its routes are kept stale that long when it drops.
    pub graceful_restart: Option<Duration>,
    /// Accept eBGP routes whose AS_PATH holds our AS up to this many times
    /// (0: any occurrence is a loop, RFC 4271 §9.1.2).
    pub allow_own_as: u8,
    /// Prefix limit of the Adj-RIB-In (after import policy).
    pub max_prefixes: Option<MaxPrefixes>,
    /// Which paths go out where ADD-PATH send is negotiated for a family.
    pub add_path_send: AddPathSend,
    /// Enhanced route refresh negotiated (RFC 7313).
    pub enhanced_route_refresh: bool,
}

/// Paths advertised per prefix to an ADD-PATH receiver (RFC 7911).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AddPathSend {
    /// The best route and the rest of its ECMP set.
    #[default]
    Multipath,
    /// Every route we have.
    All,
}

/// Next hop towards a peer (Calico's `nextHopMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NextHopMode {
    /// Our address towards eBGP peers and for routes without a usable next
    /// hop; unchanged towards iBGP peers (and when reflecting, RFC 4456 §10).
    #[default]
    Auto,
    /// Always our address.
    SelfAddress,
    /// Never changed when the route has a next hop of the family.
    Keep,
}

/// Maximum number of prefixes a peer may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPrefixes {
    pub limit: usize,
    /// Ask the driver to close the session with Cease / Maximum Number of
    /// Prefixes Reached (RFC 4486 §4) rather than only warn.
    pub close: bool,
}

/// An input of the RIB.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A session reached Established (again).
    PeerUp { peer: PeerId, info: PeerInfo },
    /// A session left Established. `graceful`: keep its routes as stale if
    /// it negotiated graceful restart (false for a Hard Reset, RFC 8538 §3).
    PeerDown { peer: PeerId, graceful: bool },
    /// An UPDATE received from the peer (End-of-RIB included).
    Update { peer: PeerId, update: Update },
    /// Routes to withdraw (RFC 7606 treat-as-withdraw).
    Withdraw { peer: PeerId, routes: Vec<(Family, Nlri)> },
    /// A ROUTE-REFRESH from the peer: a request for our routes again (RFC
    /// 2918; answered within BoRR/EoRR when the peer has enhanced route
    /// refresh, RFC 7313 §4), or the peer's own BoRR / EoRR demarcation
    /// (its routes of the family go stale at BoRR, and those not
    /// re-advertised by EoRR are removed).
    RouteRefresh { peer: PeerId, refresh: RouteRefresh },
    /// Add or replace a locally originated route.
    Originate { family: Family, nlri: Nlri, attrs: PathAttributes },
    /// Withdraw a locally originated route.
    WithdrawLocal { family: Family, nlri: Nlri },
}

/// A change for the kernel's forwarding table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FibChange {
    /// Install or replace the route with these next hops (the ECMP set).
    Replace { family: Family, prefix: Nlri, next_hops: Vec<IpAddr> },
    /// Remove our route: no BGP route left, or the best one is local.
    Remove { family: Family, prefix: Nlri },
}

/// An output of the RIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Fib(FibChange),
    /// One or more whole UPDATE messages, back to back, for each of `peers`.
    Send {
        peers: Vec<PeerId>,
        messages: Arc<[u8]>,
    },
    /// The peer's Adj-RIB-In went over its limit (reported once until it is
    /// back under). With `close` the driver ends the session with Cease
    /// subcode 1 (RFC 4486) and then sends [`Input::PeerDown`].
    MaxPrefixesExceeded {
        peer: PeerId,
        count: usize,
        limit: usize,
        close: bool,
    },
}

/// Counters a user can check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RibStats {
    /// `UpdateBuilder` runs (announce or withdraw batches) and End-of-RIB encodes.
    pub encodes: u64,
    /// Distinct interned attribute sets.
    pub attribute_sets: usize,
    /// Update groups.
    pub groups: usize,
    /// Destinations in the Loc-RIB.
    pub destinations: usize,
}

/// A destination of the Loc-RIB: the prefix without path id.
type DestKey = (Family, IpNet);

/// One route of a destination (an Adj-RIB-In entry).
#[derive(Clone, Debug)]
struct Path {
    peer: PeerId,
    /// The peer's path identifier (0 without ADD-PATH receive).
    path_id: u32,
    /// The route came with a path identifier.
    with_id: bool,
    stale: bool,
    /// Our path identifier for it where ADD-PATH send is negotiated (RFC
    /// 7911): stable for the route's lifetime, lowest free.
    out_id: u32,
    attrs: Arc<PathAttributes>,
}

impl Path {
    fn key(&self) -> (PeerId, u32) {
        (self.peer, self.path_id)
    }

    /// The route's NLRI as the peer sent it.
    fn nlri(&self, prefix: Nlri) -> Nlri {
        Nlri { path_id: self.with_id.then_some(self.path_id), ..prefix }
    }
}

/// What an update group was sent for one destination (its Adj-RIB-Out
/// entry): under our path id (0 without ADD-PATH), the exported attributes
/// and the route's source peer.
#[derive(Clone, Debug)]
struct OutRoute {
    group: u64,
    id: u32,
    src: PeerId,
    attrs: Arc<PathAttributes>,
}

/// One destination: its routes, the selection result, what the FIB has and
/// what each update group was sent. Almost every destination has one route
/// and one group, held inline.
#[derive(Debug, Default)]
struct Dest {
    /// The ECMP set first (best first), then the other routes.
    paths: SmallVec<[Path; 1]>,
    /// How many routes at the front of `paths` form the ECMP set.
    multipath: u16,
    /// The Adj-RIB-Out entries of every group.
    out: SmallVec<[OutRoute; 1]>,
}

impl Dest {
    fn position(&self, key: (PeerId, u32)) -> Option<usize> {
        self.paths.iter().position(|p| p.key() == key)
    }

    fn ecmp(&self) -> &[Path] {
        let n = usize::from(self.multipath).min(self.paths.len());
        self.paths.get(..n).unwrap_or_default()
    }
}

#[derive(Debug)]
struct PeerState {
    info: PeerInfo,
    up: bool,
    /// Routes in the Adj-RIB-In (after import policy).
    received: usize,
    /// Of those, routes marked stale.
    stale: usize,
    stale_deadline: Option<Instant>,
    group: Option<u64>,
    /// The prefix limit was reported and the count has not gone back under.
    over_limit: bool,
}

/// The RIB. See the module docs.
pub struct Rib {
    config: RibConfig,
    interner: Interner,
    policies: HashMap<PolicyId, Arc<dyn Policy>>,
    peers: BTreeMap<PeerId, PeerState>,
    loc: BTreeMap<DestKey, Dest>,
    /// Next hops last sent to the FIB per destination (none: nothing
    /// installed). Outside [`Dest`]: most tables are never programmed.
    fib: HashMap<DestKey, Box<[IpAddr]>, foldhash::fast::RandomState>,
    groups: BTreeMap<u64, Group>,
    next_group: u64,
    /// Adj-RIB-Out changes waiting for the end of the current input.
    pending: BTreeMap<u64, Vec<Change>>,
    outputs: Vec<Output>,
    encodes: u64,
    deferral: Deferral,
    /// GR peers' families still owing End-of-RIB during deferral.
    eor_pending: BTreeMap<PeerId, BTreeSet<Family>>,
    /// GR peers that completed their End-of-RIBs during deferral.
    eor_done: BTreeSet<PeerId>,
    /// Working space for the attributes of one route being exported.
    scratch: PathAttributes,
}

impl fmt::Debug for Rib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rib").field("config", &self.config).field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Rib {
    pub fn new(config: RibConfig) -> Self {
        let deferral = if config.selection_deferral.is_some() { Deferral::NotStarted } else { Deferral::Off };
        Rib {
            config,
            interner: Interner::default(),
            policies: HashMap::new(),
            peers: BTreeMap::new(),
            loc: BTreeMap::new(),
            fib: HashMap::default(),
            groups: BTreeMap::new(),
            next_group: 1,
            pending: BTreeMap::new(),
            outputs: Vec::new(),
            encodes: 0,
            deferral,
            eor_pending: BTreeMap::new(),
            eor_done: BTreeSet::new(),
            scratch: PathAttributes::default(),
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// Registers (or replaces) a policy that peers name by `id`.
    pub fn set_policy(&mut self, id: PolicyId, policy: Arc<dyn Policy>) {
        self.policies.insert(id, policy);
    }

    pub fn stats(&self) -> RibStats {
        RibStats {
            encodes: self.encodes,
            attribute_sets: self.interner.len(),
            groups: self.groups.len(),
            destinations: self.loc.len(),
        }
    }

    /// Processes one input.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        self.start_deferral(now);
        match input {
            Input::PeerUp { peer, info } => self.peer_up(now, peer, info),
            Input::PeerDown { peer, graceful } => self.peer_down(now, peer, graceful),
            Input::Update { peer, update } => self.update(peer, update),
            Input::Withdraw { peer, routes } => {
                for (family, nlri) in routes {
                    self.remove_route(peer, family, nlri);
                }
            }
            Input::RouteRefresh { peer, refresh } => match refresh.subtype {
                RouteRefreshSubtype::Request => self.refresh(peer, refresh.family),
                RouteRefreshSubtype::BeginningOfRefresh => self.mark_stale(peer, Some(refresh.family)),
                RouteRefreshSubtype::EndOfRefresh => self.sweep_stale(peer, Some(refresh.family)),
                RouteRefreshSubtype::Other(_) => {}
            },
            Input::Originate { family, nlri, attrs } => self.originate(family, nlri, attrs),
            Input::WithdrawLocal { family, nlri } => self.remove_route(PeerId::LOCAL, family, nlri),
        }
        self.flush();
        std::mem::take(&mut self.outputs)
    }

    /// The earliest deadline (stale routes, selection deferral), if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let deferral = match self.deferral {
            Deferral::Until(d) => Some(d),
            _ => None,
        };
        self.peers.values().filter_map(|p| p.stale_deadline).chain(deferral).min()
    }

    /// Whether selection is deferred (RFC 4724 §4.1).
    pub fn deferring(&self) -> bool {
        self.deferral != Deferral::Off
    }

    fn start_deferral(&mut self, now: Instant) {
        if let (Deferral::NotStarted, Some(d)) = (self.deferral, self.config.selection_deferral) {
            self.deferral = Deferral::Until(now + d.time);
        }
    }

    /// Runs selection over everything learned while deferring, sends it
    /// (the initial table of every peer), then End-of-RIB to every peer.
    fn end_deferral(&mut self) {
        tracing::info!(peers_done = self.eor_done.len(), "selection deferral over");
        self.deferral = Deferral::Off;
        self.eor_pending.clear();
        self.eor_done.clear();
        let keys: Vec<DestKey> = self.loc.keys().copied().collect();
        for (family, net) in keys {
            self.recompute(family, Nlri::new(net));
        }
        // Nothing went to any peer while deferring (their initial dumps were
        // held back), so each gets its whole Adj-RIB-Out now, which the
        // recomputation has brought up to date; the incremental changes it
        // queued would only repeat part of it.
        self.discard_pending();
        let members: Vec<(PeerId, u64)> =
            self.peers.iter().filter(|(_, p)| p.up).filter_map(|(id, p)| p.group.map(|g| (*id, g))).collect();
        for (peer, gid) in members {
            // The table, then End-of-RIB for every family (RFC 4724 §4.1).
            self.dump(peer, gid, None);
        }
    }

    /// Sweeps the stale routes of every peer whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        self.start_deferral(now);
        if matches!(self.deferral, Deferral::Until(d) if d <= now) {
            self.end_deferral();
        }
        let due: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| p.stale_deadline.is_some_and(|d| d <= now)).map(|(id, _)| *id).collect();
        for peer in due {
            tracing::info!(%peer, "graceful restart: stale routes timed out");
            self.sweep_stale(peer, None);
        }
        self.flush();
        std::mem::take(&mut self.outputs)
    }

    /// The best route for `prefix` (path id ignored): its peer and attributes.
    pub fn best(&self, family: Family, prefix: Nlri) -> Option<(PeerId, Arc<PathAttributes>)> {
        let dest = self.loc.get(&(family, prefix.prefix))?;
        dest.ecmp().first().map(|p| (p.peer, Arc::clone(&p.attrs)))
    }

    /// The ECMP set for `prefix`, best first.
    pub fn ecmp(&self, family: Family, prefix: Nlri) -> Vec<(PeerId, u32)> {
        self.loc.get(&(family, prefix.prefix)).map(|d| d.ecmp().iter().map(Path::key).collect()).unwrap_or_default()
    }

    /// Adj-RIB-In of `peer`: (family, NLRI, attributes, stale).
    pub fn adj_rib_in(&self, peer: PeerId) -> Vec<(Family, Nlri, Arc<PathAttributes>, bool)> {
        if self.peers.get(&peer).is_none_or(|p| p.received == 0) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for ((f, net), dest) in &self.loc {
            for p in dest.paths.iter().filter(|p| p.peer == peer) {
                out.push((*f, p.nlri(Nlri::new(*net)), Arc::clone(&p.attrs), p.stale));
            }
        }
        out.sort_by_key(|r| (r.0, r.1));
        out
    }

    /// The Adj-RIB-In keys of `peer` (of `family`, or all) for which `keep`
    /// holds. A walk over the Loc-RIB: per-peer route sets would cost
    /// memory on every route for what peer-down and End-of-RIB need.
    fn peer_routes(&self, peer: PeerId, family: Option<Family>, keep: impl Fn(&Path) -> bool) -> Vec<(Family, Nlri)> {
        if self.peers.get(&peer).is_none_or(|p| p.received == 0) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for ((f, net), dest) in &self.loc {
            if family.is_some_and(|x| x != *f) {
                continue;
            }
            for p in dest.paths.iter().filter(|p| p.peer == peer && keep(p)) {
                out.push((*f, p.nlri(Nlri::new(*net))));
            }
        }
        out
    }

    fn peer_up(&mut self, now: Instant, peer: PeerId, info: PeerInfo) {
        if peer == PeerId::LOCAL {
            tracing::warn!("PeerUp for the local pseudo-peer ignored");
            return;
        }
        if self.peers.get(&peer).is_some_and(|p| p.up) {
            self.peer_down(now, peer, false);
        }
        let gr = info.graceful_restart.is_some();
        let state = self.peers.entry(peer).or_insert_with(|| PeerState {
            info: info.clone(),
            up: true,
            received: 0,
            stale: 0,
            stale_deadline: None,
            group: None,
            over_limit: false,
        });
        state.info = info;
        state.up = true;
        let has_stale = state.stale_deadline.is_some();
        if has_stale {
            if gr {
                state.stale_deadline = Some(now + self.config.stale_time);
            } else {
                // RFC 4724 §4.2: back without the capability: stale routes go now.
                self.sweep_stale(peer, None);
            }
        }
        let gid = self.join_group(peer);
        if self.deferring() {
            if let Some(state) = self.peers.get(&peer).filter(|s| s.info.graceful_restart.is_some()) {
                self.eor_pending.insert(peer, state.info.families.iter().copied().collect());
            }
            return;
        }
        self.dump(peer, gid, None);
    }

    fn peer_down(&mut self, now: Instant, peer: PeerId, graceful: bool) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.up = false;
        let group = state.group.take();
        let restart = state.info.graceful_restart.filter(|_| graceful && state.received > 0);
        if let Some(gid) = group {
            self.leave_group(peer, gid);
        }
        if let Some(restart) = restart {
            // RFC 4724 §4.2: keep the routes, marked stale, for the restart time.
            let Some(state) = self.peers.get_mut(&peer) else {
                return;
            };
            state.stale_deadline = Some(now + restart);
            self.mark_stale(peer, None);
            return;
        }
        for (f, n) in self.peer_routes(peer, None, |_| true) {
            self.remove_route(peer, f, n);
        }
        self.peers.remove(&peer);
    }

    /// Marks `peer`'s routes (of `family`, or all) stale.
    fn mark_stale(&mut self, peer: PeerId, family: Option<Family>) {
        if self.peers.get(&peer).is_none_or(|p| p.received == 0) {
            return;
        }
        let mut marked = 0;
        for ((f, _), dest) in self.loc.iter_mut() {
            if family.is_some_and(|x| x != *f) {
                continue;
            }
            for p in dest.paths.iter_mut().filter(|p| p.peer == peer && !p.stale) {
                p.stale = true;
                marked += 1;
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.stale += marked;
        }
    }

    /// Drops `peer`'s stale routes (of `family`, or all).
    fn sweep_stale(&mut self, peer: PeerId, family: Option<Family>) {
        let Some(state) = self.peers.get(&peer) else {
            return;
        };
        // Runs at every End-of-RIB, on full tables: no walk when nothing is stale.
        if state.stale > 0 {
            for (f, n) in self.peer_routes(peer, family, |p| p.stale) {
                self.remove_route(peer, f, n);
            }
        }
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        // What is still stale belongs to other families.
        if state.stale == 0 {
            state.stale_deadline = None;
            if !state.up {
                self.peers.remove(&peer);
            }
        }
    }

    fn update(&mut self, peer: PeerId, update: Update) {
        let Some(state) = self.peers.get(&peer) else {
            tracing::warn!(%peer, "UPDATE from an unknown peer ignored");
            return;
        };
        if !state.up {
            return;
        }
        if let Some(family) = update.is_end_of_rib() {
            // RFC 4724 §4.2: End-of-RIB ends the wait for re-advertisement.
            self.sweep_stale(peer, Some(family));
            if let Some(pending) = self.eor_pending.get_mut(&peer) {
                pending.remove(&family);
                if pending.is_empty() {
                    self.eor_pending.remove(&peer);
                    self.eor_done.insert(peer);
                    if self.config.selection_deferral.is_some_and(|d| self.eor_done.len() >= d.gr_peers) {
                        self.end_deferral();
                    }
                }
            }
            return;
        }
        // Routes of a family the session did not negotiate are ignored
        // (RFC 4760 §6: the capability says what the peer may send).
        let negotiated: SmallVec<[Family; 4]> = state.info.families.iter().copied().collect();
        let Update { mut withdrawn, mut attributes, mut nlri, .. } = update;
        let mut ignored: SmallVec<[Family; 2]> = SmallVec::new();
        let any_v4 = !withdrawn.is_empty() || !nlri.is_empty();
        if any_v4 && !negotiated.contains(&Family::IPV4_UNICAST) {
            ignored.push(Family::IPV4_UNICAST);
            withdrawn.clear();
            nlri.clear();
        }
        if attributes.mp_unreach.as_ref().is_some_and(|u| !negotiated.contains(&u.family)) {
            ignored.extend(attributes.mp_unreach.take().map(|u| u.family));
        }
        if attributes.mp_reach.as_ref().is_some_and(|r| !negotiated.contains(&r.family)) {
            ignored.extend(attributes.mp_reach.take().map(|r| r.family));
        }
        if !ignored.is_empty() {
            tracing::debug!(%peer, families = ?ignored, "routes of families not negotiated ignored");
        }
        for n in withdrawn {
            self.remove_route(peer, Family::IPV4_UNICAST, n);
        }
        if let Some(unreach) = &attributes.mp_unreach {
            if let MpNlri::Prefixes(list) = &unreach.withdrawn {
                for n in list {
                    self.remove_route(peer, unreach.family, *n);
                }
            }
        }
        if !nlri.is_empty() {
            let base = PathAttributes { mp_reach: None, mp_unreach: None, ..attributes.clone() };
            self.learn(peer, Family::IPV4_UNICAST, &nlri, base);
        }
        if let Some(reach) = &attributes.mp_reach {
            if let MpNlri::Prefixes(list) = &reach.nlri {
                let mut stored = reach.clone();
                stored.nlri = MpNlri::Prefixes(Vec::new());
                let base =
                    PathAttributes { mp_reach: Some(stored), mp_unreach: None, next_hop: None, ..attributes.clone() };
                self.learn(peer, reach.family, list, base);
            }
        }
    }

    /// Import of received routes sharing one attribute set:
    /// normalisation and loop checks once, the import policy per route,
    /// then the Adj-RIB-In (a rejected route withdraws the old one).
    fn learn(&mut self, peer: PeerId, family: Family, list: &[Nlri], mut attrs: PathAttributes) {
        let Some(state) = self.peers.get(&peer) else {
            return;
        };
        let ibgp = state.info.asn == self.config.local_as;
        if let Some(p) = attrs.effective_as_path() {
            attrs.as_path = Some(p);
        }
        attrs.as4_path = None;
        if !ibgp {
            // LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST never come from
            // another AS (RFC 4271 §5.1.5, RFC 4456 §8).
            attrs.local_pref = None;
            attrs.originator_id = None;
            attrs.cluster_list = None;
        }
        let own = attrs
            .as_path
            .as_ref()
            .map_or(0, |p| p.segments.iter().flat_map(|s| &s.asns).filter(|a| **a == self.config.local_as).count());
        let own_as_loop = !ibgp && own > usize::from(state.info.allow_own_as);
        // RFC 4456 §8: reflection loops.
        let rr_loop = attrs.originator_id == Some(self.config.router_id)
            || self.config.cluster_id.is_some_and(|c| attrs.cluster_list.as_ref().is_some_and(|l| l.contains(&c)));
        if own_as_loop || rr_loop {
            tracing::debug!(%peer, %family, routes = list.len(), own_as_loop, rr_loop, "routes not imported: loop");
            for n in list {
                self.remove_route(peer, family, *n);
            }
            return;
        }
        let policy = state.info.import_policy.and_then(|id| self.policies.get(&id)).cloned();
        // The received set, interned once; a policy that leaves a route's
        // attributes as they are shares it too.
        let shared = self.interner.intern(attrs);
        let mut scratch = PathAttributes::default();
        for n in list {
            let arc = match &policy {
                None => Arc::clone(&shared),
                Some(p) => {
                    scratch.clone_from(&shared);
                    if !p.apply(family, n, &mut scratch) {
                        tracing::debug!(%peer, %family, prefix = %n, "route rejected by import policy");
                        self.remove_route(peer, family, *n);
                        continue;
                    }
                    if scratch == *shared {
                        Arc::clone(&shared)
                    } else {
                        self.interner.intern_ref(&scratch)
                    }
                }
            };
            self.insert_route(peer, family, *n, arc);
            self.check_limit(peer);
        }
        self.interner.release(shared);
    }

    /// Reports a peer over its prefix limit, once per excursion.
    fn check_limit(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(max) = state.info.max_prefixes else {
            return;
        };
        let count = state.received;
        if count <= max.limit {
            state.over_limit = false;
        } else if !state.over_limit {
            state.over_limit = true;
            tracing::warn!(%peer, count, limit = max.limit, "maximum prefixes exceeded");
            self.outputs.push(Output::MaxPrefixesExceeded { peer, count, limit: max.limit, close: max.close });
        }
    }

    fn originate(&mut self, family: Family, nlri: Nlri, mut attrs: PathAttributes) {
        attrs.origin.get_or_insert(bgp_proto::attribute::Origin::Igp);
        attrs.as_path.get_or_insert_with(Default::default);
        let attrs = self.interner.intern(attrs);
        self.insert_route(PeerId::LOCAL, family, nlri, attrs);
    }

    fn insert_route(&mut self, peer: PeerId, family: Family, nlri: Nlri, attrs: Arc<PathAttributes>) {
        let key = (family, nlri.prefix);
        let dest = self.loc.entry(key).or_default();
        let path_id = nlri.path_id.unwrap_or(0);
        let (old, added) = match dest.position((peer, path_id)) {
            Some(i) => match dest.paths.get_mut(i) {
                Some(p) => {
                    let was_stale = std::mem::replace(&mut p.stale, false);
                    p.with_id = nlri.path_id.is_some();
                    (Some((std::mem::replace(&mut p.attrs, attrs), was_stale)), false)
                }
                None => return,
            },
            None => {
                let out_id = (1..).find(|i| dest.paths.iter().all(|p| p.out_id != *i)).unwrap_or(u32::MAX);
                let with_id = nlri.path_id.is_some();
                dest.paths.push(Path { peer, path_id, with_id, stale: false, out_id, attrs });
                (None, true)
            }
        };
        if let Some(state) = self.peers.get_mut(&peer) {
            if added {
                state.received += 1;
            }
            if old.as_ref().is_some_and(|(_, stale)| *stale) {
                state.stale = state.stale.saturating_sub(1);
            }
        }
        if let Some((old, _)) = old {
            self.interner.release(old);
        }
        self.recompute(family, Nlri::new(nlri.prefix));
    }

    fn remove_route(&mut self, peer: PeerId, family: Family, nlri: Nlri) {
        let Some(dest) = self.loc.get_mut(&(family, nlri.prefix)) else {
            return;
        };
        let Some(i) = dest.position((peer, nlri.path_id.unwrap_or(0))) else {
            return;
        };
        let old = dest.paths.remove(i);
        if i < usize::from(dest.multipath) {
            dest.multipath -= 1;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.received = state.received.saturating_sub(1);
            if old.stale {
                state.stale = state.stale.saturating_sub(1);
            }
            if state.info.max_prefixes.is_some_and(|m| state.received <= m.limit) {
                state.over_limit = false;
            }
        }
        self.interner.release(old.attrs);
        self.recompute(family, Nlri::new(nlri.prefix));
    }

    /// Re-runs selection for one destination and passes any change on to
    /// the FIB and the update groups.
    fn recompute(&mut self, family: Family, prefix: Nlri) {
        if self.deferring() {
            return;
        }
        let key = (family, prefix.prefix);
        let Some(dest) = self.loc.get_mut(&key) else {
            return;
        };
        if dest.paths.len() > 1 {
            let cands: Vec<Candidate<'_>> =
                dest.paths.iter().map(|p| candidate(&self.config, &self.peers, p)).collect();
            let order = select(&cands, self.config.always_compare_med);
            drop(cands);
            // The ECMP set in selection order, then the rest by (peer, path id).
            let mut rank: SmallVec<[usize; 4]> = smallvec::smallvec![usize::MAX; dest.paths.len()];
            for (pos, i) in order.iter().enumerate() {
                if let Some(r) = rank.get_mut(*i) {
                    *r = pos;
                }
            }
            let mut paths: SmallVec<[(usize, Path); 4]> = rank.into_iter().zip(dest.paths.drain(..)).collect();
            paths.sort_by_key(|(rank, p)| (*rank, p.key()));
            dest.paths = paths.into_iter().map(|(_, p)| p).collect();
            dest.multipath = u16::try_from(order.len()).unwrap_or(u16::MAX);
        } else {
            dest.multipath = u16::try_from(dest.paths.len()).unwrap_or(u16::MAX);
        }
        if self.config.fib {
            let next_hops = fib_next_hops(family, dest);
            if self.fib.get(&key).map(|b| &b[..]).unwrap_or_default() != &next_hops[..] {
                let change = if next_hops.is_empty() {
                    self.fib.remove(&key);
                    FibChange::Remove { family, prefix }
                } else {
                    self.fib.insert(key, next_hops.to_vec().into_boxed_slice());
                    FibChange::Replace { family, prefix, next_hops: next_hops.into_vec() }
                };
                self.outputs.push(Output::Fib(change));
            }
        }
        // Exported while the destination is at hand: one Loc-RIB lookup.
        let view = out::View { config: &self.config, peers: &self.peers, policies: &self.policies };
        let mut export = out::Export {
            groups: &self.groups,
            interner: &mut self.interner,
            pending: &mut self.pending,
            scratch: &mut self.scratch,
        };
        export.dest(&view, family, prefix, dest);
        if dest.paths.is_empty() && dest.out.is_empty() {
            self.loc.remove(&key);
        }
    }
}

/// What selection needs to know about a route's peer.
fn candidate<'a>(config: &RibConfig, peers: &BTreeMap<PeerId, PeerState>, path: &'a Path) -> Candidate<'a> {
    let (ebgp, router_id, address) = match peers.get(&path.peer) {
        Some(p) => (p.info.asn != config.local_as, p.info.router_id, p.info.address),
        None => (true, config.router_id, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    };
    Candidate { peer: path.peer, path_id: path.path_id, attrs: &path.attrs, ebgp, router_id, address }
}

/// The FIB's next hops for a destination: those of its ECMP set, sorted;
/// none when the best route is local.
fn fib_next_hops(family: Family, dest: &Dest) -> SmallVec<[IpAddr; 2]> {
    let ecmp = dest.ecmp();
    if ecmp.first().is_none_or(|p| p.peer == PeerId::LOCAL) {
        return SmallVec::new();
    }
    let mut hops: SmallVec<[IpAddr; 2]> =
        ecmp.iter().filter(|p| p.peer != PeerId::LOCAL).filter_map(|p| next_hop(family, &p.attrs)).collect();
    hops.sort();
    hops.dedup();
    hops
}
