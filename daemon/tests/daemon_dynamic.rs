//! A listen range in `[global]` (dynamic neighbors, issue #6) on real
//! processes over loopback: a tern-speaker with no peer but a range accepts
//! the session of a second tern-speaker that lists it as a peer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tern_speaker::cluster::{bgp_protocols, established_since, Cluster};

/// Stops the processes and removes the directory, also on failure.
struct Guard {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(dir: &Path, name: &str, addr: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[global]\nasn = 64512\nnode_name = \"{name}\"\nipv4 = \"{addr}\"\nlisten_addresses = [\"{addr}\"]\n\
         listen_port = 1179\n{extra}\n\n[kernel]\nlearn = false\nprogram = false\n\n\
         [control]\nsocket = \"{sock}\"\nsocket6 = \"{sock6}\"\nhttp_listen = \"{addr}:9179\"\n",
        sock = dir.join(format!("{name}.ctl")).display(),
        sock6 = dir.join(format!("{name}6.ctl")).display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(dir: &Path, name: &str, cfg: &Path) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    Command::new(env!("CARGO_BIN_EXE_tern-speaker"))
        .arg("--config")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start tern-speaker")
}

/// `a` (127.78.1.1) has no peer, only `listen_ranges = ["127.78.1.0/24"]`;
/// `b` (127.78.1.2) lists `a`. `a` shows the session as
/// `Dynamic_127_78_1_2`, Established, and `b` its `Global_127_78_1_1_port_1179`.
/// `c` (127.78.2.3, outside the range) never gets a session with `a`.
#[test]
fn a_listen_range_accepts_an_unlisted_speaker() {
    let dir = std::env::temp_dir().join(format!("tern-dynamic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut g = Guard { dir: dir.clone(), children: Vec::new() };
    let a = config(&dir, "a", "127.78.1.1", "listen_ranges = [\"127.78.1.0/24\"]");
    let peer_a = "\n[[peer]]\naddress = \"127.78.1.1\"\nasn = 64512\nport = 1179\n";
    let b = config(&dir, "b", "127.78.1.2", peer_a);
    let c = config(&dir, "c", "127.78.2.3", peer_a);
    g.children.push(start(&dir, "a", &a));
    g.children.push(start(&dir, "b", &b));
    g.children.push(start(&dir, "c", &c));
    let (sa, sb, sc) = (dir.join("a.ctl"), dir.join("b.ctl"), dir.join("c.ctl"));
    let up = Cluster::wait_for(Duration::from_secs(30), || {
        established_since(&sa, "Dynamic_127_78_1_2").is_some()
            && established_since(&sb, "Global_127_78_1_1_port_1179").is_some()
    });
    let log = |n: &str| std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
    assert!(up, "no dynamic session: {:?} / {:?}\n{}", bgp_protocols(&sa), bgp_protocols(&sb), log("a"));
    // c has tried (its protocol row carries the refusal) and a lists no peer for it.
    let tried = Cluster::wait_for(Duration::from_secs(30), || {
        bgp_protocols(&sc)
            .iter()
            .any(|p| p.name == "Global_127_78_1_1_port_1179" && p.info.contains("Connection closed"))
    });
    assert!(tried, "c did not try: {:?}\n{}", bgp_protocols(&sc), log("c"));
    let names: Vec<String> = bgp_protocols(&sa).into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["Dynamic_127_78_1_2".to_string()]);
    assert!(established_since(&sc, "Global_127_78_1_1_port_1179").is_none());
}
