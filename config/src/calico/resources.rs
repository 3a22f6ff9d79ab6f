//! The objects Calico keeps in etcd (v3 data model), parsed from the JSON it writes.
//!
//! Keys (libcalico-go `lib/backend/model`):
//! - `/calico/resources/v3/projectcalico.org/{nodes,bgppeers,bgpconfigurations,ippools}/<name>`
//! - `/calico/ipam/v2/host/<node>/ipv4/block/<cidr with "/" as "-">` (and `ipv6`): block
//!   affinities, value `{"state":"confirmed","deleted":false}` (older releases: empty).
//!
//! Unknown fields are ignored (Calico adds fields every release); a value that does not parse, or
//! a field with an impossible value, makes the whole object a [`ResourceError`] naming its key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use serde_json::Value;

use super::Selector;
use crate::schema::{EncapMode, NextHopMode};

const RESOURCES: &str = "/calico/resources/v3/projectcalico.org/";
const IPAM_HOSTS: &str = "/calico/ipam/v2/host/";

/// The etcd prefixes holding every key this model reads: list and watch these.
pub const WATCH_PREFIXES: [&str; 2] = [RESOURCES, IPAM_HOSTS];

/// A malformed object: its key and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceError {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ResourceError {}

/// Where a key points, without its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKey {
    Node(String),
    BgpPeer(String),
    BgpConfiguration(String),
    IpPool(String),
    BlockAffinity { node: String, cidr: IpNet },
}

/// One parsed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Node(Node),
    BgpPeer(BgpPeer),
    BgpConfiguration(BgpConfiguration),
    IpPool(IpPool),
    BlockAffinity(BlockAffinity),
}

/// `Node` (`spec.bgp` and labels; a node without `spec.bgp` takes no part in BGP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub bgp: Option<NodeBgp>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeBgp {
    /// `asNumber`; absent: the cluster default.
    pub asn: Option<u32>,
    /// `ipv4Address`: the node's address and its subnet.
    pub ipv4: Option<Ipv4Net>,
    pub ipv6: Option<Ipv6Net>,
    pub ipv4_ipip_tunnel_addr: Option<Ipv4Addr>,
    /// `routeReflectorClusterID`: set, this node is a route reflector.
    pub rr_cluster_id: Option<Ipv4Addr>,
}

/// `spec.password.secretKeyRef` (a Kubernetes secret name and key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// `BGPPeer.spec.sourceAddress`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceAddress {
    #[default]
    UseNodeIp,
    None,
}

/// `BGPPeer.spec.reversePeering`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReversePeering {
    #[default]
    Auto,
    Manual,
}

/// `BGPPeer`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpPeer {
    pub name: String,
    pub node: Option<String>,
    pub node_selector: Option<Selector>,
    /// `peerIP`, which may carry a port (`10.0.0.1:1179`, `[fd00::1]:1179`).
    pub peer_ip: Option<IpAddr>,
    pub peer_port: Option<u16>,
    pub asn: Option<u32>,
    pub local_asn: Option<u32>,
    pub peer_selector: Option<Selector>,
    pub keep_original_next_hop: bool,
    pub next_hop_mode: Option<NextHopMode>,
    pub password: Option<SecretKeyRef>,
    pub source_address: SourceAddress,
    /// Seconds, from a Go duration (`"120s"`).
    pub max_restart_time: Option<u16>,
    pub keepalive_time: Option<u16>,
    pub num_allowed_local_as: Option<u8>,
    pub ttl_security: Option<u8>,
    pub reachable_by: Option<IpAddr>,
    pub filters: Vec<String>,
    pub reverse_peering: ReversePeering,
}

/// `BGPConfiguration.spec.bindMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindMode {
    #[default]
    None,
    NodeIp,
}

