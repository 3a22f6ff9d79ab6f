//! Route policies as plain values: per-peer import and export filters for the RIB.
//!
//! A [`RoutePolicy`] is what a BIRD filter is: an ordered list of [`Rule`]s, each a [`Match`]
//! and the [`Action`]s to run when it holds. Actions change the attributes (LOCAL_PREF, MED,
//! next hop, communities, large communities, AS path) or end the evaluation with
//! [`Action::Accept`] / [`Action::Reject`]; when no rule ends it, the policy's default verdict
//! applies. Policies are pure (no I/O, no clock, no state): the same route gives the same answer,
//! so the RIB can run them at any time and replays stay exact.
//!
//! They compose: a [`Match`] nests with [`Match::All`], [`Match::AnyOf`] and [`Match::Not`];
//! whole policies chain with [`Chain`] (every link must accept, each sees the previous one's
//! changes), as BIRD filters call functions. Anything that implements [`rib::Policy`] — a
//! closure included — can be a link, so hand-written rules (Calico's, in the daemon) mix with
//! these.
//!
//! ```
//! use speaker::policy::{community, Action, Match, PrefixRange, PrefixSet, RoutePolicy};
//!
//! // Accept pod blocks of 10.244.0.0/16 (a /26 or longer), tag them, reject the rest.
//! let blocks = PrefixSet::from_iter([PrefixRange::new("10.244.0.0/16".parse().unwrap(), 26, 32).unwrap()]);
//! let policy = RoutePolicy::reject_by_default()
//!     .rule(Match::Prefix(blocks), [Action::AddCommunity(community(64512, 100)), Action::Accept]);
//! # let _ = policy;
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use bgp_proto::attribute::{AsSegment, LargeCommunity, MpNextHop, MpNlri, MpReach, Origin, SegmentType};
use bgp_proto::{Family, Nlri, PathAttributes};
use ipnet::IpNet;

use crate::rib::Policy;

/// A standard community (RFC 1997) from its two halves, `asn:value`.
pub const fn community(asn: u16, value: u16) -> u32 {
    ((asn as u32) << 16) | value as u32
}

/// A large community (RFC 8092) `global:data1:data2`.
pub const fn large_community(global_admin: u32, local_data1: u32, local_data2: u32) -> LargeCommunity {
    LargeCommunity { global_admin, local_data1, local_data2 }
}

/// Why a policy value could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `ge`/`le` must satisfy prefix length ≤ ge ≤ le ≤ 32 (IPv4) or 128 (IPv6).
    #[error("bad prefix length range {prefix}{{{ge},{le}}}: need {len} <= ge <= le <= {max}", len = .prefix.prefix_len(), max = .prefix.max_prefix_len())]
    BadLengthRange { prefix: IpNet, ge: u8, le: u8 },
}

/// One entry of a prefix set: the prefixes inside `prefix` whose length is in `ge..=le`
/// (BIRD's `prefix{ge,le}`; `prefix+` is `ge` = its length, `le` = the maximum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrefixRange {
    prefix: IpNet,
    ge: u8,
    le: u8,
}

impl PrefixRange {
    /// Prefixes inside `prefix` with a length in `ge..=le`. Host bits of `prefix` are ignored.
    pub fn new(prefix: IpNet, ge: u8, le: u8) -> Result<Self, PolicyError> {
        let prefix = prefix.trunc();
        if ge < prefix.prefix_len() || ge > le || le > prefix.max_prefix_len() {
            return Err(PolicyError::BadLengthRange { prefix, ge, le });
        }
        Ok(PrefixRange { prefix, ge, le })
    }

    /// `prefix` itself only (BIRD's `net = prefix`).
    pub fn exact(prefix: IpNet) -> Self {
        let prefix = prefix.trunc();
        PrefixRange { prefix, ge: prefix.prefix_len(), le: prefix.prefix_len() }
    }

    /// `prefix` and every longer prefix inside it (BIRD's `net ~ prefix`, `prefix+`).
    pub fn or_longer(prefix: IpNet) -> Self {
        let prefix = prefix.trunc();
        PrefixRange { prefix, ge: prefix.prefix_len(), le: prefix.max_prefix_len() }
    }

    /// Prefixes strictly inside `prefix` (`prefix{len+1,max}`); none for a host prefix.
    pub fn longer(prefix: IpNet) -> Option<Self> {
        let prefix = prefix.trunc();
        let ge = prefix.prefix_len().checked_add(1).filter(|g| *g <= prefix.max_prefix_len())?;
        Some(PrefixRange { prefix, ge, le: prefix.max_prefix_len() })
    }

    pub fn prefix(&self) -> IpNet {
        self.prefix
    }

