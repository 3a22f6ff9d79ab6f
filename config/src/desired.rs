//! What the daemon should run, derived from a validated [`Config`] with Calico's confd rules, and
//! the difference between two such states (for reload without disruption).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use bgp_proto::types::Family;
use ipnet::IpNet;

use crate::calico::resources::ProgramClusterRoutes;
use crate::router_id::hash_router_id;
use crate::schema::{AddPathMode, Config, Control, EncapMode, FamilyName, Log, NextHopMode, PeerScope, RouterIdSpec};
use crate::validate::{self_cluster_id, self_ipv4, self_ipv6, Community};

/// BIRD's default hold time (Calico's template sets none): 240 s, keepalive a third of it.
pub const DEFAULT_HOLD_TIME: u16 = 240;
/// Calico's template: `graceful restart;` with BIRD's default restart time of 120 s.
pub const DEFAULT_GRACEFUL_RESTART_TIME: u16 = 120;
/// Calico's template: `connect delay time 2;`.
pub const CONNECT_DELAY_TIME: u16 = 2;
/// Calico's template: `connect retry time 5;`.
pub const CONNECT_RETRY_TIME: u16 = 5;
/// Calico's template: `error wait time 5,30;` (minimum, maximum).
pub const ERROR_WAIT_TIME: (u16, u16) = (5, 30);
/// BIRD's TTL for `multihop;` without a number.
pub const DEFAULT_MULTIHOP_TTL: u8 = 64;
/// Calico's filter names, used when a peer names no policy.
pub const CALICO_IMPORT_POLICY: &str = "calico_import_from_bgp_peers";
pub const CALICO_EXPORT_POLICY: &str = "calico_export_to_bgp_peers";

/// Which Calico template block produced a peer; also its protocol name prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKind {
    Mesh,
    Global,
    Node,
}

impl PeerKind {
    fn prefix(self) -> &'static str {
        match self {
            PeerKind::Mesh => "Mesh",
            PeerKind::Global => "Global",
            PeerKind::Node => "Node",
        }
    }
}

/// Calico's protocol name: `Mesh_10_0_0_1`, `Global_fd00__1`, … (dots and colons become `_`).
/// A `[[peer]]` with an explicit port gets `_port_<port>` appended, as confd does.
pub fn protocol_name(kind: PeerKind, address: IpAddr) -> String {
    format!("{}_{}", kind.prefix(), address.to_string().replace(['.', ':'], "_"))
}

/// TCP MD5 key source; a file is read by the daemon when the session starts.
/// `Debug` hides an inline key so that logging a peer never prints it.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    Inline(String),
    File(PathBuf),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Inline(_) => f.write_str("Inline(<hidden>)"),
            Password::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// How far the peer may be: GTSM (RFC 5082) or a plain outgoing TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlMode {
    /// Send TTL 255 and accept only packets with TTL ≥ 256 − hops.
    Security {
        hops: u8,
    },
    Multihop {
        ttl: u8,
    },
}

/// One BGP session as the daemon should run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredPeer {
    /// Protocol name (`show protocols`, metrics label, diff key).
    pub name: String,
    pub kind: PeerKind,
    pub address: IpAddr,
    pub port: u16,
    pub local_asn: u32,
    pub remote_asn: u32,
    /// Source address for the TCP connection, when known.
    pub local_address: Option<IpAddr>,
    /// Wait for the peer to connect (Calico's unidirectional mesh).
    pub passive: bool,
    pub password: Option<Password>,
    pub hold_time: u16,
    pub keepalive_time: u16,
    pub ttl: TtlMode,
    pub next_hop_mode: NextHopMode,
    pub rr_client: bool,
    /// Cluster ID used when reflecting to this client (RFC 4456 §7).
    pub cluster_id: Option<Ipv4Addr>,
    pub families: Vec<Family>,
    pub add_path: AddPathMode,
    pub graceful_restart_time: u16,
    pub max_prefixes: Option<u32>,
    pub import_policy: String,
    pub export_policy: String,
    pub connect_delay_time: u16,
    pub connect_retry_time: u16,
    pub error_wait_time: (u16, u16),
    /// Times our own AS may appear in a received AS path (Calico `numAllowedLocalASNumbers`).
    pub allow_own_as: u8,
}

