//! A small Calico-shaped cluster of `tern-speaker` processes on one machine,
//! for the README demo (`ternctl demo`) and the end-to-end tests.
//!
//! As root, every node gets a network namespace of its own on a shared
//! bridge (in a namespace too), an `eth0` address, a `tunl0` device (one end
//! of a veth pair: the kernel here has no ipip links) and Felix-like kernel
//! routes; tern then learns, exports and programs real kernel tables.
//! Without root the nodes share the loopback interface (127.0.0.x each, no
//! kernel programming). Everything is removed when the [`Cluster`] drops.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fib::testns::TestNamespace;
use ipnet::Ipv4Net;

/// One node of the cluster.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    /// Node address, with the prefix length of its subnet (Calico's
    /// `spec.bgp.ipv4Address`).
    pub address: Ipv4Net,
    /// This node's IPAM block.
    pub block: Ipv4Net,
    /// Set: a route reflector with this cluster ID.
    pub rr_cluster_id: Option<Ipv4Addr>,
    /// Run BIRD 1.6 (Calico's) instead of tern on this node: the path of
    /// the `bird` binary.
    pub bird: Option<PathBuf>,
}

/// How the cluster is laid out.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Unique short tag (namespace names, file names).
    pub tag: String,
    pub asn: u32,
    pub pool: Ipv4Net,
    /// `Always`, `CrossSubnet` or `Never`.
    pub ipip_mode: String,
    pub nodes: Vec<NodeSpec>,
    /// Calico's node-to-node mesh (off: reflector clients only).
    pub mesh: bool,
    /// Use network namespaces (needs root); otherwise loopback only.
    pub namespaces: bool,
    /// Felix-like `blackhole <block> proto 80` in each node's kernel.
    pub felix_blackholes: bool,
    /// Leave tern's kernel routes in place when a node stops (Calico's
    /// `persist`, for graceful restart).
    pub keep_routes: bool,
    /// The `tern-speaker` binary.
    pub speaker: PathBuf,
}

/// A running node.
pub struct Node {
    pub spec: NodeSpec,
    pub ns: Option<TestNamespace>,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// The command line (tern-speaker or BIRD).
    argv: Vec<std::ffi::OsString>,
    child: Option<Child>,
}

/// The running cluster; dropping it stops every process and removes every
/// namespace, link and file it made.
pub struct Cluster {
    pub spec: ClusterSpec,
    pub dir: PathBuf,
    pub nodes: Vec<Node>,
    bridge: Option<TestNamespace>,
}

/// One BGP row of BIRD's `show protocols`, as calicoctl reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolRow {
    pub name: String,
    /// `up`, `start`, ...
    pub state: String,
    pub since: String,
    /// `Established`, `Active Socket: ...`, ...
    pub info: String,
}

/// Sends one command to a BIRD-protocol control socket and returns the
/// reply lines (greeting excluded) up to the final one (a code followed by
/// a space). Reads time out after 10 s.
pub fn control_command(socket: &Path, command: &str) -> std::io::Result<Vec<String>> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
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
        let b = line.as_bytes();
        let last = b.len() >= 5 && b[4] == b' ' && b[..4].iter().all(u8::is_ascii_digit);
        lines.push(line);
        if last {
            break;
        }
    }
    Ok(lines)
}

/// The BGP rows of `show protocols` (a `1002-` row, then continuation rows
/// starting with a space); empty when the daemon does not answer.
pub fn bgp_protocols(socket: &Path) -> Vec<ProtocolRow> {
    let Ok(lines) = control_command(socket, "show protocols") else { return Vec::new() };
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("1002-").or_else(|| l.strip_prefix(' ')))
        .filter_map(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            (f.len() >= 5 && f[1] == "BGP").then(|| ProtocolRow {
                name: f[0].to_string(),
                state: f[3].to_string(),
                since: f[4].to_string(),
                info: f[5..].join(" "),
            })
        })
        .collect()
}

/// The `since` column of peer `name` when its session is Established.
pub fn established_since(socket: &Path, name: &str) -> Option<String> {
    bgp_protocols(socket).into_iter().find(|p| p.name == name && p.info.starts_with("Established")).map(|p| p.since)
}