    pub fn ge(&self) -> u8 {
        self.ge
    }

    pub fn le(&self) -> u8 {
        self.le
    }

    /// Whether `net` is inside this range (same family, inside the prefix, length in range).
    pub fn matches(&self, net: &IpNet) -> bool {
        let len = net.prefix_len();
        len >= self.ge && len <= self.le && self.prefix.contains(&net.network())
    }

    /// Whether the address is inside `prefix` (as a host route, for next-hop matches).
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        self.matches(&IpNet::from(addr))
    }
}

impl fmt::Display for PrefixRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{{},{}}}", self.prefix, self.ge, self.le)
    }
}

/// A set of prefix ranges; a prefix matches when any entry does (BIRD's `[ ... ]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixSet {
    entries: Vec<PrefixRange>,
}

impl PrefixSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, range: PrefixRange) {
        self.entries.push(range);
    }

    pub fn entries(&self) -> &[PrefixRange] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn matches(&self, net: &IpNet) -> bool {
        self.entries.iter().any(|e| e.matches(net))
    }

    /// Whether an address falls inside any entry's prefix (lengths are not checked: a next hop is
    /// an address, not a route).
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        let host = IpNet::from(addr);
        self.entries.iter().any(|e| e.prefix.contains(&host))
    }
}

impl FromIterator<PrefixRange> for PrefixSet {
    fn from_iter<I: IntoIterator<Item = PrefixRange>>(iter: I) -> Self {
        PrefixSet { entries: iter.into_iter().collect() }
    }
}

/// A hand-written condition.
pub type MatchFn = Arc<dyn Fn(Family, &Nlri, &PathAttributes) -> bool + Send + Sync>;

/// A condition on a route.
#[derive(Clone)]
pub enum Match {
    /// Always true.
    Any,
    Family(Family),
    /// The route's prefix is in the set.
    Prefix(PrefixSet),
    /// The route's next hop (NEXT_HOP or MP_REACH's global address) is inside the set.
    NextHop(PrefixSet),
    /// A standard community is present.
    Community(u32),
    /// A large community is present.
    LargeCommunity(LargeCommunity),
    /// The AS number appears anywhere in AS_PATH.
    AsPathContains(u32),
    /// The AS_PATH length (RFC 4271 §9.1.2.2 a: a set counts one) is in `min..=max`.
    AsPathLength {
        min: usize,
        max: usize,
    },
    /// The route was originated by `asn` (last AS of the last AS_SEQUENCE).
    OriginAs(u32),
    Origin(Origin),
    /// LOCAL_PREF present and in `min..=max`.
    LocalPref {
        min: u32,
        max: u32,
    },
    /// MED present and in `min..=max`.
    Med {
        min: u32,
        max: u32,
    },
    Not(Box<Match>),
    /// Every condition holds (true when empty).
    All(Vec<Match>),
    /// At least one condition holds (false when empty).
    AnyOf(Vec<Match>),
    Custom(MatchFn),
}

impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::Any => f.write_str("Any"),
            Match::Family(x) => f.debug_tuple("Family").field(x).finish(),
            Match::Prefix(x) => f.debug_tuple("Prefix").field(x).finish(),
            Match::NextHop(x) => f.debug_tuple("NextHop").field(x).finish(),
            Match::Community(x) => write!(f, "Community({}:{})", x >> 16, x & 0xffff),
            Match::LargeCommunity(x) => f.debug_tuple("LargeCommunity").field(x).finish(),
            Match::AsPathContains(x) => f.debug_tuple("AsPathContains").field(x).finish(),
            Match::AsPathLength { min, max } => write!(f, "AsPathLength({min}..={max})"),
            Match::OriginAs(x) => f.debug_tuple("OriginAs").field(x).finish(),
            Match::Origin(x) => f.debug_tuple("Origin").field(x).finish(),
            Match::LocalPref { min, max } => write!(f, "LocalPref({min}..={max})"),
            Match::Med { min, max } => write!(f, "Med({min}..={max})"),
            Match::Not(x) => f.debug_tuple("Not").field(x).finish(),
            Match::All(x) => f.debug_tuple("All").field(x).finish(),
            Match::AnyOf(x) => f.debug_tuple("AnyOf").field(x).finish(),
            Match::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Match {
    /// `prefix` or anything longer inside it (BIRD's `net ~ prefix`).
    pub fn within(prefix: IpNet) -> Match {
        Match::Prefix(PrefixSet::from_iter([PrefixRange::or_longer(prefix)]))
    }

    /// Exactly `prefix` (BIRD's `net = prefix`).
    pub fn exactly(prefix: IpNet) -> Match {
        Match::Prefix(PrefixSet::from_iter([PrefixRange::exact(prefix)]))
    }

    pub fn custom(f: impl Fn(Family, &Nlri, &PathAttributes) -> bool + Send + Sync + 'static) -> Match {
        Match::Custom(Arc::new(f))
    }

    pub fn negate(self) -> Match {
        Match::Not(Box::new(self))
    }

    pub fn matches(&self, family: Family, nlri: &Nlri, attrs: &PathAttributes) -> bool {
        match self {
            Match::Any => true,
            Match::Family(f) => *f == family,
            Match::Prefix(set) => set.matches(&nlri.prefix),
            Match::NextHop(set) => next_hop(family, attrs).is_some_and(|nh| set.contains_addr(nh)),
            Match::Community(c) => attrs.communities.as_ref().is_some_and(|cs| cs.contains(c)),
            Match::LargeCommunity(c) => attrs.large_communities.as_ref().is_some_and(|cs| cs.contains(c)),
            Match::AsPathContains(asn) => {
                attrs.as_path.as_ref().is_some_and(|p| p.segments.iter().any(|s| s.asns.contains(asn)))
            }
            Match::AsPathLength { min, max } => {
                let len = attrs.as_path.as_ref().map_or(0, |p| p.route_len());
                len >= *min && len <= *max
            }
            Match::OriginAs(asn) => origin_as(attrs) == Some(*asn),
            Match::Origin(o) => attrs.origin == Some(*o),
            Match::LocalPref { min, max } => attrs.local_pref.is_some_and(|v| v >= *min && v <= *max),
            Match::Med { min, max } => attrs.med.is_some_and(|v| v >= *min && v <= *max),
            Match::Not(m) => !m.matches(family, nlri, attrs),
            Match::All(ms) => ms.iter().all(|m| m.matches(family, nlri, attrs)),
            Match::AnyOf(ms) => ms.iter().any(|m| m.matches(family, nlri, attrs)),
            Match::Custom(f) => f(family, nlri, attrs),
        }
    }
}

/// The last AS of the path when it ends with an AS_SEQUENCE (the originating AS).
fn origin_as(attrs: &PathAttributes) -> Option<u32> {
    let last = attrs.as_path.as_ref()?.segments.last()?;
    match last.kind {
        SegmentType::AsSequence => last.asns.last().copied(),
        _ => None,
    }
}

/// The forwarding next hop of a route: MP_REACH's (global) address, else NEXT_HOP for IPv4 unicast.
pub fn next_hop(family: Family, attrs: &PathAttributes) -> Option<IpAddr> {
    if let Some(reach) = &attrs.mp_reach {
        return match &reach.next_hop {
            MpNextHop::V4(a) => Some(IpAddr::V4(*a)),
            MpNextHop::V6(a) => Some(IpAddr::V6(*a)),
            MpNextHop::V6LinkLocal { global, .. } => Some(IpAddr::V6(*global)),
            MpNextHop::Other(_) => None,
        };
    }
    if family == Family::IPV4_UNICAST {
        return attrs.next_hop.map(IpAddr::V4);
    }
    None
}

/// Sets the route's next hop where the RIB's encoder reads it: NEXT_HOP for an IPv4 next hop of
/// IPv4 unicast, MP_REACH_NLRI otherwise (IPv6, and IPv6 next hops of IPv4 routes, RFC 8950).
pub fn set_next_hop(family: Family, attrs: &mut PathAttributes, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) if family == Family::IPV4_UNICAST => {
            attrs.next_hop = Some(a);
            attrs.mp_reach = None;
        }
        _ => {
            let next_hop = match addr {
                IpAddr::V4(a) => MpNextHop::V4(a),
                IpAddr::V6(a) => MpNextHop::V6(a),
            };
            attrs.next_hop = None;
            match &mut attrs.mp_reach {
                Some(reach) if reach.family == family => reach.next_hop = next_hop,
                _ => {
                    attrs.mp_reach = Some(MpReach { family, next_hop, reserved: 0, nlri: MpNlri::Prefixes(Vec::new()) })
                }
            }
        }
    }
}

/// What a rule does to a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    SetLocalPref(u32),
    SetMed(u32),
    RemoveMed,
    SetNextHop(IpAddr),
    /// Add a standard community unless already present (BIRD's `bgp_community.add`).
    AddCommunity(u32),
    RemoveCommunity(u32),
    /// Add a large community unless already present (`bgp_large_community.add`).
    AddLargeCommunity(LargeCommunity),
    RemoveLargeCommunity(LargeCommunity),
    /// Prepend `asn` `count` times (RFC 4271 §5.1.2).
    PrependAs {
        asn: u32,
        count: u8,
    },
    SetOrigin(Origin),
    /// Stop: the route passes, with the changes made so far.
    Accept,
    /// Stop: the route is filtered out.
    Reject,
}

