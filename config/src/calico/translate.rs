//! A [`Datastore`] snapshot → the [`DesiredState`] of one node, following Calico's confd
//! (`confd/pkg/backends/calico/client.go` `updatePeersV1`, `bgp_processor.go`, and the
//! `bird*.cfg.template`s).
//!
//! - **Node-to-node mesh** (`nodeToNodeMeshEnabled`, default on): every other node with a BGP
//!   address of the same family, except route reflectors; none at all on a reflector. The side whose
//!   address is greater *as a string* waits passively. This part is `DesiredState::from_config`'s own
//!   mesh derivation, fed with the nodes of the snapshot.
//! - **BGPPeers**: global ones (no `node`, no `nodeSelector`) first, then node-specific ones; a
//!   node-specific peering to an address and port a global one already covers is dropped, and the
//!   first peering emitted for an address and port wins. `peerSelector` peers with every selected
//!   node on each family both ends have; `peerIP` peers with one address (`ip:port` allowed; without
//!   a port, a Calico node at that address and AS lends its listen port). Then, unless
//!   `reversePeering: Manual`, each BGPPeer's reverse is added for the nodes it points at (the
//!   nodes matching `peerSelector`, or the node owning `peerIP` with that AS), towards the nodes it
//!   applies to, without overriding an explicit peering. confd walks BGPPeers in map order; here they
//!   go by name, so that the result is deterministic.
//! - **Per peering**: AS from the peer node (or the cluster default); local AS `localASNumber` or
//!   this node's; reflector client when this node has a cluster ID, the peer is in the same AS
//!   and its cluster ID differs or is empty; next hop `nextHopMode`, else `keepOriginalNextHop` for
//!   eBGP; GTSM from `ttlSecurity`; source address unless `sourceAddress: None`; restart and
//!   keepalive times; a global peering to a Calico node's address is passive by the same string
//!   rule as the mesh.
//! - **Passwords** (`secretKeyRef`): there is no Kubernetes API here, so a secret is read from a
//!   file: `<secret_dir>/<secret name>/<key>` — the layout of a Kubernetes secret mounted as a volume
//!   (one directory per secret, one file per key). The daemon reads the file when the session
//!   starts; a missing file means no session can authenticate, as with confd's missing secret.
//! - **Routes**: the node's confirmed IPAM blocks (not host routes) are originated as blackholes;
//!   pools (all of them, whatever their `nodeSelector`), service cluster/external/load-balancer
//!   ranges (from `default`; single load-balancer addresses are left to per-service advertisement,
//!   and none at all on a node labelled `node.kubernetes.io/exclude-from-external-load-balancers:
//!   "true"`) — route reflectors advertise these like every node.
//! - **BGPConfiguration**: `default` gives the cluster AS (64512 when unset), mesh switch, mesh
//!   password and restart time, service ranges and `programClusterRoutes` (default `Enabled`: this
//!   daemon programs IPIP and unencapsulated pool routes; VXLAN pools are always Felix's);
//!   `node.<name>` overrides `listenPort`, `bindMode`, `ignoredInterfaces` and
//!   `prefixAdvertisements` (with its own `communities`) for that node.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::IpNet;
use toml::Spanned;

use super::resources::{
    BgpConfiguration, BgpPeer, BindMode, Node, ProgramClusterRoutes, ReversePeering, SecretKeyRef, SourceAddress,
};
use super::{Datastore, Selector};
use crate::desired::{
    family_of, protocol_name, CalicoState, DesiredPeer, DesiredState, Password, PeerKind, PoolState, TtlMode,
    CALICO_EXPORT_POLICY, CALICO_IMPORT_POLICY, CONNECT_DELAY_TIME, CONNECT_RETRY_TIME, DEFAULT_GRACEFUL_RESTART_TIME,
    DEFAULT_HOLD_TIME, DEFAULT_MULTIHOP_TTL, ERROR_WAIT_TIME,
};
use crate::schema::{self, AddPathMode, Cidr, Config, EncapMode, NextHopMode, RouterIdSpec};

