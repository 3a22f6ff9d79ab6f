//! Read-only views of the RIB for status output (`show route`, per-peer
//! prefix counts) and for the driver's catch-up of a slow peer.

use std::collections::{BTreeMap, HashMap};
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
        self.prefix_counts(Some(peer)).remove(&peer).unwrap_or_default()
    }

    /// [`Rib::peer_prefix_counts`] of every peer, from one walk of the
    /// Loc-RIB (status of all peers: a walk per peer would cost peers ×
    /// routes in the RIB's task).
    pub fn all_peer_prefix_counts(&self) -> BTreeMap<PeerId, BTreeMap<Family, PeerPrefixCounts>> {
        self.prefix_counts(None)
    }

    /// Counts of `only` or of every peer. A member's advertised routes are
    /// its group's Adj-RIB-Out less the routes that came from it (split
    /// horizon), counted per group and per (group, source) in the same walk.
    fn prefix_counts(&self, only: Option<PeerId>) -> BTreeMap<PeerId, BTreeMap<Family, PeerPrefixCounts>> {
        let wanted = |p: PeerId| only.is_none_or(|x| x == p) && self.peers.contains_key(&p);
        let mut counts: BTreeMap<PeerId, BTreeMap<Family, PeerPrefixCounts>> = BTreeMap::new();
        let mut group_routes: HashMap<(u64, Family), u64> = HashMap::new();
        let mut own_routes: HashMap<(u64, PeerId, Family), u64> = HashMap::new();
        for ((f, _), dest) in &self.loc {
            let multipath = dest.ecmp().len();
            for (i, path) in dest.paths.iter().enumerate().filter(|(_, p)| wanted(p.peer)) {
                let c = counts.entry(path.peer).or_default().entry(*f).or_default();
                c.received += 1;
                if i < multipath {
                    c.best += 1;
                }
                if path.stale {
                    c.stale += 1;
                }
            }
            for o in &dest.out {
                *group_routes.entry((o.group, *f)).or_default() += 1;
                if wanted(o.src) {
                    *own_routes.entry((o.group, o.src, *f)).or_default() += 1;
                }
            }
        }
        for (id, state) in self.peers.iter().filter(|(id, _)| wanted(**id)) {
            let Some(gid) = state.group.filter(|g| self.groups.contains_key(g)) else { continue };
            for ((g, f), total) in group_routes.iter().filter(|((g, _), _)| *g == gid) {
                let advertised = total - own_routes.get(&(*g, *id, *f)).copied().unwrap_or(0);
                if advertised > 0 {
                    counts.entry(*id).or_default().entry(*f).or_default().advertised += advertised;
                }
            }
        }
        counts
    }
}