/// `BGPConfiguration.spec.programClusterRoutes`: which pool routes the BGP daemon programs into
/// the kernel (the rest are left to Felix).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProgramClusterRoutes {
    /// Both IPIP and unencapsulated pools (every release before the option existed, up to
    /// Calico 3.32: the BIRD 1.6 era).
    #[default]
    Enabled,
    /// Felix programs everything.
    Disabled,
    EnabledIpipOnly,
    /// Calico 3.33's default: Felix owns IPIP pools, the BGP daemon no-encapsulation pools.
    EnabledNoEncapOnly,
}

impl ProgramClusterRoutes {
    /// The BGP daemon programs IPIP pools' routes.
    pub fn programs_ipip(self) -> bool {
        matches!(self, ProgramClusterRoutes::Enabled | ProgramClusterRoutes::EnabledIpipOnly)
    }

    /// The BGP daemon programs unencapsulated pools' routes.
    pub fn programs_no_encap(self) -> bool {
        matches!(self, ProgramClusterRoutes::Enabled | ProgramClusterRoutes::EnabledNoEncapOnly)
    }
}

/// `BGPConfiguration` (`default`, or `node.<name>` for one node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpConfiguration {
    pub name: String,
    pub node_to_node_mesh_enabled: Option<bool>,
    pub asn: Option<u32>,
    pub service_cluster_ips: Vec<IpNet>,
    pub service_external_ips: Vec<IpNet>,
    pub service_loadbalancer_ips: Vec<IpNet>,
    /// `(name, value)`.
    pub communities: Vec<(String, String)>,
    /// `(cidr, communities by name or value)`.
    pub prefix_advertisements: Vec<(IpNet, Vec<String>)>,
    pub listen_port: Option<u16>,
    pub node_mesh_password: Option<SecretKeyRef>,
    pub node_mesh_max_restart_time: Option<u16>,
    pub bind_mode: Option<BindMode>,
    pub ignored_interfaces: Vec<String>,
    pub program_cluster_routes: Option<ProgramClusterRoutes>,
}

/// `IPPool`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPool {
    pub name: String,
    pub cidr: IpNet,
    pub ipip_mode: EncapMode,
    pub vxlan_mode: EncapMode,
    pub disabled: bool,
    pub disable_bgp_export: bool,
    pub node_selector: Option<Selector>,
}

/// An IPAM block's affinity state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityState {
    Confirmed,
    Pending,
    PendingDeletion,
    /// No state recorded (older releases): confd treats it as confirmed.
    Implicit,
}

/// A block affine to a node (`/calico/ipam/v2/host/<node>/ipv4/block/<cidr>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAffinity {
    pub node: String,
    pub cidr: IpNet,
    pub state: AffinityState,
    pub deleted: bool,
}

impl BlockAffinity {
    /// Whether the node owns the block (confd's `calico_aggr`: state confirmed or absent).
    pub fn is_confirmed(&self) -> bool {
        !self.deleted && matches!(self.state, AffinityState::Confirmed | AffinityState::Implicit)
    }
}

/// Classifies `key`; `Ok(None)` for keys this model does not use.
pub fn parse_key(key: &str) -> Result<Option<ResourceKey>, String> {
    if let Some(rest) = key.strip_prefix(RESOURCES) {
        let Some((plural, name)) = rest.split_once('/') else { return Ok(None) };
        if name.is_empty() || name.contains('/') {
            return Ok(None);
        }
        let name = name.to_string();
        return Ok(match plural {
            "nodes" => Some(ResourceKey::Node(name)),
            "bgppeers" => Some(ResourceKey::BgpPeer(name)),
            "bgpconfigurations" => Some(ResourceKey::BgpConfiguration(name)),
            "ippools" => Some(ResourceKey::IpPool(name)),
            _ => None,
        });
    }
    if let Some(rest) = key.strip_prefix(IPAM_HOSTS) {
        let parts: Vec<&str> = rest.split('/').collect();
        let [node, family @ ("ipv4" | "ipv6"), "block", block] = parts.as_slice() else { return Ok(None) };
        let cidr = block
            .rsplit_once('-')
            .and_then(|(addr, len)| format!("{addr}/{len}").parse::<IpNet>().ok())
            .filter(|c| matches!((c, *family), (IpNet::V4(_), "ipv4") | (IpNet::V6(_), "ipv6")))
            .ok_or_else(|| format!("block {block:?} is not an {family} CIDR written with '-' for '/'"))?;
        return Ok(Some(ResourceKey::BlockAffinity { node: node.to_string(), cidr }));
    }
    Ok(None)
}