/// Calico's default AS when `BGPConfiguration default` sets none.
pub const DEFAULT_ASN: u32 = 64512;
/// The label that keeps a node from advertising service ranges.
pub const EXCLUDE_FROM_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// What the datastore does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslateOptions {
    /// Secret files: `<secret_dir>/<secret name>/<key>`.
    pub secret_dir: PathBuf,
    /// calico-node's `CALICO_ROUTER_ID` (`hash` or an address); absent: the node's IPv4 address.
    pub router_id: Option<RouterIdSpec>,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions { secret_dir: PathBuf::from("/etc/tern/secrets"), router_id: None }
    }
}

/// Why no state can be derived for a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranslateError {
    UnknownNode(String),
    /// The Node has no `spec.bgp` address: calico-node would not run BIRD for it.
    NoBgpAddress(String),
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranslateError::UnknownNode(n) => write!(f, "no Node {n:?} in the datastore"),
            TranslateError::NoBgpAddress(n) => write!(f, "Node {n:?} has no spec.bgp IPv4 or IPv6 address"),
        }
    }
}

impl std::error::Error for TranslateError {}

impl CalicoState {
    /// Whether this daemon programs `pool`'s routes into the kernel (`programClusterRoutes`);
    /// VXLAN routes are always Felix's.
    pub fn programs_pool(&self, pool: &PoolState) -> bool {
        let vxlan = matches!(pool.vxlan_mode, EncapMode::Always | EncapMode::CrossSubnet);
        let ipip = matches!(pool.ipip_mode, EncapMode::Always | EncapMode::CrossSubnet);
        let p = self.program_cluster_routes;
        !vxlan && if ipip { p.programs_ipip() } else { p.programs_no_encap() }
    }
}

/// confd's v1 peering record (`bgpPeer` in client.go).
#[derive(Clone, Debug)]
struct V1Peer {
    ip: IpAddr,
    /// 0: none given.
    port: u16,
    asn: u32,
    local_asn: Option<u32>,
    rr_cluster_id: Option<Ipv4Addr>,
    password: Option<SecretKeyRef>,
    source_address: SourceAddress,
    restart_time: Option<u16>,
    keepalive_time: Option<u16>,
    keep_next_hop: bool,
    next_hop_mode: Option<NextHopMode>,
    calico_node: bool,
    allow_local_as: u8,
    ttl_security: u8,
}

struct Ctx<'a> {
    ds: &'a Datastore,
    default: Option<&'a BgpConfiguration>,
    global_as: u32,
    global_port: u16,
}

