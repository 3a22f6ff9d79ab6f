//! End to end: `tern-speaker` processes in network namespaces on a bridge,
//! Felix-like kernel routes, and the routes each node's kernel ends with.
//! Needs root (CI runs as root); skipped with a message otherwise.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use fib::testns::skip_unless_root;
use ipnet::Ipv4Net;
use tern_speaker::cluster::{bgp_protocols, control_command, established_since, Cluster, ClusterSpec};

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

/// Four mesh nodes with Felix-like routes (a `blackhole <block> proto 80` each), IPIP
/// Always: every node's kernel gets every other node's
/// block `via <node> dev tunl0 onlink proto bird`; a workload /32 with
/// metric < 1024 is exported, one with metric ≥ 1024 is not.
#[test]
fn cluster_mesh_ipip_always_programs_blocks_and_elevated_host_routes() {
    if skip_unless_root("cluster_mesh_ipip_always_programs_blocks_and_elevated_host_routes") {
        return;
    }
    let mut spec = ClusterSpec::mesh("m4", 1, 4, speaker_bin(), true);
    spec.felix_blackholes = true;
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

/// Graceful restart on a real cluster. A node killed outright (SIGKILL, a
/// crash): its peers keep its routes as stale (RFC 4724) and it comes back
/// with them in place. A node stopped with SIGTERM: Cease/Administrative
/// Shutdown, which RFC 8538 §5.1 sends as a Hard Reset once the N bit is
/// exchanged, so the peers drop its routes; its own kernel keeps what tern
/// installed (Calico's `persist`).
#[test]
fn cluster_graceful_restart_on_kill_and_hard_reset_on_sigterm() {
    if skip_unless_root("cluster_graceful_restart_on_kill_and_hard_reset_on_sigterm") {
        return;
    }
    let mut spec = ClusterSpec::mesh("gr", 5, 3, speaker_bin(), true);
    spec.keep_routes = true;
    let mut cluster = Cluster::start(spec).expect("start cluster");
    let block1 = "10.69.1.0/26";
    let has = |c: &Cluster, i: usize, prefix: &str, via: &str| {
        route_for(&c.nodes[i].routes(&["proto", "bird"]), prefix).is_some_and(|l| l.contains(via))
    };
    let sock2 = cluster.nodes[1].socket.clone();
    let converged = |c: &Cluster| {
        established_since(&sock2, "Mesh_10_99_5_1").is_some()
            && has(c, 1, block1, "via 10.99.5.1 dev tunl0")
            && has(c, 0, "10.69.2.0/26", "via 10.99.5.2 dev tunl0")
    };
    assert!(Cluster::wait_for(CONVERGE, || converged(&cluster)), "not converged:\n{}", dump(&cluster));
    let gone = |_: &Cluster| {
        bgp_protocols(&sock2).iter().any(|p| p.name == "Mesh_10_99_5_1" && !p.info.starts_with("Established"))
    };

    // 1. SIGKILL: no NOTIFICATION; node-2 notices the lost connection and keeps the block.
    cluster.nodes[0].signal(nix::sys::signal::Signal::SIGKILL).expect("kill");
    cluster.nodes[0].stop();
    // The kernel closes the dead process's sockets: node-2 sees the connection go.
    assert!(Cluster::wait_for(Duration::from_secs(15), || gone(&cluster)), "{:?}", bgp_protocols(&sock2));
    let own = cluster.nodes[0].routes(&["proto", "bird"]);
    assert!(route_for(&own, "10.69.2.0/26").is_some(), "node-1's kernel lost tern's routes: {own:?}");
    assert!(has(&cluster, 1, block1, "via 10.99.5.1"), "node-2 dropped the block at once:\n{}", dump(&cluster));
    cluster.nodes[0].start().expect("restart");
    assert!(Cluster::wait_for(CONVERGE, || converged(&cluster)), "no comeback:\n{}", dump(&cluster));

    // 2. SIGTERM: Cease/Administrative Shutdown (as a Hard Reset): node-2 drops the block.
    cluster.nodes[0].stop();
    assert!(Cluster::wait_for(Duration::from_secs(15), || gone(&cluster)), "{:?}", bgp_protocols(&sock2));
    let detail = control_command(&sock2, "show protocols all Mesh_10_99_5_1").expect("detail").join("\n");
    assert!(detail.contains("Administrative Shutdown"), "{detail}");
    assert!(
        Cluster::wait_for(Duration::from_secs(10), || !has(&cluster, 1, block1, "via")),
        "node-2 kept the block after a Hard Reset:\n{}",
        dump(&cluster)
    );
    let own = cluster.nodes[0].routes(&["proto", "bird"]);
    assert!(route_for(&own, "10.69.2.0/26").is_some(), "node-1 flushed its routes on SIGTERM: {own:?}");
    cluster.nodes[0].start().expect("restart");
    assert!(Cluster::wait_for(CONVERGE, || converged(&cluster)), "no comeback:\n{}", dump(&cluster));
}

fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// A reflector's clients share one update group (one Adj-RIB-Out, one
/// encoding): the daemon hands every peer of a kind the same policy value.
#[test]
fn cluster_reflector_clients_share_one_update_group() {
    let spec = ClusterSpec::reflected("ug", 7, 3, speaker_bin(), false);
    let cluster = Cluster::start(spec).expect("start cluster");
    let mut text = String::new();
    let ok = Cluster::wait_for(CONVERGE, || {
        text = scrape("127.77.7.100:9179").unwrap_or_default();
        text.lines().filter(|l| l.starts_with("tern_bgp_peer_up{") && l.ends_with(" 1")).count() == 3
            && text.lines().any(|l| l == "tern_rib_destinations 3")
    });
    assert!(ok, "metrics:\n{text}\n{}", dump(&cluster));
    assert!(text.lines().any(|l| l == "tern_rib_update_groups 1"), "{text}");
}

/// `/metrics` of a running node (loopback mode, where the HTTP endpoint is
/// reachable from the test): its peers are up and the routes counted.
#[test]
fn cluster_metrics_are_scraped_from_a_running_node() {
    let spec = ClusterSpec::mesh("mt", 6, 2, speaker_bin(), false);
    let cluster = Cluster::start(spec).expect("start cluster");
    let sock = cluster.nodes[0].socket.clone();
    assert!(
        Cluster::wait_for(CONVERGE, || established_since(&sock, "Mesh_127_77_6_2").is_some()),
        "{}",
        dump(&cluster)
    );
    let mut text = String::new();
    let ok = Cluster::wait_for(CONVERGE, || {
        text = scrape("127.77.6.1:9179").unwrap_or_default();
        text.lines().any(|l| l.starts_with("tern_bgp_peer_up{") && l.contains("Mesh_127_77_6_2") && l.ends_with(" 1"))
            && text.lines().any(|l| l == "tern_rib_destinations 2")
    });
    assert!(ok, "metrics:\n{text}\n{}", dump(&cluster));
}
