//! Adj-RIB-Out per update group and the export rules (RFC 4271 §9.1.3,
//! §9.2; RFC 4456 §6, §8).
//!
//! Peers whose output would be byte-identical share a group: the same
//! export policy, encode context, families, iBGP or eBGP, RR client or not,
//! next-hop mode and local addresses. A group keeps one Adj-RIB-Out (in
//! the destinations, next to the routes it came from) and encodes each
//! change once; the bytes go to every member. The one
//! per-member difference is split horizon: a route is never sent back to
//! the peer it came from, so a batch whose source is a member goes to the
//! others, and that member gets a withdrawal if it had the previous route.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::attribute::{AsSegment, EncodeOptions, MpNextHop, MpNlri, MpReach, SegmentType};
use bgp_proto::route_refresh::RouteRefreshSubtype;
use bgp_proto::update::UpdateBuilder;
use bgp_proto::{Afi, Context, Family, Nlri, PathAttributes, RouteRefresh, Update};

use smallvec::SmallVec;

use super::{
    next_hop, AddPathSend, Dest, Interner, NextHopMode, OutRoute, Output, PeerId, PeerState, Policy, PolicyId, Rib,
    RibConfig, DEFAULT_LOCAL_PREF,
};

/// What makes two peers' outputs identical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GroupKey {
    export_policy: Option<PolicyId>,
    ctx: Context,
    families: Vec<Family>,
    ibgp: bool,
    rr_client: bool,
    next_hop: NextHopMode,
    add_path_send: AddPathSend,
    local_v4: Option<Ipv4Addr>,
    local_v6: Option<Ipv6Addr>,
}

/// An update group: its members. Its Adj-RIB-Out is kept in the
/// destinations ([`super::Dest::out`]).
#[derive(Debug)]
pub(super) struct Group {
    key: GroupKey,
    members: BTreeSet<PeerId>,
}

/// One Adj-RIB-Out change waiting to be encoded.
#[derive(Debug)]
pub(super) struct Change {
    family: Family,
    nlri: Nlri,
    /// Source of the route the members had (`None`: they had none).
    old_src: Option<PeerId>,
    new: Option<(Arc<PathAttributes>, PeerId)>,
}

/// Who gets a withdrawal batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Recipients {
    /// Every member but the one the withdrawn route came from.
    AllExcept(Option<PeerId>),
    /// One member whose own route replaced what it had been sent.
    Only(PeerId),
}

type AnnounceKey = (*const PathAttributes, Family, Option<PeerId>);

/// Routes sharing one attribute set, for every member but the excluded one.
type AnnounceBatch = (Arc<PathAttributes>, Family, Option<PeerId>, Vec<Nlri>);

/// What a group is sent for one destination: (our path id, attributes, source).
type Exported = SmallVec<[(u32, Arc<PathAttributes>, PeerId); 1]>;

/// What the export rules read: the RIB's configuration, peers and policies.
pub(super) struct View<'a> {
    pub config: &'a RibConfig,
    pub peers: &'a BTreeMap<PeerId, PeerState>,
    pub policies: &'a HashMap<PolicyId, Arc<dyn Policy>>,
}

impl Rib {
    /// Puts an Established `peer` in its update group, making the group
    /// (and its Adj-RIB-Out from the Loc-RIB) when none fits.
    pub(super) fn join_group(&mut self, peer: PeerId) -> u64 {
        let Some(state) = self.peers.get(&peer) else {
            return 0;
        };
        let i = &state.info;
        let key = GroupKey {
            export_policy: i.export_policy,
            ctx: i.ctx.clone(),
            families: i.families.clone(),
            ibgp: i.asn == self.config.local_as,
            rr_client: i.rr_client,
            next_hop: i.next_hop,
            add_path_send: i.add_path_send,
            local_v4: i.local_v4,
            local_v6: i.local_v6,
        };
        let found = self.groups.iter().find(|(_, g)| g.key == key).map(|(id, _)| *id);
        let gid = match found {
            Some(gid) => gid,
            None => {
                let gid = self.next_group;
                self.next_group += 1;
                let view = View { config: &self.config, peers: &self.peers, policies: &self.policies };
                let mut routes = 0usize;
                for ((family, net), dest) in self.loc.iter_mut() {
                    let prefix = Nlri::new(*net);
                    let exported =
                        view.export_offers(&key, *family, prefix, dest, &mut self.interner, &mut self.scratch);
                    for (id, attrs, src) in exported {
                        dest.out.push(OutRoute { group: gid, id, src, attrs });
                        routes += 1;
                    }
                }
                tracing::debug!(group = gid, %peer, routes, "new update group");
                self.groups.insert(gid, Group { key, members: BTreeSet::new() });
                gid
            }
        };
        if let Some(g) = self.groups.get_mut(&gid) {
            g.members.insert(peer);
        }
        if let Some(s) = self.peers.get_mut(&peer) {
            s.group = Some(gid);
        }
        gid
    }