impl<'a> Ctx<'a> {
    fn node_config(&self, node: &str) -> Option<&'a BgpConfiguration> {
        self.ds.bgp_configurations.get(&format!("node.{node}"))
    }

    /// `nodeListenPorts[node]`, 0 when unset.
    fn node_port(&self, node: &str) -> u16 {
        self.node_config(node).and_then(|c| c.listen_port).unwrap_or(0)
    }

    fn node_as(&self, n: &Node) -> u32 {
        n.bgp.as_ref().and_then(|b| b.asn).unwrap_or(self.global_as)
    }

    fn ipv4(n: &Node) -> Option<Ipv4Addr> {
        n.bgp.as_ref().and_then(|b| b.ipv4).map(|a| a.addr())
    }

    fn ipv6(n: &Node) -> Option<Ipv6Addr> {
        n.bgp.as_ref().and_then(|b| b.ipv6).map(|a| a.addr())
    }

    fn matching(&self, sel: &Selector) -> Vec<&'a Node> {
        self.ds.nodes.values().filter(|n| sel.matches(&n.labels)).collect()
    }

    /// confd's `nodesWithIPPortAndAS`, port check quirks included.
    fn nodes_with_ip_port_as(&self, ip: IpAddr, asn: Option<u32>, port: u16) -> Vec<&'a Node> {
        let wanted = asn.filter(|a| *a != 0).unwrap_or(self.global_as);
        self.ds
            .nodes
            .values()
            .filter(|n| Self::ipv4(n).map(IpAddr::V4) == Some(ip) || Self::ipv6(n).map(IpAddr::V6) == Some(ip))
            .filter(|n| self.node_as(n) == wanted)
            .filter(|n| {
                if port == 0 {
                    return true;
                }
                let node_port = self.node_port(&n.name);
                if node_port != 0 && port != node_port {
                    false
                } else {
                    !(self.global_port != 0 && self.global_port != port)
                }
            })
            .collect()
    }

    fn is_node_ip(&self, ip: IpAddr) -> bool {
        self.ds
            .nodes
            .values()
            .any(|n| Self::ipv4(n).map(IpAddr::V4) == Some(ip) || Self::ipv6(n).map(IpAddr::V6) == Some(ip))
    }

    /// confd's `nodeAsBGPPeers`.
    fn node_as_peers(&self, n: &Node, v4: bool, v6: bool, p: &BgpPeer) -> Vec<V1Peer> {
        let port = match self.node_port(&n.name) {
            0 => self.global_port,
            p => p,
        };
        let addrs = [Self::ipv4(n).filter(|_| v4).map(IpAddr::V4), Self::ipv6(n).filter(|_| v6).map(IpAddr::V6)];
        addrs
            .into_iter()
            .flatten()
            .map(|ip| V1Peer {
                ip,
                port,
                asn: self.node_as(n),
                local_asn: None,
                rr_cluster_id: n.bgp.as_ref().and_then(|b| b.rr_cluster_id),
                password: None,
                source_address: SourceAddress::UseNodeIp,
                restart_time: None,
                keepalive_time: None,
                keep_next_hop: false,
                next_hop_mode: None,
                calico_node: false,
                allow_local_as: 0,
                ttl_security: p.ttl_security.unwrap_or(0),
            })
            .collect()
    }

    /// The forward peerings a BGPPeer describes (before `setPeerConfigFieldsFromV3Resource`).
    fn forward_peers(&self, p: &BgpPeer) -> Vec<V1Peer> {
        if let Some(sel) = &p.peer_selector {
            return self.matching(sel).into_iter().flat_map(|n| self.node_as_peers(n, true, true, p)).collect();
        }
        let Some(ip) = p.peer_ip else { return Vec::new() };
        let mut port = p.peer_port.unwrap_or(0);
        if port == 0 {
            if let Some(n) = self.nodes_with_ip_port_as(ip, p.asn, 0).first() {
                port = match self.node_port(&n.name) {
                    0 => self.global_port,
                    np => np,
                };
            }
        }
        vec![V1Peer {
            ip,
            port,
            asn: p.asn.unwrap_or(0),
            local_asn: p.local_asn,
            rr_cluster_id: None,
            password: None,
            source_address: p.source_address,
            restart_time: None,
            keepalive_time: None,
            keep_next_hop: p.keep_original_next_hop,
            next_hop_mode: None,
            calico_node: self.is_node_ip(ip),
            allow_local_as: p.num_allowed_local_as.unwrap_or(0),
            ttl_security: p.ttl_security.unwrap_or(0),
        }]
    }
}

/// `setPeerConfigFieldsFromV3Resource`: the settings every peering of a BGPPeer shares.
fn with_resource_fields(mut peers: Vec<V1Peer>, p: &BgpPeer) -> Vec<V1Peer> {
    for v in &mut peers {
        v.password = p.password.clone();
        v.source_address = p.source_address;
        v.restart_time = p.max_restart_time;
        v.keepalive_time = p.keepalive_time;
        v.next_hop_mode = p.next_hop_mode;
    }
    peers
}

/// The peerings confd emits for `me`: global and node-specific, by (address, port).
#[derive(Default)]
struct Emitted {
    global: BTreeMap<(IpAddr, u16), V1Peer>,
    node: BTreeMap<(IpAddr, u16), V1Peer>,
}

impl Emitted {
    fn global(&mut self, v: V1Peer) {
        self.global.entry((v.ip, v.port)).or_insert(v);
    }

    fn node(&mut self, v: V1Peer) {
        let k = (v.ip, v.port);
        if !self.global.contains_key(&k) {
            self.node.entry(k).or_insert(v);
        }
    }
}