/// Parses one etcd key/value. `Ok(None)`: a key this model does not use.
pub fn parse_kv(key: &str, value: &[u8]) -> Result<Option<Resource>, ResourceError> {
    let err = |message: String| ResourceError { key: key.to_string(), message };
    let Some(rkey) = parse_key(key).map_err(err)? else { return Ok(None) };
    let resource = match rkey {
        ResourceKey::BlockAffinity { node, cidr } => {
            let (state, deleted) = affinity_value(value).map_err(err)?;
            Resource::BlockAffinity(BlockAffinity { node, cidr, state, deleted })
        }
        other => {
            let json: Value = serde_json::from_slice(value).map_err(|e| err(format!("not JSON: {e}")))?;
            match other {
                ResourceKey::Node(name) => Resource::Node(node(name, &json).map_err(err)?),
                ResourceKey::BgpPeer(name) => Resource::BgpPeer(bgp_peer(name, &json).map_err(err)?),
                ResourceKey::BgpConfiguration(name) => {
                    Resource::BgpConfiguration(bgp_configuration(name, &json).map_err(err)?)
                }
                ResourceKey::IpPool(name) => Resource::IpPool(ip_pool(name, &json).map_err(err)?),
                ResourceKey::BlockAffinity { .. } => return Ok(None),
            }
        }
    };
    Ok(Some(resource))
}

fn affinity_value(value: &[u8]) -> Result<(AffinityState, bool), String> {
    if value.iter().all(u8::is_ascii_whitespace) {
        return Ok((AffinityState::Implicit, false));
    }
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        state: String,
        #[serde(default)]
        deleted: bool,
    }
    let raw: Raw = serde_json::from_slice(value).map_err(|e| format!("not a block affinity: {e}"))?;
    let state = match raw.state.as_str() {
        "" => AffinityState::Implicit,
        "confirmed" => AffinityState::Confirmed,
        "pending" => AffinityState::Pending,
        "pendingDeletion" => AffinityState::PendingDeletion,
        other => return Err(format!("unknown affinity state {other:?}")),
    };
    Ok((state, raw.deleted))
}

/// Typed access to a JSON object, with the field path in every error.
struct Obj<'a> {
    path: String,
    map: Option<&'a serde_json::Map<String, Value>>,
}

impl<'a> Obj<'a> {
    fn root(v: &'a Value) -> Result<Obj<'a>, String> {
        match v {
            Value::Object(m) => Ok(Obj { path: String::new(), map: Some(m) }),
            _ => Err("not a JSON object".into()),
        }
    }

    fn path(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(field)).filter(|v| !v.is_null())
    }

