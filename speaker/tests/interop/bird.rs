//! BIRD 2 (`bird2` package) and BIRD 1.6 (`bird`/`bird6` unpacked by
//! `scripts/install-test-deps.sh`), run in the foreground with a config of
//! the test's making, queried through `birdc`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;

use super::{run, wait_for, Proc, TempDir};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// BIRD 2: one daemon for both families.
    V2,
    /// BIRD 1.6 `bird`: IPv4 only.
    V1,
    /// BIRD 1.6 `bird6`: IPv6 only.
    V1Ipv6,
}

/// Where `scripts/install-test-deps.sh` unpacked BIRD 1.6.
pub fn bird1_dir() -> PathBuf {
    std::env::var_os("TERN_BIRD1_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/opt/tern-test/bird1"))
}

impl Version {
    fn binaries(self) -> (PathBuf, PathBuf) {
        let bird1 = |d: &str, c: &str| {
            let dir = bird1_dir().join("usr/sbin");
            let (d, c) = (dir.join(d), dir.join(c));
            assert!(d.exists(), "{} missing: run scripts/install-test-deps.sh (or set TERN_BIRD1_DIR)", d.display());
            (d, c)
        };
        match self {
            Version::V2 => (PathBuf::from("bird"), PathBuf::from("birdc")),
            Version::V1 => bird1("bird", "birdc"),
            Version::V1Ipv6 => bird1("bird6", "birdc6"),
        }
    }
}

/// One route of `show route all`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    pub prefix: String,
    /// `unicast`, `unreachable`, `blackhole`, or BIRD 1.6's `via ...`.
    pub kind: String,
    /// The protocol it came from.
    pub proto: String,
    pub from: Option<IpAddr>,
    /// Marked `*`: the best route of its prefix.
    pub primary: bool,
    /// `BGP.next_hop` → `127.77.1.1`, `BGP.as_path` → `65001`, ...
    pub attrs: BTreeMap<String, String>,
}

impl Route {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }
}

pub struct Bird {
    pub version: Version,
    pub name: String,
    pub proc: Option<Proc>,
    pub socket: PathBuf,
    conf: PathBuf,
    client: PathBuf,
    daemon: PathBuf,
    /// Last: removed after the daemon is dead and its log printed.
    pub dir: TempDir,
}

impl Bird {
    /// Starts BIRD with `router id`, a log file, a device protocol and
    /// `body`, and waits until its control socket answers.
    pub fn start(version: Version, name: &str, router_id: Ipv4Addr, body: &str) -> Bird {
        let dir = TempDir::new(name);
        let (daemon, client) = version.binaries();
        let conf = dir.join("bird.conf");
        let log = dir.join("bird.log");
        let text = format!(
            "router id {router_id};\nlog \"{}\" all;\ndebug protocols {{ states, events }};\n\
             protocol device {{ scan time 10; }}\n{body}\n",
            log.display()
        );
        std::fs::write(&conf, text).expect("write bird.conf");
        let socket = dir.join("bird.ctl");
        let mut bird = Bird { version, name: name.to_string(), proc: None, socket, conf, client, daemon, dir };
        bird.launch();
        bird
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(&self.daemon);
        cmd.arg("-f").arg("-c").arg(&self.conf).arg("-s").arg(&self.socket).arg("-P").arg(self.dir.join("bird.pid"));
        let mut proc = Proc::spawn(&self.name, &mut cmd, self.dir.join("bird.out"), Some(self.dir.join("bird.log")));
        wait_for(&format!("{} control socket", self.name), || {
            if !proc.running() {
                panic!("{} exited at start:\n{}", self.name, proc.logs());
            }
            self.cmd("show status")
        });
        self.proc = Some(proc);
    }

    /// SIGKILL: the sessions drop without a NOTIFICATION.
    pub fn kill(&mut self) {
        if let Some(p) = &mut self.proc {
            p.kill();
        }
    }

    /// Starts the daemon again with the same config (after [`Bird::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
        self.launch();
    }

    pub fn cmd(&self, command: &str) -> Result<String, String> {
        run(Command::new(&self.client).arg("-s").arg(&self.socket).args(command.split_whitespace()))
    }

    /// `show protocols all NAME`: the `BGP state:` line (`Established`, `Active`, ...).
    pub fn bgp_state(&self, protocol: &str) -> String {
        let out = self.cmd(&format!("show protocols all {protocol}")).unwrap_or_default();
        out.lines()
            .find_map(|l| l.trim().strip_prefix("BGP state:").map(|s| s.trim().to_string()))
            .unwrap_or_else(|| format!("(no BGP state in {out:?})"))
    }

    pub fn wait_established(&self, protocol: &str) {
        wait_for(&format!("BIRD protocol {protocol} Established"), || {
            let state = self.bgp_state(protocol);
            if state == "Established" {
                Ok(())
            } else {
                Err(format!("{state}\n{}", self.cmd(&format!("show protocols all {protocol}")).unwrap_or_default()))
            }
        })
    }

    /// Every route of every table (`show route all`), or those of `table`.
    pub fn routes(&self) -> Vec<Route> {
        let out = self.cmd("show route all").unwrap_or_else(|e| panic!("birdc: {e}"));
        parse_routes(&out)
    }

    /// Routes learned from `protocol`, by prefix.
    pub fn routes_from(&self, protocol: &str) -> Vec<Route> {
        self.routes().into_iter().filter(|r| r.proto == protocol).collect()
    }
}

/// Parses `show route all` of BIRD 2 and BIRD 1.6.
///
/// ```text
/// Table master4:
/// 10.1.0.0/24          unreachable [tern4 05:16:37.066 from 127.77.1.1] * (100) [AS65001i]
///         Type: BGP univ
///         BGP.as_path: 65001
///                      unreachable [tern4 05:16:38.101 from 127.77.1.1] (100) [AS65001i]
/// ```
/// A second route of a prefix starts with spaces; attributes with a tab.
pub fn parse_routes(out: &str) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    let mut prefix = String::new();
    for line in out.lines() {
        if line.starts_with("BIRD ") || line.starts_with("Table ") || line.trim().is_empty() {
            continue;
        }
        if line.starts_with('\t') {
            if let (Some(r), Some((k, v))) = (routes.last_mut(), line.trim().split_once(':')) {
                r.attrs.insert(k.trim().to_string(), v.trim().to_string());
            }
            continue;
        }
        let Some(open) = line.find('[') else { continue };
        let head = &line[..open];
        let rest = &line[open + 1..];
        let mut words = head.split_whitespace();
        let kind_words: Vec<&str> = if line.starts_with(' ') {
            words.collect()
        } else {
            prefix = words.next().unwrap_or_default().to_string();
            words.collect()
        };
        let close = rest.find(']').unwrap_or(rest.len());
        let inside = &rest[..close];
        let proto = inside.split_whitespace().next().unwrap_or_default().to_string();
        let from = inside.split_once(" from ").and_then(|(_, a)| a.trim().parse().ok());
        let primary = rest[close..].trim_start_matches(']').trim_start().starts_with('*');
        routes.push(Route {
            prefix: prefix.clone(),
            kind: kind_words.join(" "),
            proto,
            from,
            primary,
            attrs: BTreeMap::new(),
        });
    }
    routes
}