/// Whether nodes can get network namespaces here (root and `ip` present).
pub fn namespaces_available() -> bool {
    fib::testns::is_root() && Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success())
}

fn io_err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

impl ClusterSpec {
    /// `n` mesh nodes `node-1` … on 10.99.`net`.1/24 …, blocks
    /// 10.`64+net`.i.0/26 of pool 10.`64+net`.0.0/16.
    pub fn mesh(tag: &str, net: u8, n: usize, speaker: PathBuf, namespaces: bool) -> ClusterSpec {
        let nodes = (1..=n).map(|i| Self::node(&format!("node-{i}"), net, i as u8)).collect();
        ClusterSpec {
            tag: tag.to_string(),
            asn: 64512,
            pool: Ipv4Net::new(Ipv4Addr::new(10, 64 + net, 0, 0), 16).unwrap_or_default(),
            ipip_mode: "Always".to_string(),
            nodes,
            mesh: true,
            namespaces,
            keep_routes: false,
            felix_blackholes: false,
            speaker,
        }
    }

    /// Calico's route-reflector layout: mesh off, `rr-1` (cluster ID
    /// 1.0.0.1, no block) and `clients` nodes peering only with it.
    pub fn reflected(tag: &str, net: u8, clients: usize, speaker: PathBuf, namespaces: bool) -> ClusterSpec {
        let mut spec = Self::mesh(tag, net, clients, speaker, namespaces);
        spec.mesh = false;
        let mut rr = Self::node("rr-1", net, 100);
        rr.rr_cluster_id = Some(Ipv4Addr::new(1, 0, 0, 1));
        spec.nodes.insert(0, rr);
        spec
    }

    fn node(name: &str, net: u8, i: u8) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            address: Ipv4Net::new(Ipv4Addr::new(10, 99, net, i), 24).unwrap_or_default(),
            block: Ipv4Net::new(Ipv4Addr::new(10, 64 + net, i, 0), 26).unwrap_or_default(),
            rr_cluster_id: None,
            bird: None,
        }
    }

    /// The address a node is reached at: its own on the bridge, or a
    /// loopback address without namespaces.
    pub fn reach(&self, i: usize) -> Ipv4Addr {
        if self.namespaces {
            self.nodes[i].address.addr()
        } else {
            let o = self.nodes[i].address.addr().octets();
            Ipv4Addr::new(127, 77, o[2], o[3])
        }
    }

    /// tern's configuration file for node `i`.
    pub fn tern_config(&self, i: usize, dir: &Path) -> String {
        let me = &self.nodes[i];
        let mut s = String::new();
        let _ = writeln!(s, "[global]\nasn = {}\nnode_name = \"{}\"", self.asn, me.name);
        let _ = writeln!(s, "listen_addresses = [\"{}\"]", self.reach(i));
        if self.namespaces {
            let _ = writeln!(s, "subnets = [\"{}\"]", me.address.trunc());
        } else {
            // Unprivileged: a port above 1023 on every node.
            let _ = writeln!(s, "listen_port = 1179");
        }
        if let Some(c) = me.rr_cluster_id {
            let _ = writeln!(s, "rr_cluster_id = \"{c}\"");
        }
        let _ = writeln!(s, "\n[mesh]\nenabled = {}", self.mesh);
        for (j, n) in self.nodes.iter().enumerate() {
            let _ = writeln!(s, "[[mesh.nodes]]\nname = \"{}\"\nipv4 = \"{}\"", n.name, self.reach(j));
            if let Some(c) = n.rr_cluster_id {
                let _ = writeln!(s, "rr_cluster_id = \"{c}\"");
            }
        }
        // A reflector serves every non-reflector node as its client; the
        // clients peer with the reflector (Calico: BGPPeer with selectors).
        for (j, n) in self.nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let serves = me.rr_cluster_id.is_some() && n.rr_cluster_id.is_none();
            let client_of = me.rr_cluster_id.is_none() && n.rr_cluster_id.is_some();
            if serves || client_of {
                let _ = writeln!(s, "\n[[peer]]\naddress = \"{}\"\nasn = {}", self.reach(j), self.asn);
                if !self.namespaces {
                    let _ = writeln!(s, "port = 1179");
                }
                if let Some(c) = n.rr_cluster_id {
                    let _ = writeln!(s, "peer_cluster_id = \"{c}\"");
                }
            }
        }
        let _ = writeln!(
            s,
            "\n[calico]\nipam_blocks = [{}]\n\n[[calico.ip_pools]]\ncidr = \"{}\"\nipip_mode = \"{}\"",
            if me.rr_cluster_id.is_some() { String::new() } else { format!("\"{}\"", me.block) },
            self.pool,
            self.ipip_mode
        );
        let _ = writeln!(
            s,
            "\n[kernel]\nlearn = {ns}\nprogram = {ns}\nkeep_routes_on_shutdown = {}",
            self.keep_routes,
            ns = self.namespaces
        );
        let _ = writeln!(
            s,
            "\n[control]\nsocket = \"{}\"\nsocket6 = \"{}\"\nhttp_listen = \"{}:9179\"",
            dir.join(format!("{}.ctl", me.name)).display(),
            dir.join(format!("{}6.ctl", me.name)).display(),
            if self.namespaces { Ipv4Addr::LOCALHOST } else { self.reach(i) },
        );
        let _ = writeln!(s, "\n[log]\nlevel = \"info\"");
        s
    }
}

