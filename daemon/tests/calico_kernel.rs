//! `filter calico_kernel_programming`: which BGP-learned routes tern writes to the kernel and
//! how, one rule per test, on the node of `calico_common` (subnet 10.192.0.0/16).

mod calico_common;

use calico_common::*;
use tern_speaker::calico::{CalicoOptions, CalicoRules, ClusterRoutes, KernelDecision};

fn install(via: &str, tunl0: bool, metric: u32) -> KernelDecision {
    KernelDecision::Install { via: ip(via), dev_tunl0_onlink: tunl0, metric }
}

/// IPIP Always: `if (net ~ 192.168.0.0/16) then { krt_tunnel="tunl0"; accept; }` — via the
/// next hop, dev tunl0 onlink, whatever the subnet; metric 1024 without LOCAL_PREF.
#[test]
fn ipip_always_pool_goes_through_tunl0() {
    let r = rules();
    assert_eq!(r.kernel_route(net("192.168.44.0/26"), ip("10.192.0.3"), None), install("10.192.0.3", true, 1024));
    assert_eq!(r.kernel_route(net("192.168.44.0/26"), ip("10.50.0.3"), None), install("10.50.0.3", true, 1024));
}

/// SetMetricForBGPRoutes: `krt_metric = 2147483647 - bgp_local_pref` — the mesh priority comes
/// back as the kernel metric (normal 1024, elevated 512).
#[test]
fn metric_is_the_inverse_of_local_pref() {
    let r = rules();
    let p = net("192.168.44.5/32");
    assert_eq!(r.kernel_route(p, ip("10.192.0.3"), Some(NORMAL_LOCAL_PREF)), install("10.192.0.3", true, 1024));
    assert_eq!(r.kernel_route(p, ip("10.192.0.3"), Some(ELEVATED_LOCAL_PREF)), install("10.192.0.3", true, 512));
    assert_eq!(r.kernel_route(p, ip("10.192.0.3"), Some(100)), install("10.192.0.3", true, 2_147_483_547));
}

/// IPIP CrossSubnet: `if (defined(bgp_next_hop)&&(bgp_next_hop ~ 10.192.0.0/16)) then
/// krt_tunnel=""; else krt_tunnel="tunl0";`.
#[test]
fn ipip_cross_subnet_tunnels_only_off_subnet() {
    let r = rules();
    let p = net("100.64.3.0/26");
    assert_eq!(r.kernel_route(p, ip("10.192.7.9"), None), install("10.192.7.9", false, 1024), "same subnet");
    assert_eq!(r.kernel_route(p, ip("10.193.0.9"), None), install("10.193.0.9", true, 1024), "other subnet");
}

/// `if (net ~ 10.244.0.0/16) then { reject; } # VXLAN routes are handled by Felix.`
#[test]
fn vxlan_pool_routes_are_never_programmed() {
    let r = rules();
    assert_eq!(r.kernel_route(net("10.244.7.0/26"), ip("10.192.0.3"), None), KernelDecision::Skip);
    assert_eq!(r.kernel_route(net("fd00:20:0:1::/122"), ip("fd00:192::3"), None), KernelDecision::Skip, "IPv6");
}

/// `# Don't program static routes into kernel.` — the service ranges, also on a node that does
/// not advertise them.
#[test]
fn service_ranges_are_never_programmed() {
    for opts in [CalicoOptions::default(), CalicoOptions { advertise_services: false, ..CalicoOptions::default() }] {
        let r = rules_with(opts);
        for p in ["10.96.0.0/12", "10.96.0.10/32", "203.0.113.0/24", "198.51.100.7/32"] {
            assert_eq!(r.kernel_route(net(p), ip("10.192.0.3"), None), KernelDecision::Skip, "{p}");
        }
    }
}

/// No encapsulation: `if (net ~ 10.2.0.0/16) then { krt_tunnel=""; accept; }`.
#[test]
fn no_encap_pool_goes_straight_via_the_next_hop() {
    let r = rules();
    assert_eq!(r.kernel_route(net("10.2.9.0/26"), ip("10.192.0.3"), None), install("10.192.0.3", false, 1024));
}

/// A destination in no pool: the final `accept;`, no tunnel.
#[test]
fn route_outside_every_pool_is_installed_plainly() {
    let r = rules();
    assert_eq!(r.kernel_route(net("10.50.0.0/24"), ip("10.192.0.1"), None), install("10.192.0.1", false, 1024));
}

