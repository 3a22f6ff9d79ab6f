//! `CalicoHandle`, the daemon's side: kernel routes as `fib` reports them → what to do in the
//! RIB; selected routes → the `fib` route to install; a reload swapping the rules under a
//! policy already registered.

mod calico_common;

use std::net::IpAddr;

use bgp_proto::{Family, Nlri, PathAttributes};
use calico_common::*;
use fib::{Gateway, LocalRoute, Route, RouteKind};
use speaker::rib::Policy;
use tern_speaker::calico::{CalicoHandle, CalicoOptions, ClusterRoutes, KernelRouteInfo, Learned};

fn felix_route(prefix: &str, dev: &str, gateway: Option<&str>, metric: u32) -> LocalRoute {
    LocalRoute {
        prefix: net(prefix),
        table: 254,
        kind: RouteKind::Unicast,
        protocol: if gateway.is_some() { 80 } else { 3 },
        metric,
        interface: Some(dev.to_string()),
        ifindex: Some(7),
        gateway: gateway.map(ip),
        src: None,
        multipath: Vec::new(),
    }
}

fn handle() -> CalicoHandle {
    CalicoHandle::new(&state(), CalicoOptions::default())
}

#[test]
fn kernel_route_facts_from_fib() {
    let r = felix_route("10.244.7.0/26", "vxlan.calico", Some("10.244.7.0"), 0);
    assert_eq!(
        KernelRouteInfo::from(&r),
        KernelRouteInfo { ifname: Some("vxlan.calico".into()), metric: 0, proto: 80, gateway: true }
    );
    let bh = LocalRoute { kind: RouteKind::Blackhole, interface: None, gateway: None, ..r };
    assert_eq!(KernelRouteInfo::from(&bh).ifname, None);
    assert!(!KernelRouteInfo::from(&bh).gateway);
}

/// learn → Originate (facts recorded), Withdraw (facts dropped), Reoriginate when only the
/// interface changed.
#[test]
fn learn_tells_the_daemon_what_to_do() {
    let h = handle();
    let elevated = felix_route("192.168.221.70/32", "cali1a2b3c4d5e6", None, 512);
    let Learned::Originate(a) = h.learn(&elevated) else { panic!("elevated /32 is originated") };
    assert_eq!(a.local_pref, Some(ELEVATED_LOCAL_PREF));
    assert_eq!(h.kernel_routes().get(&net("192.168.221.70/32")).map(|i| i.metric), Some(512));

    let normal = felix_route("192.168.221.70/32", "cali1a2b3c4d5e6", None, 1024);
    assert_eq!(h.learn(&normal), Learned::Withdraw);
    assert!(h.kernel_routes().is_empty(), "facts dropped with the route");

    // A remote block Felix routes through VXLAN, then (encapsulation changed) through WireGuard.
    let vxlan = felix_route("192.168.44.0/26", "vxlan.calico", Some("10.192.0.3"), 0);
    assert!(matches!(h.learn(&vxlan), Learned::Originate(_)));
    let wg = felix_route("192.168.44.0/26", "wireguard.cali", None, 0);
    assert!(matches!(h.learn(&wg), Learned::Reoriginate(_)), "same attributes, other interface");
    h.forget(&net("192.168.44.0/26"));
    assert!(h.kernel_routes().is_empty());
}

/// fib_route: `via NH dev tunl0 onlink` for IPIP, plain for CrossSubnet on-subnet hops, none for
/// VXLAN pools; a metric only with a LOCAL_PREF.
#[test]
fn fib_route_builds_the_kernel_route() {
    let h = handle();
    let ipip = h.fib_route(net("192.168.44.0/26"), &[ip("10.192.0.3")], None).expect("installed");
    assert_eq!(ipip, Route::via(net("192.168.44.0/26"), Gateway::new(ip("10.192.0.3")).dev("tunl0").onlink()));
    assert_eq!(ipip.metric, None);

    let hops: [IpAddr; 2] = [ip("10.192.0.3"), ip("10.193.0.4")];
    let cross = h.fib_route(net("100.64.3.0/26"), &hops, Some(NORMAL_LOCAL_PREF)).expect("installed");
    let mut want = Route::multipath(
        net("100.64.3.0/26"),
        vec![Gateway::new(ip("10.192.0.3")), Gateway::new(ip("10.193.0.4")).dev("tunl0").onlink()],
    );
    want.metric = Some(1024);
    assert_eq!(cross, want);

    assert_eq!(h.fib_route(net("10.244.7.0/26"), &[ip("10.192.0.3")], None), None);
    assert_eq!(h.fib_route(net("10.96.0.0/12"), &[ip("10.192.0.3")], None), None);
    assert_eq!(h.fib_route(net("192.168.44.0/26"), &[], None), None);
    assert_eq!(
        h.blackholes(),
        ["192.168.221.64/26", "192.168.221.192/26", "fd00:10:244:1::/122"].map(|p| Route::blackhole(net(p))).to_vec()
    );
}

/// A policy registered before a reload follows the new rules.
#[test]
fn reload_swaps_the_rules_under_registered_policies() {
    let h = handle();
    let export = h.export_policy(true);
    let tunl0 = felix_route("192.168.44.0/26", "tunl0", Some("10.192.0.3"), 0);
    assert!(matches!(h.learn(&tunl0), Learned::Originate(_)));
    let run = |p: &dyn Policy| {
        let mut a = PathAttributes::default();
        p.apply(Family::IPV4_UNICAST, &Nlri::new(net("192.168.44.0/26")), &mut a)
    };
    assert!(run(&export), "BIRD programs IPIP: a tunl0 route is not Felix's");
    h.set_rules(
        &state(),
        CalicoOptions { program_cluster_routes: ClusterRoutes::EnabledNoEncapOnly, ..CalicoOptions::default() },
    );
    assert!(!run(&export), "Felix programs IPIP now: its tunl0 route stays off iBGP");
    assert!(run(&h.export_policy(false)), "eBGP still gets it");
    assert!(run(&h.import_policy()));
}
