//! End to end: `tern-speaker` processes in network namespaces on a bridge,
//! Felix-like kernel routes, and the routes each node's kernel ends with.
//! Needs root (CI runs as root); skipped with a message otherwise.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use fib::testns::skip_unless_root;
use ipnet::Ipv4Net;
use tern_speaker::cluster::{Cluster, ClusterSpec};

fn speaker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tern-speaker"))
}

const CONVERGE: Duration = Duration::from_secs(40);

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("test CIDR")
}

/// Every line of `routes` that starts with `prefix `.
fn route_for<'a>(routes: &'a [String], prefix: &str) -> Option<&'a String> {
    routes.iter().find(|l| l.starts_with(&format!("{prefix} ")))
}

fn dump(cluster: &Cluster) -> String {
    let mut s = String::new();
    for n in &cluster.nodes {
        s.push_str(&format!("--- {} routes:\n{}\n", n.spec.name, n.routes(&[]).join("\n")));
        s.push_str(&format!("--- {} log:\n{}\n", n.spec.name, n.log_text()));
    }
    s
}

/// Four mesh nodes, IPIP Always: every node's kernel gets every other node's
/// block `via <node> dev tunl0 onlink proto bird`; a workload /32 with
/// metric < 1024 is exported, one with metric ≥ 1024 is not.
#[test]
fn cluster_mesh_ipip_always_programs_blocks_and_elevated_host_routes() {
    if skip_unless_root("cluster_mesh_ipip_always_programs_blocks_and_elevated_host_routes") {
        return;
    }
    let spec = ClusterSpec::mesh("m4", 1, 4, speaker_bin(), true);
    let cluster = Cluster::start(spec).expect("start cluster");
    // Node 1 has two workloads on cali veths: one borrowed from another
    // node's block with an elevated priority (metric 512 < 1024), and one
    // of its own block with Felix's usual metric.
    let n1 = cluster.nodes[0].ns.as_ref().expect("namespace");
    n1.veth("cali1a", "cali1a-peer", None).expect("veth");
    n1.ip(&["route", "add", "10.65.2.9/32", "dev", "cali1a", "proto", "80", "metric", "512"]).expect("route");
    n1.ip(&["route", "add", "10.65.1.7/32", "dev", "cali1a", "proto", "80", "metric", "1024"]).expect("route");

    let expect: Vec<(usize, Vec<(String, Ipv4Addr)>)> = (0..4)
        .map(|i| {
            let others = (0..4)
                .filter(|j| *j != i)
                .map(|j| (cluster.nodes[j].spec.block.to_string(), cluster.nodes[j].spec.address.addr()))
                .collect();
            (i, others)
        })
        .collect();
    let ok = Cluster::wait_for(CONVERGE, || {
        expect.iter().all(|(i, others)| {
            let routes = cluster.nodes[*i].routes(&["proto", "bird"]);
            others.iter().all(|(block, via)| {
                route_for(&routes, block)
                    .is_some_and(|l| l.contains(&format!("via {via} dev tunl0")) && l.contains("onlink"))
            })
        })
    });
    assert!(ok, "blocks not programmed everywhere:\n{}", dump(&cluster));

    // The elevated /32 reaches the other nodes via node 1; the other does not.
    let ok = Cluster::wait_for(CONVERGE, || {
        (1..4).all(|i| {
            let routes = cluster.nodes[i].routes(&["proto", "bird"]);
            route_for(&routes, "10.65.2.9").is_some_and(|l| l.contains("via 10.99.1.1 dev tunl0"))
        })
    });
    assert!(ok, "elevated /32 not exported:\n{}", dump(&cluster));
    for i in 1..4 {
        let routes = cluster.nodes[i].routes(&["proto", "bird"]);
        assert!(route_for(&routes, "10.65.1.7").is_none(), "ordinary /32 exported to node {}: {routes:?}", i + 1);
    }
    // Its own block stays with Felix's blackhole and our own: nothing of ours replaces it.
    let own = cluster.nodes[0].routes(&["proto", "bird"]);
    assert!(route_for(&own, "10.65.2.0/26").is_some(), "{own:?}");

    // Withdrawal: the /32 goes away on node 1 → goes away everywhere.
    n1.ip(&["route", "del", "10.65.2.9/32", "dev", "cali1a", "proto", "80", "metric", "512"]).expect("route del");
    let ok = Cluster::wait_for(CONVERGE, || {
        (1..4).all(|i| route_for(&cluster.nodes[i].routes(&["proto", "bird"]), "10.65.2.9").is_none())
    });
    assert!(ok, "withdrawn /32 still programmed:\n{}", dump(&cluster));
}

