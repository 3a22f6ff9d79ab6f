//! A Calico cluster as etcd holds it → the state each node runs, as confd would derive it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use config::calico::resources::ProgramClusterRoutes;
use config::calico::{Datastore, TranslateError, TranslateOptions};
use config::schema::{EncapMode, NextHopMode, RouterIdSpec};
use config::{Community, DesiredPeer, DesiredState, Password, PeerKind, TtlMode};

const R: &str = "/calico/resources/v3/projectcalico.org";

fn node(name: &str, labels: &str, bgp: &str) -> (String, String) {
    (
        format!("{R}/nodes/{name}"),
        format!(
            r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}","labels":{{"kubernetes.io/hostname":"{name}"{labels}}}}},"spec":{{"bgp":{bgp},"orchRefs":[{{"nodeName":"{name}","orchestrator":"k8s"}}]}}}}"#
        ),
    )
}

fn peer(name: &str, spec: &str) -> (String, String) {
    (
        format!("{R}/bgppeers/{name}"),
        format!(
            r#"{{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
        ),
    )
}

fn config(name: &str, spec: &str) -> (String, String) {
    (
        format!("{R}/bgpconfigurations/{name}"),
        format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
        ),
    )
}

fn pool(name: &str, spec: &str) -> (String, String) {
    (
        format!("{R}/ippools/{name}"),
        format!(
            r#"{{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
        ),
    )
}

fn block(node: &str, cidr: &str, value: &str) -> (String, String) {
    let family = if cidr.contains(':') { "ipv6" } else { "ipv4" };
    (format!("/calico/ipam/v2/host/{node}/{family}/block/{}", cidr.replace('/', "-")), value.to_string())
}

