//! `loadgen` against a real `tern-speaker` route reflector, small enough for
//! CI: every simulated client must end up holding every other client's
//! routes (rr, also connecting in batches as the session-scale scenario
//! does, with no session lost), the monitor every sender's (ingest), and the
//! monitor every prefix of a slice of the RouteViews IPv6 table replayed
//! from its peers (mrt). No timing asserted.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps the daemon however the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tern-speaker` of this target directory, built when absent (a
/// dev-dependency does not build another package's binary).
fn tern_speaker() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    // target/<profile>/deps/loadgen_smoke-HASH -> target/<profile>/tern-speaker
    let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let bin = profile_dir.join("tern-speaker");
    if !bin.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "tern-speaker", "--bin", "tern-speaker"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p tern-speaker failed");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// The slice of the RouteViews IPv6 table the mrt smoke replays.
const MRT_PREFIXES: &str = "300";

fn mrt_file() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/bgp/mrt/routeviews6__rib.20150922.1200.full-ipv6.bz2").into()
}

/// `--mode`/`--peers` (or the MRT file) for `loadgen peers` and `run`.
fn layout(mode: &str, n: u32) -> Vec<String> {
    let mut a = vec!["--mode".to_string(), mode.to_string()];
    if mode == "mrt" {
        a.extend(["--mrt".to_string(), mrt_file(), "--mrt-prefixes".to_string(), MRT_PREFIXES.to_string()]);
    } else {
        a.extend(["--peers".to_string(), n.to_string()]);
    }
    a
}

fn peers(mode: &str, n: u32, octet: u8) -> Vec<(String, Ipv4Addr)> {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("peers")
        .args(layout(mode, n))
        .args(["--source-octet", &octet.to_string()])
        .output()
        .expect("loadgen peers");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (role, addr) = l.split_once(' ').expect("ROLE ADDRESS");
            (role.to_string(), addr.parse().expect("address"))
        })
        .collect()
}

/// The reflector config that `bench/scenarios/tern.sh` writes (with
/// `BENCH_IPV6=1` for `ipv6`).
fn config(addr: Ipv4Addr, peers: &[(String, Ipv4Addr)], ipv6: bool) -> String {
    let mut c = format!(
        "[global]\nasn = 64512\nnode_name = \"smoke-rr\"\nrouter_id = \"{addr}\"\nipv4 = \"{addr}\"\n\
         rr_cluster_id = \"1.0.0.1\"\nlisten_addresses = [\"{addr}\"]\n\n[mesh]\nenabled = false\n\n\
         [kernel]\nlearn = false\nprogram = false\n\n[log]\nlevel = \"warn\"\n\n\
         [[calico.ip_pools]]\ncidr = \"10.0.0.0/8\"\n\n[[calico.ip_pools]]\ncidr = \"16.0.0.0/4\"\n"
    );
    if ipv6 {
        c.push_str("\n[[calico.ip_pools]]\ncidr = \"::/0\"\n");
    }
    for (role, p) in peers {
        c.push_str(&format!(
            "\n[[peer]]\naddress = \"{p}\"\nasn = 64512\npassive = true\nrr_client = {}\n",
            role != "sender"
        ));
        if ipv6 {
            c.push_str("families = [\"ipv4-unicast\", \"ipv6-unicast\"]\n");
        }
    }
    c
}

