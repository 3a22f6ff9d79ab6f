//! `calico_export_to_bgp_peers` + `calico_aggr`, one rule per test, on a realistic node
//! (see `calico_common`). iBGP = `internal_peer` (mesh peers, with the priority rule); eBGP = not.

mod calico_common;

use calico_common::*;
use tern_speaker::calico::{CalicoOptions, CalicoRules, ClusterRoutes};

/// `if ( net = {{$cidr}} ) then { accept; }` — the block itself goes to every peer, with the
/// prefix advertisement communities (standard and large) and, on iBGP, LOCAL_PREF 2147483647 − 1024.
#[test]
fn block_is_exported_with_communities_and_normal_priority() {
    let r = rules();
    let a = export(&r, "192.168.221.64/26", None, true, local(&r, 1024)).expect("block exported to iBGP");
    assert_eq!(a.local_pref, Some(NORMAL_LOCAL_PREF));
    // Both advertisements cover the block: 192.168.221.64/26 (64512:100, 64512:1:2) and
    // 192.168.0.0/16 (65000:7), in configuration order.
    assert_eq!(a.communities, Some(vec![std_community(64512, 100), std_community(65000, 7)]));
    assert_eq!(a.large_communities, Some(vec![large(64512, 1, 2)]));

    let e = export(&r, "192.168.221.64/26", None, false, Default::default()).expect("block exported to eBGP");
    assert_eq!(e.local_pref, None, "no priority rule towards eBGP peers");
    assert_eq!(e.communities, Some(vec![std_community(64512, 100), std_community(65000, 7)]));

    // The other block gets only the pool-wide community.
    let b = export(&r, "192.168.221.192/26", None, true, local(&r, 1024)).expect("second block");
    assert_eq!(b.communities, Some(vec![std_community(65000, 7)]));
    assert_eq!(b.large_communities, None);
}

/// `if ( net ~ {{$cidr}} && krt_metric < {{$config.NormalRoutePriority}} ) then { accept; }`:
/// a workload /32 inside our block with an elevated kernel metric (live migration target).
#[test]
fn elevated_workload_route_inside_block_is_exported_with_its_priority() {
    let r = rules();
    let info = kernel("cali1a2b3c4d5e6", 512, false);
    let a = export(&r, "192.168.221.70/32", Some(&info), true, local(&r, 512)).expect("elevated /32 exported");
    assert_eq!(a.local_pref, Some(ELEVATED_LOCAL_PREF), "2147483647 - 512");
    assert!(export(&r, "192.168.221.70/32", Some(&info), false, Default::default()).is_some(), "eBGP too");
    // krt_metric 0 (a kernel route without a metric) is below 1024 as well.
    let zero = kernel("cali1a2b3c4d5e6", 0, false);
    let z = export(&r, "192.168.221.71/32", Some(&zero), true, local(&r, 0)).expect("metric 0 exported");
    assert_eq!(z.local_pref, Some(BASE));
}

/// `if ( net ~ {{$cidr}} ) then { reject; }`: the same /32 at the normal metric stays home.
#[test]
fn normal_workload_route_inside_block_is_rejected() {
    let r = rules();
    let info = kernel("cali1a2b3c4d5e6", 1024, false);
    assert_eq!(export(&r, "192.168.221.70/32", Some(&info), true, local(&r, 1024)), None);
    assert_eq!(export(&r, "192.168.221.70/32", Some(&info), false, Default::default()), None);
    let low = kernel("cali1a2b3c4d5e6", 1025, false);
    assert_eq!(export(&r, "192.168.221.200/32", Some(&low), true, local(&r, 1025)), None, "second block too");
}

/// For a route that did not come from the kernel, `krt_metric` is the mesh import filter's
/// `2147483647 - bgp_local_pref` (1024 without LOCAL_PREF): an elevated BGP-learned /32 inside our
/// block passes calico_aggr (a reflector passing it on), a normal one does not.
#[test]
fn bgp_learned_route_inside_block_uses_priority_from_local_pref() {
    let r = rules();
    let mut elevated = local(&r, 1024);
    elevated.local_pref = Some(ELEVATED_LOCAL_PREF);
    let a = export(&r, "192.168.221.75/32", None, true, elevated).expect("elevated BGP route");
    assert_eq!(a.local_pref, Some(ELEVATED_LOCAL_PREF), "round trip keeps the priority");
    let mut normal = local(&r, 1024);
    normal.local_pref = Some(NORMAL_LOCAL_PREF);
    assert_eq!(export(&r, "192.168.221.75/32", None, true, normal), None);
    assert_eq!(export(&r, "192.168.221.75/32", None, false, Default::default()), None, "no LOCAL_PREF: 1024");
}