    pub(super) fn leave_group(&mut self, peer: PeerId, gid: u64) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        g.members.remove(&peer);
        if !g.members.is_empty() {
            return;
        }
        self.groups.remove(&gid);
        for dest in self.loc.values_mut() {
            let mut i = 0;
            while let Some(o) = dest.out.get(i) {
                if o.group == gid {
                    let o = dest.out.remove(i);
                    self.interner.release(o.attrs);
                } else {
                    i += 1;
                }
            }
        }
        for c in self.pending.remove(&gid).unwrap_or_default() {
            if let Some((a, _)) = c.new {
                self.interner.release(a);
            }
        }
    }

    /// The routes `peer`'s update group has sent it, as NLRI on the wire
    /// (with our path id where ADD-PATH send is negotiated): every
    /// Adj-RIB-Out route but those that came from `peer` itself (split
    /// horizon). Empty when the peer is not up.
    pub fn advertised(&self, peer: PeerId) -> Vec<(Family, Nlri)> {
        let Some((gid, group)) =
            self.peers.get(&peer).and_then(|p| p.group).and_then(|g| self.groups.get(&g).map(|x| (g, x)))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ((f, prefix), dest) in &self.loc {
            let add_path = group.key.ctx.add_path(*f);
            for o in dest.out.iter().filter(|o| o.group == gid && o.src != peer) {
                out.push((*f, Nlri { path_id: add_path.then_some(o.id), prefix: *prefix }));
            }
        }
        out
    }

    /// Sends the group's table to one member (after it came up, or for a
    /// route refresh of one family). End-of-RIB for every family after the
    /// initial dump (RFC 4724 §2).
    pub(super) fn dump(&mut self, peer: PeerId, gid: u64, family: Option<Family>) {
        let Some(group) = self.groups.get(&gid) else {
            return;
        };
        let ctx = group.key.ctx.clone();
        let mut index: HashMap<(*const PathAttributes, Family), usize> = HashMap::new();
        let mut batches: Vec<(Arc<PathAttributes>, Family, Vec<Nlri>)> = Vec::new();
        for ((f, prefix), dest) in &self.loc {
            if family.is_some_and(|x| x != *f) {
                continue;
            }
            for o in dest.out.iter().filter(|o| o.group == gid && o.src != peer) {
                let n = Nlri { path_id: ctx.add_path(*f).then_some(o.id), prefix: *prefix };
                let i = *index.entry((Arc::as_ptr(&o.attrs), *f)).or_insert_with(|| {
                    batches.push((Arc::clone(&o.attrs), *f, Vec::new()));
                    batches.len() - 1
                });
                if let Some(b) = batches.get_mut(i) {
                    b.2.push(n);
                }
            }
        }
        let enhanced = family.filter(|_| self.peers.get(&peer).is_some_and(|p| p.info.enhanced_route_refresh));
        if let Some(f) = enhanced {
            self.demarcation(peer, &ctx, f, RouteRefreshSubtype::BeginningOfRefresh);
        }
        for (a, f, nlri) in batches {
            if let Some(bytes) = self.encode_announce(&ctx, f, &a, &nlri) {
                self.outputs.push(Output::Send { peers: vec![peer], messages: bytes });
            }
        }
        if let Some(f) = enhanced {
            self.demarcation(peer, &ctx, f, RouteRefreshSubtype::EndOfRefresh);
        }
        if family.is_none() {
            self.end_of_rib(peer, gid);
        }
    }

    /// End-of-RIB to `peer` for every family of its group (RFC 4724 §2).
    pub(super) fn end_of_rib(&mut self, peer: PeerId, gid: u64) {
        let Some(group) = self.groups.get(&gid) else {
            return;
        };
        let ctx = group.key.ctx.clone();
        for f in group.key.families.clone() {
            let mut buf = Default::default();
            match Update::end_of_rib(f).encode(&ctx, &mut buf) {
                Ok(()) => {
                    self.encodes += 1;
                    self.outputs.push(Output::Send { peers: vec![peer], messages: Arc::from(&buf[..]) });
                }
                Err(e) => tracing::warn!(%peer, %f, error = %e, "End-of-RIB not encoded"),
            }
        }
    }

    /// BoRR or EoRR to `peer` (RFC 7313 §4).
    fn demarcation(&mut self, peer: PeerId, ctx: &Context, family: Family, subtype: RouteRefreshSubtype) {
        let mut buf = Default::default();
        match (RouteRefresh { subtype, ..RouteRefresh::new(family) }).encode(ctx, &mut buf) {
            Ok(()) => self.outputs.push(Output::Send { peers: vec![peer], messages: Arc::from(&buf[..]) }),
            Err(e) => tracing::warn!(%peer, %family, error = %e, "route refresh demarcation not encoded"),
        }
    }

    /// Route refresh (RFC 2918 §4): the group's table for `family` again.
    pub(super) fn refresh(&mut self, peer: PeerId, family: Family) {
        let Some(gid) = self.peers.get(&peer).filter(|p| p.up).and_then(|p| p.group) else {
            return;
        };
        self.dump(peer, gid, Some(family));
    }
}

