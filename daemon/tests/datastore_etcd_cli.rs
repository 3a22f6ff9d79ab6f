//! `tern-speaker --datastore etcd --dry-run` and `tern-reflector --dry-run` on a 3-node cluster
//! with one route reflector, read from a real etcd.

mod datastore_common;

use std::path::PathBuf;
use std::process::{Command, Output};

use datastore_common::Etcd;
use serde_json::Value;

fn bin(name: &str) -> PathBuf {
    match name {
        "tern-speaker" => PathBuf::from(env!("CARGO_BIN_EXE_tern-speaker")),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_tern-reflector")),
    }
}

fn dry_run(etcd: &Etcd, program: &str, node: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new(bin(program));
    if program == "tern-speaker" {
        cmd.args(["--datastore", "etcd"]);
    }
    cmd.args(["--etcd-endpoints", &etcd.url, "--node", node, "--secret-dir", "/run/tern-secrets", "--dry-run"])
        .args(extra)
        .env_remove("NODENAME")
        .env_remove("ETCD_ENDPOINTS");
    cmd.output().expect("run")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn peer<'a>(doc: &'a Value, address: &str) -> &'a Value {
    doc["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["address"] == address))
        .unwrap_or_else(|| panic!("no peer {address} in {}", doc["peers"]))
}

