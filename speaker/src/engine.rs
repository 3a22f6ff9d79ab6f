//! The tokio driver: one task owns the [`Rib`](crate::rib::Rib), one task
//! per peer runs its [`Peer`](crate::fsm::Peer) FSM over real TCP
//! connections, and listeners hand incoming connections to the peer they
//! come from.
//!
//! The daemon talks to it through [`Engine`] (a cheap, cloneable handle)
//! and receives [`Event`]s (kernel changes, peer state changes) on the
//! channel returned by [`Engine::start`].
//!
//! Status types ([`PeerStatus`], [`RouteInfo`]) are plain data so that the
//! control socket, the HTTP endpoints and `ternctl` can render them.
//!
//! # Tasks
//!
//! - **RIB task** (`core`): the single owner of route state and of the
//!   peer registry. It feeds every [`rib::Input`](crate::rib::Input) to the
//!   RIB, turns [`Output::Fib`](crate::rib::Output::Fib) into
//!   [`Event::Fib`], writes [`Output::Send`](crate::rib::Output::Send)
//!   bytes (encoded once per update group) into each member's connection
//!   queue, and turns a closing
//!   [`MaxPrefixesExceeded`](crate::rib::Output::MaxPrefixesExceeded) into
//!   Cease/Maximum Number of Prefixes Reached through the peer's FSM. It
//!   sleeps until the RIB's next deadline (graceful-restart stale timers,
//!   selection deferral). It never waits on a peer task.
//! - **Peer task** (`session`), one per configured peer: owns the FSM and
//!   its connections (two at once during a collision; the FSM decides),
//!   feeds it connects, messages, closes and timer expiries with the
//!   current time, and carries out its actions. Messages are framed and
//!   decoded here (4,096 octets and the default context until Established,
//!   then the negotiated `rx` context), so decoding runs beside the RIB. An
//!   UPDATE error that RFC 7606 treats as withdraw becomes a
//!   `rib::Input::Withdraw`; one that resets the session goes to the FSM as
//!   `DecodeFailed` and out as a NOTIFICATION. It reports to the RIB task
//!   over a bounded channel: a busy RIB slows reading, and TCP slows the peer.
//! - **Reader and writer** per connection (`conn`): the reader hands raw
//!   bytes to the peer task; the writer coalesces whatever is queued into
//!   one write of up to 256 KiB.
//! - **Listeners**, one per [`EngineConfig::listen`] address: an accepted
//!   connection goes to the peer whose address it comes from (and whose
//!   `local_address`, when set, it reached); from an address inside a
//!   [`ListenRange`] it creates a dynamic peer
//!   ([`Engine::set_listen_ranges`]); from any other address it is closed
//!   at once.
//!
//! # Slow peers
//!
//! The queue towards each connection is counted in octets. When a peer's
//! queue would pass [`EngineTuning::peer_queue_bytes`] (16 MiB), the RIB
//! task stops queuing for it: what it would have been sent is dropped,
//! noting only the routes withdrawn in it. Once the writer has written out
//! what was queued, the peer is caught up from the Adj-RIB-Out: withdrawals
//! for what it missed being withdrawn (and is not advertised now), the
//! whole table again through the route-refresh path of the RIB (with
//! BoRR/EoRR when enhanced route refresh was negotiated), and End-of-RIB.
//! The initial table after Established and a catch-up table go out whole,
//! whatever their size, and only what follows them counts against the
//! limit. The other peers never wait for a slow one; its memory is bounded
//! by the limit plus one copy of its table.
//!
//! # Sockets
//!
//! Outgoing connections bind `local_address` (port chosen by the kernel)
//! and connect to `address:port`. TCP MD5 (RFC 2385) is set on the
//! outgoing socket and, per peer address, on every listener.
//! [`TtlMode::Multihop`] sets the TTL / hop limit; [`TtlMode::Security`]
//! (GTSM, RFC 5082) sends with 255 and sets the minimum TTL to 256 − hops
//! on the peer's sockets; listeners send with 255 once a GTSM peer exists
//! (the SYN-ACK leaves with the listener's TTL). As in BIRD and FRR, the
//! minimum TTL of an accepted connection is set after the handshake: what
//! the kernel queued before that is not filtered. MD5 and the minimum TTL
//! need `setsockopt` calls that neither `socket2` nor `nix` offer:
//! [`sockopt`] is the one module of the workspace with `unsafe`.
//!
//! # Status
//!
//! [`PeerStatus`]: `since` is the time of the last state change;
//! `last_error` reads like BIRD's (`Socket: Connection refused`,
//! `Received: Cease / Peer De-configured`, `Error: ...` for a NOTIFICATION
//! we sent, `Hold timer expired`, `Connection closed`); `peer_capabilities`
//! uses BIRD's names (`refresh`, `enhanced-refresh`, `restart-able` /
//! `restart-aware`, `AS4`, `add-path-rx`, `add-path-tx`, `ext-next-hop`,
//! `ext-messages`, plus `llgr`, `hostname`, `role`). Message counters count
//! every message read or written since the peer was added. Per family,
//! `received` and `accepted` are both the Adj-RIB-In count (the RIB keeps
//! only routes its import policy accepted) and `advertised` is the
//! Adj-RIB-Out towards the peer. Of BIRD's route change statistics these
//! are filled: `import_updates.received` / `import_withdraws.received`
//! (routes announced / withdrawn in UPDATEs received), and
//! `import_updates.accepted` (routes held) and `export_updates.accepted`
//! (routes advertised) as current counts; the others stay 0.
//!
//! # Limits
//!
//! The IPv6 next hop towards an eBGP peer (or with next-hop-self) is the
//! session's own address, so an IPv4-transport session has none for IPv6
//! routes: there they go out only with [`NextHopMode::Keep`] or over iBGP
//! with a next hop of their own (Calico peers each family over its own
//! transport, where this does not arise).

