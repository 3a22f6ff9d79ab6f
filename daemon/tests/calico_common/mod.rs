//! A realistic Calico node for the rule tests: `kube-node-1` (10.192.0.2 in 10.192.0.0/16,
//! AS 64512) with IPAM blocks, pools of every kind, service ranges and prefix advertisements.
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;

use bgp_proto::attribute::LargeCommunity;
use bgp_proto::PathAttributes;
use config::DesiredState;
use ipnet::IpNet;
use tern_speaker::calico::{CalicoOptions, CalicoRules, KernelRouteInfo, PRIORITY_BASE};

/// Normal priority as LOCAL_PREF: 2147483647 − 1024.
pub const NORMAL_LOCAL_PREF: u32 = 2_147_482_623;
/// Elevated (metric 512) as LOCAL_PREF: 2147483647 − 512.
pub const ELEVATED_LOCAL_PREF: u32 = 2_147_483_135;

pub const NODE: &str = r#"
[global]
asn = 64512
node_name = "kube-node-1"
ipv4 = "10.192.0.2"
ipv6 = "fd00:192::2"
subnets = ["10.192.0.0/16", "fd00:192::/64"]
__GLOBAL__

[[mesh.nodes]]
name = "kube-node-1"
ipv4 = "10.192.0.2"

[[mesh.nodes]]
name = "kube-node-2"
ipv4 = "10.192.0.3"

[calico]
ipam_blocks = ["192.168.221.64/26", "192.168.221.192/26", "10.2.0.1/32", "fd00:10:244:1::/122"]
service_cluster_cidrs = ["10.96.0.0/12"]
service_external_cidrs = ["203.0.113.0/24"]
service_loadbalancer_cidrs = ["198.51.100.0/24"]

[[calico.ip_pools]]
cidr = "192.168.0.0/16"
ipip_mode = "Always"

[[calico.ip_pools]]
cidr = "100.64.0.0/16"
ipip_mode = "CrossSubnet"

[[calico.ip_pools]]
cidr = "10.244.0.0/16"
vxlan_mode = "Always"

[[calico.ip_pools]]
cidr = "10.2.0.0/16"

[[calico.ip_pools]]
cidr = "172.16.0.0/16"
disable_bgp_export = true

[[calico.ip_pools]]
cidr = "172.17.0.0/16"
disabled = true

[[calico.ip_pools]]
cidr = "fd00:10:244::/48"

[[calico.ip_pools]]
cidr = "fd00:20::/48"
vxlan_mode = "CrossSubnet"

[[calico.communities]]
name = "pods"
value = "64512:100"

[[calico.prefix_advertisements]]
cidr = "192.168.221.64/26"
communities = ["pods", "64512:1:2"]

[[calico.prefix_advertisements]]
cidr = "192.168.0.0/16"
communities = ["65000:7"]
"#;

/// The node's state; `global` is added to `[global]` (e.g. `rr_cluster_id = "1.0.0.1"`).
pub fn state_with(global: &str, drop: &[&str]) -> DesiredState {
    let mut text = NODE.replace("__GLOBAL__", global);
    for line in drop {
        text = text.replace(line, "");
    }
    let cfg = config::parse(&text, "kube-node-1.toml").unwrap_or_else(|e| panic!("test config: {e}"));
    DesiredState::from_config(&cfg)
}

pub fn state() -> DesiredState {
    state_with("", &[])
}

pub fn rules_with(options: CalicoOptions) -> Arc<CalicoRules> {
    Arc::new(CalicoRules::new(&state(), options))
}

pub fn rules() -> Arc<CalicoRules> {
    rules_with(CalicoOptions::default())
}

pub fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A kernel route on `ifname` with `metric`; `gateway`: via a next hop.
pub fn kernel(ifname: &str, metric: u32, gateway: bool) -> KernelRouteInfo {
    KernelRouteInfo { ifname: Some(ifname.to_string()), metric, proto: if gateway { 80 } else { 3 }, gateway }
}

/// Runs the export rules; `Some(attrs)` when exported.
pub fn export(
    rules: &CalicoRules,
    prefix: &str,
    info: Option<&KernelRouteInfo>,
    internal_peer: bool,
    attrs: PathAttributes,
) -> Option<PathAttributes> {
    let mut a = attrs;
    rules.export(net(prefix), info, internal_peer, internal_peer, &mut a).then_some(a)
}

pub fn local(rules: &CalicoRules, metric: u32) -> PathAttributes {
    rules.local_attributes(metric)
}

pub fn std_community(asn: u16, value: u16) -> u32 {
    (u32::from(asn) << 16) | u32::from(value)
}

pub fn large(g: u32, a: u32, b: u32) -> LargeCommunity {
    LargeCommunity { global_admin: g, local_data1: a, local_data2: b }
}

pub const BASE: u32 = PRIORITY_BASE;
