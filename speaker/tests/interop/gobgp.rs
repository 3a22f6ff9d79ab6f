//! GoBGP (`gobgpd` package): a TOML config of the test's making, queried
//! and driven through the `gobgp` CLI on the daemon's own gRPC address.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{run, wait_for, Proc, TempDir};

/// gRPC port; the address is the daemon's own 127.77.n.x.
const API_PORT: u16 = 50051;

/// One path of `gobgp global rib -j`.
#[derive(Clone, Debug)]
pub struct Path {
    pub prefix: String,
    pub best: bool,
    pub stale: bool,
    /// The peer it came from (absent for a local route).
    pub neighbor: Option<String>,
    pub attrs: Vec<Value>,
}

impl Path {
    /// The attribute of this type code (1 ORIGIN, 2 AS_PATH, 3 NEXT_HOP,
    /// 9 ORIGINATOR_ID, 10 CLUSTER_LIST, 14 MP_REACH_NLRI, ...).
    pub fn attr(&self, code: u64) -> Option<&Value> {
        self.attrs.iter().find(|a| a["type"].as_u64() == Some(code))
    }

    /// NEXT_HOP or MP_REACH_NLRI's next hop.
    pub fn next_hop(&self) -> Option<String> {
        self.attr(3).or_else(|| self.attr(14)).and_then(|a| a["nexthop"].as_str()).map(str::to_string)
    }

    /// The AS numbers of AS_PATH, in order.
    pub fn as_path(&self) -> Vec<u64> {
        let mut asns = Vec::new();
        if let Some(segments) = self.attr(2).and_then(|a| a["as_paths"].as_array()) {
            for s in segments {
                asns.extend(s["asns"].as_array().into_iter().flatten().filter_map(Value::as_u64));
            }
        }
        asns
    }

    pub fn originator_id(&self) -> Option<String> {
        self.attr(9).and_then(|a| a["value"].as_str()).map(str::to_string)
    }

    pub fn cluster_list(&self) -> Vec<String> {
        self.attr(10)
            .and_then(|a| a["value"].as_array())
            .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

pub struct Gobgp {
    pub name: String,
    pub api: Ipv4Addr,
    pub proc: Option<Proc>,
    conf: PathBuf,
    /// Last: removed after the daemon is dead and its log printed.
    pub dir: TempDir,
}

impl Gobgp {
    /// Starts gobgpd with `toml` and its gRPC API on `api`:50051, and waits
    /// until the API answers.
    pub fn start(name: &str, api: Ipv4Addr, toml: &str) -> Gobgp {
        let dir = TempDir::new(name);
        let conf = dir.join("gobgpd.toml");
        std::fs::write(&conf, toml).expect("write gobgpd.toml");
        let mut g = Gobgp { name: name.to_string(), api, proc: None, conf, dir };
        g.launch();
        g
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("gobgpd");
        cmd.arg("-f")
            .arg(&self.conf)
            .args(["-t", "toml", "-l", "info", "-p", "--pprof-disable"])
            .arg(format!("--api-hosts={}:{API_PORT}", self.api));
        let mut proc = Proc::spawn(&self.name, &mut cmd, self.dir.join("gobgpd.log"), None);
        wait_for(&format!("{} API", self.name), || {
            if !proc.running() {
                panic!("{} exited at start:\n{}", self.name, proc.logs());
            }
            self.cmd(&["global"])
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

    pub fn cmd(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("gobgp").args(["-u", &self.api.to_string(), "-p", &API_PORT.to_string()]).args(args))
    }

    /// `session_state` of `gobgp neighbor ADDR -j` (6 is Established).
    pub fn session_state(&self, neighbor: &str) -> Option<u64> {
        let out = self.cmd(&["neighbor", neighbor, "-j"]).ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        v["state"]["session_state"].as_u64()
    }

    pub fn wait_established(&self, neighbor: &str) {
        wait_for(&format!("GoBGP neighbor {neighbor} established"), || match self.session_state(neighbor) {
            Some(6) => Ok(()),
            s => Err(format!("session_state {s:?}; {}", self.cmd(&["neighbor"]).unwrap_or_default())),
        })
    }

    /// `gobgp global rib -a ipv4|ipv6 -j`, every path.
    pub fn rib(&self, family: &str) -> Vec<Path> {
        let out = self.cmd(&["global", "rib", "-a", family, "-j"]).unwrap_or_else(|e| panic!("gobgp: {e}"));
        parse_rib(&out)
    }
}

pub fn parse_rib(out: &str) -> Vec<Path> {
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("gobgp JSON {out:?}: {e}"));
    let mut paths = Vec::new();
    for (prefix, list) in v.as_object().into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            paths.push(Path {
                prefix: prefix.clone(),
                best: p["best"].as_bool().unwrap_or(false),
                stale: p["stale"].as_bool().unwrap_or(false),
                neighbor: p["neighbor-ip"].as_str().map(str::to_string),
                attrs: p["attrs"].as_array().cloned().unwrap_or_default(),
            });
        }
    }
    paths
}
