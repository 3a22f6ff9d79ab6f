//! A [`StatusSource`] made of plain values: for rendering tests, and for
//! tools that show a fixed picture.

use std::sync::Mutex;

use crate::status::{BoxFut, DaemonStatus, EngineStats, KernelStats, PeerStatus, RouteFilter, RouteInfo, StatusSource};

/// Answers every query from the values it holds; `routes` applies the
/// filter the way the engine does.
#[derive(Debug)]
pub struct PlainStatus {
    pub daemon: DaemonStatus,
    pub peers: Vec<PeerStatus>,
    pub routes: Vec<RouteInfo>,
    pub stats: EngineStats,
    pub kernel: KernelStats,
    /// What `reload` answers; each call is counted in `reloads`.
    pub reload: Result<String, String>,
    pub reloads: Mutex<u32>,
}

impl PlainStatus {
    pub fn new(daemon: DaemonStatus) -> Self {
        PlainStatus {
            daemon,
            peers: Vec::new(),
            routes: Vec::new(),
            stats: EngineStats::default(),
            kernel: KernelStats::default(),
            reload: Ok("nothing changed".to_string()),
            reloads: Mutex::new(0),
        }
    }
}

/// The routes of `routes` that `filter` selects, in their order.
pub fn filter_routes(routes: &[RouteInfo], filter: &RouteFilter) -> Vec<RouteInfo> {
    let mut out: Vec<RouteInfo> = routes
        .iter()
        .filter(|r| filter.family.is_none() || filter.family == Some(r.family))
        .filter(|r| filter.peer.is_none() || r.from == filter.peer)
        .filter(|r| match filter.prefix {
            None => true,
            Some(p) if filter.longest_match => r.prefix.prefix.contains(&p),
            Some(p) => r.prefix.prefix == p,
        })
        .cloned()
        .collect();
    if filter.longest_match {
        if let Some(longest) = out.iter().map(|r| r.prefix.prefix.prefix_len()).max() {
            out.retain(|r| r.prefix.prefix.prefix_len() == longest);
        }
    }
    out
}

impl StatusSource for PlainStatus {
    fn daemon(&self) -> DaemonStatus {
        self.daemon.clone()
    }

    fn peers(&self) -> BoxFut<'_, Vec<PeerStatus>> {
        Box::pin(async move { self.peers.clone() })
    }

    fn routes(&self, filter: RouteFilter) -> BoxFut<'_, Vec<RouteInfo>> {
        Box::pin(async move { filter_routes(&self.routes, &filter) })
    }

    fn stats(&self) -> BoxFut<'_, EngineStats> {
        Box::pin(async move { self.stats })
    }

    fn kernel(&self) -> KernelStats {
        self.kernel
    }

    fn reload(&self) -> BoxFut<'_, Result<String, String>> {
        Box::pin(async move {
            if let Ok(mut n) = self.reloads.lock() {
                *n += 1;
            }
            self.reload.clone()
        })
    }
}