fn addresses(doc: &Value) -> Vec<String> {
    doc["peers"]
        .as_array()
        .map(|ps| ps.iter().map(|p| p["address"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Calico's route-reflector recipe: mesh off, every node peers with the nodes labelled
/// `route-reflector: "true"`; the reflector has a cluster ID, so the nodes are its clients.
fn cluster(etcd: &Etcd) {
    etcd.bgp_configuration(
        "default",
        r#"{"nodeToNodeMeshEnabled":false,"asNumber":64512,"serviceClusterIPs":[{"cidr":"10.96.0.0/12"}],
            "communities":[{"name":"svc","value":"64512:100"}],
            "prefixAdvertisements":[{"cidr":"10.96.0.0/12","communities":["svc","64512:200:300"]}]}"#,
    );
    etcd.node("n1", "10.1.0.1/24", "", "");
    etcd.node("n2", "10.1.0.2/24", "", "");
    etcd.node("n3", "10.1.0.3/24", "", "");
    etcd.node("rr1", "10.1.0.10/24", r#","routeReflectorClusterID":"224.0.0.1""#, r#""route-reflector":"true""#);
    etcd.bgp_peer("peer-with-rr", r#"{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}"#);
    etcd.bgp_peer(
        "tor",
        r#"{"node":"n1","peerIP":"10.1.0.254:1179","asNumber":65001,"keepOriginalNextHop":true,"ttlSecurity":2,
            "password":{"secretKeyRef":{"name":"bgp-secrets","key":"tor"}},"maxRestartTime":"300s","keepaliveTime":"20s"}"#,
    );
    etcd.put(
        "/calico/resources/v3/projectcalico.org/ippools/ipip",
        r#"{"spec":{"cidr":"10.244.0.0/16","ipipMode":"Always"}}"#,
    );
    etcd.put(
        "/calico/resources/v3/projectcalico.org/ippools/vx",
        r#"{"spec":{"cidr":"10.245.0.0/16","vxlanMode":"Always"}}"#,
    );
    etcd.put("/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26", r#"{"state":"confirmed"}"#);
    etcd.put("/calico/resources/v3/projectcalico.org/bgppeers/bad", r#"{"spec":{"peerIP":"not-an-ip"}}"#);
}

#[test]
fn etcd_dry_run_prints_what_each_node_and_the_reflector_would_run() {
    let etcd = Etcd::start("dry");
    cluster(&etcd);

    let n1 = json(&dry_run(&etcd, "tern-speaker", "n1", &[]));
    assert_eq!(n1["node"], "n1");
    assert_eq!(n1["router_id"], "10.1.0.1");
    assert_eq!(n1["as"], 64512);
    assert_eq!(addresses(&n1), ["10.1.0.10", "10.1.0.254"], "the reflector and the ToR (by protocol name)");
    let rr = peer(&n1, "10.1.0.10");
    assert_eq!(rr["name"], "Node_10_1_0_10");
    assert_eq!((rr["as"].as_u64(), rr["local_as"].as_u64()), (Some(64512), Some(64512)));
    assert_eq!((rr["rr_client"].as_bool(), rr["passive"].as_bool()), (Some(false), Some(false)));
    assert_eq!(rr["source_address"], "10.1.0.1");
    assert_eq!(rr["port"], 179);
    let tor = peer(&n1, "10.1.0.254");
    assert_eq!(tor["name"], "Node_10_1_0_254_port_1179");
    assert_eq!((tor["port"].as_u64(), tor["as"].as_u64()), (Some(1179), Some(65001)));
    assert_eq!(tor["next_hop_mode"], "keep", "keepOriginalNextHop on an eBGP peer");
    assert_eq!(tor["ttl_security"], 2);
    assert_eq!(tor["password"]["file"], "/run/tern-secrets/bgp-secrets/tor", "where the secret is, not the secret");
    assert_eq!((tor["graceful_restart_time"].as_u64(), tor["keepalive_time"].as_u64()), (Some(300), Some(20)));
    let originated: Vec<&str> =
        n1["originated"].as_array().expect("originated").iter().filter_map(|o| o["prefix"].as_str()).collect();
    assert_eq!(originated, ["10.244.1.0/26", "10.96.0.0/12"]);
    let svc = n1["originated"].as_array().and_then(|o| o.iter().find(|o| o["prefix"] == "10.96.0.0/12")).expect("svc");
    assert_eq!(svc["communities"], serde_json::json!(["64512:100", "64512:200:300"]));
    let pools = n1["pools"].as_array().expect("pools");
    let kernel = |cidr: &str| pools.iter().find(|p| p["cidr"] == cidr).map(|p| p["kernel_routes"].clone());
    assert_eq!(kernel("10.244.0.0/16"), Some("tern: via tunl0".into()));
    assert_eq!(kernel("10.245.0.0/16"), Some("felix".into()));
    let malformed = n1["malformed"].as_array().expect("malformed");
    assert_eq!(malformed.len(), 1);
    assert_eq!(malformed[0]["key"], "/calico/resources/v3/projectcalico.org/bgppeers/bad");

    // The other nodes peer with the reflector only.
    for (node, own) in [("n2", "10.1.0.2"), ("n3", "10.1.0.3")] {
        let doc = json(&dry_run(&etcd, "tern-speaker", node, &[]));
        assert_eq!(addresses(&doc), ["10.1.0.10"], "{node}");
        assert_eq!(peer(&doc, "10.1.0.10")["source_address"], own);
    }

    // --router-id / CALICO_ROUTER_ID.
    let hashed = json(&dry_run(&etcd, "tern-speaker", "n2", &["--router-id", "hash"]));
    assert_ne!(hashed["router_id"], "10.1.0.2");
    let fixed = json(&dry_run(&etcd, "tern-speaker", "n2", &["--router-id", "192.0.2.7"]));
    assert_eq!(fixed["router_id"], "192.0.2.7");

    // --listen-range (Calico has no resource for it): in the derived state, truncated; none by default.
    assert_eq!(n1["listen_ranges"], serde_json::json!([]));
    let ranged = json(&dry_run(&etcd, "tern-reflector", "rr1", &["--listen-range", "10.1.0.7/24,fd00::/64"]));
    assert_eq!(ranged["listen_ranges"], serde_json::json!(["10.1.0.0/24", "fd00::/64"]));

    // The reflector: the three nodes as clients of cluster 224.0.0.1, from tern-speaker and tern-reflector alike.
    for program in ["tern-speaker", "tern-reflector"] {
        let doc = json(&dry_run(&etcd, program, "rr1", &[]));
        assert_eq!(doc["route_reflector_cluster_id"], "224.0.0.1", "{program}");
        assert_eq!(addresses(&doc), ["10.1.0.1", "10.1.0.2", "10.1.0.3"], "{program}");
        for a in ["10.1.0.1", "10.1.0.2", "10.1.0.3"] {
            let p = peer(&doc, a);
            assert_eq!(p["rr_client"], true, "{program} {a}");
            assert_eq!(p["cluster_id"], "224.0.0.1", "{program} {a}");
            assert_eq!(p["name"], format!("Node_{}", a.replace('.', "_")));
        }
    }
}

#[test]
fn etcd_reflector_refuses_a_node_without_cluster_id_and_unknown_nodes_are_named() {
    let etcd = Etcd::start("refuse");
    cluster(&etcd);
    let out = dry_run(&etcd, "tern-reflector", "n2", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("routeReflectorClusterID") && err.contains("\"n2\""), "{err}");
    assert!(out.stdout.is_empty());

    let out = dry_run(&etcd, "tern-speaker", "nope", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no Node \"nope\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No node name at all: a usage error naming the flag and the variable.
    let out = Command::new(bin("tern-speaker"))
        .args(["--datastore", "etcd", "--etcd-endpoints", &etcd.url, "--dry-run"])
        .env_remove("NODENAME")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--node") && err.contains("NODENAME"), "{err}");

    // NODENAME works like calico-node's.
    let out = Command::new(bin("tern-speaker"))
        .args(["--datastore", "etcd", "--etcd-endpoints", &etcd.url, "--dry-run"])
        .env("NODENAME", "n3")
        .output()
        .expect("run");
    assert_eq!(json(&out)["node"], "n3");
}

/// etcd with TLS and client-certificate authentication, as Calico's usually runs: the CA, the
/// client certificate and its key get through; a wrong CA or no client certificate do not, and
/// the error says why.
#[test]
fn etcd_tls_with_client_certificates() {
    let dir = datastore_common::TempDir::new("pki");
    let pki = datastore_common::Pki::generate(dir.path());
    let etcd = Etcd::start_tls("tls", &pki);
    assert!(etcd.url.starts_with("https://"));
    etcd.node("n1", "10.1.0.1/24", "", "");
    etcd.node("n2", "10.1.0.2/24", "", "");
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();

    let ok = dry_run(
        &etcd,
        "tern-speaker",
        "n1",
        &["--etcd-ca", &s(&pki.ca), "--etcd-cert", &s(&pki.client_cert), "--etcd-key", &s(&pki.client_key)],
    );
    assert_eq!(addresses(&json(&ok)), ["10.1.0.2"]);

    for (why, extra) in [
        ("no client certificate", vec!["--etcd-ca".to_string(), s(&pki.ca)]),
        (
            "a CA that did not sign etcd's certificate",
            vec![
                "--etcd-ca".into(),
                s(&pki.other_ca),
                "--etcd-cert".into(),
                s(&pki.client_cert),
                "--etcd-key".into(),
                s(&pki.client_key),
            ],
        ),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = dry_run(&etcd, "tern-speaker", "n1", &extra);
        assert_eq!(out.status.code(), Some(1), "{why}: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("etcd unavailable"), "{why}: {err}");
        assert!(out.stdout.is_empty(), "{why}");
    }

    // A missing key file is an option error, before any connection.
    let out =
        dry_run(&etcd, "tern-speaker", "n1", &["--etcd-cert", &s(&pki.client_cert), "--etcd-key", "/nonexistent.key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.key"));
}

/// Two reflector replicas of one cluster ID: each has every node as a client and the other
/// replica as a plain (non-client) iBGP peer; every node peers with both.
#[test]
fn etcd_reflector_replicas_share_the_cluster_and_peer_as_non_clients() {
    let etcd = Etcd::start("replicas");
    cluster(&etcd);
    etcd.node("rr2", "10.1.0.11/24", r#","routeReflectorClusterID":"224.0.0.1""#, r#""route-reflector":"true""#);
    for (me, other) in [("rr1", "10.1.0.11"), ("rr2", "10.1.0.10")] {
        let doc = json(&dry_run(&etcd, "tern-reflector", me, &[]));
        assert_eq!(doc["route_reflector_cluster_id"], "224.0.0.1");
        let replica = peer(&doc, other);
        assert_eq!(replica["rr_client"], false, "{me}: the other replica is no client");
        assert_eq!(replica["cluster_id"], serde_json::Value::Null);
        for a in ["10.1.0.1", "10.1.0.2", "10.1.0.3"] {
            assert_eq!(peer(&doc, a)["rr_client"], true, "{me} {a}");
        }
        assert_eq!(doc["peers"].as_array().map(Vec::len), Some(4), "{me}: {}", doc["peers"]);
    }
    for node in ["n2", "n3"] {
        let doc = json(&dry_run(&etcd, "tern-speaker", node, &[]));
        assert_eq!(addresses(&doc), ["10.1.0.10", "10.1.0.11"], "{node}");
    }
}
