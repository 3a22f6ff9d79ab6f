//! Route values on both sides of the kernel boundary.
//!
//! [`LocalRoute`] is what the kernel holds (learned through the watch and
//! offered to BGP); [`Route`] is what tern asks the kernel to hold (a route
//! learned from a peer, or a blackhole for one of the node's IPAM blocks).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// The local table (`RT_TABLE_LOCAL`): addresses of the node itself, never BGP's.
pub const TABLE_LOCAL: u32 = 255;
/// The protocol number BIRD uses (`RTPROT_BIRD`) and Felix expects for routes
/// programmed by the BGP daemon.
pub const PROTO_BIRD: u8 = 12;
/// Felix's protocol number for block blackholes and IPIP routes.
pub const PROTO_FELIX: u8 = 80;
/// `RTPROT_BOOT`, the protocol Felix gives workload (`cali*`) routes.
pub const PROTO_BOOT: u8 = 3;

/// The IPv6 kernel turns a metric of 0 into 1024 (`IP6_RT_PRIO_USER`).
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// Route type (`rtm_type` of `struct rtmsg`, rtnetlink(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    Unicast,
    Local,
    Blackhole,
    Unreachable,
    Prohibit,
    Other(u8),
}

impl RouteKind {
    /// The `RTN_*` number.
    pub fn number(self) -> u8 {
        match self {
            RouteKind::Unicast => 1,
            RouteKind::Local => 2,
            RouteKind::Blackhole => 6,
            RouteKind::Unreachable => 7,
            RouteKind::Prohibit => 8,
            RouteKind::Other(n) => n,
        }
    }

    /// From the `RTN_*` number.
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => RouteKind::Unicast,
            2 => RouteKind::Local,
            6 => RouteKind::Blackhole,
            7 => RouteKind::Unreachable,
            8 => RouteKind::Prohibit,
            n => RouteKind::Other(n),
        }
    }
}

/// One next hop of a kernel route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNextHop {
    pub gateway: Option<IpAddr>,
    pub ifindex: u32,
    /// Interface name, when the link is known to the watch.
    pub interface: Option<String>,
    pub onlink: bool,
    /// `rtnh_hops` + 1, as `ip route` prints it.
    pub weight: u16,
}

/// A route in a kernel table, with what Calico's export policy needs: prefix,
/// type, interface, gateway, metric (`krt_metric`) and protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoute {
    pub prefix: IpNet,
    pub table: u32,
    pub kind: RouteKind,
    pub protocol: u8,
    /// `RTA_PRIORITY`; `krt_metric` in BIRD's terms.
    pub metric: u32,
    /// Output interface (of the first next hop for a multipath route).
    pub interface: Option<String>,
    pub ifindex: Option<u32>,
    /// Gateway (of the first next hop for a multipath route).
    pub gateway: Option<IpAddr>,
    /// Preferred source address (`RTA_PREFSRC`).
    pub src: Option<IpAddr>,
    /// Every next hop of a multipath (`RTA_MULTIPATH`) route; empty otherwise.
    pub multipath: Vec<LocalNextHop>,
}

impl LocalRoute {
    /// Where the route sits in the kernel: table, prefix, metric.
    pub fn key(&self) -> RouteKey {
        RouteKey { table: self.table, prefix: self.prefix, metric: self.metric }
    }
}

/// What identifies a route in a kernel table: two routes with the same
/// table, prefix and metric (priority) cannot coexist (a replace overwrites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub table: u32,
    pub prefix: IpNet,
    pub metric: u32,
}

/// A change in the set of local routes that pass the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRouteEvent {
    Added(LocalRoute),
    Changed { old: LocalRoute, new: LocalRoute },
    Removed(LocalRoute),
}

impl LocalRouteEvent {
    /// The route after the change (the removed one for a removal).
    pub fn route(&self) -> &LocalRoute {
        match self {
            LocalRouteEvent::Added(r) | LocalRouteEvent::Removed(r) => r,
            LocalRouteEvent::Changed { new, .. } => new,
        }
    }
}

/// A next hop tern wants in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gateway {
    pub address: IpAddr,
    /// Required for an IPv6 link-local address and for `onlink`.
    pub interface: Option<String>,
    /// `onlink`: the gateway is on the link even without a covering subnet
    /// (Calico's `via NH dev tunl0 onlink` for IPIP pools).
    pub onlink: bool,
}

impl Gateway {
    pub fn new(address: IpAddr) -> Self {
        Gateway { address, interface: None, onlink: false }
    }

    pub fn dev(mut self, interface: impl Into<String>) -> Self {
        self.interface = Some(interface.into());
        self
    }

    pub fn onlink(mut self) -> Self {
        self.onlink = true;
        self
    }
}

/// Where a route tern installs sends packets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// Drop silently (Calico's blackhole for the node's own IPAM blocks).
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// One next hop, or an ECMP route (`RTA_MULTIPATH`) with several.
    Via(Vec<Gateway>),
}

/// A route tern asks the kernel to hold. Table and protocol number come from
/// the [`crate::FibConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub prefix: IpNet,
    pub target: RouteTarget,
    /// `metric`/`priority`; `None` = the kernel default (0, 1024 for IPv6).
    pub metric: Option<u32>,
    /// Preferred source address (`src`).
    pub src: Option<IpAddr>,
}

impl Route {
    /// `PREFIX via GATEWAY`.
    pub fn via(prefix: IpNet, gateway: Gateway) -> Self {
        Route { prefix: prefix.trunc(), target: RouteTarget::Via(vec![gateway]), metric: None, src: None }
    }

