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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::{Family, Nlri, PathAttributes};

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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