mod conn;
mod core;
mod session;
pub mod sockopt;
mod status;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::{Family, Nlri, PathAttributes};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::config::PeerConfig;
use crate::fsm::State;
use crate::rib::{AddPathSend, FibChange, MaxPrefixes, NextHopMode, Policy, RibConfig};

/// What the engine runs with.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub rib: RibConfig,
    /// Addresses to accept BGP connections on (empty: no listener, every
    /// peer must be active).
    pub listen: Vec<SocketAddr>,
}

/// TTL handling of a session (RFC 5082, BIRD's `multihop`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TtlMode {
    /// The kernel's default TTL on what we send, anything accepted.
    #[default]
    Default,
    /// Send with this TTL (eBGP multihop).
    Multihop(u8),
    /// GTSM (RFC 5082): send with TTL 255 and accept only packets whose TTL
    /// is at least 256 − `hops`.
    Security { hops: u8 },
}

/// One configured peer.
#[derive(Clone)]
pub struct PeerSpec {
    /// Unique name (Calico's protocol name, e.g. `Mesh_10_0_0_2`).
    pub name: String,
    pub address: IpAddr,
    /// Remote port for outgoing connections (179).
    pub port: u16,
    /// Source address to bind outgoing connections to.
    pub local_address: Option<IpAddr>,
    /// The OPEN, timers, passive mode.
    pub fsm: PeerConfig,
    /// TCP MD5 signature key (RFC 2385).
    pub password: Option<String>,
    pub ttl: TtlMode,
    /// A route reflector client of ours (iBGP only).
    pub rr_client: bool,
    pub next_hop: NextHopMode,
    pub import: Option<Arc<dyn Policy>>,
    pub export: Option<Arc<dyn Policy>>,
    pub max_prefixes: Option<MaxPrefixes>,
    pub add_path_send: AddPathSend,
    pub allow_own_as: u8,
    /// Names the import filter in status output (BIRD's `Input filter:`).
    pub import_name: String,
    /// Names the export filter in status output (BIRD's `Output filter:`).
    pub export_name: String,
}

impl std::fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSpec")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("local_address", &self.local_address)
            .field("fsm", &self.fsm)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("ttl", &self.ttl)
            .field("rr_client", &self.rr_client)
            .field("next_hop", &self.next_hop)
            .finish_non_exhaustive()
    }
}

/// A listen range (BGP dynamic neighbors, BIRD's `neighbor range`, GoBGP's
/// `dynamic-neighbors`, FRR's `bgp listen range`): a connection from an
/// address inside `prefix` that is no configured peer's creates a peer
/// from `template` instead of being refused. See [`Engine::set_listen_ranges`].
#[derive(Clone, Debug)]
pub struct ListenRange {
    pub prefix: ipnet::IpNet,
    /// Everything of the peer but its name (`Dynamic_<address>` with `_`
    /// for `.` and `:`), its address (the remote one) and passive mode
    /// (always on). `password` must be `None`: a TCP MD5 key is set per
    /// address before the SYN arrives, which a range cannot do here.
    pub template: PeerSpec,
}

