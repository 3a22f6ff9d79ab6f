//! Read-only views of the RIB for status output (`show route`, per-peer
//! prefix counts) and for the driver's catch-up of a slow peer.

use std::collections::BTreeMap;
use std::sync::Arc;

use bgp_proto::{Family, Nlri, PathAttributes};

use super::{PeerId, Rib};

/// One route of the Loc-RIB as [`Rib::loc_routes`] lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct LocRoute {
    pub family: Family,
    /// The destination (no path id).
    pub prefix: Nlri,
    /// Where the route came from ([`PeerId::LOCAL`] for local origination).
    pub peer: PeerId,
    /// The peer's path identifier (0 without ADD-PATH).
    pub path_id: u32,
    pub attrs: Arc<PathAttributes>,
    /// The best route of its destination.
    pub best: bool,
    /// In the ECMP set (the best route included).
    pub multipath: bool,
    pub stale: bool,
}

/// Per-family prefix counts of one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerPrefixCounts {
    /// Routes in the peer's Adj-RIB-In (after import policy).
    pub received: u64,
    /// Of those, routes in the ECMP set of their destination.
    pub best: u64,
    /// Routes in the Adj-RIB-Out towards the peer.
    pub advertised: u64,
    /// Routes kept stale for a graceful restart.
    pub stale: u64,
}

impl Rib {
    /// Every route of the Loc-RIB (all paths of every destination, best
    /// first within a destination), optionally of one family.
    pub fn loc_routes(&self, family: Option<Family>) -> Vec<LocRoute> {
        let mut out = Vec::new();
        for ((f, prefix), dest) in &self.loc {
            if family.is_some_and(|x| x != *f) {
                continue;
            }
            let multipath = dest.ecmp().len();
            for (i, path) in dest.paths.iter().enumerate() {
                out.push(LocRoute {
                    family: *f,
                    prefix: Nlri::new(*prefix),
                    peer: path.peer,
                    path_id: path.path_id,
                    attrs: Arc::clone(&path.attrs),
                    best: i == 0 && multipath > 0,
                    multipath: i < multipath,
                    stale: path.stale,
                });
            }
        }
        out
    }

    /// Prefix counts of `peer` per family (families with no route left out).
    pub fn peer_prefix_counts(&self, peer: PeerId) -> BTreeMap<Family, PeerPrefixCounts> {
        let mut counts: BTreeMap<Family, PeerPrefixCounts> = BTreeMap::new();
        if !self.peers.contains_key(&peer) {
            return counts;
        }
        for ((f, _), dest) in &self.loc {
            let multipath = dest.ecmp().len();
            for (i, path) in dest.paths.iter().enumerate().filter(|(_, p)| p.peer == peer) {
                let c = counts.entry(*f).or_default();
                c.received += 1;
                if i < multipath {
                    c.best += 1;
                }
                if path.stale {
                    c.stale += 1;
                }
            }
        }
        for (f, _) in self.advertised(peer) {
            counts.entry(f).or_default().advertised += 1;
        }
        counts
    }
}
