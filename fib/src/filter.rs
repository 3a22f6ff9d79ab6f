//! Which kernel routes become local routes for BGP.
//!
//! Calico's confd templates select kernel routes by protocol (Felix: 80 for
//! block blackholes and IPIP routes, 3 for workload routes), by type, by the
//! prefixes of its IP pools, and exclude interfaces by name (`cali*`, `tunl0`,
//! `*.cali`). [`RouteFilter`] holds those choices; `None`/empty means "any".

use ipnet::IpNet;

use crate::route::{LocalRoute, RouteKind, TABLE_MAIN};

/// A shell-style interface name pattern: `*` matches any run of characters
/// (`cali*`, `*.cali`, `tunl0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfacePattern(String);

impl InterfacePattern {
    pub fn new(pattern: impl Into<String>) -> Self {
        InterfacePattern(pattern.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches the pattern as a whole.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.0.as_bytes(), name.as_bytes())
    }
}

impl From<&str> for InterfacePattern {
    fn from(s: &str) -> Self {
        InterfacePattern::new(s)
    }
}

/// `*`-only glob, iterative with one backtrack point (linear-ish, no recursion).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if Some(c) == name.get(n) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// A prefix set entry in BIRD's terms: `net{min,max}` — prefixes inside `net`
/// whose length is within `min..=max`. `net+` is `or_longer(net)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRange {
    pub net: IpNet,
    pub min_len: u8,
    pub max_len: u8,
}

impl PrefixRange {
    /// Exactly `net`.
    pub fn exact(net: IpNet) -> Self {
        PrefixRange { net: net.trunc(), min_len: net.prefix_len(), max_len: net.prefix_len() }
    }

    /// `net` and every prefix inside it (`net+`).
    pub fn or_longer(net: IpNet) -> Self {
        PrefixRange { net: net.trunc(), min_len: net.prefix_len(), max_len: net.max_prefix_len() }
    }

    pub fn contains(&self, prefix: &IpNet) -> bool {
        let len = prefix.prefix_len();
        len >= self.min_len && len <= self.max_len && self.net.contains(prefix)
    }
}

/// The selection of kernel routes that the watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFilter {
    /// Protocol numbers to accept; `None` = any.
    pub protocols: Option<Vec<u8>>,
    /// Protocol numbers never to accept. By default `redirect` (1) and
    /// `kernel` (2): the routes the kernel makes for addresses and ICMP
    /// redirects, which BIRD's kernel protocol does not learn either.
    pub exclude_protocols: Vec<u8>,
    /// Route types to accept; `None` = any.
    pub kinds: Option<Vec<RouteKind>>,
    /// Tables to accept; `None` = any (the local table too: rarely wanted).
    pub tables: Option<Vec<u32>>,
    /// Prefix sets to accept; `None` = any.
    pub prefixes: Option<Vec<PrefixRange>>,
    /// If not empty, the route's interface must match one of these.
    /// Routes without an interface (blackholes) pass this test.
    pub include_interfaces: Vec<InterfacePattern>,
    /// A route whose interface matches one of these is not reported.
    pub exclude_interfaces: Vec<InterfacePattern>,
}

impl Default for RouteFilter {
    /// The main table; unicast, blackhole and unreachable routes; any
    /// protocol but `redirect` and `kernel`; any prefix and interface.
    fn default() -> Self {
        RouteFilter {
            protocols: None,
            exclude_protocols: vec![1, 2],
            kinds: Some(vec![RouteKind::Unicast, RouteKind::Blackhole, RouteKind::Unreachable]),
            tables: Some(vec![TABLE_MAIN]),
            prefixes: None,
            include_interfaces: Vec::new(),
            exclude_interfaces: Vec::new(),
        }
    }
}

impl RouteFilter {
    /// Accepts every route of every table.
    pub fn everything() -> Self {
        RouteFilter {
            protocols: None,
            exclude_protocols: Vec::new(),
            kinds: None,
            tables: None,
            prefixes: None,
            include_interfaces: Vec::new(),
            exclude_interfaces: Vec::new(),
        }
    }

    pub fn protocols(mut self, protocols: impl IntoIterator<Item = u8>) -> Self {
        self.protocols = Some(protocols.into_iter().collect());
        self
    }

