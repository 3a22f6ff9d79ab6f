//! `calico_export_to_bgp_peers` (+ `calico_aggr`) and the import side, as RIB policies; the
//! table of kernel route facts the export rules read.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bgp_proto::attribute::LargeCommunity;
use bgp_proto::{Family, Nlri, PathAttributes};
use config::Community;
use ipnet::IpNet;
use speaker::policy::{community, Action};
use speaker::rib::Policy;

use super::{local_pref_to_metric, metric_to_local_pref, within, CalicoRules, IPIP_TUNNEL};

/// What the kernel says about a route the daemon learned from it (BIRD's `ifname`, `dest`,
/// `krt_metric`, `krt_source`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelRouteInfo {
    /// Outgoing interface (of the first next hop); `None` for blackhole/unreachable routes.
    pub ifname: Option<String>,
    /// `RTA_PRIORITY`, 0 when absent.
    pub metric: u32,
    /// `rtm_protocol` (Felix: 80 for blackholes/tunnels, 3 for workload routes).
    pub proto: u8,
    /// Via a gateway (BIRD's `dest = RTD_ROUTER` or `RTD_MULTIPATH`), not a device route.
    pub gateway: bool,
}

impl KernelRouteInfo {
    /// The facts the export rules look at, other than the metric (which the originated route's
    /// LOCAL_PREF carries): when these change the route must be withdrawn and originated again.
    pub fn export_key(&self) -> (Option<&str>, bool) {
        (self.ifname.as_deref(), self.gateway)
    }
}

/// Kernel-learned routes by prefix, shared between the kernel learner (writer) and the export
/// policies (readers). Cloning shares the table.
#[derive(Clone, Debug, Default)]
pub struct KernelRoutes {
    inner: Arc<RwLock<HashMap<IpNet, KernelRouteInfo>>>,
}

impl KernelRoutes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `info` for `prefix`; returns what was there. A poisoned lock (a writer panicked)
    /// still holds a consistent map — every write is a single insert or remove — so it is used.
    pub fn insert(&self, prefix: IpNet, info: KernelRouteInfo) -> Option<KernelRouteInfo> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).insert(prefix.trunc(), info)
    }

    pub fn remove(&self, prefix: &IpNet) -> Option<KernelRouteInfo> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).remove(&prefix.trunc())
    }

    pub fn get(&self, prefix: &IpNet) -> Option<KernelRouteInfo> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).get(&prefix.trunc()).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// BIRD's string match `ifname ~ "pattern"`: `*` any run of characters, `?` one character.