/// BGPExportFilterForDisabledIPPools, first of all: `if (net ~ 172.16.0.0/16) then { reject; } #
/// BGP export is disabled.` — whatever the route is.
#[test]
fn disable_bgp_export_pool_is_rejected_first() {
    let r = rules();
    assert_eq!(export(&r, "172.16.0.0/16", None, true, local(&r, 1024)), None);
    assert_eq!(export(&r, "172.16.4.0/26", None, false, Default::default()), None);
    let elevated = kernel("cali0000", 10, false);
    assert_eq!(export(&r, "172.16.4.9/32", Some(&elevated), true, local(&r, 10)), None);
}

/// Calico's `reject_disabled_pools()` only looks at `disableBGPExport`: a pool with
/// `disabled: true` (no new allocations) is still exported like any enabled pool.
#[test]
fn disabled_pool_is_still_exported_as_in_calico() {
    let r = rules();
    assert!(export(&r, "172.17.3.0/26", None, true, local(&r, 1024)).is_some());
}

/// `if (internal_peer) then { reject_tunnel_routes(); }` with `ifname ~ "*.cali"` /
/// `"*.calico"`: Felix's VXLAN and WireGuard routes never go to iBGP peers, but do go to eBGP.
#[test]
fn tunnel_interface_routes_are_rejected_on_ibgp_only() {
    let r = rules();
    // Device routes (WireGuard's `dev wireguard.cali scope link`) in a pool BIRD programs, so
    // that only the interface rule can reject them.
    for dev in ["vxlan.calico", "wireguard.cali", "vxlan-v6.calico"] {
        let info = kernel(dev, 0, false);
        assert_eq!(export(&r, "192.168.7.0/26", Some(&info), true, local(&r, 0)), None, "{dev} to iBGP");
        let e = export(&r, "192.168.7.0/26", Some(&info), false, Default::default());
        assert!(e.is_some(), "{dev} to eBGP: accepted by the pool");
    }
    // Felix's VXLAN route to another node's block: `via 10.244.7.0 dev vxlan.calico onlink`.
    let vxlan = kernel("vxlan.calico", 0, true);
    assert_eq!(export(&r, "10.244.7.0/26", Some(&vxlan), true, local(&r, 0)), None);
    assert!(export(&r, "10.244.7.0/26", Some(&vxlan), false, Default::default()).is_some());
    // A workload veth (`cali…`, not `*.cali`) is no tunnel.
    assert!(export(&r, "192.168.7.0/26", Some(&kernel("cali12345", 0, false)), true, local(&r, 0)).is_some());
}

/// `tunl0` joins the interface reject only when Felix programs the IPIP cluster routes.
#[test]
fn tunl0_routes_rejected_on_ibgp_only_when_felix_programs_ipip() {
    let info = kernel("tunl0", 0, true);
    let bird = rules();
    assert!(export(&bird, "192.168.5.0/26", Some(&info), true, local(&bird, 0)).is_some(), "BIRD owns IPIP");
    let felix = rules_with(CalicoOptions {
        program_cluster_routes: ClusterRoutes::EnabledNoEncapOnly,
        ..CalicoOptions::default()
    });
    assert_eq!(export(&felix, "192.168.5.0/26", Some(&info), true, local(&felix, 0)), None);
    assert!(export(&felix, "192.168.5.0/26", Some(&info), false, Default::default()).is_some(), "eBGP still");
}

/// IBGPExportFilterForFelixClusterRoutes: a kernel route via a gateway inside a pool Felix
/// programs (VXLAN always; IPIP / no-encap per programClusterRoutes) is another node's block.
#[test]
fn felix_cluster_routes_via_gateway_are_rejected_on_ibgp() {
    let r = rules();
    // VXLAN CrossSubnet, same subnet: Felix routes via eth0 and a gateway.
    let via_eth0 = kernel("eth0", 0, true);
    assert_eq!(export(&r, "10.244.9.0/26", Some(&via_eth0), true, local(&r, 0)), None);
    assert!(export(&r, "10.244.9.0/26", Some(&via_eth0), false, Default::default()).is_some());
    // A device route (no gateway) is not a cluster route: the pool accepts it.
    let device = kernel("eth0", 0, false);
    assert!(export(&r, "10.244.9.0/26", Some(&device), true, local(&r, 0)).is_some());
    // With BIRD owning no-encap, a gateway route in the no-encap pool passes; with Felix, not.
    assert!(export(&r, "10.2.7.0/26", Some(&via_eth0), true, local(&r, 0)).is_some());
    let felix_all =
        rules_with(CalicoOptions { program_cluster_routes: ClusterRoutes::Disabled, ..CalicoOptions::default() });
    assert_eq!(export(&felix_all, "10.2.7.0/26", Some(&via_eth0), true, local(&felix_all, 0)), None);
    assert_eq!(export(&felix_all, "192.168.7.0/26", Some(&via_eth0), true, local(&felix_all, 0)), None);
}

