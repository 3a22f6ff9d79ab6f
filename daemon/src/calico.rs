//! Calico's route rules, reproduced from confd's BIRD templates.
//!
//! Sources (projectcalico/calico): `confd/etc/calico/confd/templates/bird.cfg.template`,
//! `bird_aggr.cfg.template`, `bird_ipam.cfg.template` (moved to
//! `node/filesystem/etc/calico/confd/templates/` in later releases), and the Go that renders
//! their filter lines (`confd/pkg/backends/calico/bgp_processor.go`: `processIPPool`,
//! `processCommunityRules`, the mesh import/export filters with route priority). Each rule's doc
//! comment quotes the template line it reproduces.
//!
//! [`CalicoRules`] is the compiled form of one node's [`DesiredState`] (plus [`CalicoOptions`],
//! the few Calico settings the configuration file does not carry yet). From it come:
//!
//! - [`CalicoExport`] — `calico_export_to_bgp_peers(internal_peer)` + `calico_aggr`, with the
//!   mesh filter's priority (`bgp_local_pref = 2147483647 − krt_metric`) on iBGP peers; a
//!   [`speaker::rib::Policy`]. The pure decision is [`CalicoRules::export`].
//! - [`CalicoImport`] — the import side (`import all` / `accept;`); the priority's inverse
//!   (`krt_metric = 2147483647 − bgp_local_pref`) is applied where BIRD uses it, when the route
//!   is written to the kernel: [`CalicoRules::kernel_route`].
//! - [`CalicoRules::kernel_route`] — `filter calico_kernel_programming` for one learned route and
//!   next hop: skip, or install via the next hop, through `tunl0 onlink` or not, with a metric.
//! - [`CalicoRules::originated_routes`] — BIRD's `protocol static`: the blackholes of this
//!   node's IPAM blocks and of the advertised service ranges, as locally originated routes;
//!   [`CalicoRules::kernel_blackholes`] — those of them BIRD writes to the kernel.
//! - [`CalicoRules::kernel_origination`] — whether (and with what attributes) a route learned
//!   from the kernel enters the RIB.
//!
//! The daemon holds a [`CalicoHandle`]: the rules (swapped on reload) and the kernel route
//! facts, shared with the policies it hands out, with adapters to `fib`'s types
//! ([`CalicoHandle::learn`] for a `fib::LocalRoute`, [`CalicoHandle::fib_route`] for a route the
//! RIB selected, [`CalicoHandle::blackholes`]).
//!
//! # Kernel route facts at export time
//!
//! Some export rules look at what the kernel said about a route, not at BGP attributes: the
//! interface (`ifname ~ "*.cali"`, `"*.calico"`, `"bpf*.cali"`, `"tunl0"`), whether it has a
//! gateway (`dest = RTD_ROUTER`), and its metric (`krt_metric < 1024` for /32s inside a block).
//! BIRD keeps those on the route; a BGP attribute set has no room for them, and a private
//! attribute would risk reaching the wire. So the daemon's kernel learner records them in a
//! [`KernelRoutes`] table (prefix → [`KernelRouteInfo`], shared `Arc<RwLock<…>>`) and the export
//! policy reads it. [`CalicoHandle::learn`] does the bookkeeping and answers with a [`Learned`]:
//!
//! 1. `Withdraw`: no Calico filter would export the route to any peer (or a static route of ours
//!    covers the prefix): it stays out of the RIB (`WithdrawLocal` if it was in). Its facts are
//!    dropped.
//! 2. `Originate(attrs)`: the facts are recorded **before** the daemon sends
//!    `rib::Input::Originate` with `attrs` (LOCAL_PREF already carries the metric as
//!    `2147483647 − metric`, which is all iBGP peers see of it).
//! 3. `Reoriginate(attrs)`: export-relevant facts changed ([`KernelRouteInfo::export_key`]) while
//!    the attributes did not, which the RIB would not notice: withdraw, then originate.
//!
//! A removed kernel route: `WithdrawLocal`, then [`CalicoHandle::forget`].
//!
//! The facts describe the kernel's route for the prefix; the policy applies them to whatever
//! path of that prefix it is asked about. On a Calico node a prefix learned both from the kernel
//! and over BGP is a Felix-programmed cluster route: its BGP copy is never sent to iBGP peers
//! (RFC 4271 §9.1.1, unless reflecting), and towards eBGP peers the interface rules do not apply.
//!
//! # Where tern differs, on purpose
//!
//! - `PoolState::disabled` has no effect on BGP: Calico's `reject_disabled_pools()` rejects
//!   only `disableBGPExport` pools, whatever its name says.
//! - Without this node's IPv4 subnet (`DesiredState::ipv4_subnet`), Calico renders no IPv4 pool
//!   statements in `calico_kernel_programming` (`{{if exists $network_key}}`): every IPv4 route
//!   is installed straight via its next hop, no tunnel, even in VXLAN pools. Reproduced.
//! - BIRD prefers a BGP route (preference 100) to a kernel one (10); tern's RIB prefers the
//!   local route on equal LOCAL_PREF. Both end the same for export (see above).

