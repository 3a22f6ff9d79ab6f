//! What the node originates (BIRD's `protocol static` for Calico), which kernel routes enter
//! the RIB, and the whole path: rules → RIB → the UPDATEs a mesh peer and a ToR receive.

mod calico_common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use bgp_proto::attribute::{MpNlri, Origin};
use bgp_proto::update::decode_update;
use bgp_proto::{Context, Family, Nlri, PathAttributes};
use calico_common::*;
use ipnet::IpNet;
use speaker::rib::{AddPathSend, Input, NextHopMode, Output, PeerId, PeerInfo, Rib, RibConfig};
use tern_speaker::calico::{CalicoImport, CalicoOptions, KernelRouteInfo, KernelRoutes};

/// `route {{$cidr}} blackhole;` for each block except host blocks (`/32`, `/128`), then each
/// static route (the advertised service ranges); ORIGIN IGP, empty AS_PATH, normal priority.
#[test]
fn originated_routes_are_blocks_and_service_ranges() {
    let r = rules();
    let routes = r.originated_routes();
    let prefixes: Vec<IpNet> = routes.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        prefixes,
        [
            "192.168.221.64/26",
            "192.168.221.192/26",
            "fd00:10:244:1::/122",
            "10.96.0.0/12",
            "203.0.113.0/24",
            "198.51.100.0/24"
        ]
        .map(net)
        .to_vec()
    );
    for (p, a) in &routes {
        assert_eq!(a.origin, Some(Origin::Igp), "{p}");
        assert_eq!(a.as_path.as_ref().map(|p| p.segments.len()), Some(0), "{p}");
        assert_eq!(a.local_pref, Some(NORMAL_LOCAL_PREF), "{p}");
        assert_eq!(a.next_hop, None, "{p}: the RIB sets ours");
        assert!(r.is_originated(p));
    }
    assert!(!r.is_originated(&net("10.2.0.1/32")), "host block");

    let quiet = rules_with(CalicoOptions { advertise_services: false, ..CalicoOptions::default() });
    assert_eq!(quiet.originated_routes().len(), 3, "only the blocks");
}

/// Kernel routes enter the RIB only when some peer would get them: not a prefix a static route
/// covers, not the node's own networks, not a normal /32 in our block, not a bpf route.
#[test]
fn kernel_origination_keeps_only_exportable_routes() {
    let r = rules();
    let elevated = kernel("cali1a2b3c4d5e6", 512, false);
    let a = r.kernel_origination(net("192.168.221.70/32"), &elevated).expect("elevated /32 originated");
    assert_eq!(a.local_pref, Some(ELEVATED_LOCAL_PREF));
    assert_eq!(a.origin, Some(Origin::Igp));

    let normal = kernel("cali1a2b3c4d5e6", 1024, false);
    assert_eq!(r.kernel_origination(net("192.168.221.70/32"), &normal), None);
    let felix_blackhole = KernelRouteInfo { ifname: None, metric: 0, proto: 80, gateway: false };
    assert_eq!(r.kernel_origination(net("192.168.221.64/26"), &felix_blackhole), None, "our static wins");
    assert_eq!(r.kernel_origination(net("0.0.0.0/0"), &kernel("eth0", 0, true)), None);
    assert_eq!(r.kernel_origination(net("10.192.0.0/16"), &kernel("eth0", 0, false)), None);
    assert_eq!(r.kernel_origination(net("192.168.31.0/26"), &kernel("bpfout.cali", 0, false)), None);

    // Felix's VXLAN route to another node's block: eBGP peers still take it.
    let vxlan = kernel("vxlan.calico", 0, true);
    assert!(r.kernel_origination(net("10.244.7.0/26"), &vxlan).is_some());
    // A borrowed workload IP outside our blocks.
    assert!(r.kernel_origination(net("192.168.50.3/32"), &normal).is_some());
}

const MESH_PEER: u32 = 1;
const TOR: u32 = 2;
const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(10, 192, 0, 2);

fn peer(address: [u8; 4], asn: u32, export_policy: u32) -> PeerInfo {
    PeerInfo {
        address: IpAddr::V4(Ipv4Addr::from(address)),
        asn,
        router_id: Ipv4Addr::from(address),
        ctx: Context::default(),
        families: vec![Family::IPV4_UNICAST],
        rr_client: false,
        next_hop: NextHopMode::Auto,
        local_v4: Some(LOCAL_V4),
        local_v6: None,
        import_policy: Some(10),
        export_policy: Some(export_policy),
        graceful_restart: None,
        allow_own_as: 0,
        max_prefixes: None,
        add_path_send: AddPathSend::Multipath,
        enhanced_route_refresh: false,
    }
}

/// Prefix → attributes announced to `peer`; withdrawn prefixes are removed.
fn table(outputs: &[Output], peer: u32, into: &mut BTreeMap<IpNet, PathAttributes>) {
    for o in outputs {
        let Output::Send { peers, messages } = o else { continue };
        if !peers.contains(&PeerId(peer)) {
            continue;
        }
        let mut rest: &[u8] = messages;
        while rest.len() >= 19 {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let u = decode_update(&rest[19..len], &Context::default()).expect("valid UPDATE");
            rest = &rest[len..];
            for w in &u.withdrawn {
                into.remove(&w.prefix);
            }
            let mut nlri: Vec<Nlri> = u.nlri.clone();
            if let Some(reach) = &u.attributes.mp_reach {
                if let MpNlri::Prefixes(p) = &reach.nlri {
                    nlri.extend(p.iter().copied());
                }
            }
            for n in nlri {
                into.insert(n.prefix, u.attributes.clone());
            }
        }
    }
}