fn bgp_peerings(ctx: &Ctx<'_>, me: &Node) -> Emitted {
    let mut out = Emitted::default();
    let peers = &ctx.ds.bgp_peers;
    let is_global = |p: &BgpPeer| p.node.is_none() && p.node_selector.is_none();
    for p in peers.values().filter(|p| is_global(p)) {
        for v in with_resource_fields(ctx.forward_peers(p), p) {
            out.global(v);
        }
    }
    for p in peers.values().filter(|p| !is_global(p)) {
        let applies = match (&p.node_selector, &p.node) {
            (Some(sel), _) => sel.matches(&me.labels),
            (None, Some(node)) => *node == me.name,
            (None, None) => false,
        };
        if applies {
            for v in with_resource_fields(ctx.forward_peers(p), p) {
                out.node(v);
            }
        }
    }
    // Reverse peerings: `me` is among the nodes the BGPPeer points at.
    for p in peers.values().filter(|p| p.reverse_peering == ReversePeering::Auto) {
        let (targeted, v4, v6) = match (&p.peer_selector, p.peer_ip) {
            (Some(sel), _) => (sel.matches(&me.labels), true, true),
            (None, Some(ip)) => {
                let hit =
                    ctx.nodes_with_ip_port_as(ip, p.asn, p.peer_port.unwrap_or(0)).iter().any(|n| n.name == me.name);
                (hit, ip.is_ipv4(), ip.is_ipv6())
            }
            (None, None) => (false, false, false),
        };
        if !targeted {
            continue;
        }
        let sources: Vec<&Node> = match (&p.node_selector, &p.node) {
            (Some(sel), _) => ctx.matching(sel),
            (None, Some(node)) => ctx.ds.nodes.get(node).into_iter().collect(),
            (None, None) => ctx.ds.nodes.values().collect(),
        };
        let reverse: Vec<V1Peer> = sources.into_iter().flat_map(|n| ctx.node_as_peers(n, v4, v6, p)).collect();
        for v in with_resource_fields(reverse, p) {
            out.node(v);
        }
    }
    out
}

struct Own {
    asn: u32,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    cluster: Option<Ipv4Addr>,
}

/// `buildPeerFromData`: one emitted peering as the daemon runs it, if this node has the family.
fn desired_peer(v: &V1Peer, kind: PeerKind, own: &Own, secret_dir: &std::path::Path) -> Option<DesiredPeer> {
    let own_ip = match v.ip {
        IpAddr::V4(_) => own.ipv4.map(IpAddr::V4),
        IpAddr::V6(_) => own.ipv6.map(IpAddr::V6),
    }?;
    if v.ip == own_ip {
        return None; // "Skipping ourselves".
    }
    let local_asn = v.local_asn.unwrap_or(own.asn);
    let next_hop_mode = match v.next_hop_mode {
        Some(m) => m,
        None if v.keep_next_hop && v.asn != local_asn => NextHopMode::Keep,
        None => NextHopMode::Auto,
    };
    let rr_client = v.asn == local_asn && own.cluster.is_some() && v.rr_cluster_id != own.cluster;
    let passive = kind == PeerKind::Global && v.calico_node && v.ip.to_string() > own_ip.to_string();
    let name = match v.port {
        0 => protocol_name(kind, v.ip),
        port => format!("{}_port_{port}", protocol_name(kind, v.ip)),
    };
    Some(DesiredPeer {
        name,
        kind,
        address: v.ip,
        port: if v.port == 0 { 179 } else { v.port },
        local_asn,
        remote_asn: v.asn,
        local_address: (v.source_address == SourceAddress::UseNodeIp).then_some(own_ip),
        passive,
        password: v.password.as_ref().map(|s| Password::File(secret_dir.join(&s.name).join(&s.key))),
        hold_time: DEFAULT_HOLD_TIME,
        keepalive_time: v.keepalive_time.unwrap_or(DEFAULT_HOLD_TIME / 3),
        ttl: match v.ttl_security {
            0 => TtlMode::Multihop { ttl: DEFAULT_MULTIHOP_TTL },
            hops => TtlMode::Security { hops },
        },
        next_hop_mode,
        rr_client,
        cluster_id: if rr_client { own.cluster } else { None },
        families: vec![family_of(v.ip)],
        add_path: AddPathMode::On,
        graceful_restart_time: v.restart_time.unwrap_or(DEFAULT_GRACEFUL_RESTART_TIME),
        max_prefixes: None,
        import_policy: CALICO_IMPORT_POLICY.to_string(),
        export_policy: CALICO_EXPORT_POLICY.to_string(),
        connect_delay_time: CONNECT_DELAY_TIME,
        connect_retry_time: CONNECT_RETRY_TIME,
        error_wait_time: ERROR_WAIT_TIME,
        allow_own_as: v.allow_local_as,
    })
}

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