mod handle;
mod kernel;
mod policies;

use std::net::IpAddr;

use bgp_proto::attribute::{AsPath, Origin};
use bgp_proto::PathAttributes;
use config::schema::EncapMode;
use config::{Community, DesiredState, PoolState};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

pub use handle::{CalicoHandle, Learned};
pub use kernel::KernelDecision;
pub use policies::{CalicoExport, CalicoImport, KernelRouteInfo, KernelRoutes};

/// BIRD's largest `int`: the mesh filters map priorities with `2147483647 − x`.
pub const PRIORITY_BASE: u32 = 2_147_483_647;

/// Felix's `ipv4NormalRoutePriority` / `ipv6NormalRoutePriority` default (the kernel metric of an
/// ordinary workload route); a lower metric is an "elevated" route (KubeVirt live migration).
pub const DEFAULT_NORMAL_ROUTE_PRIORITY: u32 = 1024;

/// The kernel interface of Calico's IPIP tunnel.
pub const IPIP_TUNNEL: &str = "tunl0";

/// `bgp_local_pref = 2147483647 - krt_metric` (negative results clamp to 0).
pub fn metric_to_local_pref(metric: u32) -> u32 {
    PRIORITY_BASE.saturating_sub(metric)
}

/// `krt_metric = 2147483647 - bgp_local_pref` (clamped at 0).
pub fn local_pref_to_metric(local_pref: u32) -> u32 {
    PRIORITY_BASE.saturating_sub(local_pref)
}

/// `BGPConfiguration.programClusterRoutes`: which classes of IP pool tern programs the cluster
/// routes for; Felix programs the others. The datastore model's type, under the rules' name.
pub use config::calico::resources::ProgramClusterRoutes as ClusterRoutes;

/// Calico settings that change the rules but are not in the configuration file (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoOptions {
    pub program_cluster_routes: ClusterRoutes,
    /// The metric of ordinary workload routes ([`DEFAULT_NORMAL_ROUTE_PRIORITY`]).
    pub normal_route_priority: u32,
    /// Advertise the service ranges from this node (false when the node carries
    /// `node.kubernetes.io/exclude-from-external-load-balancers`): confd's `updateGlobalRoutes`
    /// then still writes the reject CIDRs but no static routes.
    pub advertise_services: bool,
}

impl Default for CalicoOptions {
    fn default() -> Self {
        CalicoOptions {
            program_cluster_routes: ClusterRoutes::default(),
            normal_route_priority: DEFAULT_NORMAL_ROUTE_PRIORITY,
            advertise_services: true,
        }
    }
}

/// The class of an IP pool, as `processIPPool` sorts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolClass {
    /// `vxlanMode: Always|CrossSubnet`: always Felix's.
    Vxlan,
    Ipip {
        cross_subnet: bool,
    },
    NoEncap,
}

pub(crate) fn pool_class(p: &PoolState) -> PoolClass {
    match (p.vxlan_mode, p.ipip_mode) {
        (EncapMode::Always | EncapMode::CrossSubnet, _) => PoolClass::Vxlan,
        (_, EncapMode::Always) => PoolClass::Ipip { cross_subnet: false },
        (_, EncapMode::CrossSubnet) => PoolClass::Ipip { cross_subnet: true },
        (_, EncapMode::Never) => PoolClass::NoEncap,
    }
}

/// BIRD's `net ~ cidr`: `prefix` is `cidr` or inside it (same family).
pub(crate) fn within(prefix: &IpNet, cidr: &IpNet) -> bool {
    prefix.prefix_len() >= cidr.prefix_len() && cidr.contains(&prefix.network())
}

/// One node's Calico rules, compiled from its [`DesiredState`]. Cheap to rebuild on reload;
/// share it as `Arc<CalicoRules>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalicoRules {
    pub(crate) pools: Vec<PoolState>,
    /// This node's IPAM blocks (`/ipam/v2/host/<node>/ipv4/block`, confirmed affinities).
    pub(crate) blocks: Vec<IpNet>,
    /// confd's `/staticroutes`: the service ranges advertised from this node.
    pub(crate) static_routes: Vec<IpNet>,
    /// confd's `/rejectcidrs`: the service ranges, never programmed into the kernel.
    pub(crate) reject_cidrs: Vec<IpNet>,
    /// A route reflector's extra accepts: LoadBalancer, then external service ranges.
    pub(crate) reflector_accepts: Vec<IpNet>,
    pub(crate) communities: Vec<(IpNet, Vec<Community>)>,
    pub(crate) subnet_v4: Option<Ipv4Net>,
    pub(crate) subnet_v6: Option<Ipv6Net>,
    pub(crate) options: CalicoOptions,
}

