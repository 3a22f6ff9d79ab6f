//! The file format: one TOML file describes one node. Every table refuses unknown keys.
//!
//! Values that semantic checks may complain about are wrapped in [`Spanned`] so that the error
//! can point at them. Defaults follow Calico's confd templates for BIRD 1.6 and BIRD's own
//! defaults where Calico sets nothing; `REFERENCE.md` lists each key with its default and source.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
pub use toml::Spanned;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub global: Global,
    #[serde(default, rename = "peer")]
    pub peers: Vec<Peer>,
    #[serde(default)]
    pub mesh: Mesh,
    #[serde(default)]
    pub calico: Calico,
    #[serde(default)]
    pub kernel: Kernel,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub log: Log,
}

/// `[global]`: this node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Local AS (Calico's node AS, or the cluster default `asNumber`).
    pub asn: Spanned<u32>,
    /// Calico's node name (`NODENAME`); also selects this node in `[mesh] nodes`.
    pub node_name: Spanned<String>,
    /// `"hash"`, an IPv4 address, or absent: this node's IPv4 address, else the hash.
    pub router_id: Option<Spanned<RouterIdSpec>>,
    /// This node's IPv4 address; defaults to its `[mesh]` entry's `ipv4`.
    pub ipv4: Option<Spanned<Ipv4Addr>>,
    /// This node's IPv6 address; defaults to its `[mesh]` entry's `ipv6`.
    pub ipv6: Option<Spanned<Ipv6Addr>>,
    /// The subnets of this node's addresses (Calico's `ipv4Address`/`ipv6Address` prefix
    /// lengths), at most one per family: IPIP CrossSubnet tunnels only to next hops outside them.
    #[serde(default)]
    pub subnets: Vec<Cidr>,
    /// Route-reflector cluster ID: set, this node is a reflector and leaves the mesh.
    pub rr_cluster_id: Option<Spanned<Ipv4Addr>>,
    #[serde(default = "default_listen_addresses")]
    pub listen_addresses: Vec<IpAddr>,
    #[serde(default = "default_bgp_port")]
    pub listen_port: u16,
    /// Listen ranges (dynamic neighbors): a connection from an unconfigured address inside
    /// one is accepted as an iBGP peer of this node's AS instead of refused.
    #[serde(default)]
    pub listen_ranges: Vec<Cidr>,
}

fn default_listen_addresses() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
}

fn default_bgp_port() -> u16 {
    179
}

/// `router_id`: an address, or `"hash"` for Calico's node-name hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouterIdSpec {
    Address(Ipv4Addr),
    Hash,
}

impl<'de> Deserialize<'de> for RouterIdSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RouterIdSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IPv4 address like \"10.0.0.1\" or \"hash\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RouterIdSpec, E> {
                if s == "hash" {
                    return Ok(RouterIdSpec::Hash);
                }
                s.parse().map(RouterIdSpec::Address).map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// An IP prefix written as `"addr/len"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(pub IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cidr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CIDR like \"10.244.0.0/16\" or \"fd00::/48\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Cidr, E> {
                s.parse().map(Cidr).map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// Whether this side originates or answers connections: Calico's global and node-specific
/// `BGPPeer`s become `Global_<ip>` and `Node_<ip>` protocols.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerScope {
    #[default]
    Global,
    Node,
}

/// Next hop sent to a peer (BIRD's `next hop self` / `next hop keep`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NextHopMode {
    /// BIRD's default: self for eBGP, unchanged for iBGP.
    #[default]
    Auto,
    #[serde(rename = "self")]
    SelfAddress,
    Keep,
}

/// ADD-PATH (RFC 7911) direction; Calico's template sets `add paths on`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPathMode {
    Off,
    Receive,
    Send,
    #[default]
    On,
}

/// Address families by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FamilyName {
    #[serde(rename = "ipv4-unicast")]
    Ipv4Unicast,
    #[serde(rename = "ipv6-unicast")]
    Ipv6Unicast,
}

/// `[[peer]]`: an explicitly configured peer (Calico `BGPPeer`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub address: Spanned<IpAddr>,
    pub asn: Spanned<u32>,
    #[serde(default)]
    pub scope: PeerScope,
    /// Neighbor port, default 179. Set, the protocol name gains `_port_<port>` as in Calico.
    pub port: Option<u16>,
    #[serde(default)]
    pub passive: bool,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// Defaults to this node's address of the peer's family (Calico's `sourceAddress: UseNodeIP`).
    pub source_address: Option<Spanned<IpAddr>>,
    pub hold_time: Option<Spanned<u16>>,
    pub keepalive_time: Option<Spanned<u16>>,
    /// GTSM (RFC 5082) with this many hops; Calico's `ttlSecurity`.
    pub ttl_security: Option<Spanned<u8>>,
    /// Multihop TTL; absent = Calico's template default `multihop` (BIRD: TTL 64).
    pub multihop: Option<Spanned<u8>>,
    #[serde(default)]
    pub next_hop_mode: NextHopMode,
    /// Absent: Calico's rule (same AS, we have a cluster ID, the peer's differs or is unset).
    pub rr_client: Option<Spanned<bool>>,
    /// Cluster ID used toward this client; defaults to `[global] rr_cluster_id`.
    pub cluster_id: Option<Spanned<Ipv4Addr>>,
    /// The peer's own RR cluster ID when it is a Calico node (used by the automatic RR-client rule).
    pub peer_cluster_id: Option<Ipv4Addr>,
    /// Defaults to the unicast family of `address`.
    pub families: Option<Spanned<Vec<FamilyName>>>,
    #[serde(default)]
    pub add_path: AddPathMode,
    pub graceful_restart_time: Option<Spanned<u16>>,
    pub max_prefixes: Option<Spanned<u32>>,
    pub import_policy: Option<String>,
    pub export_policy: Option<String>,
}

