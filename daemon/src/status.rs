//! What the control socket, the HTTP endpoints and `ternctl` read from the
//! running daemon. The daemon implements [`StatusSource`]; the renderers
//! only see this trait, so they are tested with plain data.

use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::time::SystemTime;

pub use speaker::engine::{EngineStats, PeerStatus, RouteFilter, RouteInfo};

/// A boxed future, so that [`StatusSource`] can be used as `dyn`.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Daemon-wide facts (BIRD's `show status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonStatus {
    /// Shown where BIRD shows its version (`BIRD 1.6.8`): calico-node's
    /// liveness check wants the reply to start with `BIRD`.
    pub version: String,
    pub node_name: String,
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    pub started: SystemTime,
    pub last_reconfiguration: SystemTime,
}

/// Kernel programming counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub routes_installed: u64,
    pub install_failures: u64,
    pub routes_learned: u64,
}

/// The running daemon, as the status renderers see it.
pub trait StatusSource: Send + Sync {
    fn daemon(&self) -> DaemonStatus;
    fn peers(&self) -> BoxFut<'_, Vec<PeerStatus>>;
    fn routes(&self, filter: RouteFilter) -> BoxFut<'_, Vec<RouteInfo>>;
    fn stats(&self) -> BoxFut<'_, EngineStats>;
    fn kernel(&self) -> KernelStats;
    /// Re-read the configuration file and apply the difference; `Ok` carries
    /// a one-line summary, `Err` the refusal (file:line:column ...).
    fn reload(&self) -> BoxFut<'_, Result<String, String>>;
}
