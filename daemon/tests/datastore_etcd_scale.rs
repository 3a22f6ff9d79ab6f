//! Scale smoke (issue 6): a `tern-reflector` fed from a real etcd holding 1,000 client Node
//! objects takes 1,000 simulated clients (the bench load generator, `loadgen --mode rr`) and
//! converges: every client holds every other client's route. One route per client keeps it
//! light enough for CI on 2 cores (debug build); the 10-route run with its times is
//! `bench/scenarios/ternrr.sh`. Counts only, no time asserted.

mod datastore_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datastore_common::{protocols, start_daemon, wait_for, Etcd, TempDir, RES};

const RR: &str = "127.204.0.1";
/// The clients are 127.104.(i / 200).(i % 200 + 1) (`loadgen --source-octet 104`).
const OCTET: &str = "104";
const CLIENTS: usize = 1000;

/// The bench's `loadgen` of this target directory, built when absent (a test cannot depend on
/// another package's binary).
fn loadgen() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    // target/<profile>/deps/datastore_etcd_scale-HASH -> target/<profile>/loadgen
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let bin = profile_dir.join("loadgen");
    if !bin.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "tern-bench", "--bin", "loadgen"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p tern-bench --bin loadgen failed");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// The simulated clients' addresses, as loadgen will use them.
fn client_addresses(loadgen: &Path) -> Vec<String> {
    let out = Command::new(loadgen)
        .args(["peers", "--mode", "rr", "--peers", &CLIENTS.to_string(), "--source-octet", OCTET])
        .output()
        .expect("loadgen peers");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let addrs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, a)| a.to_string()))
        .collect();
    assert_eq!(addrs.len(), CLIENTS);
    addrs
}

#[test]
fn etcd_reflector_converges_with_a_thousand_simulated_clients() {
    let loadgen = loadgen();
    let etcd = Etcd::start("scale");
    let dir = TempDir::new("ds-scale");
    // Calico's route-reflector recipe: no mesh, one reflector Node, every Node peering with it
    // through a BGPPeer; the pool lets Calico's export filter pass loadgen's 10.0.0.0/8 routes.
    etcd.bgp_configuration("default", r#"{"asNumber":64512,"nodeToNodeMeshEnabled":false,"bindMode":"NodeIP"}"#);
    etcd.node("rr", &format!("{RR}/32"), r#","routeReflectorClusterID":"1.0.0.1""#, r#""route-reflector":"true""#);
    etcd.bgp_peer("peer-with-rr", r#"{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}"#);
    etcd.put(&format!("{RES}/ippools/bench"), r#"{"spec":{"cidr":"10.0.0.0/8","ipipMode":"Never"}}"#);
    let nodes: Vec<(String, String)> = client_addresses(&loadgen)
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                format!("{RES}/nodes/client-{i}"),
                format!(
                    r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"client-{i}"}},"spec":{{"bgp":{{"ipv4Address":"{a}/32"}}}}}}"#
                ),
            )
        })
        .collect();
    etcd.put_many(&nodes);

    let mut rr = start_daemon(env!("CARGO_BIN_EXE_tern-reflector"), &etcd, dir.path(), "rr", RR, &[], &[]);
    // All 1,000 Nodes listed: 1,000 client sessions configured before any client connects.
    let configured = wait_for(Duration::from_secs(60), || protocols(&rr.socket).len() == CLIENTS);
    assert!(
        configured,
        "{} of {CLIENTS} client sessions configured\n{}",
        protocols(&rr.socket).len(),
        rr.proc.log_text()
    );
    let pid = rr.proc.child.as_ref().map(|c| c.id()).expect("reflector pid");

    let mut gen = Command::new(&loadgen)
        .args(["run", "--mode", "rr", "--peers", &CLIENTS.to_string(), "--routes", "1", "--source-octet", OCTET])
        .args(["--target", &format!("{RR}:179"), "--pid", &pid.to_string(), "--label", "tern-reflector"])
        .args(["--settle", "0.5", "--establish-timeout", "120", "--timeout", "120", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let deadline = Instant::now() + Duration::from_secs(260);
    while gen.try_wait().expect("wait loadgen").is_none() {
        if Instant::now() > deadline {
            let _ = gen.kill();
            let _ = gen.wait();
            panic!("loadgen did not end within 260 s\n{}", rr.proc.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = gen.wait_with_output().expect("loadgen output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| {
        panic!(
            "no JSON from loadgen; stderr: {}\nreflector log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            rr.proc.log_text()
        )
    });
    eprintln!("{line}");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
    let n = CLIENTS as u64;
    assert_eq!(v["errors"], serde_json::json!([]), "{line}\n{}", rr.proc.log_text());
    assert_eq!(v["finished"], true, "{line}");
    assert_eq!(v["receivers"], n, "{line}");
    assert_eq!(v["receivers_done"], n, "{line}");
    // Every client holds the 999 others' routes, and nothing else.
    assert_eq!(v["expected_routes"], n * (n - 1), "{line}");
    assert_eq!(v["held_routes"], n * (n - 1), "{line}");
    assert!(out.status.success(), "{line}");
    // The generator has closed its sessions; the reflector runs on with its 1,000 clients
    // configured.
    assert_eq!(protocols(&rr.socket).len(), CLIENTS);
    assert!(rr.proc.running(), "{}", rr.proc.log_text());
}