/// What exporting one destination to the update groups changes besides
/// the destination itself: the RIB's fields, borrowed apart from the
/// Loc-RIB so that `recompute` exports the destination it already holds.
pub(super) struct Export<'a> {
    pub groups: &'a BTreeMap<u64, Group>,
    pub interner: &'a mut Interner,
    pub pending: &'a mut BTreeMap<u64, Vec<Change>>,
    pub scratch: &'a mut PathAttributes,
}

impl Export<'_> {
    /// Exports `dest`'s routes to every group, recording what changed.
    pub(super) fn dest(&mut self, view: &View<'_>, family: Family, prefix: Nlri, dest: &mut Dest) {
        for (gid, group) in self.groups {
            let multi = group.key.ctx.add_path(family);
            let mut desired = view.export_offers(&group.key, family, prefix, dest, self.interner, self.scratch);
            let mut change = |nlri_id: u32, old_src: Option<PeerId>, new: Option<(Arc<PathAttributes>, PeerId)>| {
                let nlri = Nlri { path_id: multi.then_some(nlri_id), ..prefix };
                self.pending.entry(*gid).or_default().push(Change { family, nlri, old_src, new });
            };
            // What the group had and no longer gets.
            let mut i = 0;
            while let Some(o) = dest.out.get(i) {
                if o.group != *gid || desired.iter().any(|d| d.0 == o.id) {
                    i += 1;
                    continue;
                }
                let o = dest.out.remove(i);
                self.interner.release(o.attrs);
                change(o.id, Some(o.src), None);
            }
            // What it gets now, where that differs from what it had.
            for (id, a, src) in desired.drain(..) {
                match dest.out.iter_mut().find(|o| o.group == *gid && o.id == id) {
                    Some(o) if Arc::ptr_eq(&o.attrs, &a) && o.src == src => self.interner.release(a),
                    Some(o) => {
                        let old = std::mem::replace(&mut o.attrs, Arc::clone(&a));
                        let old_src = std::mem::replace(&mut o.src, src);
                        self.interner.release(old);
                        change(id, Some(old_src), Some((a, src)));
                    }
                    None => {
                        dest.out.push(OutRoute { group: *gid, id, src, attrs: Arc::clone(&a) });
                        change(id, None, Some((a, src)));
                    }
                }
            }
        }
    }
}