fn cidrs(v: &[IpNet]) -> Vec<Spanned<Cidr>> {
    v.iter().map(|c| sp(Cidr(*c))).collect()
}

impl Datastore {
    /// The state `node` should run, derived as confd would for it.
    pub fn desired_state(&self, node: &str, opts: &TranslateOptions) -> Result<DesiredState, TranslateError> {
        let me = self.nodes.get(node).ok_or_else(|| TranslateError::UnknownNode(node.to_string()))?;
        let default = self.bgp_configurations.get("default");
        let ctx = Ctx {
            ds: self,
            default,
            global_as: default.and_then(|c| c.asn).unwrap_or(DEFAULT_ASN),
            global_port: default.and_then(|c| c.listen_port).unwrap_or(0),
        };
        let own = Own {
            asn: ctx.node_as(me),
            ipv4: Ctx::ipv4(me),
            ipv6: Ctx::ipv6(me),
            cluster: me.bgp.as_ref().and_then(|b| b.rr_cluster_id),
        };
        if own.ipv4.is_none() && own.ipv6.is_none() {
            return Err(TranslateError::NoBgpAddress(node.to_string()));
        }
        let node_cfg = ctx.node_config(node);
        // Node-specific settings win over `default` (confd's getNodeOrGlobalValue).
        let pick = |f: fn(&BgpConfiguration) -> bool| node_cfg.filter(|c| f(c)).or(default);
        let listen_port = match ctx.node_port(node) {
            0 => ctx.global_port,
            p => p,
        };
        let bind_node_ip =
            node_cfg.and_then(|c| c.bind_mode).or(default.and_then(|c| c.bind_mode)) == Some(BindMode::NodeIp);
        let listen_addresses: Vec<IpAddr> = if bind_node_ip {
            own.ipv4.map(IpAddr::V4).into_iter().chain(own.ipv6.map(IpAddr::V6)).collect()
        } else {
            vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
        };
        let cfg = Config {
            global: schema::Global {
                asn: sp(own.asn),
                node_name: sp(node.to_string()),
                router_id: opts.router_id.map(sp),
                ipv4: own.ipv4.map(sp),
                ipv6: own.ipv6.map(sp),
                subnets: me
                    .bgp
                    .iter()
                    .flat_map(|b| [b.ipv4.map(|n| IpNet::V4(n.trunc())), b.ipv6.map(|n| IpNet::V6(n.trunc()))])
                    .flatten()
                    .map(Cidr)
                    .collect(),
                rr_cluster_id: own.cluster.map(sp),
                listen_addresses,
                listen_port: if listen_port == 0 { 179 } else { listen_port },
                // Calico has no listen-range field: only the file config sets one.
                listen_ranges: Vec::new(),
            },
            peers: Vec::new(),
            mesh: self.mesh(&ctx, opts),
            calico: self.calico(&ctx, me, pick(|c| !c.prefix_advertisements.is_empty())),
            kernel: schema::Kernel::default(),
            control: schema::Control::default(),
            log: schema::Log::default(),
        };
        let mut state = DesiredState::from_config(&cfg);
        state.calico.program_cluster_routes =
            default.and_then(|c| c.program_cluster_routes).unwrap_or(ProgramClusterRoutes::Enabled);
        state.calico.ignored_interfaces =
            pick(|c| !c.ignored_interfaces.is_empty()).map(|c| c.ignored_interfaces.clone()).unwrap_or_default();

        let emitted = bgp_peerings(&ctx, me);
        let global = emitted.global.values().map(|v| (v, PeerKind::Global));
        let specific = emitted.node.values().map(|v| (v, PeerKind::Node));
        state.peers.extend(global.chain(specific).filter_map(|(v, k)| desired_peer(v, k, &own, &opts.secret_dir)));
        state.peers.sort_by(|a, b| a.name.cmp(&b.name));
        state.peers.dedup_by(|b, a| a.name == b.name);
        Ok(state)
    }