    /// A nested object; absent gives an empty one.
    fn obj(&self, field: &str) -> Result<Obj<'a>, String> {
        match self.get(field) {
            None => Ok(Obj { path: self.path(field), map: None }),
            Some(Value::Object(m)) => Ok(Obj { path: self.path(field), map: Some(m) }),
            Some(_) => Err(format!("{}: expected an object", self.path(field))),
        }
    }

    fn present(&self) -> bool {
        self.map.is_some()
    }

    fn str(&self, field: &str) -> Result<Option<&'a str>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{}: expected a string", self.path(field))),
        }
    }

    fn bool(&self, field: &str) -> Result<bool, String> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{}: expected true or false", self.path(field))),
        }
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, String> {
        self.get(field).map(|_| self.bool(field)).transpose()
    }

    fn int<T: TryFrom<u64>>(&self, field: &str) -> Result<Option<T>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| T::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("{}: {v} is not a valid number here", self.path(field))),
        }
    }

    fn parsed<T: std::str::FromStr>(&self, field: &str, what: &str) -> Result<Option<T>, String> {
        self.str(field)?
            .map(|s| s.parse::<T>().map_err(|_| format!("{}: {s:?} is not {what}", self.path(field))))
            .transpose()
    }

    fn selector(&self, field: &str) -> Result<Option<Selector>, String> {
        self.str(field)?
            .map(|s| Selector::parse(s).map_err(|e| format!("{}: selector {s:?}: {e}", self.path(field))))
            .transpose()
    }

    /// `numorstring.ASNumber`: a number, or a string in plain or dotted (`1.10`) notation.
    fn asn(&self, field: &str) -> Result<Option<u32>, String> {
        let bad = |v: &Value| format!("{}: {v} is not an AS number", self.path(field));
        match self.get(field) {
            None => Ok(None),
            Some(v @ Value::Number(_)) => {
                v.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| bad(v))
            }
            Some(v @ Value::String(s)) => {
                let parsed = match s.split_once('.') {
                    Some((hi, lo)) => hi
                        .parse::<u16>()
                        .ok()
                        .zip(lo.parse::<u16>().ok())
                        .map(|(h, l)| (u32::from(h) << 16) | u32::from(l)),
                    None => s.parse::<u32>().ok(),
                };
                parsed.map(Some).ok_or_else(|| bad(v))
            }
            Some(v) => Err(bad(v)),
        }
    }

    /// A Go `time.Duration` string (`"120s"`, `"2m30s"`), rounded to whole seconds.
    fn seconds(&self, field: &str) -> Result<Option<u16>, String> {
        self.str(field)?
            .map(|s| {
                go_duration_seconds(s)
                    .and_then(|secs| u16::try_from(secs).ok())
                    .ok_or_else(|| format!("{}: {s:?} is not a duration up to 65535s", self.path(field)))
            })
            .transpose()
    }

    fn secret(&self, field: &str) -> Result<Option<SecretKeyRef>, String> {
        let password = self.obj(field)?;
        let r = password.obj("secretKeyRef")?;
        if !r.present() {
            return Ok(None);
        }
        match (r.str("name")?, r.str("key")?) {
            (Some(name), Some(key)) => Ok(Some(SecretKeyRef { name: name.into(), key: key.into() })),
            _ => Err(format!("{}: needs name and key", r.path)),
        }
    }

    fn array(&self, field: &str) -> Result<Vec<Obj<'a>>, String> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(Obj { path: format!("{}[{i}]", self.path(field)), map: Some(m) }),
                    _ => Err(format!("{}[{i}]: expected an object", self.path(field))),
                })
                .collect(),
            Some(_) => Err(format!("{}: expected a list", self.path(field))),
        }
    }

    fn strings(&self, field: &str) -> Result<Vec<String>, String> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| format!("{}: expected strings", self.path(field)))
                })
                .collect(),
            Some(_) => Err(format!("{}: expected a list of strings", self.path(field))),
        }
    }

    fn cidrs(&self, field: &str) -> Result<Vec<IpNet>, String> {
        self.array(field)?
            .iter()
            .map(|o| o.parsed::<IpNet>("cidr", "a CIDR")?.ok_or_else(|| format!("{}: cidr missing", o.path)))
            .collect()
    }

    fn labels(&self) -> Result<BTreeMap<String, String>, String> {
        let labels = self.obj("metadata")?.obj("labels")?;
        let Some(map) = labels.map else { return Ok(BTreeMap::new()) };
        map.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("{}.{k}: expected a string", labels.path)),
            })
            .collect()
    }
}

/// Seconds in a Go duration: decimal numbers with units ns, us/µs, ms, s, m, h; `"0"` alone.
fn go_duration_seconds(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    let rounded = total.round();
    (rounded.is_finite() && rounded <= u64::MAX as f64).then_some(rounded as u64)
}

