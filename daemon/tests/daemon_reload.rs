//! The daemon's command line and reload without disruption, on real
//! processes: `--check`, SIGHUP and the control socket's `configure`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fib::testns::skip_unless_root;
use tern_speaker::cluster::{Cluster, ClusterSpec};

fn speaker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tern-speaker"))
}

/// Sends one command to a BIRD-protocol socket and returns the reply lines
/// (greeting excluded) up to the final line (a code followed by a space).
fn ask(socket: &Path, command: &str) -> std::io::Result<Vec<String>> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    (&stream).write_all(format!("{command}\n").as_bytes())?;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches('\n').to_string();
        let last = line.len() >= 5 && line.as_bytes()[4] == b' ' && line[..4].bytes().all(|b| b.is_ascii_digit());
        lines.push(line);
        if last {
            break;
        }
    }
    Ok(lines)
}

/// `show protocols` rows of BGP peers: (name, state, since, info), read as
/// calicoctl reads them (a `1002-` row, then continuation rows starting with
/// a space).
fn protocols(socket: &Path) -> Vec<(String, String, String, String)> {
    let Ok(lines) = ask(socket, "show protocols") else { return Vec::new() };
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("1002-").or_else(|| l.strip_prefix(' ')))
        .filter_map(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            (f.len() >= 5 && f[1] == "BGP")
                .then(|| (f[0].to_string(), f[3].to_string(), f[4].to_string(), f[5..].join(" ")))
        })
        .collect()
}

fn established(socket: &Path, name: &str) -> Option<String> {
    protocols(socket).into_iter().find(|p| p.0 == name && p.3.starts_with("Established")).map(|p| p.2)
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
    assert!(protocols(&sock).iter().any(|p| p.0 == "Global_10_99_3_50"), "{:?}", protocols(&sock));
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()), "session to node-2 was reset");
    assert_eq!(n2_ups(&cluster), before, "node-2 saw the session restart:\n{}", cluster.nodes[1].log_text());

    // 2. A broken file: refused with its position, nothing changes.
    std::fs::write(&cfg, "[global]\nasn = \"x\"\n").expect("write");
    let reply = ask(&sock, "configure").expect("configure");
    let text = reply.join("\n");
    assert!(text.contains(":2:"), "refusal without position: {text}");
    assert!(protocols(&sock).iter().any(|p| p.0 == "Global_10_99_3_50"));
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()));

    // 3. SIGHUP with the original file: the added peer goes, the mesh stays.
    std::fs::write(&cfg, &original).expect("write");
    cluster.nodes[0].signal(nix::sys::signal::Signal::SIGHUP).expect("hup");
    assert!(
        Cluster::wait_for(Duration::from_secs(10), || !protocols(&sock).iter().any(|p| p.0 == "Global_10_99_3_50")),
        "removed peer still there"
    );
    assert_eq!(established(&sock, peer2).as_deref(), Some(since2.as_str()));
    assert!(cluster.nodes[0].running());
    cluster.nodes[0].stop();
}
