//! `filter calico_kernel_programming`: which BGP routes go into the kernel, and how.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{local_pref_to_metric, pool_class, within, CalicoRules, PoolClass};

/// What to do with one BGP-learned route and next hop in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelDecision {
    /// The filter rejects it: not ours to program (Felix's, a service range, …).
    Skip,
    /// `PREFIX via NEXT_HOP [dev tunl0 onlink] metric METRIC`.
    Install {
        via: IpAddr,
        /// Calico's `krt_tunnel = "tunl0"`: `dev tunl0 onlink`.
        dev_tunl0_onlink: bool,
        /// `krt_metric`: 1024 (the normal priority), or `2147483647 − LOCAL_PREF`.
        metric: u32,
    },
}

/// How the pool statement of `calico_kernel_programming` treats a prefix.
enum PoolRule {
    /// No statement matched: the final `accept;` (no tunnel).
    NoMatch,
    Reject,
    Accept {
        tunnel: Tunnel,
    },
}

enum Tunnel {
    No,
    Always,
    /// `if (defined(bgp_next_hop)&&(bgp_next_hop ~ SUBNET)) then krt_tunnel=""; else krt_tunnel="tunl0";`
    OffSubnet,
}

impl CalicoRules {
    /// `calico_kernel_programming` for a route to `prefix` learned over BGP with `next_hop` and
    /// `local_pref`, in the template's order:
    ///
    /// 1. `# Don't program static routes into kernel.` `if ( net ~ {{$cidr}} ) then { reject; }`
    ///    for every reject CIDR (the service ranges).
    /// 2. SetMetricForBGPRoutes: `krt_metric = 1024; if (defined(bgp_local_pref)) then
    ///    { krt_metric = 2147483647 - bgp_local_pref; }`.
    /// 3. KernelFilterForIPPools (`processIPPool`), for the pool holding the prefix:
    ///    VXLAN: `if (net ~ CIDR) then { reject; } # VXLAN routes are handled by Felix.`;
    ///    a class Felix programs (`programClusterRoutes`):
    ///    `… { reject; } # Cluster routes are handled by Felix.`;
    ///    IPIP Always: `… { krt_tunnel="tunl0"; accept; }`;
    ///    IPIP CrossSubnet: `… { if (defined(bgp_next_hop)&&(bgp_next_hop ~ SUBNET)) then
    ///    krt_tunnel=""; else krt_tunnel="tunl0"; accept; }`;
    ///    no encapsulation: `… { krt_tunnel=""; accept; }`.
    ///    IPv4 statements exist only when the node's subnet is known (`if ipVersion == 6 ||
    ///    ipVersion == 4 && localSubnetErr == nil`); IPv6 keeps only the `reject` statements
    ///    (no tunnel for IPv6).
    /// 4. `accept;  # Destination is not in any ipPool, accept`.
    pub fn kernel_route(&self, prefix: IpNet, next_hop: IpAddr, local_pref: Option<u32>) -> KernelDecision {
        let prefix = prefix.trunc();
        if self.reject_cidrs.iter().any(|c| within(&prefix, c)) {
            return KernelDecision::Skip;
        }
        let metric = local_pref.map_or(self.options.normal_route_priority, local_pref_to_metric);
        let dev_tunl0_onlink = match self.pool_rule(&prefix) {
            PoolRule::Reject => return KernelDecision::Skip,
            PoolRule::NoMatch | PoolRule::Accept { tunnel: Tunnel::No } => false,
            PoolRule::Accept { tunnel: Tunnel::Always } => true,
            PoolRule::Accept { tunnel: Tunnel::OffSubnet } => !self.on_subnet(next_hop),
        };
        KernelDecision::Install { via: next_hop, dev_tunl0_onlink, metric }
    }

    /// [`kernel_route`](Self::kernel_route) for each next hop of an ECMP route (BIRD's
    /// `merge paths on` runs the filter per path): the decisions that install, in order.
    pub fn kernel_routes(&self, prefix: IpNet, next_hops: &[IpAddr], local_pref: Option<u32>) -> Vec<KernelDecision> {
        next_hops
            .iter()
            .map(|nh| self.kernel_route(prefix, *nh, local_pref))
            .filter(|d| *d != KernelDecision::Skip)
            .collect()
    }

    /// The blackholes BIRD writes to the kernel: each of
    /// [`originated_routes`](Self::originated_routes) that `calico_kernel_programming` accepts
    /// (service ranges are reject CIDRs; blocks of VXLAN pools and of pools Felix programs are
    /// rejected). On a BIRD node these show as `blackhole 10.244.1.0/26 proto bird`.
    pub fn kernel_blackholes(&self) -> Vec<IpNet> {
        self.originated_routes()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !self.reject_cidrs.iter().any(|c| within(p, c)))
            .filter(|p| !matches!(self.pool_rule(p), PoolRule::Reject))
            .collect()
    }

    fn pool_rule(&self, prefix: &IpNet) -> PoolRule {
        let v4 = matches!(prefix, IpNet::V4(_));
        if v4 && self.subnet_v4.is_none() {
            return PoolRule::NoMatch;
        }
        let Some(pool) = self.pools.iter().find(|p| within(prefix, &p.cidr)) else {
            return PoolRule::NoMatch;
        };
        let routes = self.options.program_cluster_routes;
        let rule = match pool_class(pool) {
            PoolClass::Vxlan => PoolRule::Reject,
            PoolClass::Ipip { .. } if !routes.programs_ipip() => PoolRule::Reject,
            PoolClass::NoEncap if !routes.programs_no_encap() => PoolRule::Reject,
            PoolClass::Ipip { cross_subnet: false } => PoolRule::Accept { tunnel: Tunnel::Always },
            PoolClass::Ipip { cross_subnet: true } => PoolRule::Accept { tunnel: Tunnel::OffSubnet },
            PoolClass::NoEncap => PoolRule::Accept { tunnel: Tunnel::No },
        };
        match rule {
            // IPv6: "we only need to include statements with "reject" action, since we include a
            // default "accept" at the end" — and krt_tunnel is never set.
            PoolRule::Accept { .. } if !v4 => PoolRule::NoMatch,
            r => r,
        }
    }
}