    pub fn kinds(mut self, kinds: impl IntoIterator<Item = RouteKind>) -> Self {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    pub fn tables(mut self, tables: impl IntoIterator<Item = u32>) -> Self {
        self.tables = Some(tables.into_iter().collect());
        self
    }

    pub fn prefixes(mut self, prefixes: impl IntoIterator<Item = PrefixRange>) -> Self {
        self.prefixes = Some(prefixes.into_iter().collect());
        self
    }

    pub fn include_interfaces<P: Into<InterfacePattern>>(mut self, p: impl IntoIterator<Item = P>) -> Self {
        self.include_interfaces = p.into_iter().map(Into::into).collect();
        self
    }

    pub fn exclude_interfaces<P: Into<InterfacePattern>>(mut self, p: impl IntoIterator<Item = P>) -> Self {
        self.exclude_interfaces = p.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the route is one BGP should see. Interface tests use the
    /// interface names of every next hop: one excluded hop excludes the route.
    pub fn accepts(&self, route: &LocalRoute) -> bool {
        if self.protocols.as_ref().is_some_and(|p| !p.contains(&route.protocol))
            || self.exclude_protocols.contains(&route.protocol)
        {
            return false;
        }
        if self.kinds.as_ref().is_some_and(|k| !k.contains(&route.kind)) {
            return false;
        }
        if self.tables.as_ref().is_some_and(|t| !t.contains(&route.table)) {
            return false;
        }
        if self.prefixes.as_ref().is_some_and(|p| !p.iter().any(|r| r.contains(&route.prefix))) {
            return false;
        }
        let mut names = route.interface.iter().chain(route.multipath.iter().filter_map(|h| h.interface.as_ref()));
        if !self.exclude_interfaces.is_empty()
            && names.clone().any(|n| self.exclude_interfaces.iter().any(|p| p.matches(n)))
        {
            return false;
        }
        if !self.include_interfaces.is_empty() && route.ifindex.is_some() {
            return names.any(|n| self.include_interfaces.iter().any(|p| p.matches(n)));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, proto: u8, kind: RouteKind, dev: Option<&str>) -> LocalRoute {
        LocalRoute {
            prefix: prefix.parse().expect("prefix"),
            table: TABLE_MAIN,
            kind,
            protocol: proto,
            metric: 0,
            interface: dev.map(str::to_string),
            ifindex: dev.map(|_| 7),
            gateway: None,
            src: None,
            multipath: Vec::new(),
        }
    }

    #[test]
    fn glob_patterns_match_like_calico_means_them() {
        let cali = InterfacePattern::new("cali*");
        assert!(cali.matches("cali12345"));
        assert!(cali.matches("cali"));
        assert!(!cali.matches("eth0"));
        assert!(!cali.matches("xcali1"));
        let dot = InterfacePattern::new("*.cali");
        assert!(dot.matches("vlan.cali"));
        assert!(!dot.matches("vlan.calico"));
        let exact = InterfacePattern::new("tunl0");
        assert!(exact.matches("tunl0"));
        assert!(!exact.matches("tunl01"));
        assert!(InterfacePattern::new("*").matches(""));
        assert!(InterfacePattern::new("a*b*c").matches("aXXbYYbc"));
        assert!(!InterfacePattern::new("a*b*c").matches("aXXbYY"));
    }

    #[test]
    fn protocol_and_kind_select_felix_routes() {
        let f = RouteFilter::default().protocols([80, 3]);
        assert!(f.accepts(&route("10.0.0.0/26", 80, RouteKind::Blackhole, None)));
        assert!(f.accepts(&route("10.0.0.5/32", 3, RouteKind::Unicast, Some("cali1"))));
        assert!(!f.accepts(&route("10.0.0.0/26", 12, RouteKind::Blackhole, None)));
        assert!(!f.accepts(&route("10.0.0.0/26", 80, RouteKind::Local, None)));
        let mut other_table = route("10.0.0.0/26", 80, RouteKind::Blackhole, None);
        other_table.table = 100;
        assert!(!f.accepts(&other_table));
        assert!(RouteFilter::everything().accepts(&other_table));
        let connected = route("10.10.0.0/24", 2, RouteKind::Unicast, Some("eth0"));
        assert!(!RouteFilter::default().accepts(&connected), "kernel-made routes are not learned");
        assert!(RouteFilter::default().accepts(&route("10.10.0.0/24", 4, RouteKind::Unicast, Some("eth0"))));
    }

    #[test]
    fn prefix_sets_bound_length_and_range() {
        let pool: IpNet = "10.0.0.0/16".parse().expect("net");
        let f = RouteFilter::everything().prefixes([PrefixRange::or_longer(pool)]);
        assert!(f.accepts(&route("10.0.0.0/16", 80, RouteKind::Blackhole, None)));
        assert!(f.accepts(&route("10.0.3.7/32", 80, RouteKind::Blackhole, None)));
        assert!(!f.accepts(&route("10.1.0.0/26", 80, RouteKind::Blackhole, None)));
        assert!(!f.accepts(&route("10.0.0.0/8", 80, RouteKind::Blackhole, None)));
        let exact = RouteFilter::everything().prefixes([PrefixRange::exact(pool)]);
        assert!(!exact.accepts(&route("10.0.3.0/24", 80, RouteKind::Blackhole, None)));
        let ranged = PrefixRange { net: pool, min_len: 26, max_len: 28 };
        assert!(ranged.contains(&"10.0.1.64/26".parse().expect("net")));
        assert!(!ranged.contains(&"10.0.1.64/32".parse().expect("net")));
    }

    #[test]
    fn interface_exclusion_and_inclusion() {
        let f = RouteFilter::everything().exclude_interfaces(["cali*", "tunl0", "*.cali"]);
        assert!(!f.accepts(&route("10.0.0.5/32", 3, RouteKind::Unicast, Some("cali99"))));
        assert!(!f.accepts(&route("10.0.0.0/26", 80, RouteKind::Unicast, Some("tunl0"))));
        assert!(f.accepts(&route("10.0.0.0/26", 80, RouteKind::Unicast, Some("eth0"))));
        assert!(f.accepts(&route("10.0.0.0/26", 80, RouteKind::Blackhole, None)));
        let mut mp = route("10.0.0.0/26", 80, RouteKind::Unicast, Some("eth0"));
        mp.multipath = vec![crate::route::LocalNextHop {
            gateway: None,
            ifindex: 9,
            interface: Some("cali7".into()),
            onlink: false,
            weight: 1,
        }];
        assert!(!f.accepts(&mp), "one excluded next hop excludes the route");
        let inc = RouteFilter::everything().include_interfaces(["cali*"]);
        assert!(inc.accepts(&route("10.0.0.5/32", 3, RouteKind::Unicast, Some("cali1"))));
        assert!(!inc.accepts(&route("10.0.0.5/32", 3, RouteKind::Unicast, Some("eth0"))));
        assert!(inc.accepts(&route("10.0.0.0/26", 80, RouteKind::Blackhole, None)));
    }
}