/// programClusterRoutes: the pools Felix owns get `{ reject; } # Cluster routes are handled by Felix.`
#[test]
fn program_cluster_routes_hands_pools_to_felix() {
    let opts = |c| CalicoOptions { program_cluster_routes: c, ..CalicoOptions::default() };
    let no_encap_only = rules_with(opts(ClusterRoutes::EnabledNoEncapOnly));
    assert_eq!(no_encap_only.kernel_route(net("192.168.44.0/26"), ip("10.192.0.3"), None), KernelDecision::Skip);
    assert_eq!(no_encap_only.kernel_route(net("100.64.3.0/26"), ip("10.193.0.3"), None), KernelDecision::Skip);
    assert_eq!(
        no_encap_only.kernel_route(net("10.2.9.0/26"), ip("10.192.0.3"), None),
        install("10.192.0.3", false, 1024)
    );
    let ipip_only = rules_with(opts(ClusterRoutes::EnabledIpipOnly));
    assert_eq!(ipip_only.kernel_route(net("10.2.9.0/26"), ip("10.192.0.3"), None), KernelDecision::Skip);
    assert_eq!(
        ipip_only.kernel_route(net("192.168.44.0/26"), ip("10.192.0.3"), None),
        install("10.192.0.3", true, 1024)
    );
    let disabled = rules_with(opts(ClusterRoutes::Disabled));
    assert_eq!(disabled.kernel_route(net("10.2.9.0/26"), ip("10.192.0.3"), None), KernelDecision::Skip);
    assert_eq!(
        disabled.kernel_route(net("10.50.0.0/24"), ip("10.192.0.3"), None),
        install("10.192.0.3", false, 1024),
        "outside the pools it is still ours"
    );
}

/// Without `network_v4` Calico renders no IPv4 pool statements at all: everything is accepted
/// without a tunnel, VXLAN pools included.
#[test]
fn without_the_node_subnet_ipv4_pools_have_no_statements() {
    let st = state_with("", &["subnets = [\"10.192.0.0/16\", \"fd00:192::/64\"]"]);
    assert_eq!(st.ipv4_subnet, None);
    let r = CalicoRules::new(&st, CalicoOptions::default());
    assert_eq!(r.kernel_route(net("192.168.44.0/26"), ip("10.192.0.3"), None), install("10.192.0.3", false, 1024));
    assert_eq!(r.kernel_route(net("10.244.7.0/26"), ip("10.192.0.3"), None), install("10.192.0.3", false, 1024));
    assert_eq!(r.kernel_route(net("10.96.0.0/12"), ip("10.192.0.3"), None), KernelDecision::Skip, "rejectcidrs");
    assert_eq!(r.kernel_route(net("fd00:20:0:1::/122"), ip("fd00:192::3"), None), KernelDecision::Skip, "v6 kept");
}

/// IPv6 keeps only the reject statements; accepted routes never get a tunnel.
#[test]
fn ipv6_routes_never_tunnel() {
    let r = rules();
    assert_eq!(
        r.kernel_route(net("fd00:10:244:9::/122"), ip("fd00:192::3"), Some(ELEVATED_LOCAL_PREF)),
        install("fd00:192::3", false, 512)
    );
    let felix = rules_with(CalicoOptions { program_cluster_routes: ClusterRoutes::Disabled, ..Default::default() });
    assert_eq!(felix.kernel_route(net("fd00:10:244:9::/122"), ip("fd00:192::3"), None), KernelDecision::Skip);
}

/// `merge paths on`: the filter runs per path of an ECMP route.
#[test]
fn ecmp_next_hops_decided_one_by_one() {
    let r = rules();
    let d = r.kernel_routes(net("100.64.3.0/26"), &[ip("10.192.0.3"), ip("10.193.0.4")], None);
    assert_eq!(d, vec![install("10.192.0.3", false, 1024), install("10.193.0.4", true, 1024)]);
    assert!(r.kernel_routes(net("10.244.7.0/26"), &[ip("10.192.0.3"), ip("10.192.0.4")], None).is_empty());
}

/// BIRD's static blackholes that reach the kernel: blocks in IPIP/no-encap pools (BIRD's),
/// never host blocks, service ranges (reject CIDRs) or blocks of VXLAN pools (Felix's).
#[test]
fn kernel_blackholes_are_the_blocks_bird_programs() {
    let mut st = state();
    st.calico.ipam_blocks.push(net("10.244.3.0/26"));
    let r = CalicoRules::new(&st, CalicoOptions::default());
    assert_eq!(
        r.kernel_blackholes(),
        vec![net("192.168.221.64/26"), net("192.168.221.192/26"), net("fd00:10:244:1::/122")]
    );
    let felix =
        CalicoRules::new(&st, CalicoOptions { program_cluster_routes: ClusterRoutes::Disabled, ..Default::default() });
    assert!(felix.kernel_blackholes().is_empty());
}