fn encap(o: &Obj<'_>, field: &str) -> Result<EncapMode, String> {
    match o.str(field)? {
        None | Some("Never") => Ok(EncapMode::Never),
        Some("Always") => Ok(EncapMode::Always),
        Some("CrossSubnet") => Ok(EncapMode::CrossSubnet),
        Some(other) => Err(format!("{}: unknown mode {other:?}", o.path(field))),
    }
}

fn node(name: String, json: &Value) -> Result<Node, String> {
    let root = Obj::root(json)?;
    let bgp = root.obj("spec")?.obj("bgp")?;
    let bgp = if bgp.present() {
        // Calico writes the node address with its subnet; a bare address is taken as a host.
        let v4 = bgp.str("ipv4Address")?.map(|s| {
            s.parse::<Ipv4Net>()
                .or_else(|_| s.parse::<Ipv4Addr>().map(Ipv4Net::from))
                .map_err(|_| format!("spec.bgp.ipv4Address: {s:?} is not an IPv4 address"))
        });
        let v6 = bgp.str("ipv6Address")?.map(|s| {
            s.parse::<Ipv6Net>()
                .or_else(|_| s.parse::<std::net::Ipv6Addr>().map(Ipv6Net::from))
                .map_err(|_| format!("spec.bgp.ipv6Address: {s:?} is not an IPv6 address"))
        });
        Some(NodeBgp {
            asn: bgp.asn("asNumber")?,
            ipv4: v4.transpose()?,
            ipv6: v6.transpose()?,
            ipv4_ipip_tunnel_addr: bgp.parsed("ipv4IPIPTunnelAddr", "an IPv4 address")?,
            rr_cluster_id: bgp.parsed("routeReflectorClusterID", "an IPv4 cluster ID")?,
        })
    } else {
        None
    };
    Ok(Node { name, labels: root.labels()?, bgp })
}

/// `peerIP`: an address, `a.b.c.d:port` or `[v6]:port`.
fn peer_ip(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some((a, None));
    }
    s.parse::<std::net::SocketAddr>().ok().map(|sa| (sa.ip(), Some(sa.port()).filter(|p| *p != 0)))
}

fn bgp_peer(name: String, json: &Value) -> Result<BgpPeer, String> {
    let spec = Obj::root(json)?.obj("spec")?;
    let (peer_ip, peer_port) = match spec.str("peerIP")? {
        None => (None, None),
        Some(s) => {
            let (ip, port) =
                peer_ip(s).ok_or_else(|| format!("spec.peerIP: {s:?} is not an address or address:port"))?;
            (Some(ip), port)
        }
    };
    let next_hop_mode = match spec.str("nextHopMode")? {
        None => None,
        Some("Auto") => Some(NextHopMode::Auto),
        Some("Self") => Some(NextHopMode::SelfAddress),
        Some("Keep") => Some(NextHopMode::Keep),
        Some(other) => return Err(format!("spec.nextHopMode: unknown mode {other:?}")),
    };
    let source_address = match spec.str("sourceAddress")? {
        None | Some("UseNodeIP") => SourceAddress::UseNodeIp,
        Some("None") => SourceAddress::None,
        Some(other) => return Err(format!("spec.sourceAddress: unknown value {other:?}")),
    };
    let reverse_peering = match spec.str("reversePeering")? {
        None | Some("Auto") => ReversePeering::Auto,
        Some("Manual") => ReversePeering::Manual,
        Some(other) => return Err(format!("spec.reversePeering: unknown value {other:?}")),
    };
    let p = BgpPeer {
        name,
        node: spec.str("node")?.map(str::to_string),
        node_selector: spec.selector("nodeSelector")?,
        peer_ip,
        peer_port,
        asn: spec.asn("asNumber")?,
        local_asn: spec.asn("localASNumber")?,
        peer_selector: spec.selector("peerSelector")?,
        keep_original_next_hop: spec.bool("keepOriginalNextHop")?,
        next_hop_mode,
        password: spec.secret("password")?,
        source_address,
        max_restart_time: spec.seconds("maxRestartTime")?,
        keepalive_time: spec.seconds("keepaliveTime")?,
        num_allowed_local_as: spec.int("numAllowedLocalASNumbers")?,
        ttl_security: spec.int("ttlSecurity")?,
        reachable_by: spec.parsed("reachableBy", "an IP address")?,
        filters: spec.strings("filters")?,
        reverse_peering,
    };
    if p.peer_ip.is_none() && p.peer_selector.is_none() {
        return Err("spec: neither peerIP nor peerSelector is set".into());
    }
    if p.peer_ip.is_some() && p.asn.is_none() {
        return Err("spec.asNumber: required with peerIP".into());
    }
    Ok(p)
}