impl ClusterSpec {
    /// A BIRD 1.6 configuration for node `i` in the shape of Calico's confd
    /// templates (`bird.cfg.template`, `bird_aggr.cfg.template`,
    /// `bird_ipam.cfg.template`): the block as a static blackhole, the
    /// aggregation and export filters, the kernel protocol with `learn`
    /// and `scan time 2`, and one `Mesh_` protocol per other node, passive
    /// towards greater addresses. Debian's BIRD lacks Calico's `krt_tunnel`
    /// patch, so its kernel routes go over eth0 rather than tunl0.
    pub fn bird_config(&self, i: usize) -> String {
        let me = &self.nodes[i];
        let ip = me.address.addr();
        let mut s = String::new();
        let _ = writeln!(s, "router id {ip};\n");
        let _ = writeln!(s, "protocol static {{\n  route {} blackhole;\n}}\n", me.block);
        let _ = writeln!(
            s,
            "function calico_aggr ()\n{{\n  if ( net = {b} ) then {{ accept; }}\n  if ( net ~ {b} ) then {{ reject; }}\n}}\n",
            b = me.block
        );
        let _ = writeln!(
            s,
            "filter calico_export_to_bgp_peers {{\n  calico_aggr();\n  if ( net ~ {p} ) then {{ accept; }}\n  reject;\n}}\n",
            p = self.pool
        );
        let _ = writeln!(s, "filter calico_kernel_programming {{\n  accept;\n}}\n");
        s.push_str(
            "protocol kernel {\n  learn; persist; scan time 2; import all; export filter calico_kernel_programming;\n  graceful restart; merge paths on;\n}\n",
        );
        s.push_str("protocol device { debug { states }; scan time 2; }\n");
        s.push_str("protocol direct { debug { states }; interface -\"cali*\", -\"kube-ipvs*\", \"*\"; }\n\n");
        let _ = writeln!(
            s,
            "template bgp bgp_template {{\n  debug {{ states }};\n  description \"Connection to BGP peer\";\n  local as {};\n  multihop;\n  gateway recursive;\n  import all;\n  export filter calico_export_to_bgp_peers;\n  add paths on;\n  graceful restart;\n  connect delay time 2;\n  connect retry time 5;\n  error wait time 5,30;\n}}\n",
            self.asn
        );
        for (j, n) in self.nodes.iter().enumerate() {
            if j == i || n.rr_cluster_id.is_some() {
                continue;
            }
            let peer = self.reach(j);
            let passive = if peer.to_string() > ip.to_string() { " passive on;" } else { "" };
            let _ = writeln!(
                s,
                "protocol bgp Mesh_{} from bgp_template {{ neighbor {peer} as {}; source address {ip};{passive} }}",
                peer.to_string().replace('.', "_"),
                self.asn
            );
        }
        s
    }
}