/// `reject_local_routes()`: `ifname ~ "bpf*.cali"` never leaves the node, iBGP or eBGP.
#[test]
fn bpf_interface_routes_are_rejected_everywhere() {
    let r = rules();
    let info = kernel("bpfout.cali", 0, false);
    assert_eq!(export(&r, "192.168.30.0/26", Some(&info), true, local(&r, 0)), None);
    assert_eq!(export(&r, "192.168.30.0/26", Some(&info), false, Default::default()), None);
}

/// `# Export static routes.` `if ( net ~ {{$cidr}} ) then { accept; }` for the advertised
/// service ranges (cluster, external, LoadBalancer) and what lies inside them.
#[test]
fn advertised_service_ranges_are_exported() {
    let r = rules();
    for p in ["10.96.0.0/12", "10.96.0.10/32", "203.0.113.0/24", "198.51.100.7/32"] {
        let a = export(&r, p, None, true, local(&r, 1024)).unwrap_or_else(|| panic!("{p} exported"));
        assert_eq!(a.local_pref, Some(NORMAL_LOCAL_PREF));
        assert_eq!(a.communities, None);
    }
    // A node excluded from service advertisement has no static routes.
    let excluded = rules_with(CalicoOptions { advertise_services: false, ..CalicoOptions::default() });
    assert_eq!(export(&excluded, "10.96.0.0/12", None, true, local(&excluded, 1024)), None);
}

/// `# Configured as a RR - accept any routes within configured LB service IP ranges` (and
/// external ranges): a reflector passes service /32s on even when it advertises no services.
#[test]
fn reflector_accepts_loadbalancer_and_external_ranges() {
    let opts = CalicoOptions { advertise_services: false, ..CalicoOptions::default() };
    let rr = std::sync::Arc::new(CalicoRules::new(&state_with("rr_cluster_id = \"1.0.0.1\"", &[]), opts.clone()));
    assert!(export(&rr, "198.51.100.7/32", None, true, local(&rr, 1024)).is_some(), "LoadBalancer");
    assert!(export(&rr, "203.0.113.9/32", None, true, local(&rr, 1024)).is_some(), "external");
    assert_eq!(export(&rr, "10.96.0.10/32", None, true, local(&rr, 1024)), None, "cluster IPs are not");
    let node = rules_with(opts);
    assert_eq!(export(&node, "198.51.100.7/32", None, true, local(&node, 1024)), None, "not a reflector");
}

/// BGPExportFilterForEnabledIPPools: `if (net ~ 192.168.0.0/16) then { accept; }` — e.g. a
/// borrowed /32 outside our blocks or another node's block a reflector passes on; then `reject;`.
#[test]
fn enabled_pools_accept_the_rest_is_rejected() {
    let r = rules();
    let borrowed = kernel("cali99", 1024, false);
    assert!(export(&r, "192.168.50.3/32", Some(&borrowed), true, local(&r, 1024)).is_some(), "borrowed IP");
    assert!(export(&r, "192.168.44.0/26", None, true, local(&r, 1024)).is_some(), "remote block");
    assert!(export(&r, "100.64.3.0/26", None, false, Default::default()).is_some());
    for p in ["0.0.0.0/0", "10.192.0.0/16", "8.8.8.0/24", "192.0.0.0/8"] {
        assert_eq!(export(&r, p, None, true, local(&r, 1024)), None, "{p} rejected");
    }
}

/// The host block 10.2.0.1/32 has its own calico_aggr lines (`net = 10.2.0.1/32` accept).
#[test]
fn host_block_is_exported() {
    let r = rules();
    let info = kernel("cali77", 1024, false);
    assert!(export(&r, "10.2.0.1/32", Some(&info), true, local(&r, 1024)).is_some());
}

/// IPv6 runs the same rules on IPv6 blocks, pools and communities.
#[test]
fn ipv6_block_and_pool() {
    let r = rules();
    let a = export(&r, "fd00:10:244:1::/122", None, true, local(&r, 1024)).expect("v6 block");
    assert_eq!(a.local_pref, Some(NORMAL_LOCAL_PREF));
    assert_eq!(a.communities, None, "the advertisements are IPv4 prefixes");
    let normal = kernel("cali5", 1024, false);
    assert_eq!(export(&r, "fd00:10:244:1::5/128", Some(&normal), true, local(&r, 1024)), None);
    let elevated = kernel("cali5", 512, false);
    assert!(export(&r, "fd00:10:244:1::5/128", Some(&elevated), true, local(&r, 512)).is_some());
    assert!(export(&r, "fd00:10:244:9::/122", None, true, local(&r, 1024)).is_some(), "v6 pool");
    assert_eq!(export(&r, "fd00:192::/64", None, true, local(&r, 1024)), None, "node subnet");
}

/// The priority rule can be switched off for a peer; without it LOCAL_PREF is left alone.
#[test]
fn priority_rule_is_per_peer() {
    let r = rules();
    let mut a = local(&r, 1024);
    a.local_pref = Some(100);
    assert!(r.export(net("192.168.221.64/26"), None, true, false, &mut a));
    assert_eq!(a.local_pref, Some(100));
}