fn bgp_configuration(name: String, json: &Value) -> Result<BgpConfiguration, String> {
    let spec = Obj::root(json)?.obj("spec")?;
    let communities = spec
        .array("communities")?
        .iter()
        .map(|c| match (c.str("name")?, c.str("value")?) {
            (Some(n), Some(v)) => Ok((n.to_string(), v.to_string())),
            _ => Err(format!("{}: needs name and value", c.path)),
        })
        .collect::<Result<_, String>>()?;
    let prefix_advertisements = spec
        .array("prefixAdvertisements")?
        .iter()
        .map(|a| {
            let cidr = a.parsed::<IpNet>("cidr", "a CIDR")?.ok_or_else(|| format!("{}: cidr missing", a.path))?;
            Ok((cidr, a.strings("communities")?))
        })
        .collect::<Result<_, String>>()?;
    let bind_mode = match spec.str("bindMode")? {
        None => None,
        Some("None") => Some(BindMode::None),
        Some("NodeIP") => Some(BindMode::NodeIp),
        Some(other) => return Err(format!("spec.bindMode: unknown value {other:?}")),
    };
    let program_cluster_routes = match spec.str("programClusterRoutes")? {
        None => None,
        Some("Enabled") => Some(ProgramClusterRoutes::Enabled),
        Some("Disabled") => Some(ProgramClusterRoutes::Disabled),
        Some("EnabledIPIPOnly") => Some(ProgramClusterRoutes::EnabledIpipOnly),
        Some("EnabledNoEncapOnly") => Some(ProgramClusterRoutes::EnabledNoEncapOnly),
        Some(other) => return Err(format!("spec.programClusterRoutes: unknown value {other:?}")),
    };
    Ok(BgpConfiguration {
        name,
        node_to_node_mesh_enabled: spec.opt_bool("nodeToNodeMeshEnabled")?,
        asn: spec.asn("asNumber")?,
        service_cluster_ips: spec.cidrs("serviceClusterIPs")?,
        service_external_ips: spec.cidrs("serviceExternalIPs")?,
        service_loadbalancer_ips: spec.cidrs("serviceLoadBalancerIPs")?,
        communities,
        prefix_advertisements,
        listen_port: spec.int::<u16>("listenPort")?.filter(|p| *p != 0),
        node_mesh_password: spec.secret("nodeMeshPassword")?,
        node_mesh_max_restart_time: spec.seconds("nodeMeshMaxRestartTime")?,
        bind_mode,
        ignored_interfaces: spec.strings("ignoredInterfaces")?,
        program_cluster_routes,
    })
}

fn ip_pool(name: String, json: &Value) -> Result<IpPool, String> {
    let spec = Obj::root(json)?.obj("spec")?;
    Ok(IpPool {
        name,
        cidr: spec.parsed::<IpNet>("cidr", "a CIDR")?.ok_or("spec.cidr: missing")?.trunc(),
        ipip_mode: encap(&spec, "ipipMode")?,
        vxlan_mode: encap(&spec, "vxlanMode")?,
        disabled: spec.bool("disabled")?,
        disable_bgp_export: spec.bool("disableBGPExport")?,
        node_selector: spec.selector("nodeSelector")?,
    })
}