pub(crate) fn shell_match(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn add_community(attrs: &mut PathAttributes, family: Family, c: &Community) {
    let action = match *c {
        Community::Standard(asn, value) => Action::AddCommunity(community(asn, value)),
        Community::Large(g, d1, d2) => {
            Action::AddLargeCommunity(LargeCommunity { global_admin: g, local_data1: d1, local_data2: d2 })
        }
    };
    action.apply(family, attrs);
}

impl CalicoRules {
    /// The kernel metric BIRD would see on a route (`krt_metric`): the kernel's own for a
    /// kernel-learned route; for others the mesh import filter's
    /// `krt_metric = 1024; if (defined(bgp_local_pref)) then { krt_metric = 2147483647 - bgp_local_pref; }`.
    pub fn krt_metric(&self, kernel: Option<&KernelRouteInfo>, attrs: &PathAttributes) -> u32 {
        match kernel {
            Some(k) => k.metric,
            None => attrs.local_pref.map_or(self.options.normal_route_priority, local_pref_to_metric),
        }
    }

    /// `calico_export_to_bgp_peers(internal_peer)` followed by the peer filter's final `reject;`,
    /// for one route. `kernel`: the route's kernel facts when it was learned from the kernel.
    /// `priority`: first run the mesh export filter's
    /// `if (!defined(krt_metric)) then { krt_metric = 1024; } bgp_local_pref = 2147483647 - krt_metric;`.
    /// Returns whether the route is exported; `attrs` gets the changes (communities, LOCAL_PREF).
    pub fn export(
        &self,
        prefix: IpNet,
        kernel: Option<&KernelRouteInfo>,
        internal_peer: bool,
        priority: bool,
        attrs: &mut PathAttributes,
    ) -> bool {
        let prefix = prefix.trunc();
        let family = speaker::policy::unicast_family(&prefix);
        let krt_metric = self.krt_metric(kernel, attrs);
        if priority {
            attrs.local_pref = Some(metric_to_local_pref(krt_metric));
        }
        let ifname = kernel.and_then(|k| k.ifname.as_deref());

        // BGPExportFilterForDisabledIPPools:
        // `if (net ~ {{cidr}}) then { reject; } # BGP export is disabled.`
        if self.pools.iter().any(|p| p.disable_bgp_export && within(&prefix, &p.cidr)) {
            return false;
        }
        // `if (internal_peer) then { reject_tunnel_routes(); }`
        if internal_peer {
            // `if (defined(ifname)) then { if ((ifname ~ "*.cali") || (ifname ~ "*.calico")
            //  [|| (ifname ~ "tunl0") when Felix programs the IPIP cluster routes]) then { reject; } }`
            if let Some(name) = ifname {
                let felix_ipip = !self.options.program_cluster_routes.programs_ipip();
                if shell_match("*.cali", name)
                    || shell_match("*.calico", name)
                    || (felix_ipip && shell_match(IPIP_TUNNEL, name))
                {
                    return false;
                }
            }
            // IBGPExportFilterForFelixClusterRoutes:
            // `if (defined(source) && (source = RTS_INHERIT) && ((dest = RTD_ROUTER) || (dest = RTD_MULTIPATH)))
            //  then { if (net ~ {{cidr}}) then { reject; } … }` for the pools Felix programs.
            if kernel.is_some_and(|k| k.gateway)
                && self.pools.iter().any(|p| !p.disable_bgp_export && self.felix_owned(p) && within(&prefix, &p.cidr))
            {
                return false;
            }
        }
        // reject_local_routes(): `if (defined(ifname)) then { if (ifname ~ "bpf*.cali") then { reject; } }`
        if ifname.is_some_and(|n| shell_match("bpf*.cali", n)) {
            return false;
        }
        // apply_communities(): `if ( net ~ {{.CIDR}} ) then { bgp_community.add((a, b)); bgp_large_community.add((a, b, c)); }`
        for (cidr, communities) in &self.communities {
            if within(&prefix, cidr) {
                for c in communities {
                    add_community(attrs, family, c);
                }
            }
        }
        // calico_aggr(), per block of this node:
        // `if ( net = {{$cidr}} ) then { accept; }`
        // `if ( net ~ {{$cidr}} && krt_metric < {{$config.NormalRoutePriority}} ) then { accept; }`
        // `if ( net ~ {{$cidr}} ) then { reject; }`
        for block in &self.blocks {
            if prefix == *block {
                return true;
            }
            if within(&prefix, block) {
                return krt_metric < self.options.normal_route_priority;
            }
        }
        // Static routes: `if ( net ~ {{$cidr}} ) then { accept; }`
        // Reflector: `# Configured as a RR - accept any routes within configured LB service IP ranges`
        // (then external service IP ranges): `if ( net ~ {{$cidr}} ) then { accept; }`
        // BGPExportFilterForEnabledIPPools: `if (net ~ {{cidr}}) then { accept; }`
        self.static_routes.iter().chain(&self.reflector_accepts).any(|c| within(&prefix, c))
            || self.pools.iter().any(|p| !p.disable_bgp_export && within(&prefix, &p.cidr))
    }
}

/// `export filter { calico_export_to_bgp_peers(internal_peer); reject; }`, with the mesh
/// priority rule in front for internal peers. Reads kernel route facts from a [`KernelRoutes`],
/// and the rules from a slot a reload can swap ([`super::CalicoHandle::set_rules`]).
#[derive(Clone, Debug)]
pub struct CalicoExport {
    rules: Arc<RwLock<Arc<CalicoRules>>>,
    kernel: KernelRoutes,
    internal_peer: bool,
    priority: bool,
}

impl CalicoExport {
    /// `internal_peer`: the peer is in our AS. The priority rule (`bgp_local_pref = 2147483647 −
    /// krt_metric`) is on for internal peers, as in Calico's iBGP mesh export filter.
    pub fn new(rules: Arc<CalicoRules>, kernel: KernelRoutes, internal_peer: bool) -> Self {
        Self::shared(Arc::new(RwLock::new(rules)), kernel, internal_peer)
    }

    pub(crate) fn shared(rules: Arc<RwLock<Arc<CalicoRules>>>, kernel: KernelRoutes, internal_peer: bool) -> Self {
        CalicoExport { rules, kernel, internal_peer, priority: internal_peer }
    }

    /// Overrides whether LOCAL_PREF is set from the priority.
    pub fn with_priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    pub fn internal_peer(&self) -> bool {
        self.internal_peer
    }
}

impl Policy for CalicoExport {
    fn apply(&self, _family: Family, nlri: &Nlri, attrs: &mut PathAttributes) -> bool {
        let kernel = self.kernel.get(&nlri.prefix);
        let rules = self.rules.read().unwrap_or_else(PoisonError::into_inner).clone();
        rules.export(nlri.prefix, kernel.as_ref(), self.internal_peer, self.priority, attrs)
    }
}

/// The import side. Calico's templates import everything (`import all;`, later
/// `import filter { …BGPFilter functions…; accept; }`); the mesh import filter's only other work,
/// `krt_metric = 2147483647 − bgp_local_pref` (and `preference = 200` below the normal
/// priority), concerns the kernel and is done by [`CalicoRules::kernel_route`]. In tern's RIB the
/// LOCAL_PREF comparison already ranks elevated routes first.
#[derive(Clone, Copy, Debug, Default)]
pub struct CalicoImport;

impl Policy for CalicoImport {
    fn apply(&self, _family: Family, _nlri: &Nlri, _attrs: &mut PathAttributes) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::shell_match;

    #[test]
    fn shell_patterns_as_bird_matches_them() {
        assert!(shell_match("*.cali", "wireguard.cali"));
        assert!(shell_match("*.calico", "vxlan.calico"));
        assert!(!shell_match("*.cali", "vxlan.calico"));
        assert!(shell_match("bpf*.cali", "bpfout.cali"));
        assert!(!shell_match("bpf*.cali", "cali12345"));
        assert!(shell_match("tunl0", "tunl0"));
        assert!(!shell_match("tunl0", "tunl01"));
        assert!(shell_match("cali*", "cali0a1b2c3d4e5"));
        assert!(shell_match("eth?", "eth0"));
        assert!(!shell_match("*.cali", ".calico"));
        assert!(shell_match("*", ""));
    }
}