impl Cluster {
    /// Builds the network and starts every node.
    pub fn start(spec: ClusterSpec) -> std::io::Result<Cluster> {
        let dir = std::env::temp_dir().join(format!("tern-cluster-{}-{}", spec.tag, std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut cluster = Cluster { spec, dir, nodes: Vec::new(), bridge: None };
        if cluster.spec.namespaces {
            let br = TestNamespace::new(&format!("{}-br", cluster.spec.tag))?;
            br.ip(&["link", "add", "br0", "type", "bridge"])?;
            br.ip(&["link", "set", "br0", "up"])?;
            cluster.bridge = Some(br);
        }
        for i in 0..cluster.spec.nodes.len() {
            let node = cluster.start_node(i)?;
            cluster.nodes.push(node);
        }
        Ok(cluster)
    }

    fn start_node(&self, i: usize) -> std::io::Result<Node> {
        let spec = self.spec.nodes[i].clone();
        let ns = if let Some(br) = &self.bridge {
            let ns = TestNamespace::new(&format!("{}-{}", self.spec.tag, i + 1))?;
            let port = format!("p{}", i + 1);
            ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", br.name()])?;
            br.ip(&["link", "set", &port, "master", "br0"])?;
            br.ip(&["link", "set", &port, "up"])?;
            ns.ip(&["addr", "add", &spec.address.to_string(), "dev", "eth0"])?;
            ns.ip(&["link", "set", "eth0", "up"])?;
            // Every node of the cluster is on the bridge, whatever the
            // subnet its address says (CrossSubnet tests use /25s).
            let _ = ns.ip(&["route", "add", "10.99.0.0/16", "dev", "eth0"]);
            // Calico's IPIP device: one end of a veth pair named tunl0.
            ns.veth("tunl0", "tunl0-peer", None)?;
            // Felix's blackhole for the node's block (proto 80), as on a Calico node
            // with Felix programming block routes.
            if self.spec.felix_blackholes && spec.rr_cluster_id.is_none() {
                ns.ip(&["route", "add", "blackhole", &spec.block.to_string(), "proto", "80"])?;
            }
            Some(ns)
        } else {
            None
        };
        let socket = self.dir.join(format!("{}.ctl", spec.name));
        let log = self.dir.join(format!("{}.log", spec.name));
        let (config, argv) = match &spec.bird {
            Some(bird) => {
                let config = self.dir.join(format!("{}.bird.cfg", spec.name));
                std::fs::write(&config, self.spec.bird_config(i))?;
                let argv = vec![
                    bird.clone().into_os_string(),
                    "-f".into(),
                    "-c".into(),
                    config.clone().into_os_string(),
                    "-s".into(),
                    socket.clone().into_os_string(),
                ];
                (config, argv)
            }
            None => {
                let config = self.dir.join(format!("{}.toml", spec.name));
                std::fs::write(&config, self.spec.tern_config(i, &self.dir))?;
                let argv = vec![
                    self.spec.speaker.clone().into_os_string(),
                    "--config".into(),
                    config.clone().into_os_string(),
                ];
                (config, argv)
            }
        };
        let mut node = Node { spec, ns, config, socket, log, argv, child: None };
        node.start()?;
        Ok(node)
    }

    /// Waits until `check` holds, at most `limit`.
    pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if check() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops every node and removes the cluster.
    pub fn stop(self) {
        drop(self)
    }
}

impl Node {
    /// Starts (or restarts) the node's process.
    pub fn start(&mut self) -> std::io::Result<()> {
        let log = std::fs::File::create(&self.log)?;
        let (program, args) = self.argv.split_first().ok_or_else(|| io_err("empty command line"))?;
        let mut cmd = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.name()]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        self.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 5 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the running process (SIGHUP for reload).
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> std::io::Result<()> {
        let child = self.child.as_ref().ok_or_else(|| io_err("not running"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).map_err(std::io::Error::from)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The node's kernel routes (`ip route show PROTO...`), one per line.
    pub fn routes(&self, args: &[&str]) -> Vec<String> {
        let Some(ns) = &self.ns else { return Vec::new() };
        let mut a = vec!["route", "show"];
        a.extend_from_slice(args);
        ns.lines(&a).unwrap_or_default()
    }

    /// What the node printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Processes first (they hold the namespaces' sockets), then links.
        for n in &mut self.nodes {
            n.stop();
        }
        self.nodes.clear();
        self.bridge = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
