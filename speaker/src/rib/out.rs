//! Adj-RIB-Out per update group and the export rules (RFC 4271 §9.1.3,
//! §9.2; RFC 4456 §6, §8).
//!
//! Peers whose output would be byte-identical share a group: the same
//! export policy, encode context, families, iBGP or eBGP, RR client or not,
//! next-hop mode and local addresses. A group keeps one Adj-RIB-Out
//! and encodes each change once; the bytes go to every member. The one
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

use super::{next_hop, offers, AddPathSend, NextHopMode, Offer, Output, PeerId, PolicyId, Rib, DEFAULT_LOCAL_PREF};

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

/// An update group: members and their shared Adj-RIB-Out.
#[derive(Debug)]
pub(super) struct Group {
    key: GroupKey,
    members: BTreeSet<PeerId>,
    /// (family, prefix, our path id or 0 without ADD-PATH) → exported
    /// attributes and the route's source peer.
    out: BTreeMap<OutKey, (Arc<PathAttributes>, PeerId)>,
}

impl Group {
    /// What the group has sent `peer`: every Adj-RIB-Out route but those
    /// that came from `peer` itself (split horizon), as NLRI on the wire.
    pub(super) fn advertised(&self, peer: PeerId) -> Vec<(Family, Nlri)> {
        self.out
            .iter()
            .filter(|(_, (_, src))| *src != peer)
            .map(|((f, n, id), _)| (*f, Nlri { path_id: self.key.ctx.add_path(*f).then_some(*id), ..*n }))
            .collect()
    }
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

type OutKey = (Family, Nlri, u32);

type AnnounceKey = (*const PathAttributes, Family, Option<PeerId>);

/// Routes sharing one attribute set, for every member but the excluded one.
type AnnounceBatch = (Arc<PathAttributes>, Family, Option<PeerId>, Vec<Nlri>);

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
                let mut out = BTreeMap::new();
                let all: Vec<((Family, Nlri), Vec<Offer>)> =
                    self.loc.iter().map(|(k, d)| (*k, offers(d, &d.best))).collect();
                for ((family, prefix), offers) in all {
                    for (id, a, src) in self.export_offers(&key, family, prefix, &offers) {
                        out.insert((family, prefix, id), (self.interner.intern(a), src));
                    }
                }
                tracing::debug!(group = gid, %peer, routes = out.len(), "new update group");
                self.groups.insert(gid, Group { key, members: BTreeSet::new(), out });
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
        if g.members.is_empty() {
            if let Some(g) = self.groups.remove(&gid) {
                for (_, (a, _)) in g.out {
                    self.interner.release(a);
                }
            }
            for c in self.pending.remove(&gid).unwrap_or_default() {
                if let Some((a, _)) = c.new {
                    self.interner.release(a);
                }
            }
        }
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
        for ((f, n, id), (a, src)) in &group.out {
            if *src == peer || family.is_some_and(|x| x != *f) {
                continue;
            }
            let n = &Nlri { path_id: ctx.add_path(*f).then_some(*id), ..*n };
            let i = *index.entry((Arc::as_ptr(a), *f)).or_insert_with(|| {
                batches.push((Arc::clone(a), *f, Vec::new()));
                batches.len() - 1
            });
            if let Some(b) = batches.get_mut(i) {
                b.2.push(*n);
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

    /// Exports a destination's routes (best first, see [`Offer`]) to
    /// every group, recording what changed.
    pub(super) fn export_dest(&mut self, family: Family, prefix: Nlri, offers: &[Offer]) {
        let gids: Vec<u64> = self.groups.keys().copied().collect();
        for gid in gids {
            let Some(group) = self.groups.get(&gid) else {
                continue;
            };
            let multi = group.key.ctx.add_path(family);
            let exported = self.export_offers(&group.key, family, prefix, offers);
            let mut desired: BTreeMap<u32, (Arc<PathAttributes>, PeerId)> =
                exported.into_iter().map(|(id, a, src)| (id, (self.interner.intern(a), src))).collect();
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            let mut ids: BTreeSet<u32> =
                group.out.range((family, prefix, 0)..=(family, prefix, u32::MAX)).map(|(k, _)| k.2).collect();
            ids.extend(desired.keys().copied());
            for id in ids {
                let k = (family, prefix, id);
                let new = desired.remove(&id);
                let same = match (group.out.get(&k), &new) {
                    (Some((a, s)), Some((b, t))) => Arc::ptr_eq(a, b) && s == t,
                    (None, None) => true,
                    _ => false,
                };
                if same {
                    if let Some((a, _)) = new {
                        self.interner.release(a);
                    }
                    continue;
                }
                let old = match &new {
                    Some((a, s)) => group.out.insert(k, (Arc::clone(a), *s)),
                    None => group.out.remove(&k),
                };
                let old_src = old.map(|(a, s)| {
                    self.interner.release(a);
                    s
                });
                let nlri = Nlri { path_id: multi.then_some(id), ..prefix };
                self.pending.entry(gid).or_default().push(Change { family, nlri, old_src, new });
            }
        }
    }

    /// What a group is sent for one destination: the best route alone
    /// (path id 0), or with ADD-PATH the ECMP set or every route, each
    /// under its own path id.
    fn export_offers(
        &self,
        key: &GroupKey,
        family: Family,
        prefix: Nlri,
        offers: &[Offer],
    ) -> Vec<(u32, PathAttributes, PeerId)> {
        if !key.ctx.add_path(family) {
            return offers
                .first()
                .and_then(|o| self.export(key, family, prefix, o.src, &o.attrs))
                .map(|a| (0, a, offers.first().map_or(PeerId::LOCAL, |o| o.src)))
                .into_iter()
                .collect();
        }
        offers
            .iter()
            .filter(|o| o.multipath || key.add_path_send == AddPathSend::All)
            .filter_map(|o| self.export(key, family, prefix, o.src, &o.attrs).map(|a| (o.id, a, o.src)))
            .collect()
    }

    /// The attributes `src`'s route is sent with to the group `key`, or
    /// `None` when the rules or the export policy keep it back.
    fn export(
        &self,
        key: &GroupKey,
        family: Family,
        prefix: Nlri,
        src: PeerId,
        attrs: &PathAttributes,
    ) -> Option<PathAttributes> {
        if !key.families.contains(&family) {
            return None;
        }
        let src_info = self.peers.get(&src).map(|p| &p.info);
        let src_ibgp = src_info.is_some_and(|i| i.asn == self.config.local_as);
        let mut a = attrs.clone();
        if key.ibgp {
            if let (true, Some(info)) = (src_ibgp, src_info) {
                // RFC 4456 §6: iBGP routes go to iBGP peers only by reflection:
                // from a client to everyone, from a non-client to clients.
                let cluster_id = self.config.cluster_id?;
                if !info.rr_client && !key.rr_client {
                    return None;
                }
                a.originator_id.get_or_insert(info.router_id);
                a.cluster_list.get_or_insert_with(Vec::new).insert(0, cluster_id);
            } else {
                a.local_pref.get_or_insert(DEFAULT_LOCAL_PREF);
            }
            if key.next_hop == NextHopMode::SelfAddress || next_hop(family, &a).is_none() {
                set_next_hop_self(&mut a, key, family)?;
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
            prepend_as(&mut a, self.config.local_as);
            if key.next_hop != NextHopMode::Keep || next_hop(family, &a).is_none() {
                set_next_hop_self(&mut a, key, family)?;
            }
        }
        if let Some(id) = key.export_policy {
            let policy = self.policies.get(&id)?;
            if !policy.apply(family, &prefix, &mut a) {
                return None;
            }
        }
        Some(a)
    }

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
            let mut merged: BTreeMap<(Family, Nlri), Change> = BTreeMap::new();
            for c in changes {
                match merged.get_mut(&(c.family, c.nlri)) {
                    Some(m) => {
                        if let Some((a, _)) = std::mem::replace(&mut m.new, c.new) {
                            self.interner.release(a);
                        }
                    }
                    None => {
                        merged.insert((c.family, c.nlri), c);
                    }
                }
            }
            let Some(group) = self.groups.get(&gid) else {
                for (_, c) in merged {
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
            for (_, c) in merged {
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
