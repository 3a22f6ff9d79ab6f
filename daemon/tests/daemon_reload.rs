//! The daemon's command line and reload without disruption, on real
//! processes: `--check`, SIGHUP and the control socket's `configure`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fib::testns::skip_unless_root;
use tern_speaker::cluster::{bgp_protocols, control_command, established_since, Cluster, ClusterSpec};

fn speaker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tern-speaker"))
}

fn ask(socket: &Path, command: &str) -> std::io::Result<Vec<String>> {
    control_command(socket, command)
}

fn protocols(socket: &Path) -> Vec<String> {
    bgp_protocols(socket).into_iter().map(|p| p.name).collect()
}

fn established(socket: &Path, name: &str) -> Option<String> {
    established_since(socket, name)
}

#[test]
fn check_accepts_a_valid_file_and_refuses_a_broken_one_with_its_position() {
    let dir = std::env::temp_dir().join(format!("tern-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let spec = ClusterSpec::mesh("chk", 1, 2, speaker_bin(), false);
    let good = dir.join("good.toml");
    std::fs::write(&good, spec.tern_config(0, &dir)).expect("write");
    let out = Command::new(speaker_bin()).args(["--check", "--config"]).arg(&good).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[global]\nasn = 0\nnode_name = \"n\"\nbogus = 1\n").expect("write");
    let out = Command::new(speaker_bin()).args(["--check", "--config"]).arg(&bad).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}:4:1", bad.display())), "no file:line:column in: {err}");
    assert!(err.contains("bogus"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Adding a peer by reload keeps the running sessions up (the `since`
/// column does not move and the other side never re-establishes); a broken
/// file is refused and changes nothing; removing a peer closes only it.
#[test]
fn reload_applies_only_the_difference_and_refuses_a_broken_file() {
    if skip_unless_root("reload_applies_only_the_difference_and_refuses_a_broken_file") {
        return;
    }
    let spec = ClusterSpec::mesh("rl", 3, 3, speaker_bin(), true);
    let mut cluster = Cluster::start(spec).expect("cluster");
    let sock = cluster.nodes[0].socket.clone();
    let peer2 = "Mesh_10_99_3_2";
    let peer3 = "Mesh_10_99_3_3";
    assert!(
        Cluster::wait_for(Duration::from_secs(30), || established(&sock, peer2).is_some()
            && established(&sock, peer3).is_some()),
        "not established: {:?}\n{}",
        protocols(&sock),
        cluster.nodes[0].log_text()
    );
    let since2 = established(&sock, peer2).expect("since");
    // node-2's side of the same session: its `since` must not move either.
    let sock2 = cluster.nodes[1].socket.clone();
    let n2_ups = |_: &Cluster| established(&sock2, "Mesh_10_99_3_1");
    let before = n2_ups(&cluster);
    assert!(before.is_some(), "node-2 does not see the session: {:?}", protocols(&sock2));

    // 1. A new peer (nobody there): only it is added.
    let cfg = cluster.nodes[0].config.clone();
    let original = std::fs::read_to_string(&cfg).expect("read");
    let added = format!("{original}\n[[peer]]\naddress = \"10.99.3.50\"\nasn = 64512\n");
    std::fs::write(&cfg, &added).expect("write");
    std::thread::sleep(Duration::from_millis(1100)); // `since` has a one-second resolution
    let reply = ask(&sock, "configure").expect("configure");
    assert!(reply.iter().any(|l| l.contains("1 added")), "{reply:?}");
    assert!(protocols(&sock).iter().any(|p| p == "Global_10_99_3_50"), "{:?}", protocols(&sock));
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()), "session to node-2 was reset");
    assert_eq!(n2_ups(&cluster), before, "node-2 saw the session restart:\n{}", cluster.nodes[1].log_text());

    // 2. A broken file: refused with its position, nothing changes.
    std::fs::write(&cfg, "[global]\nasn = \"x\"\n").expect("write");
    let reply = ask(&sock, "configure").expect("configure");
    let text = reply.join("\n");
    assert!(text.contains(":2:"), "refusal without position: {text}");
    assert!(protocols(&sock).iter().any(|p| p == "Global_10_99_3_50"));
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()));

    // 3. SIGHUP with the original file: the added peer goes, the mesh stays.
    std::fs::write(&cfg, &original).expect("write");
    cluster.nodes[0].signal(nix::sys::signal::Signal::SIGHUP).expect("hup");
    assert!(
        Cluster::wait_for(Duration::from_secs(10), || !protocols(&sock).iter().any(|p| p == "Global_10_99_3_50")),
        "removed peer still there"
    );
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()));
    assert!(cluster.nodes[0].running());
    cluster.nodes[0].stop();
}