/// Something the daemon must act on or may log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Apply this to the kernel (in order).
    Fib(FibChange),
    /// A peer changed state; `reason` says why it left Established or
    /// failed to get there (`Received: Hold timer expired`, `Connection
    /// refused`, ...).
    PeerState { name: String, from: State, to: State, reason: Option<String> },
}

/// Counters of one route-change direction, BIRD's `Route change stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteCounters {
    pub received: u64,
    pub rejected: u64,
    pub filtered: u64,
    pub ignored: u64,
    pub accepted: u64,
}

/// What a peer looks like now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub local_as: u32,
    pub remote_as: u32,
    pub state: State,
    /// When `state` was entered.
    pub since: SystemTime,
    /// The last error (shown by BIRD as `Socket: Connection refused`,
    /// `Received: ...`, `Hold timer expired`, ...).
    pub last_error: Option<String>,
    pub passive: bool,
    pub rr_client: bool,
    pub import_name: String,
    pub export_name: String,
    /// Established only: the peer's BGP identifier, our source address,
    /// negotiated hold/keepalive, families, and the capability names the
    /// peer sent (BIRD's `Neighbor caps`, e.g. `refresh`, `AS4`, `add-path-rx`).
    pub remote_id: Option<std::net::Ipv4Addr>,
    pub local_address: Option<IpAddr>,
    pub hold_time: Option<Duration>,
    pub keepalive: Option<Duration>,
    pub families: Vec<Family>,
    pub peer_capabilities: Vec<String>,
    /// Messages in/out, UPDATEs in/out, FSM transitions since the peer was added.
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub transitions: u64,
    /// Per family: prefixes in the Adj-RIB-In (received), accepted by import
    /// policy, and advertised to the peer.
    pub prefixes: Vec<(Family, PrefixCounts)>,
    /// Routes kept stale for a graceful restart.
    pub stale_routes: u64,
    pub import_updates: RouteCounters,
    pub import_withdraws: RouteCounters,
    pub export_updates: RouteCounters,
    pub export_withdraws: RouteCounters,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixCounts {
    pub received: u64,
    pub accepted: u64,
    pub advertised: u64,
}

/// One route of the Loc-RIB.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteInfo {
    pub family: Family,
    pub prefix: Nlri,
    /// Peer name, or `None` for a locally originated route.
    pub from: Option<String>,
    pub from_address: Option<IpAddr>,
    pub attrs: Arc<PathAttributes>,
    /// The best route of its prefix.
    pub best: bool,
    /// In the ECMP set.
    pub multipath: bool,
    pub stale: bool,
}

/// Which routes [`Engine::routes`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteFilter {
    pub family: Option<Family>,
    /// Exact prefix, or (with `longest_match`) the most specific route containing it.
    pub prefix: Option<ipnet::IpNet>,
    pub longest_match: bool,
    /// Only routes from this peer.
    pub peer: Option<String>,
}

/// Engine-wide numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub destinations: usize,
    pub attribute_sets: usize,
    pub update_groups: usize,
    /// Selection deferred after our restart (RFC 4724 §4.1), BIRD's
    /// "graceful restart recovery".
    pub deferring: bool,
}

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("peer {0} already exists")]
    DuplicatePeer(String),
    #[error("no peer named {0}")]
    NoSuchPeer(String),
    #[error("the engine has stopped")]
    Stopped,
    #[error("peer {0} is not established")]
    NotEstablished(String),
    #[error("not negotiated: {0}")]
    NotNegotiated(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Knobs of the driver that a deployment rarely changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineTuning {
    /// Octets queued towards one peer before the RIB task stops feeding it
    /// and, once its socket drains, sends it its Adj-RIB-Out again.
    pub peer_queue_bytes: usize,
    /// Listen from the start but take no connection until
    /// [`Engine::accept_connections`]: the kernel queues them meanwhile (up to
    /// the backlog), so that a daemon adding its configured peers right
    /// after the start does not refuse the ones that connect first (a
    /// restarting reflector's clients all do).
    pub hold_accept: bool,
}

impl Default for EngineTuning {
    fn default() -> Self {
        EngineTuning { peer_queue_bytes: 16 << 20, hold_accept: false }
    }
}

/// How long [`Engine::remove_peer`] and [`Engine::shutdown`] wait for
/// sessions to write their NOTIFICATION and close.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The handle of a running engine; cheap to clone. See the module docs.
#[derive(Clone)]
pub struct Engine {
    cmd: mpsc::UnboundedSender<core::Command>,
    /// Opens the listeners' accept loops ([`EngineTuning::hold_accept`]).
    accept_gate: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("running", &!self.cmd.is_closed()).finish()
    }
}