    /// `PREFIX nexthop via A nexthop via B ...` (ECMP).
    pub fn multipath(prefix: IpNet, gateways: Vec<Gateway>) -> Self {
        Route { prefix: prefix.trunc(), target: RouteTarget::Via(gateways), metric: None, src: None }
    }

    /// `blackhole PREFIX`.
    pub fn blackhole(prefix: IpNet) -> Self {
        Route { prefix: prefix.trunc(), target: RouteTarget::Blackhole, metric: None, src: None }
    }

    /// `unreachable PREFIX`.
    pub fn unreachable(prefix: IpNet) -> Self {
        Route { prefix: prefix.trunc(), target: RouteTarget::Unreachable, metric: None, src: None }
    }

    pub fn with_metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    pub fn with_src(mut self, src: IpAddr) -> Self {
        self.src = Some(src);
        self
    }

    /// The metric the kernel will store (IPv6 turns 0 into 1024).
    pub fn effective_metric(&self) -> u32 {
        match (self.prefix, self.metric) {
            (IpNet::V6(_), None | Some(0)) => IPV6_DEFAULT_METRIC,
            (_, m) => m.unwrap_or(0),
        }
    }

    /// Interface names this route needs before it can be installed.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        let gws: &[Gateway] = match &self.target {
            RouteTarget::Via(g) => g,
            _ => &[],
        };
        gws.iter().filter_map(|g| g.interface.as_deref())
    }

    /// Checks what the kernel would reject for reasons no retry can fix.
    pub fn validate(&self) -> Result<(), InvalidRoute> {
        let v4 = matches!(self.prefix, IpNet::V4(_));
        if let Some(src) = self.src {
            if src.is_ipv4() != v4 {
                return Err(InvalidRoute::FamilyMismatch(self.prefix, src));
            }
        }
        if let RouteTarget::Via(gws) = &self.target {
            if gws.is_empty() {
                return Err(InvalidRoute::NoNextHop(self.prefix));
            }
            for g in gws {
                if g.address.is_ipv4() != v4 {
                    return Err(InvalidRoute::FamilyMismatch(self.prefix, g.address));
                }
                if g.interface.is_none() && (g.onlink || is_link_local(g.address)) {
                    return Err(InvalidRoute::NeedsInterface(self.prefix, g.address));
                }
            }
        }
        Ok(())
    }
}

/// An IPv6 link-local (fe80::/10) address: meaningless without an interface.
pub fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// A route the kernel would reject whatever happens later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRoute {
    #[error("{0}: address {1} is not of the prefix's family")]
    FamilyMismatch(IpNet, IpAddr),
    #[error("{0}: no next hop")]
    NoNextHop(IpNet),
    #[error("{0}: next hop {1} needs an interface (link-local or onlink)")]
    NeedsInterface(IpNet, IpAddr),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            RouteTarget::Blackhole => write!(f, "blackhole {}", self.prefix)?,
            RouteTarget::Unreachable => write!(f, "unreachable {}", self.prefix)?,
            RouteTarget::Via(gws) => {
                write!(f, "{}", self.prefix)?;
                for g in gws {
                    write!(f, " via {}", g.address)?;
                    if let Some(dev) = &g.interface {
                        write!(f, " dev {dev}")?;
                    }
                    if g.onlink {
                        write!(f, " onlink")?;
                    }
                }
            }
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    #[test]
    fn ipv6_metric_zero_becomes_1024() {
        let r = Route::blackhole(net("2001:db8::/64"));
        assert_eq!(r.effective_metric(), 1024);
        assert_eq!(r.clone().with_metric(0).effective_metric(), 1024);
        assert_eq!(r.with_metric(5).effective_metric(), 5);
        assert_eq!(Route::blackhole(net("10.0.0.0/8")).effective_metric(), 0);
    }

    #[test]
    fn prefixes_are_truncated_to_their_network() {
        assert_eq!(Route::blackhole(net("10.1.2.3/24")).prefix, net("10.1.2.0/24"));
    }

    #[test]
    fn validation_rejects_what_the_kernel_would() {
        let ll: IpAddr = "fe80::1".parse().expect("addr");
        let r = Route::via(net("2001:db8::/64"), Gateway::new(ll));
        assert!(matches!(r.validate(), Err(InvalidRoute::NeedsInterface(..))));
        assert!(Route::via(net("2001:db8::/64"), Gateway::new(ll).dev("eth0")).validate().is_ok());
        let v4gw: IpAddr = "10.0.0.1".parse().expect("addr");
        assert!(matches!(
            Route::via(net("2001:db8::/64"), Gateway::new(v4gw)).validate(),
            Err(InvalidRoute::FamilyMismatch(..))
        ));
        assert!(matches!(
            Route::via(net("10.0.0.0/24"), Gateway::new(v4gw).onlink()).validate(),
            Err(InvalidRoute::NeedsInterface(..))
        ));
        assert!(matches!(Route::multipath(net("10.0.0.0/24"), vec![]).validate(), Err(InvalidRoute::NoNextHop(_))));
        assert!(matches!(
            Route::blackhole(net("10.0.0.0/24")).with_src(ll).validate(),
            Err(InvalidRoute::FamilyMismatch(..))
        ));
    }

    #[test]
    fn kind_numbers_round_trip() {
        for n in 0..=12u8 {
            assert_eq!(RouteKind::from_number(n).number(), n);
        }
    }

    #[test]
    fn display_reads_like_ip_route() {
        let r = Route::via(net("10.0.1.0/26"), Gateway::new("192.168.0.2".parse().expect("a")).dev("tunl0").onlink())
            .with_metric(10);
        assert_eq!(r.to_string(), "10.0.1.0/26 via 192.168.0.2 dev tunl0 onlink metric 10");
    }
}