    fn mesh(&self, ctx: &Ctx<'_>, opts: &TranslateOptions) -> schema::Mesh {
        let default = ctx.default;
        schema::Mesh {
            enabled: default.and_then(|c| c.node_to_node_mesh_enabled).unwrap_or(true),
            password: None,
            password_file: default
                .and_then(|c| c.node_mesh_password.as_ref())
                .map(|s| sp(opts.secret_dir.join(&s.name).join(&s.key))),
            graceful_restart_time: default.and_then(|c| c.node_mesh_max_restart_time).map(sp),
            nodes: self
                .nodes
                .values()
                .filter_map(|n| {
                    let bgp = n.bgp.as_ref()?;
                    Some(schema::MeshNode {
                        name: sp(n.name.clone()),
                        ipv4: bgp.ipv4.map(|a| sp(a.addr())),
                        ipv6: bgp.ipv6.map(|a| sp(a.addr())),
                        asn: Some(sp(ctx.node_as(n))),
                        rr_cluster_id: bgp.rr_cluster_id.map(sp),
                        // confd: the node's own listenPort, else the cluster's, else BGP's.
                        listen_port: Some(match (ctx.node_port(&n.name), ctx.global_port) {
                            (0, 0) => 179,
                            (0, p) | (p, _) => p,
                        }),
                    })
                })
                .collect(),
        }
    }

    fn calico(&self, ctx: &Ctx<'_>, me: &Node, prefix_source: Option<&BgpConfiguration>) -> schema::Calico {
        let default = ctx.default;
        let advertise_services = me.labels.get(EXCLUDE_FROM_LB_LABEL).map(String::as_str) != Some("true");
        let services = |f: fn(&BgpConfiguration) -> &Vec<IpNet>| -> Vec<IpNet> {
            if advertise_services {
                default.map(|c| f(c).clone()).unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        let single = |n: &IpNet| n.prefix_len() == n.max_prefix_len();
        let lb: Vec<IpNet> = services(|c| &c.service_loadbalancer_ips).into_iter().filter(|n| !single(n)).collect();
        let blocks: Vec<IpNet> =
            self.blocks_of(&me.name).filter(|b| b.is_confirmed() && !single(&b.cidr)).map(|b| b.cidr).collect();
        schema::Calico {
            ip_pools: self
                .ip_pools
                .values()
                .map(|p| schema::IpPool {
                    cidr: sp(Cidr(p.cidr)),
                    ipip_mode: p.ipip_mode,
                    vxlan_mode: p.vxlan_mode,
                    disabled: p.disabled,
                    disable_bgp_export: p.disable_bgp_export,
                })
                .collect(),
            ipam_blocks: cidrs(&blocks),
            service_cluster_cidrs: cidrs(&services(|c| &c.service_cluster_ips)),
            service_external_cidrs: cidrs(&services(|c| &c.service_external_ips)),
            service_loadbalancer_cidrs: cidrs(&lb),
            communities: prefix_source
                .map(|c| {
                    c.communities
                        .iter()
                        .map(|(n, v)| schema::NamedCommunity { name: sp(n.clone()), value: sp(v.clone()) })
                        .collect()
                })
                .unwrap_or_default(),
            prefix_advertisements: prefix_source
                .map(|c| {
                    c.prefix_advertisements
                        .iter()
                        .map(|(cidr, cs)| schema::PrefixAdvertisement {
                            cidr: sp(Cidr(*cidr)),
                            communities: cs.iter().map(|s| sp(s.clone())).collect(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}