impl CalicoRules {
    pub fn new(state: &DesiredState, options: CalicoOptions) -> CalicoRules {
        let c = &state.calico;
        let services: Vec<IpNet> = c
            .service_cluster_cidrs
            .iter()
            .chain(&c.service_external_cidrs)
            .chain(&c.service_loadbalancer_cidrs)
            .map(IpNet::trunc)
            .collect();
        let reflector_accepts = if state.rr_cluster_id.is_some() {
            c.service_loadbalancer_cidrs.iter().chain(&c.service_external_cidrs).map(IpNet::trunc).collect()
        } else {
            Vec::new()
        };
        CalicoRules {
            pools: c.ip_pools.iter().map(|p| PoolState { cidr: p.cidr.trunc(), ..p.clone() }).collect(),
            blocks: c.ipam_blocks.iter().map(IpNet::trunc).collect(),
            static_routes: if options.advertise_services { services.clone() } else { Vec::new() },
            reject_cidrs: services,
            reflector_accepts,
            communities: c.prefix_communities.iter().map(|(n, cs)| (n.trunc(), cs.clone())).collect(),
            subnet_v4: state.ipv4_subnet,
            subnet_v6: state.ipv6_subnet,
            options,
        }
    }

    pub fn options(&self) -> &CalicoOptions {
        &self.options
    }

    /// The export policy for a peer: `internal_peer` when it is in our AS (Calico's
    /// `calico_export_to_bgp_peers(true)`), which also turns on the mesh priority rule.
    pub fn export_policy(self: &std::sync::Arc<Self>, kernel: KernelRoutes, internal_peer: bool) -> CalicoExport {
        CalicoExport::new(self.clone(), kernel, internal_peer)
    }

    /// BIRD's `protocol static` for Calico (`bird_aggr.cfg.template`):
    /// `route {{$cidr}} blackhole;` for every block of this node except host blocks
    /// (`{{- if not (hasSuffix $cidr "/32")}}`, `/128` for IPv6), then for every static route
    /// (`{{- range ls $static_key}} route {{$cidr}} blackhole;`). Attributes as BIRD gives
    /// non-BGP routes (ORIGIN IGP, empty AS_PATH) and LOCAL_PREF for the normal priority, so that
    /// iBGP peers get `2147483647 − 1024` as from BIRD's mesh export filter. No next hop: the RIB
    /// sets ours.
    pub fn originated_routes(&self) -> Vec<(IpNet, PathAttributes)> {
        let mut out: Vec<(IpNet, PathAttributes)> = Vec::new();
        let host = |n: &IpNet| n.prefix_len() == n.max_prefix_len();
        for prefix in self.blocks.iter().filter(|b| !host(b)).chain(&self.static_routes) {
            if !out.iter().any(|(p, _)| p == prefix) {
                out.push((*prefix, self.local_attributes(self.options.normal_route_priority)));
            }
        }
        out
    }

    /// Attributes of a locally originated route whose kernel metric is `metric`.
    pub fn local_attributes(&self, metric: u32) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: Some(metric_to_local_pref(metric)),
            ..PathAttributes::default()
        }
    }

    /// Whether `prefix` is one of [`originated_routes`](Self::originated_routes).
    pub fn is_originated(&self, prefix: &IpNet) -> bool {
        let p = prefix.trunc();
        (p.prefix_len() != p.max_prefix_len() && self.blocks.contains(&p)) || self.static_routes.contains(&p)
    }

    /// Whether a route learned from the kernel enters the RIB, and with which attributes.
    /// `None` when a static route of ours has the prefix (BIRD's static protocol wins, preference
    /// 200 over the kernel's 10), or when [`CalicoExport`] would reject it towards both iBGP and
    /// eBGP peers (host routes, the node's own networks, non-elevated /32s in our blocks,
    /// `bpf*.cali` routes, …).
    pub fn kernel_origination(&self, prefix: IpNet, info: &KernelRouteInfo) -> Option<PathAttributes> {
        let prefix = prefix.trunc();
        if self.is_originated(&prefix) {
            return None;
        }
        let attrs = self.local_attributes(info.metric);
        let exported = [true, false].into_iter().any(|internal| {
            let mut scratch = attrs.clone();
            self.export(prefix, Some(info), internal, internal, &mut scratch)
        });
        exported.then_some(attrs)
    }

    /// Pools whose cluster routes Felix programs (`processIPPools`' iBGP reject list), without
    /// the `disableBGPExport` ones, which are rejected before.
    pub(crate) fn felix_owned(&self, p: &PoolState) -> bool {
        match pool_class(p) {
            PoolClass::Vxlan => true,
            PoolClass::Ipip { .. } => !self.options.program_cluster_routes.programs_ipip(),
            PoolClass::NoEncap => !self.options.program_cluster_routes.programs_no_encap(),
        }
    }

    /// The subnet of this node's address in the family of `addr`.
    pub(crate) fn on_subnet(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.subnet_v4.is_some_and(|n| n.contains(&a)),
            IpAddr::V6(a) => self.subnet_v6.is_some_and(|n| n.contains(&a)),
        }
    }
}