fn originate(rib: &mut Rib, now: Instant, prefix: IpNet, attrs: PathAttributes) -> Vec<Output> {
    rib.handle(now, Input::Originate { family: Family::IPV4_UNICAST, nlri: Nlri::new(prefix), attrs })
}

/// The node as the daemon runs it: static routes and kernel routes originated into a real RIB
/// with the Calico policies on a mesh peer (iBGP) and a ToR (eBGP); then the tables each peer
/// holds, checked prefix by prefix with LOCAL_PREF, communities and next hop as sent.
#[test]
fn mesh_peer_and_tor_receive_what_calico_exports() {
    let rules = rules();
    let kernel_routes = KernelRoutes::new();
    let mut rib = Rib::new(RibConfig::new(64512, LOCAL_V4));
    rib.set_policy(1, Arc::new(rules.export_policy(kernel_routes.clone(), true)));
    rib.set_policy(2, Arc::new(rules.export_policy(kernel_routes.clone(), false)));
    rib.set_policy(10, Arc::new(CalicoImport));
    let now = Instant::now();
    let mut out = rib.handle(now, Input::PeerUp { peer: PeerId(MESH_PEER), info: peer([10, 192, 0, 3], 64512, 1) });
    out.extend(rib.handle(now, Input::PeerUp { peer: PeerId(TOR), info: peer([10, 192, 0, 254], 65000, 2) }));

    for (prefix, attrs) in rules.originated_routes() {
        if matches!(prefix, IpNet::V4(_)) {
            out.extend(originate(&mut rib, now, prefix, attrs));
        }
    }
    let learned: [(&str, KernelRouteInfo); 5] = [
        ("192.168.221.70/32", kernel("cali1a2b3c4d5e6", 512, false)),
        ("192.168.221.71/32", kernel("cali0f0f0f0f0f0", 1024, false)),
        ("10.244.7.0/26", kernel("vxlan.calico", 0, true)),
        ("0.0.0.0/0", kernel("eth0", 0, true)),
        ("192.168.50.3/32", kernel("cali77", 1024, false)),
    ];
    for (p, info) in &learned {
        if let Some(attrs) = rules.kernel_origination(net(p), info) {
            kernel_routes.insert(net(p), info.clone());
            out.extend(originate(&mut rib, now, net(p), attrs));
        }
    }

    let mut mesh = BTreeMap::new();
    table(&out, MESH_PEER, &mut mesh);
    let mut tor = BTreeMap::new();
    table(&out, TOR, &mut tor);

    let keys = |t: &BTreeMap<IpNet, PathAttributes>| t.keys().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        keys(&mesh),
        [
            "10.96.0.0/12",
            "192.168.50.3/32",
            "192.168.221.64/26",
            "192.168.221.70/32",
            "192.168.221.192/26",
            "198.51.100.0/24",
            "203.0.113.0/24"
        ]
    );
    assert_eq!(
        keys(&tor),
        [
            "10.96.0.0/12",
            "10.244.7.0/26",
            "192.168.50.3/32",
            "192.168.221.64/26",
            "192.168.221.70/32",
            "192.168.221.192/26",
            "198.51.100.0/24",
            "203.0.113.0/24"
        ],
        "the VXLAN route goes to eBGP only"
    );

    let block = &mesh[&net("192.168.221.64/26")];
    assert_eq!(block.local_pref, Some(NORMAL_LOCAL_PREF));
    assert_eq!(block.next_hop, Some(LOCAL_V4));
    assert_eq!(block.communities, Some(vec![std_community(64512, 100), std_community(65000, 7)]));
    assert_eq!(block.large_communities, Some(vec![large(64512, 1, 2)]));
    assert_eq!(mesh[&net("192.168.221.70/32")].local_pref, Some(ELEVATED_LOCAL_PREF));
    let tor_block = &tor[&net("192.168.221.64/26")];
    assert_eq!(tor_block.local_pref, None);
    assert_eq!(tor_block.communities, Some(vec![std_community(64512, 100), std_community(65000, 7)]));

    // The live migration ends: Felix lowers the route back to 1024. The learner re-originates
    // with the new facts; both peers withdraw it.
    let normal = kernel("cali1a2b3c4d5e6", 1024, false);
    let p = net("192.168.221.70/32");
    assert_eq!(rules.kernel_origination(p, &normal), None);
    let out = rib.handle(now, Input::WithdrawLocal { family: Family::IPV4_UNICAST, nlri: Nlri::new(p) });
    kernel_routes.remove(&p);
    table(&out, MESH_PEER, &mut mesh);
    table(&out, TOR, &mut tor);
    assert!(!mesh.contains_key(&p));
    assert!(!tor.contains_key(&p));
    assert_eq!(kernel_routes.len(), 2);
}