/// `[mesh]`: Calico's node-to-node mesh.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// TCP MD5 key for every mesh session (Calico `nodeMeshPassword`).
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// Restart Time on mesh sessions (Calico `nodeMeshMaxRestartTime`); default 120.
    pub graceful_restart_time: Option<Spanned<u16>>,
    #[serde(default)]
    pub nodes: Vec<MeshNode>,
}

impl Default for Mesh {
    fn default() -> Self {
        Mesh { enabled: true, password: None, password_file: None, graceful_restart_time: None, nodes: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

/// One Calico node of the cluster (including this one).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshNode {
    pub name: Spanned<String>,
    pub ipv4: Option<Spanned<Ipv4Addr>>,
    pub ipv6: Option<Spanned<Ipv6Addr>>,
    /// Defaults to `[global] asn`.
    pub asn: Option<Spanned<u32>>,
    pub rr_cluster_id: Option<Spanned<Ipv4Addr>>,
    /// The node's BGP port; defaults to `[global] listen_port` (Calico's `/global/listen_port`).
    pub listen_port: Option<u16>,
}

/// Encapsulation mode of an IP pool, spelled as in Calico's `IPPool`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum EncapMode {
    Always,
    CrossSubnet,
    #[default]
    Never,
}

/// `[calico]`: the datastore facts Calico's templates turn into filters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calico {
    #[serde(default)]
    pub ip_pools: Vec<IpPool>,
    /// IPAM blocks affine to this node (originated as blackholes, exported whole).
    #[serde(default)]
    pub ipam_blocks: Vec<Spanned<Cidr>>,
    #[serde(default)]
    pub service_cluster_cidrs: Vec<Spanned<Cidr>>,
    #[serde(default)]
    pub service_external_cidrs: Vec<Spanned<Cidr>>,
    #[serde(default)]
    pub service_loadbalancer_cidrs: Vec<Spanned<Cidr>>,
    /// Named communities (`BGPConfiguration.communities`).
    #[serde(default)]
    pub communities: Vec<NamedCommunity>,
    #[serde(default)]
    pub prefix_advertisements: Vec<PrefixAdvertisement>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpPool {
    pub cidr: Spanned<Cidr>,
    #[serde(default)]
    pub ipip_mode: EncapMode,
    #[serde(default)]
    pub vxlan_mode: EncapMode,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub disable_bgp_export: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCommunity {
    pub name: Spanned<String>,
    /// `"aa:nn"` (RFC 1997) or `"aa:nn:mm"` (RFC 8092 large).
    pub value: Spanned<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixAdvertisement {
    pub cidr: Spanned<Cidr>,
    /// Names from `communities`, or literal values.
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
}

/// `[kernel]`: the kernel routing table we sync with (BIRD's `protocol kernel`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    #[serde(default = "default_table")]
    pub table: u32,
    /// Protocol number on installed routes; 12 is `bird` in iproute2's `rt_protos`.
    #[serde(default = "default_protocol")]
    pub protocol: Spanned<u8>,
    /// Learn routes other daemons installed (Calico's `learn;`).
    #[serde(default = "yes")]
    pub learn: bool,
    /// Only learn routes with these protocol numbers; absent = all but our own.
    pub learn_protocols: Option<Vec<u8>>,
    /// Install routes into the kernel at all.
    #[serde(default = "yes")]
    pub program: bool,
    /// Leave installed routes when stopping (Calico's `persist;`, for graceful restart).
    #[serde(default = "yes")]
    pub keep_routes_on_shutdown: bool,
}

fn default_table() -> u32 {
    254
}

fn default_protocol() -> Spanned<u8> {
    Spanned::new(0..0, 12)
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            table: default_table(),
            protocol: default_protocol(),
            learn: true,
            learn_protocols: None,
            program: true,
            keep_routes_on_shutdown: true,
        }
    }
}

/// `[control]`: the BIRD-compatible sockets and the HTTP endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    #[serde(default = "default_socket6")]
    pub socket6: PathBuf,
    /// `/metrics`, `/healthz`, `/readyz`, `/peers`, `/routes`.
    #[serde(default = "default_http")]
    pub http_listen: SocketAddr,
}

fn default_socket() -> PathBuf {
    PathBuf::from("/var/run/calico/bird.ctl")
}

fn default_socket6() -> PathBuf {
    PathBuf::from("/var/run/calico/bird6.ctl")
}

fn default_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9179))
}

impl Default for Control {
    fn default() -> Self {
        Control { socket: default_socket(), socket6: default_socket6(), http_listen: default_http() }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub level: LogLevel,
    #[serde(default)]
    pub format: LogFormat,
}