impl View<'_> {
    /// What a group is sent for one destination: the best route alone
    /// (path id 0), or with ADD-PATH the ECMP set or every route, each
    /// under its own path id. Interned; `scratch` is working space.
    fn export_offers(
        &self,
        key: &GroupKey,
        family: Family,
        prefix: Nlri,
        dest: &Dest,
        interner: &mut Interner,
        scratch: &mut PathAttributes,
    ) -> Exported {
        let multipath = dest.ecmp().len();
        let mut out = Exported::new();
        for (i, p) in dest.paths.iter().enumerate() {
            let wanted = if key.ctx.add_path(family) {
                i < multipath || key.add_path_send == AddPathSend::All
            } else {
                i == 0 && multipath > 0
            };
            if !wanted {
                continue;
            }
            if self.export(key, family, prefix, p.peer, &p.attrs, scratch) {
                let id = if key.ctx.add_path(family) { p.out_id } else { 0 };
                out.push((id, interner.intern_ref(scratch), p.peer));
            }
        }
        out
    }

    /// Writes into `a` the attributes `src`'s route is sent with to the
    /// group `key`; false when the rules or the export policy keep it back.
    fn export(
        &self,
        key: &GroupKey,
        family: Family,
        prefix: Nlri,
        src: PeerId,
        attrs: &PathAttributes,
        a: &mut PathAttributes,
    ) -> bool {
        if !key.families.contains(&family) {
            return false;
        }
        let src_info = self.peers.get(&src).map(|p| &p.info);
        let src_ibgp = src_info.is_some_and(|i| i.asn == self.config.local_as);
        let reflected = key.ibgp && src_ibgp;
        // RFC 4456 §6: iBGP routes go to iBGP peers only by reflection:
        // from a client to everyone, from a non-client to clients.
        if reflected && (self.config.cluster_id.is_none() || src_info.is_some_and(|i| !i.rr_client && !key.rr_client)) {
            return false;
        }
        a.clone_from(attrs);
        if key.ibgp {
            if let (true, Some(info), Some(cluster_id)) = (src_ibgp, src_info, self.config.cluster_id) {
                a.originator_id.get_or_insert(info.router_id);
                a.cluster_list.get_or_insert_with(Vec::new).insert(0, cluster_id);
            } else {
                a.local_pref.get_or_insert(DEFAULT_LOCAL_PREF);
            }
            if (key.next_hop == NextHopMode::SelfAddress || next_hop(family, a).is_none())
                && set_next_hop_self(a, key, family).is_none()
            {
                return false;
            }
        } else {
            // RFC 4271 §5.1.4-5: MED learned from another AS and LOCAL_PREF
            // stay here; RFC 4456 §8: so do ORIGINATOR_ID and CLUSTER_LIST.
            if src_info.is_some() && !src_ibgp {
                a.med = None;
            }
            a.local_pref = None;
            a.originator_id = None;
            a.cluster_list = None;
            prepend_as(a, self.config.local_as);
            if (key.next_hop != NextHopMode::Keep || next_hop(family, a).is_none())
                && set_next_hop_self(a, key, family).is_none()
            {
                return false;
            }
        }
        match key.export_policy {
            Some(id) => self.policies.get(&id).is_some_and(|p| p.apply(family, &prefix, a)),
            None => true,
        }
    }
}

impl Rib {
    /// Drops the queued Adj-RIB-Out changes of every group without encoding
    /// them (the groups' tables already hold their result).
    pub(super) fn discard_pending(&mut self) {
        for c in std::mem::take(&mut self.pending).into_values().flatten() {
            if let Some((a, _)) = c.new {
                self.interner.release(a);
            }
        }
    }

