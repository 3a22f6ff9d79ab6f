//! [`CalicoHandle`]: what the daemon shares with the Calico policies it registers with the RIB —
//! the current rules (swapped on reload) and the kernel route facts — with adapters to the
//! `fib` crate's types.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use bgp_proto::PathAttributes;
use config::DesiredState;
use fib::{Gateway, LocalRoute, Route, RouteKind};
use ipnet::IpNet;

use super::IPIP_TUNNEL;
use super::{CalicoExport, CalicoImport, CalicoOptions, CalicoRules, KernelDecision, KernelRouteInfo, KernelRoutes};

impl From<&LocalRoute> for KernelRouteInfo {
    fn from(r: &LocalRoute) -> Self {
        let device = matches!(r.kind, RouteKind::Unicast);
        KernelRouteInfo {
            ifname: if device { r.interface.clone() } else { None },
            metric: r.metric,
            proto: r.protocol,
            gateway: r.gateway.is_some() || !r.multipath.is_empty(),
        }
    }
}

/// What [`CalicoHandle::learn`] asks the daemon to do with a kernel route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    /// `rib::Input::Originate` with these attributes.
    Originate(PathAttributes),
    /// Facts the RIB cannot see changed (interface, gateway) with unchanged attributes:
    /// `WithdrawLocal`, then `Originate` with these attributes, so the export rules run again.
    Reoriginate(PathAttributes),
    /// Not exported to any peer (or no longer): `WithdrawLocal` if it was originated.
    Withdraw,
}

/// The rules and kernel facts shared by the daemon and its Calico policies. Cloning shares them.
#[derive(Clone, Debug)]
pub struct CalicoHandle {
    rules: Arc<RwLock<Arc<CalicoRules>>>,
    kernel: KernelRoutes,
}

impl CalicoHandle {
    pub fn new(state: &DesiredState, options: CalicoOptions) -> Self {
        Self::from_rules(Arc::new(CalicoRules::new(state, options)))
    }

    pub fn from_rules(rules: Arc<CalicoRules>) -> Self {
        CalicoHandle { rules: Arc::new(RwLock::new(rules)), kernel: KernelRoutes::new() }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<CalicoRules> {
        self.rules.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A reload: the policies use the new rules from their next run on. The RIB does not re-run
    /// exports by itself; the daemon re-learns its kernel routes ([`learn`](Self::learn)) and
    /// re-originates [`CalicoRules::originated_routes`] (withdrawing those that went away).
    pub fn set_rules(&self, state: &DesiredState, options: CalicoOptions) {
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(CalicoRules::new(state, options));
    }

    pub fn kernel_routes(&self) -> &KernelRoutes {
        &self.kernel
    }

    /// `calico_export_to_bgp_peers(internal_peer)` for a peer; `internal_peer`: same AS.
    pub fn export_policy(&self, internal_peer: bool) -> CalicoExport {
        CalicoExport::shared(self.rules.clone(), self.kernel.clone(), internal_peer)
    }

    /// `calico_import_from_bgp_peers`.
    pub fn import_policy(&self) -> CalicoImport {
        CalicoImport
    }

    /// A kernel route appeared or changed: records its facts and says what to do in the RIB.
    pub fn learn(&self, route: &LocalRoute) -> Learned {
        let info = KernelRouteInfo::from(route);
        match self.rules().kernel_origination(route.prefix, &info) {
            None => {
                self.kernel.remove(&route.prefix);
                Learned::Withdraw
            }
            Some(attrs) => {
                let old = self.kernel.insert(route.prefix, info.clone());
                match old {
                    Some(o) if o.export_key() != info.export_key() && o.metric == info.metric => {
                        Learned::Reoriginate(attrs)
                    }
                    _ => Learned::Originate(attrs),
                }
            }
        }
    }

    /// A kernel route went away (call after `WithdrawLocal`).
    pub fn forget(&self, prefix: &IpNet) {
        self.kernel.remove(prefix);
    }

    /// `calico_kernel_programming` for a route the RIB selected, as a `fib` route: `None` to
    /// keep it out of the kernel. Tunnelled next hops are `via NH dev tunl0 onlink`. The metric
    /// is set only when `local_pref` is given (Calico's priority scheme: `2147483647 −
    /// LOCAL_PREF`); otherwise the kernel default, as BIRD 1.6 without `krt_metric`.
    pub fn fib_route(&self, prefix: IpNet, next_hops: &[IpAddr], local_pref: Option<u32>) -> Option<Route> {
        let decisions = self.rules().kernel_routes(prefix, next_hops, local_pref);
        let mut metric = None;
        let gateways: Vec<Gateway> = decisions
            .into_iter()
            .filter_map(|d| match d {
                KernelDecision::Skip => None,
                KernelDecision::Install { via, dev_tunl0_onlink, metric: m } => {
                    metric = local_pref.map(|_| m);
                    Some(if dev_tunl0_onlink { Gateway::new(via).dev(IPIP_TUNNEL).onlink() } else { Gateway::new(via) })
                }
            })
            .collect();
        if gateways.is_empty() {
            return None;
        }
        let mut route = Route::multipath(prefix, gateways);
        route.metric = metric;
        Some(route)
    }

    /// The blackholes BIRD would install for this node ([`CalicoRules::kernel_blackholes`]).
    pub fn blackholes(&self) -> Vec<Route> {
        self.rules().kernel_blackholes().into_iter().map(Route::blackhole).collect()
    }
}
