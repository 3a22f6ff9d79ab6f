//! Calico's objects as calico-node/calicoctl write them to etcd, parsed into the model; malformed
//! objects reported by key without stopping the rest.

use std::net::{IpAddr, Ipv4Addr};

use config::calico::resources::{
    AffinityState, BindMode, BlockAffinity, ProgramClusterRoutes, ReversePeering, SecretKeyRef, SourceAddress,
};
use config::calico::{parse_kv, Change, Datastore, Resource};
use config::schema::{EncapMode, NextHopMode};

const NODE_KEY: &str = "/calico/resources/v3/projectcalico.org/nodes/node-1";
const NODE: &str = r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node-1","uid":"0d4d6f5c-2c4e-4a8c-9a35-5f1ad0b4a8f1","creationTimestamp":"2024-05-02T10:11:12Z","labels":{"beta.kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-1","rack":"rack-1"}},"spec":{"bgp":{"asNumber":64513,"ipv4Address":"10.0.0.1/24","ipv6Address":"fd00::1/64","ipv4IPIPTunnelAddr":"192.168.84.128","routeReflectorClusterID":"244.0.0.1"},"orchRefs":[{"nodeName":"node-1","orchestrator":"k8s"}],"addresses":[{"address":"10.0.0.1/24","type":"CalicoNodeIP"},{"address":"10.0.0.1","type":"InternalIP"}]},"status":{"podCIDRs":["10.244.0.0/24"]}}"#;

const PEER_KEY: &str = "/calico/resources/v3/projectcalico.org/bgppeers/rack1-tor";
const PEER: &str = r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"rack1-tor","uid":"3b0d","creationTimestamp":"2024-05-02T10:11:12Z"},"spec":{"nodeSelector":"rack == 'rack-1'","peerIP":"192.20.30.40:1179","asNumber":"64567","localASNumber":"1.10","keepOriginalNextHop":true,"nextHopMode":"Keep","password":{"secretKeyRef":{"name":"bgp-secrets","key":"rr-password"}},"sourceAddress":"None","maxRestartTime":"15m0s","keepaliveTime":"30s","numAllowedLocalASNumbers":2,"ttlSecurity":1,"reachableBy":"10.0.0.254","filters":["export-only"],"reversePeering":"Manual","someFutureField":{"x":1}}}"#;

const CONFIG_KEY: &str = "/calico/resources/v3/projectcalico.org/bgpconfigurations/default";
const CONFIG: &str = r#"{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},"spec":{"logSeverityScreen":"Info","nodeToNodeMeshEnabled":false,"asNumber":63400,"serviceClusterIPs":[{"cidr":"10.96.0.0/12"},{"cidr":"fd00:96::/112"}],"serviceExternalIPs":[{"cidr":"104.244.42.129/32"},{"cidr":"172.217.3.0/24"}],"serviceLoadBalancerIPs":[{"cidr":"198.51.100.0/24"}],"listenPort":178,"bindMode":"NodeIP","communities":[{"name":"bgp-large-community","value":"63400:300:100"}],"prefixAdvertisements":[{"cidr":"172.218.4.0/26","communities":["bgp-large-community","63400:120"]}],"nodeMeshPassword":{"secretKeyRef":{"name":"bgp-secrets","key":"mesh-password"}},"nodeMeshMaxRestartTime":"2m","ignoredInterfaces":["iface-1","iface-2"],"programClusterRoutes":"EnabledNoEncapOnly"}}"#;

const POOL_KEY: &str = "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool";
const POOL: &str = r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"default-ipv4-ippool","creationTimestamp":"2024-05-02T10:11:12Z"},"spec":{"cidr":"192.168.0.0/16","vxlanMode":"Never","ipipMode":"CrossSubnet","natOutgoing":true,"blockSize":26,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"disableBGPExport":true}}"#;

const BLOCK_KEY: &str = "/calico/ipam/v2/host/node-1/ipv4/block/192.168.84.128-26";
const BLOCK6_KEY: &str = "/calico/ipam/v2/host/node-1/ipv6/block/fd00:10:244:1::-122";

