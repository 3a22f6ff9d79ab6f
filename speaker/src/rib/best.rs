//! Best-path selection: RFC 4271 §9.1.2.2 with the route reflection
//! additions of RFC 4456 §9, as successive elimination over the candidates.
//!
//! Elimination (not a pairwise sort) because the MED step compares only
//! routes from the same neighbouring AS, which is not a total order; applied
//! to the whole set it is deterministic whatever order the routes arrived in.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use bgp_proto::attribute::{Origin, SegmentType};
use bgp_proto::PathAttributes;

use super::PeerId;

/// LOCAL_PREF assumed when a route has none (RFC 4271 §5.1.5 leaves it to
/// configuration; 100 is the common default).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// One route for a destination, with what selection needs about its peer.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub peer: PeerId,
    pub path_id: u32,
    pub attrs: &'a PathAttributes,
    /// Learned over eBGP, or locally originated (both beat iBGP, §9.1.2.2 d).
    pub ebgp: bool,
    /// The peer's BGP identifier (ours for local routes).
    pub router_id: Ipv4Addr,
    /// The peer's address (unspecified for local routes).
    pub address: IpAddr,
}

impl Candidate<'_> {
    fn local_pref(&self) -> u32 {
        self.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }

    fn as_path_len(&self) -> usize {
        self.attrs.as_path.as_ref().map_or(0, |p| p.route_len())
    }

    fn origin(&self) -> Origin {
        self.attrs.origin.unwrap_or(Origin::Incomplete)
    }

    /// A missing MED is the lowest value (RFC 4271 §9.1.2.2 c).
    fn med(&self) -> u32 {
        self.attrs.med.unwrap_or(0)
    }

    /// The neighbouring AS: the first AS of the first AS_SEQUENCE when the
    /// path starts with one (RFC 4271 §9.1.2.2 c); `None` for an empty or
    /// set-first path, which the MED step groups together.
    fn neighbour_as(&self) -> Option<u32> {
        let seg = self.attrs.as_path.as_ref()?.segments.first()?;
        match seg.kind {
            SegmentType::AsSequence => seg.asns.first().copied(),
            _ => None,
        }
    }

    /// ORIGINATOR_ID in place of the router ID when present (RFC 4456 §9).
    fn effective_router_id(&self) -> Ipv4Addr {
        self.attrs.originator_id.unwrap_or(self.router_id)
    }

    fn cluster_len(&self) -> usize {
        self.attrs.cluster_list.as_ref().map_or(0, Vec::len)
    }
}

/// The multipath set of `cands`, best first: the routes left after the
/// steps up to eBGP-over-iBGP (the IGP metric step is skipped: next hops
/// are not resolved here), ordered by the remaining tie-breaks (router ID
/// or ORIGINATOR_ID, CLUSTER_LIST length, peer address, then peer and path
/// identifier so the result never depends on arrival order). Indices into
/// `cands`; empty only when `cands` is.
pub fn select(cands: &[Candidate<'_>], always_compare_med: bool) -> Vec<usize> {
    let mut set: Vec<&Candidate<'_>> = cands.iter().collect();
    // a) highest degree of preference.
    keep_best(&mut set, |a, b| b.local_pref().cmp(&a.local_pref()));
    // a) shortest AS_PATH.
    keep_best(&mut set, |a, b| a.as_path_len().cmp(&b.as_path_len()));
    // b) lowest ORIGIN.
    keep_best(&mut set, |a, b| a.origin().cmp(&b.origin()));
    // c) lowest MED among routes from the same neighbouring AS.
    let meds: Vec<(Option<u32>, u32)> = set.iter().map(|c| (c.neighbour_as(), c.med())).collect();
    set.retain(|c| {
        let n = c.neighbour_as();
        let min = meds.iter().filter(|(na, _)| always_compare_med || *na == n).map(|(_, m)| *m).min();
        min.is_none_or(|m| c.med() <= m)
    });
    // d) eBGP over iBGP.
    if set.iter().any(|c| c.ebgp) {
        set.retain(|c| c.ebgp);
    }
    // f) router ID, RFC 4456 §9 CLUSTER_LIST length, g) peer address.
    set.sort_by(|a, b| {
        a.effective_router_id()
            .cmp(&b.effective_router_id())
            .then(a.cluster_len().cmp(&b.cluster_len()))
            .then(a.address.cmp(&b.address))
            .then(a.peer.cmp(&b.peer))
            .then(a.path_id.cmp(&b.path_id))
    });
    set.iter().filter_map(|c| cands.iter().position(|x| std::ptr::eq(x, *c))).collect()
}

/// Keeps the candidates that are best by `cmp` (Less = better).
fn keep_best<'a, 'b>(set: &mut Vec<&'b Candidate<'a>>, cmp: impl Fn(&Candidate<'a>, &Candidate<'a>) -> Ordering) {
    let Some(best) = set.iter().copied().min_by(|a, b| cmp(a, b)) else {
        return;
    };
    set.retain(|c| cmp(c, best) != Ordering::Greater);
}