/// Runs the scenario against a fresh tern-speaker; returns loadgen's JSON.
fn scenario(
    name: &str,
    mode: &str,
    peers_n: u32,
    routes: u32,
    sut: Ipv4Addr,
    octet: u8,
    extra: &[&str],
) -> serde_json::Value {
    let dir = TempDir(std::env::temp_dir().join(format!("tern-loadgen-{name}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let peers = peers(mode, peers_n, octet);
    let conf = dir.0.join("tern.toml");
    std::fs::write(&conf, config(sut, &peers, mode == "mrt")).expect("write config");
    let log = std::fs::File::create(dir.0.join("tern.log")).expect("log file");
    let daemon = Daemon(
        Command::new(tern_speaker())
            .arg("--no-control")
            .arg("--config")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tern-speaker"),
    );
    let mut gen = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("run")
        .args(layout(mode, peers_n))
        .args(["--routes", &routes.to_string()])
        .args(extra)
        .args(["--source-octet", &octet.to_string(), "--target", &format!("{sut}:179")])
        .args(["--pid", &daemon.0.id().to_string(), "--label", "tern", "--settle", "0.2"])
        .args(["--establish-timeout", "40", "--timeout", "40", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let deadline = Instant::now() + Duration::from_secs(100);
    while gen.try_wait().expect("wait loadgen").is_none() {
        if Instant::now() > deadline {
            let _ = gen.kill();
            let _ = gen.wait();
            panic!("loadgen did not end within 100 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = gen.wait_with_output().expect("loadgen output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(dir.0.join("tern.log")).unwrap_or_default();
    let line = stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| {
        panic!("no JSON from loadgen; stderr: {}\ntern log:\n{log}", String::from_utf8_lossy(&out.stderr))
    });
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
    assert_eq!(v["errors"], serde_json::json!([]), "{line}\ntern log:\n{log}");
    assert_eq!(v["finished"], true, "{line}\ntern log:\n{log}");
    assert!(out.status.success(), "{line}");
    v
}

#[test]
fn rr_every_client_holds_every_other_clients_routes() {
    let v = scenario("rr", "rr", 10, 50, Ipv4Addr::new(127, 202, 0, 1), 102, &[]);
    assert_eq!(v["receivers"], 10);
    assert_eq!(v["receivers_done"], 10);
    // Each client holds the 9 others' 50 routes.
    assert_eq!(v["expected_routes"], 10 * 9 * 50);
    assert_eq!(v["held_routes"], 10 * 9 * 50);
    assert!(v["sut_hwm_kb"].as_u64().unwrap_or(0) > 0, "no RSS read from /proc");
}

#[test]
fn ingest_monitor_holds_every_senders_routes() {
    let v = scenario("ingest", "ingest", 3, 2000, Ipv4Addr::new(127, 202, 0, 2), 103, &[]);
    assert_eq!(v["receivers"], 1);
    assert_eq!(v["held_routes"], 3 * 2000);
    assert_eq!(v["prefix_len"], 24);
}

/// The session-scale scenario in small: 50 clients x 1 prefix, connected in
/// batches of 10, each holding the 49 others' prefixes, no session lost.
#[test]
fn session_scale_in_batches_loses_no_session() {
    let v = scenario("sessions", "rr", 50, 1, Ipv4Addr::new(127, 202, 0, 3), 104, &["--connect-batch", "10"]);
    assert_eq!(v["connect_batch"], 10);
    assert_eq!(v["receivers_done"], 50);
    assert_eq!(v["held_routes"], 50 * 49);
    assert_eq!(v["sessions_dropped"], 0, "{v}");
    assert_eq!(v["notifications"], 0, "{v}");
    assert_eq!(v["hold_expired_local"], 0, "{v}");
}

/// The first 300 prefixes of the RouteViews IPv6 table, each of its peers a
/// sender with its own attributes: the monitor holds every prefix, each
/// from a sender that announced it (the next hop names the sender).
#[test]
fn mrt_replay_monitor_holds_every_prefix() {
    let v = scenario("mrt", "mrt", 0, 0, Ipv4Addr::new(127, 202, 0, 4), 105, &[]);
    assert_eq!(v["mode"], "mrt");
    assert_eq!(v["receivers"], 1);
    assert_eq!(v["expected_routes"], 300);
    assert_eq!(v["held_routes"], 300);
    assert_eq!(v["wrong_routes"], 0, "{v}");
    assert!(v["peers"].as_u64().unwrap_or(0) > 10, "senders: {}", v["peers"]);
    assert!(v["mrt_entries"].as_u64().unwrap_or(0) > 300 * 10, "{v}");
}
