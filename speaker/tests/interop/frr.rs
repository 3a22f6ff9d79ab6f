//! FRR's `bgpd` (`frr` package) alone: no zebra (`-Z`), no kernel (`-n`),
//! listening on the test's addresses and port, its vty socket in the
//! daemon's own directory for `vtysh --vty_socket`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{run, wait_for, Proc, TempDir};

pub struct Frr {
    pub name: String,
    pub proc: Option<Proc>,
    listen: Vec<IpAddr>,
    port: u16,
    conf: PathBuf,
    /// Last: removed after the daemon is dead and its log printed.
    pub dir: TempDir,
}

/// One path of `show bgp <afi> unicast json`.
#[derive(Clone, Debug)]
pub struct Path {
    pub prefix: String,
    pub valid: bool,
    pub best: bool,
    /// `peerId`: the address it came from, `(unspec)` for a local route.
    pub peer: String,
    /// `path`: the AS path as text.
    pub as_path: String,
    pub next_hops: Vec<String>,
    /// ORIGINATOR_ID and CLUSTER_LIST, from the prefix's detail
    /// (`show bgp <afi> unicast PREFIX json`): the summary leaves them out.
    pub originator_id: Option<String>,
    pub cluster_list: Vec<String>,
}

impl Frr {
    /// Starts bgpd with `body` (after `hostname` and `log file`) listening
    /// on `listen`:`port`, and waits until vtysh reaches it.
    pub fn start(name: &str, listen: &[IpAddr], port: u16, body: &str) -> Frr {
        let dir = TempDir::new(name);
        let conf = dir.join("bgpd.conf");
        let text = format!("hostname {name}\nlog file {} informational\n!\n{body}\n", dir.join("bgpd.log").display());
        std::fs::write(&conf, text).expect("write bgpd.conf");
        let mut frr = Frr { name: name.to_string(), proc: None, listen: listen.to_vec(), port, conf, dir };
        frr.launch();
        frr
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("/usr/lib/frr/bgpd");
        cmd.arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(&self.dir.path)
            .args(["-Z", "-S", "-n", "-P", "0", "-p", &self.port.to_string()]);
        for a in &self.listen {
            cmd.arg("-l").arg(a.to_string());
        }
        let mut proc = Proc::spawn(&self.name, &mut cmd, self.dir.join("bgpd.out"), Some(self.dir.join("bgpd.log")));
        wait_for(&format!("{} vty", self.name), || {
            if !proc.running() {
                panic!("{} exited at start:\n{}", self.name, proc.logs());
            }
            self.vtysh("show bgp summary")
        });
        self.proc = Some(proc);
    }

    pub fn kill(&mut self) {
        if let Some(p) = &mut self.proc {
            p.kill();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    pub fn vtysh(&self, command: &str) -> Result<String, String> {
        run(Command::new("vtysh").arg("--vty_socket").arg(&self.dir.path).arg("-c").arg(command))
    }

    /// Several commands in one vtysh session (`configure terminal`, ...).
    pub fn vtysh_all(&self, commands: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&self.dir.path);
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        run(&mut cmd)
    }

    /// `state` of the neighbor in `show bgp neighbors ADDR json`.
    pub fn neighbor_state(&self, neighbor: &str) -> String {
        let out = self.vtysh(&format!("show bgp neighbors {neighbor} json")).unwrap_or_default();
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        v[neighbor]["bgpState"].as_str().unwrap_or("(none)").to_string()
    }

    pub fn wait_established(&self, neighbor: &str) {
        wait_for(&format!("FRR neighbor {neighbor} Established"), || {
            let s = self.neighbor_state(neighbor);
            if s == "Established" {
                Ok(())
            } else {
                Err(format!("{s}; {}", self.vtysh("show bgp summary").unwrap_or_default()))
            }
        })
    }

    /// Every path of `show bgp ipv4|ipv6 unicast json`, with the
    /// reflection attributes of the prefix's first path with an originator.
    pub fn rib(&self, afi: &str) -> Vec<Path> {
        let out = self.vtysh(&format!("show bgp {afi} unicast json")).unwrap_or_else(|e| panic!("vtysh: {e}"));
        let mut paths = parse_rib(&out);
        for p in &mut paths {
            let Ok(detail) = self.vtysh(&format!("show bgp {afi} unicast {} json", p.prefix)) else { continue };
            let v: Value = serde_json::from_str(&detail).unwrap_or(Value::Null);
            let reflected = v["paths"].as_array().into_iter().flatten().find(|d| d["originatorId"].is_string());
            if let Some(d) = reflected {
                p.originator_id = d["originatorId"].as_str().map(str::to_string);
                p.cluster_list = d["clusterList"]["list"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect();
            }
        }
        paths
    }
}

pub fn parse_rib(out: &str) -> Vec<Path> {
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("vtysh JSON {out:?}: {e}"));
    let mut paths = Vec::new();
    for (prefix, list) in v["routes"].as_object().into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            paths.push(Path {
                prefix: prefix.clone(),
                valid: p["valid"].as_bool().unwrap_or(false),
                best: p["bestpath"].as_bool().unwrap_or(false),
                peer: p["peerId"].as_str().unwrap_or_default().to_string(),
                as_path: p["path"].as_str().unwrap_or_default().to_string(),
                next_hops: p["nexthops"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n["ip"].as_str().map(str::to_string))
                    .collect(),
                originator_id: None,
                cluster_list: Vec::new(),
            });
        }
    }
    paths
}