/// An IP pool as the policies need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolState {
    pub cidr: IpNet,
    pub ipip_mode: EncapMode,
    pub vxlan_mode: EncapMode,
    pub disabled: bool,
    pub disable_bgp_export: bool,
}

/// Inputs of Calico's export and kernel-programming filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CalicoState {
    pub ip_pools: Vec<PoolState>,
    pub ipam_blocks: Vec<IpNet>,
    pub service_cluster_cidrs: Vec<IpNet>,
    pub service_external_cidrs: Vec<IpNet>,
    pub service_loadbalancer_cidrs: Vec<IpNet>,
    /// Communities added to routes inside each prefix (names resolved).
    pub prefix_communities: Vec<(IpNet, Vec<Community>)>,
    /// Which pools' routes this daemon programs into the kernel (Calico `programClusterRoutes`).
    pub program_cluster_routes: ProgramClusterRoutes,
    /// Interfaces whose addresses are not learned (Calico `ignoredInterfaces`).
    pub ignored_interfaces: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelState {
    pub table: u32,
    pub protocol: u8,
    pub learn: bool,
    pub learn_protocols: Option<Vec<u8>>,
    pub program: bool,
    pub keep_routes_on_shutdown: bool,
}

/// Everything the daemon runs, from one configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredState {
    pub node_name: String,
    pub router_id: Ipv4Addr,
    pub asn: u32,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The subnets of this node's addresses (CrossSubnet decisions); `None`: unknown, every
    /// next hop counts as another subnet.
    pub ipv4_subnet: Option<ipnet::Ipv4Net>,
    pub ipv6_subnet: Option<ipnet::Ipv6Net>,
    /// Set when this node is a route reflector.
    pub rr_cluster_id: Option<Ipv4Addr>,
    pub listen: Vec<SocketAddr>,
    /// Listen ranges (dynamic neighbors, `[global] listen_ranges`): an incoming session from
    /// an unconfigured address inside one is accepted as an iBGP peer, passive.
    pub listen_ranges: Vec<IpNet>,
    /// Sorted by name.
    pub peers: Vec<DesiredPeer>,
    pub calico: CalicoState,
    pub kernel: KernelState,
    pub control: Control,
    pub log: Log,
}

/// The unicast family of an address.
pub(crate) fn family_of(a: IpAddr) -> Family {
    if a.is_ipv4() {
        Family::IPV4_UNICAST
    } else {
        Family::IPV6_UNICAST
    }
}

