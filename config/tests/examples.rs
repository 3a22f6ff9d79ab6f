//! The shipped example files load and produce the peers their comments promise.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::Ipv4Addr;
use std::path::Path;

use config::{load_desired, Community, Password, TtlMode};

fn example(name: &str) -> config::DesiredState {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    load_desired(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn mesh_node_example() {
    let s = example("mesh-node.toml");
    assert_eq!(s.router_id, Ipv4Addr::new(10, 0, 0, 9));
    let summary: Vec<(&str, bool)> = s.peers.iter().map(|p| (p.name.as_str(), p.passive)).collect();
    assert_eq!(
        summary,
        [("Global_10_0_0_254", false), ("Mesh_10_0_0_10", false), ("Mesh_10_0_0_11", false), ("Mesh_fd00__a", true)]
    );
    let tor = s.peer("Global_10_0_0_254").unwrap();
    assert_eq!(tor.ttl, TtlMode::Security { hops: 1 });
    assert_eq!(tor.password, Some(Password::File("/etc/calico/tor.key".into())));
    assert!(!tor.rr_client);
    assert_eq!(s.calico.ip_pools.len(), 2);
    assert_eq!(s.calico.ipam_blocks, vec!["192.168.1.0/26".parse().unwrap()]);
    assert_eq!(
        s.calico.prefix_communities,
        vec![("192.168.0.0/16".parse().unwrap(), vec![Community::Standard(64512, 100), Community::Large(64512, 1, 2)])]
    );
    assert_eq!(s.kernel.protocol, 12);
    assert_eq!(s.control.socket, Path::new("/var/run/calico/bird.ctl"));
}

#[test]
fn reflector_example() {
    let s = example("reflector.toml");
    assert_eq!(s.rr_cluster_id, Some(Ipv4Addr::new(1, 0, 0, 1)));
    let summary: Vec<(&str, bool)> = s.peers.iter().map(|p| (p.name.as_str(), p.rr_client)).collect();
    assert_eq!(summary, [("Node_10_0_0_10", true), ("Node_10_0_0_101", false), ("Node_10_0_0_9", true)]);
    let p = s.peer("Node_10_0_0_10").unwrap();
    assert_eq!((p.hold_time, p.keepalive_time), (90, 30));
    assert_eq!(p.cluster_id, Some(Ipv4Addr::new(1, 0, 0, 1)));
    assert_eq!(s.calico.service_loadbalancer_cidrs, vec!["203.0.113.0/24".parse().unwrap()]);
}