/// CrossSubnet: nodes on the same subnet are reached directly over eth0,
/// nodes on another subnet through tunl0.
#[test]
fn cluster_mesh_cross_subnet_picks_tunnel_per_subnet() {
    if skip_unless_root("cluster_mesh_cross_subnet_picks_tunnel_per_subnet") {
        return;
    }
    let mut spec = ClusterSpec::mesh("xs", 1, 3, speaker_bin(), true);
    spec.ipip_mode = "CrossSubnet".to_string();
    // node-1 and node-2 in 10.99.0.0/25, node-3 in 10.99.0.128/25.
    spec.nodes[0].address = net("10.99.1.1/25");
    spec.nodes[1].address = net("10.99.1.2/25");
    spec.nodes[2].address = net("10.99.1.130/25");
    let cluster = Cluster::start(spec).expect("start cluster");
    let ok = Cluster::wait_for(CONVERGE, || {
        let r1 = cluster.nodes[0].routes(&["proto", "bird"]);
        route_for(&r1, "10.65.2.0/26").is_some_and(|l| l.contains("via 10.99.1.2 dev eth0") && !l.contains("tunl0"))
            && route_for(&r1, "10.65.3.0/26").is_some_and(|l| l.contains("via 10.99.1.130 dev tunl0"))
    });
    assert!(ok, "CrossSubnet routes wrong:\n{}", dump(&cluster));
}

/// BIRD 1.6 (Calico's BIRD), unpacked by `scripts/install-test-deps.sh`.
fn bird1() -> PathBuf {
    let dir = std::env::var_os("TERN_BIRD1_DIR").map(PathBuf::from).unwrap_or_else(|| "/opt/tern-test/bird1".into());
    let bird = dir.join("usr/sbin/bird");
    assert!(bird.exists(), "{} missing: run scripts/install-test-deps.sh (scripts/test.sh does)", bird.display());
    bird
}

/// Migration: one node of the mesh still runs BIRD 1.6 configured as
/// Calico's templates configure it. Every kernel converges both ways: the
/// tern nodes program BIRD's block through tunl0, BIRD programs the tern
/// nodes' blocks (Debian's BIRD has no `krt_tunnel`, so over eth0) and the
/// elevated workload /32 a tern node exports.
#[test]
fn cluster_mixed_with_bird16_converges_both_ways() {
    if skip_unless_root("cluster_mixed_with_bird16_converges_both_ways") {
        return;
    }
    let mut spec = ClusterSpec::mesh("mx", 4, 4, speaker_bin(), true);
    spec.nodes[3].bird = Some(bird1());
    let cluster = Cluster::start(spec).expect("start cluster");
    let n1 = cluster.nodes[0].ns.as_ref().expect("namespace");
    n1.veth("cali9", "cali9-peer", None).expect("veth");
    n1.ip(&["route", "add", "10.68.9.9/32", "dev", "cali9", "proto", "80", "metric", "100"]).expect("route");

    let ok = Cluster::wait_for(CONVERGE, || {
        let tern_ok = (0..3).all(|i| {
            let routes = cluster.nodes[i].routes(&["proto", "bird"]);
            route_for(&routes, "10.68.4.0/26").is_some_and(|l| l.contains("via 10.99.4.4 dev tunl0"))
        });
        let bird_routes = cluster.nodes[3].routes(&["proto", "bird"]);
        let bird_ok = (0..3).all(|j| {
            let block = cluster.nodes[j].spec.block.to_string();
            let via = format!("via {} dev eth0", cluster.nodes[j].spec.address.addr());
            route_for(&bird_routes, &block).is_some_and(|l| l.contains(&via))
        }) && route_for(&bird_routes, "10.68.9.9").is_some_and(|l| l.contains("via 10.99.4.1"));
        tern_ok && bird_ok
    });
    assert!(ok, "mixed cluster did not converge:\n{}", dump(&cluster));

    // Withdrawal from the tern side reaches BIRD's kernel.
    n1.ip(&["route", "del", "10.68.9.9/32", "dev", "cali9", "proto", "80", "metric", "100"]).expect("del");
    let ok =
        Cluster::wait_for(CONVERGE, || route_for(&cluster.nodes[3].routes(&["proto", "bird"]), "10.68.9.9").is_none());
    assert!(ok, "withdrawal did not reach BIRD:\n{}", dump(&cluster));
}