impl Engine {
    /// Binds the listeners and starts the RIB task. Must be called inside
    /// a tokio runtime. Events (FIB changes, peer states) arrive on the
    /// returned channel; dropping it loses them but stops nothing.
    pub async fn start(config: EngineConfig) -> Result<(Engine, mpsc::UnboundedReceiver<Event>), EngineError> {
        Engine::start_with(config, EngineTuning::default()).await
    }

    /// [`Engine::start`] with non-default [`EngineTuning`].
    pub async fn start_with(
        config: EngineConfig,
        tuning: EngineTuning,
    ) -> Result<(Engine, mpsc::UnboundedReceiver<Event>), EngineError> {
        let (incoming_tx, incoming) = mpsc::channel(64);
        let (accept_gate, gate) = tokio::sync::watch::channel(!tuning.hold_accept);
        let mut listeners = Vec::new();
        let mut accept_tasks = Vec::new();
        for addr in &config.listen {
            let l = Arc::new(listen(*addr)?);
            tracing::info!(%addr, "listening for BGP connections");
            let tx = incoming_tx.clone();
            let accept = Arc::clone(&l);
            let mut gate = gate.clone();
            accept_tasks.push(tokio::spawn(async move {
                if gate.wait_for(|open| *open).await.is_err() {
                    return;
                }
                loop {
                    match accept.accept().await {
                        Ok(conn) => {
                            if tx.send(conn).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
            listeners.push(l);
        }
        let (cmd_tx, cmd) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        core::Core::spawn(config, tuning, listeners, accept_tasks, core::Channels { cmd, incoming, events });
        Ok((Engine { cmd: cmd_tx, accept_gate: Arc::new(accept_gate) }, events_rx))
    }

    /// Starts taking connections when the engine was started with
    /// [`EngineTuning::hold_accept`] (a no-op otherwise, and the second time).
    pub fn accept_connections(&self) {
        self.accept_gate.send_replace(true);
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> core::Command) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Registers a peer and starts it (ManualStart).
    pub async fn add_peer(&self, spec: PeerSpec) -> Result<(), EngineError> {
        self.ask(|r| core::Command::AddPeer(Box::new(spec), r)).await?
    }

    /// Stops a peer with Cease/`subcode` (3 Peer De-configured on reload,
    /// 2 Administrative Shutdown), withdraws its routes, and waits (bounded)
    /// for the NOTIFICATION to be written.
    pub async fn remove_peer(&self, name: &str, subcode: u8, communication: Option<String>) -> Result<(), EngineError> {
        let name = name.to_string();
        let task = self.ask(|reply| core::Command::RemovePeer { name, subcode, communication, reply }).await??;
        wait_bounded(vec![task]).await;
        Ok(())
    }

    /// Applies a changed configuration to a peer: Cease/Other Configuration
    /// Change, then a restart with `spec`.
    pub async fn reset_peer(&self, spec: PeerSpec) -> Result<(), EngineError> {
        let subcode = bgp_proto::error::cease_subcode::OTHER_CONFIGURATION_CHANGE;
        match self.remove_peer(&spec.name, subcode, None).await {
            Ok(()) | Err(EngineError::NoSuchPeer(_)) => {}
            Err(e) => return Err(e),
        }
        self.add_peer(spec).await
    }

    /// Replaces the listen ranges (dynamic neighbors).
    ///
    /// A connection from an address that is no configured peer's and lies
    /// inside a range (the most specific one, whose template's
    /// `local_address`, when set, the connection reached) creates a passive
    /// peer from the range's template, named `Dynamic_<address>` (e.g.
    /// `Dynamic_10_0_0_7`), which then runs like any other: state changes
    /// as [`Event::PeerState`], routes, status in [`Engine::peers`]. When
    /// its session ends (it falls back to Idle or Active) the peer and its
    /// routes are removed, as BIRD, GoBGP and FRR do with dynamic
    /// neighbors. A connection from outside every range is still refused.
    ///
    /// [`Engine::add_peer`] of a configured peer with the address of a
    /// dynamic one replaces it: the dynamic session gets Cease/Other
    /// Configuration Change and its routes are withdrawn, then the
    /// configured peer starts (the remote reconnects, or the configured
    /// peer connects when it is active).
    ///
    /// Dynamic peers that no new range covers are removed with Cease/Peer
    /// De-configured; the others keep the template they were created
    /// with until they reconnect. Fails with [`EngineError::Io`]
    /// (`InvalidInput`) for a template with a password.
    pub async fn set_listen_ranges(&self, ranges: Vec<ListenRange>) -> Result<(), EngineError> {
        let tasks = self.ask(|r| core::Command::SetListenRanges(ranges, r)).await??;
        wait_bounded(tasks).await;
        Ok(())
    }

    /// Adds or replaces a locally originated route.
    pub async fn originate(&self, family: Family, nlri: Nlri, attrs: PathAttributes) -> Result<(), EngineError> {
        self.ask(|r| core::Command::Rib(Box::new(crate::rib::Input::Originate { family, nlri, attrs }), r)).await
    }

    /// Withdraws a locally originated route.
    pub async fn withdraw_local(&self, family: Family, nlri: Nlri) -> Result<(), EngineError> {
        self.ask(|r| core::Command::Rib(Box::new(crate::rib::Input::WithdrawLocal { family, nlri }), r)).await
    }

    /// Sends ROUTE-REFRESH for `family` to the peer (inbound soft reset).
    pub async fn route_refresh(&self, name: &str, family: Family) -> Result<(), EngineError> {
        let name = name.to_string();
        let done = self.ask(|reply| core::Command::RouteRefresh { name, family, reply }).await??;
        done.await.map_err(|_| EngineError::Stopped)?
    }

    /// Every peer, in the order they were added.
    pub async fn peers(&self) -> Vec<PeerStatus> {
        self.ask(|r| core::Command::Peers(None, r)).await.unwrap_or_default()
    }

    pub async fn peer(&self, name: &str) -> Option<PeerStatus> {
        let name = name.to_string();
        self.ask(|r| core::Command::Peers(Some(name), r)).await.ok()?.pop()
    }

    /// Loc-RIB routes (every path, best first per destination) matching `filter`.
    pub async fn routes(&self, filter: RouteFilter) -> Vec<RouteInfo> {
        self.ask(|r| core::Command::Routes(filter, r)).await.unwrap_or_default()
    }

    pub async fn stats(&self) -> EngineStats {
        self.ask(core::Command::Stats).await.unwrap_or_default()
    }

    /// Cease/Administrative Shutdown to every peer, a bounded wait for the
    /// NOTIFICATIONs, and every task stopped. Later calls fail with
    /// [`EngineError::Stopped`].
    pub async fn shutdown(&self, communication: Option<String>) {
        if let Ok(tasks) = self.ask(|reply| core::Command::Shutdown { communication, reply }).await {
            wait_bounded(tasks).await;
        }
    }
}

async fn wait_bounded(tasks: Vec<tokio::task::JoinHandle<()>>) {
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            abort.abort();
        }
    }
}

/// Pending connections a listener queues before `accept`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    sock.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        // IPv6 only, whatever net.ipv6.bindv6only says: the default listen
        // set is `0.0.0.0` *and* `::` on one port, and a dual-stack `::`
        // would collide with the IPv4 listener (EADDRINUSE).
        socket2::SockRef::from(&sock).set_only_v6(true)?;
    }
    sock.bind(addr)?;
    // A reflector's clients all connect at once when it starts (2,000 in
    // the session-scale bench): a short accept queue resets some of them.
    // The kernel caps this at net.core.somaxconn.
    sock.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod listen_tests {
    use super::*;

    /// The default listen set (`0.0.0.0` and `::` on one port) binds.
    #[tokio::test]
    async fn ipv4_and_ipv6_wildcards_share_a_port() {
        let v4 = listen("0.0.0.0:0".parse().expect("addr")).expect("v4");
        let port = v4.local_addr().expect("addr").port();
        let v6 = listen(SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), port)).expect("v6 beside v4");
        assert_eq!(v6.local_addr().expect("addr").port(), port);
    }
}