impl Action {
    /// Applies a modifying action; `Some` verdict for [`Action::Accept`] / [`Action::Reject`].
    pub fn apply(&self, family: Family, attrs: &mut PathAttributes) -> Option<Verdict> {
        match self {
            Action::SetLocalPref(v) => attrs.local_pref = Some(*v),
            Action::SetMed(v) => attrs.med = Some(*v),
            Action::RemoveMed => attrs.med = None,
            Action::SetNextHop(a) => set_next_hop(family, attrs, *a),
            Action::AddCommunity(c) => {
                let cs = attrs.communities.get_or_insert_with(Vec::new);
                if !cs.contains(c) {
                    cs.push(*c);
                }
            }
            Action::RemoveCommunity(c) => {
                if let Some(cs) = &mut attrs.communities {
                    cs.retain(|x| x != c);
                    if cs.is_empty() {
                        attrs.communities = None;
                    }
                }
            }
            Action::AddLargeCommunity(c) => {
                let cs = attrs.large_communities.get_or_insert_with(Vec::new);
                if !cs.contains(c) {
                    cs.push(*c);
                }
            }
            Action::RemoveLargeCommunity(c) => {
                if let Some(cs) = &mut attrs.large_communities {
                    cs.retain(|x| x != c);
                    if cs.is_empty() {
                        attrs.large_communities = None;
                    }
                }
            }
            Action::PrependAs { asn, count } => {
                let path = attrs.as_path.get_or_insert_with(Default::default);
                for _ in 0..*count {
                    match path.segments.first_mut() {
                        Some(s) if s.kind == SegmentType::AsSequence && s.asns.len() < 255 => s.asns.insert(0, *asn),
                        _ => path.segments.insert(0, AsSegment { kind: SegmentType::AsSequence, asns: vec![*asn] }),
                    }
                }
            }
            Action::SetOrigin(o) => attrs.origin = Some(*o),
            Action::Accept => return Some(Verdict::Accept),
            Action::Reject => return Some(Verdict::Reject),
        }
        None
    }
}

/// The outcome of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Reject,
}

/// `if <when> then { <then> }`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub when: Match,
    pub then: Vec<Action>,
}

/// An ordered list of rules with a default verdict; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct RoutePolicy {
    rules: Vec<Rule>,
    default: Verdict,
}

impl RoutePolicy {
    pub fn new(default: Verdict) -> Self {
        RoutePolicy { rules: Vec::new(), default }
    }

    /// BIRD's `import all` / `export all` when no rule is added.
    pub fn accept_by_default() -> Self {
        Self::new(Verdict::Accept)
    }

    /// BIRD's `none` when no rule is added; a filter that ends with `reject;`.
    pub fn reject_by_default() -> Self {
        Self::new(Verdict::Reject)
    }

    /// Appends `if when then { then }`.
    pub fn rule(mut self, when: Match, then: impl IntoIterator<Item = Action>) -> Self {
        self.rules.push(Rule { when, then: then.into_iter().collect() });
        self
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn default_verdict(&self) -> Verdict {
        self.default
    }

    /// Runs the rules in order on `attrs`. Conditions see the changes of earlier rules, as in
    /// BIRD. A rejected route's attributes are left half-changed: the caller drops it anyway.
    pub fn evaluate(&self, family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> Verdict {
        for rule in &self.rules {
            if !rule.when.matches(family, nlri, attrs) {
                continue;
            }
            for action in &rule.then {
                if let Some(v) = action.apply(family, attrs) {
                    return v;
                }
            }
        }
        self.default
    }
}

impl Policy for RoutePolicy {
    fn apply(&self, family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> bool {
        self.evaluate(family, nlri, attrs) == Verdict::Accept
    }
}

/// Policies run one after the other: the route passes when every one accepts, each seeing the
/// attributes as the previous one left them. An empty chain accepts.
#[derive(Clone, Default)]
pub struct Chain {
    links: Vec<Arc<dyn Policy>>,
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn then(mut self, policy: impl Policy + 'static) -> Self {
        self.links.push(Arc::new(policy));
        self
    }

    pub fn then_shared(mut self, policy: Arc<dyn Policy>) -> Self {
        self.links.push(policy);
        self
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain({} links)", self.links.len())
    }
}

impl Policy for Chain {
    fn apply(&self, family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> bool {
        self.links.iter().all(|p| p.apply(family, nlri, attrs))
    }
}

/// The address family of a prefix as a unicast [`Family`].
pub fn unicast_family(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}