/// Three nodes (two workers, one route reflector), the mesh still on, peers to the reflector by
/// selector, a global ToR peer, node-specific peers, pools, blocks and two malformed objects.
fn cluster() -> Vec<(String, String)> {
    vec![
        config(
            "default",
            r#"{"logSeverityScreen":"Info","asNumber":64512,"serviceClusterIPs":[{"cidr":"10.96.0.0/12"}],
            "serviceLoadBalancerIPs":[{"cidr":"198.51.100.0/24"},{"cidr":"198.51.100.7/32"}],
            "communities":[{"name":"svc","value":"64512:300"}],
            "prefixAdvertisements":[{"cidr":"10.96.0.0/12","communities":["svc","64512:301:1"]}],
            "nodeMeshPassword":{"secretKeyRef":{"name":"bgp-secrets","key":"mesh"}},"nodeMeshMaxRestartTime":"3m0s"}"#,
        ),
        config("node.node-b", r#"{"listenPort":1179,"ignoredInterfaces":["eth9"]}"#),
        node("node-a", r#","rack":"rack-1""#, r#"{"ipv4Address":"10.0.0.1/24","ipv4IPIPTunnelAddr":"192.168.10.1"}"#),
        node(
            "node-b",
            r#","rack":"rack-2","node.kubernetes.io/exclude-from-external-load-balancers":"true""#,
            r#"{"ipv4Address":"10.0.0.2/24","ipv6Address":"fd00::2/64"}"#,
        ),
        node(
            "rr-1",
            r#","route-reflector":"true""#,
            r#"{"ipv4Address":"10.0.0.10/24","routeReflectorClusterID":"244.0.0.1"}"#,
        ),
        // Workers peer with the reflector; its side comes from the automatic reverse peering.
        peer("peer-with-rr", r#"{"nodeSelector":"!has(route-reflector)","peerSelector":"route-reflector == 'true'"}"#),
        // Every node peers with the ToR (eBGP), keeping next hops, with a password.
        peer(
            "tor",
            r#"{"peerIP":"10.0.0.254","asNumber":65000,"keepOriginalNextHop":true,
            "password":{"secretKeyRef":{"name":"bgp-secrets","key":"tor"}}}"#,
        ),
        // node-b alone: an upstream over IPv6 with its own port, local AS, GTSM and timers.
        peer(
            "b-upstream",
            r#"{"node":"node-b","peerIP":"[2001:db8::1]:1179","asNumber":65010,"localASNumber":65020,"ttlSecurity":1,
            "sourceAddress":"None","nextHopMode":"Self","keepaliveTime":"10s","maxRestartTime":"5m","numAllowedLocalASNumbers":1}"#,
        ),
        // node-a peers with node-b explicitly, without the automatic reverse.
        peer(
            "a-to-b",
            r#"{"node":"node-a","peerSelector":"kubernetes.io/hostname == 'node-b'","reversePeering":"Manual"}"#,
        ),
        pool(
            "ipip",
            r#"{"cidr":"192.168.0.0/16","ipipMode":"Always","vxlanMode":"Never","natOutgoing":true,"blockSize":26}"#,
        ),
        pool("vxlan", r#"{"cidr":"10.244.0.0/16","ipipMode":"Never","vxlanMode":"Always","disableBGPExport":true}"#),
        pool("v6", r#"{"cidr":"fd00:10::/48","vxlanMode":"Never","ipipMode":"Never"}"#),
        block("node-a", "192.168.10.0/26", r#"{"state":"confirmed","deleted":false}"#),
        block("node-a", "192.168.10.64/26", r#"{"state":"pending","deleted":false}"#),
        block("node-a", "192.168.10.200/32", r#"{"state":"confirmed"}"#),
        block("node-b", "192.168.20.0/26", ""),
        block("node-b", "fd00:10:0:1::/122", r#"{"state":"confirmed"}"#),
        // Malformed: reported and skipped, nothing else affected.
        peer("broken", r#"{"nodeSelector":"rack = 'rack-1'","peerIP":"10.9.9.9","asNumber":65001}"#),
        (format!("{R}/nodes/node-bad"), "{\"spec\":".to_string()),
        (format!("{R}/felixconfigurations/default"), "{}".to_string()),
    ]
}

fn datastore(kvs: &[(String, String)]) -> Datastore {
    Datastore::from_kvs(kvs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
}

fn opts() -> TranslateOptions {
    TranslateOptions { secret_dir: PathBuf::from("/run/tern/secrets"), router_id: None }
}

fn secret(name: &str, key: &str) -> Option<Password> {
    Some(Password::File(PathBuf::from(format!("/run/tern/secrets/{name}/{key}"))))
}

fn state(ds: &Datastore, node: &str) -> DesiredState {
    ds.desired_state(node, &opts()).unwrap_or_else(|e| panic!("{node}: {e}"))
}

fn get<'a>(s: &'a DesiredState, name: &str) -> &'a DesiredPeer {
    s.peer(name).unwrap_or_else(|| panic!("{}: no {name} in {:?}", s.node_name, names(s)))
}

fn names(s: &DesiredState) -> Vec<&str> {
    s.peers.iter().map(|p| p.name.as_str()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn malformed_objects_are_reported_and_skipped() {
    let ds = datastore(&cluster());
    let bad: Vec<String> = ds.malformed().map(|e| e.to_string()).collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].starts_with(&format!("{R}/bgppeers/broken: spec.nodeSelector")), "{bad:?}");
    assert!(bad[0].contains("column 6"), "{bad:?}");
    assert!(bad[1].starts_with(&format!("{R}/nodes/node-bad: not JSON")), "{bad:?}");
    assert_eq!(ds.nodes.len(), 3);
    assert_eq!(ds.bgp_peers.len(), 4);
}

#[test]
fn worker_a() {
    let s = state(&datastore(&cluster()), "node-a");
    assert_eq!(
        names(&s),
        ["Global_10_0_0_254", "Mesh_10_0_0_2", "Node_10_0_0_10", "Node_10_0_0_2_port_1179"],
        "no mesh to the reflector, no IPv6 peers without an IPv6 address"
    );
    assert_eq!((s.asn, s.router_id, s.rr_cluster_id), (64512, Ipv4Addr::new(10, 0, 0, 1), None));

    let tor = get(&s, "Global_10_0_0_254");
    assert_eq!(
        (tor.kind, tor.address, tor.port, tor.remote_asn, tor.local_asn),
        (PeerKind::Global, ip("10.0.0.254"), 179, 65000, 64512)
    );
    assert_eq!(tor.next_hop_mode, NextHopMode::Keep, "keepOriginalNextHop on an eBGP peer");
    assert_eq!(tor.password, secret("bgp-secrets", "tor"));
    assert_eq!(tor.local_address, Some(ip("10.0.0.1")));
    assert!(!tor.passive && !tor.rr_client);
    assert_eq!(tor.ttl, TtlMode::Multihop { ttl: 64 });

    // The mesh peer listens on 1179 (node.node-b); "10.0.0.2" > "10.0.0.1": we wait for it.
    let mesh = get(&s, "Mesh_10_0_0_2");
    assert_eq!((mesh.kind, mesh.port, mesh.remote_asn, mesh.passive), (PeerKind::Mesh, 1179, 64512, true));
    assert_eq!(mesh.password, secret("bgp-secrets", "mesh"));
    assert_eq!(mesh.graceful_restart_time, 180);

    let rr = get(&s, "Node_10_0_0_10");
    assert_eq!((rr.kind, rr.port, rr.remote_asn, rr.passive, rr.rr_client), (PeerKind::Node, 179, 64512, false, false));
    assert_eq!((rr.next_hop_mode, rr.cluster_id, rr.password.clone()), (NextHopMode::Auto, None, None));

    let b = get(&s, "Node_10_0_0_2_port_1179");
    assert_eq!((b.address, b.port, b.remote_asn), (ip("10.0.0.2"), 1179, 64512));

    // Routes: the confirmed, non-host block; every pool; services from `default`.
    assert_eq!(s.calico.ipam_blocks, vec!["192.168.10.0/26".parse().expect("cidr")]);
    assert_eq!(s.calico.ip_pools.len(), 3);
    assert_eq!(s.calico.service_cluster_cidrs, vec!["10.96.0.0/12".parse().expect("cidr")]);
    assert_eq!(s.calico.service_loadbalancer_cidrs, vec!["198.51.100.0/24".parse().expect("cidr")]);
    assert_eq!(
        s.calico.prefix_communities,
        vec![(
            "10.96.0.0/12".parse().expect("cidr"),
            vec![Community::Standard(64512, 300), Community::Large(64512, 301, 1)]
        )]
    );
    assert_eq!(s.listen.iter().map(|a| a.port()).collect::<Vec<_>>(), vec![179, 179]);
    assert_eq!(s.ipv4_subnet, Some("10.0.0.0/24".parse().expect("subnet")));
}

#[test]
fn worker_b() {
    let s = state(&datastore(&cluster()), "node-b");
    assert_eq!(
        names(&s),
        ["Global_10_0_0_254", "Mesh_10_0_0_1", "Node_10_0_0_10", "Node_2001_db8__1_port_1179"],
        "a-to-b is Manual: no reverse on node-b"
    );
    // "10.0.0.1" < "10.0.0.2": node-b connects; node-a listens on the default port.
    let mesh = get(&s, "Mesh_10_0_0_1");
    assert_eq!((mesh.port, mesh.passive), (179, false));

    let up = get(&s, "Node_2001_db8__1_port_1179");
    assert_eq!((up.address, up.port, up.remote_asn, up.local_asn), (ip("2001:db8::1"), 1179, 65010, 65020));
    assert_eq!(up.local_address, None, "sourceAddress: None");
    assert_eq!(up.ttl, TtlMode::Security { hops: 1 });
    assert_eq!(up.next_hop_mode, NextHopMode::SelfAddress);
    assert_eq!((up.keepalive_time, up.hold_time, up.graceful_restart_time), (10, 240, 300));
    assert_eq!(up.allow_own_as, 1);
    assert_eq!(up.families, vec![bgp_proto::types::Family::IPV6_UNICAST]);

    // node.node-b: listen port and ignored interfaces; excluded from service advertisement.
    assert_eq!(s.listen.iter().map(|a| a.port()).collect::<Vec<_>>(), vec![1179, 1179]);
    assert_eq!(s.calico.ignored_interfaces, vec!["eth9".to_string()]);
    assert!(s.calico.service_cluster_cidrs.is_empty() && s.calico.service_loadbalancer_cidrs.is_empty());
    let blocks: Vec<String> = s.calico.ipam_blocks.iter().map(|b| b.to_string()).collect();
    assert_eq!(blocks, ["192.168.20.0/26", "fd00:10:0:1::/122"]);
}

#[test]
fn route_reflector() {
    let s = state(&datastore(&cluster()), "rr-1");
    assert_eq!(s.rr_cluster_id, Some(Ipv4Addr::new(244, 0, 0, 1)));
    assert_eq!(names(&s), ["Global_10_0_0_254", "Node_10_0_0_1", "Node_10_0_0_2_port_1179"], "no mesh on a reflector");
    for name in ["Node_10_0_0_1", "Node_10_0_0_2_port_1179"] {
        let c = get(&s, name);
        assert!(c.rr_client, "{name}: same AS, no cluster ID → client");
        assert_eq!(
            (c.cluster_id, c.remote_asn, c.passive),
            (Some(Ipv4Addr::new(244, 0, 0, 1)), 64512, false),
            "{name}"
        );
    }
    let tor = get(&s, "Global_10_0_0_254");
    assert!(!tor.rr_client && tor.cluster_id.is_none(), "eBGP is never a client");
    assert_eq!(s.calico.service_cluster_cidrs.len(), 1, "reflectors advertise service ranges like any node");
    assert!(s.calico.ipam_blocks.is_empty());
}

#[test]
fn two_reflectors_of_one_cluster_are_not_each_others_clients() {
    let mut kvs = cluster();
    kvs.push(node(
        "rr-2",
        r#","route-reflector":"true""#,
        r#"{"ipv4Address":"10.0.0.11/24","routeReflectorClusterID":"244.0.0.1"}"#,
    ));
    kvs.push(peer("rr-mesh", r#"{"nodeSelector":"has(route-reflector)","peerSelector":"has(route-reflector)"}"#));
    let ds = datastore(&kvs);
    let s = state(&ds, "rr-1");
    let other = get(&s, "Node_10_0_0_11");
    assert!(!other.rr_client, "same cluster ID: non-client");
    assert!(get(&s, "Node_10_0_0_1").rr_client);
    // Workers peer with both replicas.
    let a = state(&ds, "node-a");
    assert!(a.peer("Node_10_0_0_10").is_some() && a.peer("Node_10_0_0_11").is_some(), "{:?}", names(&a));
}

#[test]
fn global_peer_on_a_calico_node_and_its_reverse() {
    let kvs = vec![
        config("default", r#"{"nodeToNodeMeshEnabled":false,"listenPort":1790}"#),
        node("n1", "", r#"{"ipv4Address":"10.1.0.1/16"}"#),
        node("n2", "", r#"{"ipv4Address":"10.1.0.2/16"}"#),
        node("n3", "", r#"{"ipv4Address":"10.1.0.30/16","asNumber":65003}"#),
        // Everyone peers with n2 (AS defaults to the cluster's 64512).
        peer("to-n2", r#"{"peerIP":"10.1.0.2","asNumber":64512}"#),
    ];
    let ds = datastore(&kvs);
    // n1: a global peering to a Calico node; the port comes from the cluster listenPort.
    let n1 = state(&ds, "n1");
    assert_eq!(names(&n1), ["Global_10_1_0_2_port_1790"]);
    assert!(get(&n1, "Global_10_1_0_2_port_1790").passive, "\"10.1.0.2\" > \"10.1.0.1\": n1 waits");
    // n3's address is greater as a string than n2's: n3 connects.
    let n3 = state(&ds, "n3");
    let to_n2 = get(&n3, "Global_10_1_0_2_port_1790");
    assert!(!to_n2.passive, "\"10.1.0.2\" < \"10.1.0.30\"");
    assert_eq!((to_n2.remote_asn, to_n2.local_asn), (64512, 65003));
    // n2 skips itself and gets the reverse peerings towards every other node.
    let n2 = state(&ds, "n2");
    assert_eq!(names(&n2), ["Node_10_1_0_1_port_1790", "Node_10_1_0_30_port_1790"]);
    assert_eq!(get(&n2, "Node_10_1_0_30_port_1790").remote_asn, 65003);
    assert!(n2.listen.iter().all(|a| a.port() == 1790));
}

#[test]
fn passive_side_of_a_global_peering_between_nodes() {
    let kvs = vec![
        config("default", r#"{"nodeToNodeMeshEnabled":false}"#),
        node("n1", "", r#"{"ipv4Address":"10.1.0.9/16"}"#),
        node("n2", "", r#"{"ipv4Address":"10.1.0.10/16"}"#),
        node("n3", "", r#"{"ipv4Address":"10.1.0.1/16"}"#),
        peer("to-n3", r#"{"peerIP":"10.1.0.1","asNumber":64512}"#),
        peer("to-n1", r#"{"peerIP":"10.1.0.9","asNumber":64512}"#),
    ];
    let ds = datastore(&kvs);
    // "10.1.0.9" > "10.1.0.10" as strings: n2 waits for n1 (though 9 < 10 as numbers).
    let n2 = state(&ds, "n2");
    assert!(get(&n2, "Global_10_1_0_9").passive);
    assert!(!get(&n2, "Global_10_1_0_1").passive);
}

#[test]
fn mesh_only_cluster_with_defaults() {
    let kvs = vec![
        node("n1", "", r#"{"ipv4Address":"192.0.2.1/24","ipv6Address":"2001:db8::1/64"}"#),
        node("n2", "", r#"{"ipv4Address":"192.0.2.2/24","ipv6Address":"2001:db8::2/64"}"#),
        // A Felix-only node takes no part.
        (format!("{R}/nodes/n3"), r#"{"metadata":{"name":"n3"},"spec":{}}"#.to_string()),
    ];
    let ds = datastore(&kvs);
    let s = state(&ds, "n1");
    assert_eq!(s.asn, 64512, "no BGPConfiguration: AS 64512");
    assert_eq!(names(&s), ["Mesh_192_0_2_2", "Mesh_2001_db8__2"]);
    assert!(s
        .peers
        .iter()
        .all(|p| p.passive && p.port == 179 && p.password.is_none() && p.graceful_restart_time == 120));
    assert_eq!(s.calico.program_cluster_routes, ProgramClusterRoutes::Enabled);
    assert_eq!(ds.desired_state("n3", &opts()), Err(TranslateError::NoBgpAddress("n3".into())));
    assert_eq!(ds.desired_state("n9", &opts()), Err(TranslateError::UnknownNode("n9".into())));
    // CALICO_ROUTER_ID=hash.
    let hashed =
        ds.desired_state("n1", &TranslateOptions { router_id: Some(RouterIdSpec::Hash), ..opts() }).expect("state");
    assert_eq!(hashed.router_id, config::hash_router_id("n1"));
}

#[test]
fn bind_mode_and_program_cluster_routes() {
    let base = |mode: &str| {
        let ds = datastore(&[
            config("default", &format!(r#"{{"bindMode":"NodeIP","programClusterRoutes":"{mode}"}}"#)),
            node("n1", "", r#"{"ipv4Address":"192.0.2.1/24","ipv6Address":"2001:db8::1/64"}"#),
            pool("ipip", r#"{"cidr":"192.168.0.0/16","ipipMode":"CrossSubnet"}"#),
            pool("plain", r#"{"cidr":"172.16.0.0/16"}"#),
            pool("vxlan", r#"{"cidr":"10.244.0.0/16","vxlanMode":"Always"}"#),
        ]);
        state(&ds, "n1")
    };
    let s = base("Enabled");
    let listen: Vec<String> = s.listen.iter().map(|a| a.to_string()).collect();
    assert_eq!(listen, ["192.0.2.1:179", "[2001:db8::1]:179"], "bindMode NodeIP");
    let programs = |s: &DesiredState| -> Vec<(String, bool)> {
        s.calico.ip_pools.iter().map(|p| (p.cidr.to_string(), s.calico.programs_pool(p))).collect()
    };
    let by_mode =
        |mode: &str| programs(&base(mode)).into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect::<Vec<_>>();
    // Pools by name: ipip, plain, vxlan. VXLAN is always Felix's.
    assert_eq!(by_mode("Enabled"), ["192.168.0.0/16", "172.16.0.0/16"]);
    assert_eq!(by_mode("Disabled"), Vec::<String>::new());
    assert_eq!(by_mode("EnabledIPIPOnly"), ["192.168.0.0/16"]);
    assert_eq!(by_mode("EnabledNoEncapOnly"), ["172.16.0.0/16"]);
    assert_eq!(s.calico.ip_pools[2].vxlan_mode, EncapMode::Always);
}

#[test]
fn watch_events_change_the_derived_state() {
    let mut ds = datastore(&cluster());
    let before = state(&ds, "node-a");
    // The reflector leaves: its peering disappears, nothing else changes.
    ds.apply_delete(&format!("{R}/nodes/rr-1"));
    let after = state(&ds, "node-a");
    let diff = config::diff(&before, &after);
    assert_eq!(diff.removed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Node_10_0_0_10"]);
    assert!(diff.added.is_empty() && diff.changed.is_empty());
    assert_eq!(diff.unchanged.len(), 3);
    // Turning the mesh off removes the mesh session only.
    let (k, v) = config("default", r#"{"nodeToNodeMeshEnabled":false}"#);
    ds.apply_put(&k, v.as_bytes()).expect("valid");
    let off = state(&ds, "node-a");
    assert!(off.peer("Mesh_10_0_0_2").is_none());
    assert!(off.peer("Global_10_0_0_254").is_some());
}
