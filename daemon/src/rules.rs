//! The node's route rules as the running daemon applies them: which kernel
//! routes become BGP routes, what the peers' filters are, and how a route
//! the engine selected is programmed. Holds the state those decisions need
//! (the current [`DesiredState`], the learned kernel routes) and hands the
//! decisions themselves to [`crate::calico`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use bgp_proto::attribute::{AsPath, Origin};
use bgp_proto::PathAttributes;
use config::DesiredState;
use fib::{Gateway, LocalRoute, Route};
use ipnet::IpNet;
use speaker::rib::Policy;

/// What the rules know; shared with the policies handed to the engine, so a
/// reload updates them in place.
#[derive(Debug)]
struct Shared {
    state: DesiredState,
    /// Kernel routes learned and originated, by prefix.
    learned: BTreeMap<IpNet, LocalRoute>,
}

/// See the module docs.
#[derive(Debug)]
pub struct NodeRules {
    shared: Arc<RwLock<Shared>>,
}

impl NodeRules {
    pub fn new(state: &DesiredState) -> NodeRules {
        NodeRules { shared: Arc::new(RwLock::new(Shared { state: state.clone(), learned: BTreeMap::new() })) }
    }

    fn read<T>(&self, f: impl FnOnce(&Shared) -> T) -> T {
        match self.shared.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        match self.shared.write() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A reload changed the Calico facts (pools, blocks, services).
    pub fn update(&self, state: &DesiredState) {
        self.write(|s| s.state = state.clone());
    }

    /// `calico_import_from_bgp_peers`.
    pub fn import_policy(&self) -> Arc<dyn Policy> {
        Arc::new(|_: bgp_proto::Family, _: &bgp_proto::Nlri, _: &mut PathAttributes| true)
    }

    /// `calico_export_to_bgp_peers`.
    pub fn export_policy(&self) -> Arc<dyn Policy> {
        Arc::new(|_: bgp_proto::Family, _: &bgp_proto::Nlri, _: &mut PathAttributes| true)
    }

    /// The routes this node originates by itself: its IPAM blocks.
    pub fn originated(&self) -> Vec<(IpNet, PathAttributes)> {
        self.read(|s| s.state.calico.ipam_blocks.iter().map(|b| (*b, local_attrs())).collect())
    }

    /// Whether `net` is a learned kernel route.
    pub fn is_learned(&self, net: &IpNet) -> bool {
        self.read(|s| s.learned.contains_key(net))
    }

    /// A kernel route appeared or changed: the attributes to originate it
    /// with, or `None` when it is not to be exported.
    pub fn learn(&self, route: &LocalRoute) -> Option<PathAttributes> {
        let keep = self.read(|s| {
            let in_pool = s.state.calico.ip_pools.iter().any(|p| p.cidr.contains(&route.prefix));
            let host = route.prefix.prefix_len() == route.prefix.max_prefix_len();
            // A workload route inside a pool is exported only with an
            // elevated priority (metric < 1024); blocks come from `originated`.
            !in_pool || (host && route.metric < 1024)
        });
        if !keep {
            self.forget(route);
            return None;
        }
        self.write(|s| s.learned.insert(route.prefix, route.clone()));
        let mut attrs = local_attrs();
        attrs.origin = Some(Origin::Incomplete);
        Some(attrs)
    }

    /// A kernel route went away.
    pub fn forget(&self, route: &LocalRoute) {
        self.write(|s| s.learned.remove(&route.prefix));
    }

    /// How to program a route the engine selected, or `None` to leave it out
    /// of the kernel.
    pub fn kernel_route(&self, prefix: IpNet, next_hops: &[IpAddr]) -> Option<Route> {
        if next_hops.is_empty() {
            return None;
        }
        let gateways: Vec<Gateway> = self.read(|s| {
            let pool = s.state.calico.ip_pools.iter().find(|p| p.cidr.contains(&prefix));
            next_hops
                .iter()
                .map(|nh| {
                    let tunnel = match pool.map(|p| p.ipip_mode) {
                        Some(config::schema::EncapMode::Always) => true,
                        Some(config::schema::EncapMode::CrossSubnet) => !on_subnet(&s.state, *nh),
                        _ => false,
                    };
                    if tunnel {
                        Gateway::new(*nh).dev("tunl0").onlink()
                    } else {
                        Gateway::new(*nh)
                    }
                })
                .collect()
        });
        Some(Route::multipath(prefix, gateways))
    }
}

fn on_subnet(state: &DesiredState, nh: IpAddr) -> bool {
    match nh {
        IpAddr::V4(a) => state.ipv4_subnet.is_some_and(|n| n.contains(&a)),
        IpAddr::V6(a) => state.ipv6_subnet.is_some_and(|n| n.contains(&a)),
    }
}

fn local_attrs() -> PathAttributes {
    PathAttributes { origin: Some(Origin::Igp), as_path: Some(AsPath::default()), ..PathAttributes::default() }
}