fn own_address_for(a: IpAddr, v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> Option<IpAddr> {
    if a.is_ipv4() {
        v4.map(IpAddr::V4)
    } else {
        v6.map(IpAddr::V6)
    }
}

impl DesiredState {
    /// Derives the state from a configuration that passed validation.
    pub fn from_config(cfg: &Config) -> DesiredState {
        let g = &cfg.global;
        let node_name = g.node_name.get_ref().clone();
        let asn = *g.asn.get_ref();
        let ipv4 = self_ipv4(cfg);
        let ipv6 = self_ipv6(cfg);
        let own_cluster = self_cluster_id(cfg);
        let router_id = match g.router_id.as_ref().map(|r| *r.get_ref()) {
            Some(RouterIdSpec::Address(a)) => a,
            Some(RouterIdSpec::Hash) => hash_router_id(&node_name),
            None => ipv4.unwrap_or_else(|| hash_router_id(&node_name)),
        };
        let mut peers = mesh_peers(cfg, asn, ipv4, ipv6, own_cluster);
        for p in &cfg.peers {
            let address = *p.address.get_ref();
            if own_address_for(address, ipv4, ipv6) == Some(address) {
                continue; // Calico: "Skipping ourselves".
            }
            let kind = match p.scope {
                PeerScope::Global => PeerKind::Global,
                PeerScope::Node => PeerKind::Node,
            };
            let remote_asn = *p.asn.get_ref();
            let peer_cluster = p.peer_cluster_id;
            // Calico's template: with our cluster ID set, a same-AS peer whose cluster ID
            // differs (or is empty) is a reflector client.
            let auto_client = own_cluster.is_some() && remote_asn == asn && peer_cluster != own_cluster;
            let rr_client = p.rr_client.as_ref().map_or(auto_client, |r| *r.get_ref());
            let hold_time = p.hold_time.as_ref().map_or(DEFAULT_HOLD_TIME, |h| *h.get_ref());
            let ttl = match (&p.ttl_security, &p.multihop) {
                (Some(h), _) => TtlMode::Security { hops: *h.get_ref() },
                (None, Some(t)) => TtlMode::Multihop { ttl: *t.get_ref() },
                (None, None) => TtlMode::Multihop { ttl: DEFAULT_MULTIHOP_TTL },
            };
            let password = match (&p.password, &p.password_file) {
                (Some(s), _) => Some(Password::Inline(s.get_ref().clone())),
                (None, Some(f)) => Some(Password::File(f.get_ref().clone())),
                (None, None) => None,
            };
            let families = p.families.as_ref().map_or_else(
                || vec![family_of(address)],
                |f| {
                    f.get_ref()
                        .iter()
                        .map(|n| match n {
                            FamilyName::Ipv4Unicast => Family::IPV4_UNICAST,
                            FamilyName::Ipv6Unicast => Family::IPV6_UNICAST,
                        })
                        .collect()
                },
            );
            peers.push(DesiredPeer {
                name: match p.port {
                    Some(port) => format!("{}_port_{port}", protocol_name(kind, address)),
                    None => protocol_name(kind, address),
                },
                kind,
                address,
                port: p.port.unwrap_or(179),
                local_asn: asn,
                remote_asn,
                local_address: p
                    .source_address
                    .as_ref()
                    .map(|s| *s.get_ref())
                    .or_else(|| own_address_for(address, ipv4, ipv6)),
                passive: p.passive,
                password,
                hold_time,
                keepalive_time: p.keepalive_time.as_ref().map_or(hold_time / 3, |k| *k.get_ref()),
                ttl,
                next_hop_mode: p.next_hop_mode,
                rr_client,
                cluster_id: if rr_client { p.cluster_id.as_ref().map(|c| *c.get_ref()).or(own_cluster) } else { None },
                families,
                add_path: p.add_path,
                graceful_restart_time: p
                    .graceful_restart_time
                    .as_ref()
                    .map_or(DEFAULT_GRACEFUL_RESTART_TIME, |t| *t.get_ref()),
                max_prefixes: p.max_prefixes.as_ref().map(|m| *m.get_ref()),
                import_policy: p.import_policy.clone().unwrap_or_else(|| CALICO_IMPORT_POLICY.to_string()),
                export_policy: p.export_policy.clone().unwrap_or_else(|| CALICO_EXPORT_POLICY.to_string()),
                connect_delay_time: CONNECT_DELAY_TIME,
                connect_retry_time: CONNECT_RETRY_TIME,
                error_wait_time: ERROR_WAIT_TIME,
                allow_own_as: 0,
            });
        }
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        // A [[peer]] that is also a mesh node keeps its explicit settings only once: mesh first.
        peers.dedup_by(|b, a| a.name == b.name);

        let cal = &cfg.calico;
        let named: BTreeMap<&str, Community> = cal
            .communities
            .iter()
            .filter_map(|n| Community::parse(n.value.get_ref()).map(|c| (n.name.get_ref().as_str(), c)))
            .collect();
        let nets = |v: &[crate::schema::Spanned<crate::schema::Cidr>]| v.iter().map(|c| c.get_ref().0).collect();
        let calico = CalicoState {
            ip_pools: cal
                .ip_pools
                .iter()
                .map(|p| PoolState {
                    cidr: p.cidr.get_ref().0,
                    ipip_mode: p.ipip_mode,
                    vxlan_mode: p.vxlan_mode,
                    disabled: p.disabled,
                    disable_bgp_export: p.disable_bgp_export,
                })
                .collect(),
            ipam_blocks: nets(&cal.ipam_blocks),
            service_cluster_cidrs: nets(&cal.service_cluster_cidrs),
            service_external_cidrs: nets(&cal.service_external_cidrs),
            service_loadbalancer_cidrs: nets(&cal.service_loadbalancer_cidrs),
            prefix_communities: cal
                .prefix_advertisements
                .iter()
                .map(|a| {
                    let cs = a
                        .communities
                        .iter()
                        .filter_map(|v| {
                            named.get(v.get_ref().as_str()).copied().or_else(|| Community::parse(v.get_ref()))
                        })
                        .collect();
                    (a.cidr.get_ref().0, cs)
                })
                .collect(),
            ..CalicoState::default()
        };
        let k = &cfg.kernel;
        DesiredState {
            node_name,
            router_id,
            asn,
            ipv4,
            ipv6,
            ipv4_subnet: g.subnets.iter().find_map(|c| match c.0 {
                IpNet::V4(n) => Some(n.trunc()),
                IpNet::V6(_) => None,
            }),
            ipv6_subnet: g.subnets.iter().find_map(|c| match c.0 {
                IpNet::V6(n) => Some(n.trunc()),
                IpNet::V4(_) => None,
            }),
            rr_cluster_id: own_cluster,
            listen: g.listen_addresses.iter().map(|a| SocketAddr::new(*a, g.listen_port)).collect(),
            listen_ranges: g.listen_ranges.iter().map(|c| c.0.trunc()).collect(),
            peers,
            calico,
            kernel: KernelState {
                table: k.table,
                protocol: *k.protocol.get_ref(),
                learn: k.learn,
                learn_protocols: k.learn_protocols.clone(),
                program: k.program,
                keep_routes_on_shutdown: k.keep_routes_on_shutdown,
            },
            control: cfg.control.clone(),
            log: cfg.log.clone(),
        }
    }

    pub fn peer(&self, name: &str) -> Option<&DesiredPeer> {
        self.peers.iter().find(|p| p.name == name)
    }
}

/// Calico's node-to-node mesh (confd `bird.cfg.template` / `bird6.cfg.template`): no mesh for a
/// route reflector; skip ourselves and every node with a cluster ID; passive when the other
/// node's address is greater than ours *as a string* (Go template `gt` on strings).
fn mesh_peers(
    cfg: &Config,
    asn: u32,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    own_cluster: Option<Ipv4Addr>,
) -> Vec<DesiredPeer> {
    let mut out = Vec::new();
    if !cfg.mesh.enabled || own_cluster.is_some() {
        return out;
    }
    let me = cfg.global.node_name.get_ref();
    let mesh_password = match (&cfg.mesh.password, &cfg.mesh.password_file) {
        (Some(s), _) => Some(Password::Inline(s.get_ref().clone())),
        (None, Some(f)) => Some(Password::File(f.get_ref().clone())),
        (None, None) => None,
    };
    let mesh_gr_time = cfg.mesh.graceful_restart_time.as_ref().map_or(DEFAULT_GRACEFUL_RESTART_TIME, |t| *t.get_ref());
    for node in &cfg.mesh.nodes {
        if node.name.get_ref() == me || node.rr_cluster_id.is_some() {
            continue;
        }
        let remote_asn = node.asn.as_ref().map_or(asn, |a| *a.get_ref());
        let addrs = [
            node.ipv4.as_ref().map(|a| IpAddr::V4(*a.get_ref())).zip(ipv4.map(IpAddr::V4)),
            node.ipv6.as_ref().map(|a| IpAddr::V6(*a.get_ref())).zip(ipv6.map(IpAddr::V6)),
        ];
        for (address, own) in addrs.into_iter().flatten() {
            if address == own {
                continue;
            }
            out.push(DesiredPeer {
                name: protocol_name(PeerKind::Mesh, address),
                kind: PeerKind::Mesh,
                address,
                port: node.listen_port.unwrap_or(cfg.global.listen_port),
                local_asn: asn,
                remote_asn,
                local_address: Some(own),
                passive: address.to_string() > own.to_string(),
                password: mesh_password.clone(),
                hold_time: DEFAULT_HOLD_TIME,
                keepalive_time: DEFAULT_HOLD_TIME / 3,
                ttl: TtlMode::Multihop { ttl: DEFAULT_MULTIHOP_TTL },
                next_hop_mode: NextHopMode::Auto,
                rr_client: false,
                cluster_id: None,
                families: vec![family_of(address)],
                add_path: AddPathMode::On,
                graceful_restart_time: mesh_gr_time,
                max_prefixes: None,
                import_policy: CALICO_IMPORT_POLICY.to_string(),
                export_policy: CALICO_EXPORT_POLICY.to_string(),
                connect_delay_time: CONNECT_DELAY_TIME,
                connect_retry_time: CONNECT_RETRY_TIME,
                error_wait_time: ERROR_WAIT_TIME,
                allow_own_as: 0,
            });
        }
    }
    out
}

impl DesiredState {
    /// The peer template of a listen range: built like a mesh peer (iBGP in
    /// this node's AS, Calico's filters, multihop, ADD-PATH), but passive,
    /// with no source address (any local address it reached) and no
    /// password (TCP MD5 is set per address, before a range's peer is
    /// known). Its name and address are placeholders: the engine names each
    /// dynamic peer after its address.
    pub fn listen_range_peer(&self, range: IpNet) -> DesiredPeer {
        DesiredPeer {
            name: format!("Dynamic_{}", range.to_string().replace(['.', ':', '/'], "_")),
            kind: PeerKind::Mesh,
            address: range.addr(),
            port: 179,
            local_asn: self.asn,
            remote_asn: self.asn,
            local_address: None,
            passive: true,
            password: None,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive_time: DEFAULT_HOLD_TIME / 3,
            ttl: TtlMode::Multihop { ttl: DEFAULT_MULTIHOP_TTL },
            next_hop_mode: NextHopMode::Auto,
            // On a route reflector a dynamic peer is a client (Calico's rule: same AS, no
            // cluster ID known for it).
            rr_client: self.rr_cluster_id.is_some(),
            cluster_id: self.rr_cluster_id,
            families: vec![family_of(range.addr())],
            add_path: AddPathMode::On,
            graceful_restart_time: DEFAULT_GRACEFUL_RESTART_TIME,
            max_prefixes: None,
            import_policy: CALICO_IMPORT_POLICY.to_string(),
            export_policy: CALICO_EXPORT_POLICY.to_string(),
            connect_delay_time: CONNECT_DELAY_TIME,
            connect_retry_time: CONNECT_RETRY_TIME,
            error_wait_time: ERROR_WAIT_TIME,
            allow_own_as: 0,
        }
    }
}

/// What a reload must do to the sessions, by protocol name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerDiff {
    /// Keep running untouched.
    pub unchanged: Vec<String>,
    /// Reset with the new settings: (old, new).
    pub changed: Vec<(DesiredPeer, DesiredPeer)>,
    /// Start.
    pub added: Vec<DesiredPeer>,
    /// Close with Cease / Peer De-configured (RFC 4486 §3, subcode 3).
    pub removed: Vec<DesiredPeer>,
}

impl PeerDiff {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// Compares two states peer by peer. A peer whose every setting is equal is unchanged, so its
/// session survives the reload. (A `password_file` whose *content* changed is not seen here; the
/// daemon re-reads the file.) Local settings shared by all sessions (ASN, router ID) changing
/// make every peer `changed`, because they are part of each `DesiredPeer` or of its OPEN.
pub fn diff(old: &DesiredState, new: &DesiredState) -> PeerDiff {
    let global_change = old.router_id != new.router_id || old.asn != new.asn;
    let olds: BTreeMap<&str, &DesiredPeer> = old.peers.iter().map(|p| (p.name.as_str(), p)).collect();
    let news: BTreeMap<&str, &DesiredPeer> = new.peers.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut d = PeerDiff::default();
    for (name, n) in &news {
        match olds.get(name) {
            Some(o) if *o == *n && !global_change => d.unchanged.push(name.to_string()),
            Some(o) => d.changed.push(((*o).clone(), (*n).clone())),
            None => d.added.push((*n).clone()),
        }
    }
    for (name, o) in &olds {
        if !news.contains_key(name) {
            d.removed.push((*o).clone());
        }
    }
    d
}