    /// Encodes the pending Adj-RIB-Out changes, once per group.
    pub(super) fn flush(&mut self) {
        for (gid, changes) in std::mem::take(&mut self.pending) {
            // Several changes of one prefix within one input: what the
            // members had before the first and what they get after the last.
            let mut changes = changes;
            changes.sort_by_key(|c| (c.family, c.nlri)); // stable: arrival order within a prefix
            let mut merged: Vec<Change> = Vec::with_capacity(changes.len());
            for c in changes {
                match merged.last_mut() {
                    Some(m) if (m.family, m.nlri) == (c.family, c.nlri) => {
                        if let Some((a, _)) = std::mem::replace(&mut m.new, c.new) {
                            self.interner.release(a);
                        }
                    }
                    _ => merged.push(c),
                }
            }
            let Some(group) = self.groups.get(&gid) else {
                for c in merged {
                    if let Some((a, _)) = c.new {
                        self.interner.release(a);
                    }
                }
                continue;
            };
            let members: Vec<PeerId> = group.members.iter().copied().collect();
            let ctx = group.key.ctx.clone();
            let mut ann_index: HashMap<AnnounceKey, usize> = HashMap::new();
            let mut announces: Vec<AnnounceBatch> = Vec::new();
            let mut wd_index: HashMap<(Family, Recipients), usize> = HashMap::new();
            let mut withdraws: Vec<(Family, Recipients, Vec<Nlri>)> = Vec::new();
            let mut withdraw = |family: Family, r: Recipients, n: Nlri| {
                let i = *wd_index.entry((family, r)).or_insert_with(|| {
                    withdraws.push((family, r, Vec::new()));
                    withdraws.len() - 1
                });
                if let Some(w) = withdraws.get_mut(i) {
                    w.2.push(n);
                }
            };
            for c in merged {
                match c.new {
                    Some((a, src)) => {
                        let excluded = members.contains(&src).then_some(src);
                        if let Some(m) = excluded {
                            if c.old_src.is_some_and(|o| o != m) {
                                withdraw(c.family, Recipients::Only(m), c.nlri);
                            }
                        }
                        let i = *ann_index.entry((Arc::as_ptr(&a), c.family, excluded)).or_insert_with(|| {
                            announces.push((Arc::clone(&a), c.family, excluded, Vec::new()));
                            announces.len() - 1
                        });
                        if let Some(b) = announces.get_mut(i) {
                            b.3.push(c.nlri);
                        }
                        self.interner.release(a);
                    }
                    None => {
                        if let Some(o) = c.old_src {
                            withdraw(c.family, Recipients::AllExcept(members.contains(&o).then_some(o)), c.nlri);
                        }
                    }
                }
            }
            for (family, r, nlri) in withdraws {
                let peers: Vec<PeerId> = match r {
                    Recipients::AllExcept(x) => members.iter().copied().filter(|m| Some(*m) != x).collect(),
                    Recipients::Only(m) => vec![m],
                };
                if peers.is_empty() {
                    continue;
                }
                let mut buf = Default::default();
                match UpdateBuilder::withdrawals(&ctx, family).withdraw(&nlri, &mut buf) {
                    Ok(_) => {
                        self.encodes += 1;
                        self.outputs.push(Output::Send { peers, messages: Arc::from(&buf[..]) });
                    }
                    Err(e) => tracing::warn!(group = gid, %family, error = %e, "withdrawals not encoded"),
                }
            }
            for (a, family, excluded, nlri) in announces {
                let peers: Vec<PeerId> = members.iter().copied().filter(|m| Some(*m) != excluded).collect();
                if peers.is_empty() {
                    continue;
                }
                if let Some(bytes) = self.encode_announce(&ctx, family, &a, &nlri) {
                    self.outputs.push(Output::Send { peers, messages: bytes });
                }
            }
        }
    }

    fn encode_announce(
        &mut self,
        ctx: &Context,
        family: Family,
        attrs: &PathAttributes,
        nlri: &[Nlri],
    ) -> Option<Arc<[u8]>> {
        let opts = EncodeOptions { pass_on: true, ..EncodeOptions::default() };
        let builder = match UpdateBuilder::new(ctx, family, attrs, opts) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%family, error = %e, "routes not encoded");
                return None;
            }
        };
        let mut buf = Default::default();
        if let Err(e) = builder.announce(nlri, &mut buf) {
            tracing::warn!(%family, error = %e, "routes not encoded");
            return None;
        }
        self.encodes += 1;
        Some(Arc::from(&buf[..]))
    }
}

/// Our address as next hop (RFC 4271 §5.1.3): NEXT_HOP for IPv4 unicast,
/// MP_REACH_NLRI otherwise. `None` when we have no address of that family.
fn set_next_hop_self(a: &mut PathAttributes, key: &GroupKey, family: Family) -> Option<()> {
    if family == Family::IPV4_UNICAST {
        a.next_hop = Some(key.local_v4?);
        a.mp_reach = None;
        return Some(());
    }
    let next_hop = if family.afi == Afi::IPV6 { MpNextHop::V6(key.local_v6?) } else { MpNextHop::V4(key.local_v4?) };
    a.next_hop = None;
    a.mp_reach = Some(MpReach { family, next_hop, reserved: 0, nlri: MpNlri::Prefixes(Vec::new()) });
    Some(())
}

/// Prepends `asn` to the leftmost AS_SEQUENCE, or a new one (RFC 4271 §5.1.2).
fn prepend_as(a: &mut PathAttributes, asn: u32) {
    let path = a.as_path.get_or_insert_with(Default::default);
    match path.segments.first_mut() {
        Some(s) if s.kind == SegmentType::AsSequence && s.asns.len() < 255 => s.asns.insert(0, asn),
        _ => path.segments.insert(0, AsSegment { kind: SegmentType::AsSequence, asns: vec![asn] }),
    }
}