fn parse(key: &str, value: &str) -> Resource {
    match parse_kv(key, value.as_bytes()) {
        Ok(Some(r)) => r,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn node_as_calico_writes_it() {
    let Resource::Node(n) = parse(NODE_KEY, NODE) else { panic!("not a node") };
    assert_eq!(n.name, "node-1");
    assert_eq!(n.labels.get("rack").map(String::as_str), Some("rack-1"));
    assert_eq!(n.labels.len(), 3);
    let bgp = n.bgp.expect("spec.bgp");
    assert_eq!(bgp.asn, Some(64513));
    assert_eq!(bgp.ipv4.map(|n| (n.addr().to_string(), n.prefix_len())), Some(("10.0.0.1".into(), 24)));
    assert_eq!(bgp.ipv6.map(|n| n.addr().to_string()), Some("fd00::1".into()));
    assert_eq!(bgp.ipv4_ipip_tunnel_addr, Some(Ipv4Addr::new(192, 168, 84, 128)));
    assert_eq!(bgp.rr_cluster_id, Some(Ipv4Addr::new(244, 0, 0, 1)));

    // A node without spec.bgp (Felix-only) takes no part in BGP.
    let Resource::Node(n) = parse(NODE_KEY, r#"{"metadata":{"name":"node-1"},"spec":{"orchRefs":[]}}"#) else {
        panic!("not a node")
    };
    assert!(n.bgp.is_none() && n.labels.is_empty());
}

#[test]
fn bgp_peer_every_field() {
    let Resource::BgpPeer(p) = parse(PEER_KEY, PEER) else { panic!("not a peer") };
    assert_eq!(p.name, "rack1-tor");
    assert_eq!(p.node_selector.as_ref().map(|s| s.as_str()), Some("rack == 'rack-1'"));
    assert_eq!((p.peer_ip, p.peer_port), (Some(IpAddr::from([192, 20, 30, 40])), Some(1179)));
    assert_eq!(p.asn, Some(64567));
    assert_eq!(p.local_asn, Some((1 << 16) | 10), "asdot 1.10");
    assert!(p.keep_original_next_hop);
    assert_eq!(p.next_hop_mode, Some(NextHopMode::Keep));
    assert_eq!(p.password, Some(SecretKeyRef { name: "bgp-secrets".into(), key: "rr-password".into() }));
    assert_eq!(p.source_address, SourceAddress::None);
    assert_eq!(p.max_restart_time, Some(900));
    assert_eq!(p.keepalive_time, Some(30));
    assert_eq!(p.num_allowed_local_as, Some(2));
    assert_eq!(p.ttl_security, Some(1));
    assert_eq!(p.reachable_by, Some(IpAddr::from([10, 0, 0, 254])));
    assert_eq!(p.filters, vec!["export-only".to_string()]);
    assert_eq!(p.reverse_peering, ReversePeering::Manual);

    // peerSelector form, IPv6 with a port, defaults.
    let Resource::BgpPeer(p) = parse(
        "/calico/resources/v3/projectcalico.org/bgppeers/to-rr",
        r#"{"spec":{"nodeSelector":"!has(route-reflector)","peerSelector":"has(route-reflector)"}}"#,
    ) else {
        panic!("not a peer")
    };
    assert!(p.peer_ip.is_none() && p.asn.is_none());
    assert_eq!(p.source_address, SourceAddress::UseNodeIp);
    assert_eq!(p.reverse_peering, ReversePeering::Auto);
    let Resource::BgpPeer(p) = parse(
        "/calico/resources/v3/projectcalico.org/bgppeers/v6",
        r#"{"spec":{"peerIP":"[fd00::9]:1179","asNumber":65001}}"#,
    ) else {
        panic!("not a peer")
    };
    assert_eq!((p.peer_ip, p.peer_port), (Some("fd00::9".parse().expect("ip")), Some(1179)));
}

#[test]
fn bgp_configuration_every_field() {
    let Resource::BgpConfiguration(c) = parse(CONFIG_KEY, CONFIG) else { panic!("not a config") };
    assert_eq!(c.name, "default");
    assert_eq!(c.node_to_node_mesh_enabled, Some(false));
    assert_eq!(c.asn, Some(63400));
    assert_eq!(c.service_cluster_ips.len(), 2);
    assert_eq!(c.service_external_ips[0].to_string(), "104.244.42.129/32");
    assert_eq!(c.service_loadbalancer_ips[0].to_string(), "198.51.100.0/24");
    assert_eq!(c.listen_port, Some(178));
    assert_eq!(c.bind_mode, Some(BindMode::NodeIp));
    assert_eq!(c.communities, vec![("bgp-large-community".to_string(), "63400:300:100".to_string())]);
    assert_eq!(c.prefix_advertisements[0].0.to_string(), "172.218.4.0/26");
    assert_eq!(c.prefix_advertisements[0].1, vec!["bgp-large-community".to_string(), "63400:120".to_string()]);
    assert_eq!(c.node_mesh_password.map(|s| s.key), Some("mesh-password".into()));
    assert_eq!(c.node_mesh_max_restart_time, Some(120));
    assert_eq!(c.ignored_interfaces, vec!["iface-1".to_string(), "iface-2".to_string()]);
    assert_eq!(c.program_cluster_routes, Some(ProgramClusterRoutes::EnabledNoEncapOnly));
}

#[test]
fn ip_pool_and_blocks() {
    let Resource::IpPool(p) = parse(POOL_KEY, POOL) else { panic!("not a pool") };
    assert_eq!(p.cidr.to_string(), "192.168.0.0/16");
    assert_eq!((p.ipip_mode, p.vxlan_mode), (EncapMode::CrossSubnet, EncapMode::Never));
    assert!(p.disable_bgp_export && !p.disabled);
    assert!(p.node_selector.is_some());

    let Resource::BlockAffinity(b) = parse(BLOCK_KEY, r#"{"state":"confirmed","deleted":false}"#) else {
        panic!("not a block")
    };
    assert_eq!(
        b,
        BlockAffinity {
            node: "node-1".into(),
            cidr: "192.168.84.128/26".parse().expect("cidr"),
            state: AffinityState::Confirmed,
            deleted: false
        }
    );
    let Resource::BlockAffinity(b) = parse(BLOCK6_KEY, r#"{"state":"pending"}"#) else { panic!("not a block") };
    assert_eq!(b.cidr.to_string(), "fd00:10:244:1::/122");
    assert!(!b.is_confirmed());
    // Older releases wrote an empty value: implicitly confirmed.
    let Resource::BlockAffinity(b) = parse(BLOCK_KEY, "") else { panic!("not a block") };
    assert!(b.is_confirmed());
}

#[test]
fn unrelated_keys_are_ignored() {
    for key in [
        "/calico/resources/v3/projectcalico.org/felixconfigurations/default",
        "/calico/resources/v3/projectcalico.org/workloadendpoints/ns/pod",
        "/calico/ipam/v2/assignment/ipv4/block/192.168.84.128-26",
        "/calico/ipam/v2/host/node-1/ipv4/other/x",
        "/registry/pods/x",
    ] {
        assert_eq!(parse_kv(key, b"not json"), Ok(None), "{key}");
    }
}

#[test]
fn malformed_objects_name_key_and_field() {
    for (key, value, wanted) in [
        (NODE_KEY, "{", "not JSON"),
        (NODE_KEY, r#"{"spec":{"bgp":{"ipv4Address":"10.0.0.300/24"}}}"#, "spec.bgp.ipv4Address"),
        (NODE_KEY, r#"{"spec":{"bgp":{"asNumber":"sixty"}}}"#, "spec.bgp.asNumber"),
        (NODE_KEY, r#"{"metadata":{"labels":{"a":1}}}"#, "metadata.labels.a"),
        (PEER_KEY, r#"{"spec":{"peerIP":"10.0.0.1","asNumber":64512,"nodeSelector":"rack = 'a'"}}"#, "column 6"),
        (PEER_KEY, r#"{"spec":{"peerIP":"10.0.0.1","asNumber":64512,"maxRestartTime":"soon"}}"#, "maxRestartTime"),
        (PEER_KEY, r#"{"spec":{"asNumber":64512}}"#, "neither peerIP nor peerSelector"),
        (PEER_KEY, r#"{"spec":{"peerIP":"10.0.0.1","asNumber":64512,"ttlSecurity":300}}"#, "spec.ttlSecurity"),
        (CONFIG_KEY, r#"{"spec":{"listenPort":70000}}"#, "spec.listenPort"),
        (CONFIG_KEY, r#"{"spec":{"serviceClusterIPs":[{"cidr":"10.96.0.0/33"}]}}"#, "serviceClusterIPs[0].cidr"),
        (POOL_KEY, r#"{"spec":{"ipipMode":"Sometimes","cidr":"10.0.0.0/8"}}"#, "spec.ipipMode"),
        (POOL_KEY, r#"{"spec":{}}"#, "spec.cidr"),
        ("/calico/ipam/v2/host/node-1/ipv4/block/fd00::-122", "", "ipv4 CIDR"),
        (BLOCK_KEY, r#"{"state":"maybe"}"#, "affinity state"),
    ] {
        match parse_kv(key, value.as_bytes()) {
            Err(e) => {
                assert_eq!(e.key, key);
                assert!(e.to_string().contains(wanted), "{key} {value}: {e}");
            }
            other => panic!("{key} {value}: {other:?}"),
        }
    }
}

#[test]
fn datastore_applies_puts_and_deletes_and_survives_bad_objects() {
    let mut ds = Datastore::from_kvs([
        (NODE_KEY, NODE.as_bytes()),
        (PEER_KEY, PEER.as_bytes()),
        (CONFIG_KEY, CONFIG.as_bytes()),
        (POOL_KEY, POOL.as_bytes()),
        (BLOCK_KEY, br#"{"state":"confirmed"}"#.as_slice()),
        ("/calico/resources/v3/projectcalico.org/nodes/broken", b"{".as_slice()),
        ("/calico/resources/v3/projectcalico.org/hostendpoints/x", b"{}".as_slice()),
    ]);
    assert_eq!(ds.nodes.len(), 1);
    assert_eq!((ds.bgp_peers.len(), ds.bgp_configurations.len(), ds.ip_pools.len()), (1, 1, 1));
    assert_eq!(ds.blocks_of("node-1").count(), 1);
    let bad: Vec<_> = ds.malformed().map(|e| e.key.clone()).collect();
    assert_eq!(bad, vec!["/calico/resources/v3/projectcalico.org/nodes/broken".to_string()]);

    // The same value again changes nothing; a new one does.
    assert_eq!(ds.apply_put(POOL_KEY, POOL.as_bytes()), Ok(Change::Unchanged));
    assert_eq!(ds.apply_put(POOL_KEY, POOL.replace("CrossSubnet", "Always").as_bytes()), Ok(Change::Updated));
    assert_eq!(ds.ip_pools["default-ipv4-ippool"].ipip_mode, EncapMode::Always);

    // A bad update removes the object it replaces and is reported; the others stay.
    assert!(ds.apply_put(NODE_KEY, b"{\"spec\":7}").is_err());
    assert!(ds.nodes.is_empty());
    assert_eq!(ds.malformed().count(), 2);
    assert_eq!(ds.bgp_peers.len(), 1);
    // Fixing it brings it back and clears the report.
    assert_eq!(ds.apply_put(NODE_KEY, NODE.as_bytes()), Ok(Change::Updated));
    assert_eq!(ds.malformed().count(), 1);

    // Deletes.
    assert_eq!(ds.apply_delete(BLOCK_KEY), Change::Updated);
    assert_eq!(ds.blocks_of("node-1").count(), 0);
    assert_eq!(ds.apply_delete(BLOCK_KEY), Change::Unchanged);
    assert_eq!(ds.apply_delete("/calico/resources/v3/projectcalico.org/nodes/broken"), Change::Updated);
    assert_eq!(ds.malformed().count(), 0);
    assert_eq!(ds.apply_delete(PEER_KEY), Change::Updated);
    assert!(ds.bgp_peers.is_empty());
}
