//! End to end in network namespaces: a real etcd (in the bridge namespace, on 10.98.0.254)
//! holding Calico-shaped objects, six `tern-speaker --datastore etcd` nodes and two
//! `tern-reflector` replicas (same cluster ID, mesh off, a BGPPeer with selectors), each in a
//! namespace of its own with `eth0` on the bridge and a `tunl0` device. Asserted on the nodes'
//! kernel tables (`ip route show proto bird`): every node gets every other node's block
//! `via <node> dev tunl0 onlink`; deleting a Node withdraws its block everywhere and adding it
//! back peers it in again; killing one reflector replica loses no route on any node; etcd
//! stopped for a while changes nothing, and a change made after it returns is applied.
//! Needs root (CI runs as root); skipped with a message otherwise.

mod datastore_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datastore_common::{protocols, wait_for, Etcd, Proc, TempDir, RES};
use fib::testns::{skip_unless_root, TestNamespace};

const ETCD_IP: &str = "10.98.0.254";
const CLIENTS: usize = 6;
/// Reflector replicas' last octets.
const REFLECTORS: [u8; 2] = [11, 12];
const CONVERGE: Duration = Duration::from_secs(40);
/// How long etcd stays away.
const OUTAGE: Duration = Duration::from_secs(30);

fn client_ip(i: usize) -> String {
    format!("10.98.0.{i}")
}

fn block(i: usize) -> String {
    format!("10.64.{i}.0/26")
}

/// A node's namespace: `eth0` (one end of a veth pair whose other end is on the bridge) with
/// `ip`/24, and Calico's `tunl0` (one end of a veth pair: this kernel has no ipip links).
fn node_ns(br: &TestNamespace, tag: &str, ip: &str) -> TestNamespace {
    let ns = TestNamespace::new(&format!("en{tag}")).expect("namespace");
    let port = format!("ep{tag}");
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", br.name()]).expect("veth");
    br.ip(&["link", "set", &port, "master", "br0"]).expect("bridge port");
    br.ip(&["link", "set", &port, "up"]).expect("port up");
    ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]).expect("address");
    ns.ip(&["link", "set", "eth0", "up"]).expect("eth0 up");
    ns.veth("tunl0", "tunl0-peer", None).expect("tunl0");
    ns
}

struct Daemon {
    name: String,
    proc: Proc,
    socket: PathBuf,
}

/// `ip netns exec NS BIN --datastore etcd ...` with kernel learning and programming on.
fn daemon(bin: &str, ns: &TestNamespace, etcd: &Etcd, dir: &Path, node: &str) -> Daemon {
    let socket = dir.join(format!("{node}.ctl"));
    let config = dir.join(format!("{node}.toml"));
    let settings = format!(
        "[kernel]\nprogram = true\nlearn = true\n\n[control]\nsocket = \"{}\"\nsocket6 = \"{}\"\nhttp_listen = \"127.0.0.1:9179\"\n\n[log]\nlevel = \"info\"\n",
        socket.display(),
        dir.join(format!("{node}6.ctl")).display(),
    );
    std::fs::write(&config, settings).expect("settings");
    let args: Vec<String> = ["netns", "exec", ns.name(), bin, "--datastore", "etcd", "--etcd-endpoints", &etcd.url]
        .iter()
        .map(|s| s.to_string())
        .chain(["--node".to_string(), node.to_string(), "--config".to_string()])
        .chain([config.to_string_lossy().into_owned()])
        .collect();
    let proc = Proc::spawn(Path::new("ip"), &args, dir.join(format!("{node}.log")), &[("TERN_LOG", "info")]);
    Daemon { name: node.to_string(), proc, socket }
}

fn bird_routes(ns: &TestNamespace) -> Vec<String> {
    ns.lines(&["route", "show", "proto", "bird"]).unwrap_or_default()
}

/// What is wrong with one kernel table: each `(block, via)` of `want` must be there as
/// `via <via> dev tunl0 ... onlink`; no block of `gone` may be there.
fn problems(routes: &[String], want: &[(String, String)], gone: &[String]) -> Vec<String> {
    let find = |b: &str| routes.iter().find(|l| l.starts_with(&format!("{b} ")));
    let mut out = Vec::new();
    for (b, via) in want {
        match find(b) {
            Some(l) if l.contains(&format!("via {via} dev tunl0")) && l.contains("onlink") => {}
            Some(l) => out.push(format!("wrong route: {l}")),
            None => out.push(format!("missing {b}")),
        }
    }
    for b in gone {
        if let Some(l) = find(b) {
            out.push(format!("still there: {l}"));
        }
    }
    out
}

/// The blocks client `me` (1-based) must have: every other live client's.
fn wanted(me: usize, live: &[usize], extra: &[(String, String)]) -> Vec<(String, String)> {
    live.iter()
        .filter(|j| **j != me)
        .map(|j| (block(*j), client_ip(*j)))
        .chain(extra.iter().filter(|(_, via)| *via != client_ip(me)).cloned())
        .collect()
}

struct Cluster {
    // Fields drop in order: processes first, then etcd, then the namespaces.
    clients: Vec<Daemon>,
    reflectors: Vec<Daemon>,
    etcd: Etcd,
    client_ns: Vec<TestNamespace>,
    _rr_ns: Vec<TestNamespace>,
    _br: TestNamespace,
    _dir: TempDir,
}

impl Cluster {
    /// Every client's problems (empty: all as wanted).
    fn check(&self, live: &[usize], extra: &[(String, String)], gone: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for &i in live {
            for p in problems(&bird_routes(&self.client_ns[i - 1]), &wanted(i, live, extra), gone) {
                out.push(format!("n{i}: {p}"));
            }
        }
        out
    }

    fn converge(&self, live: &[usize], extra: &[(String, String)], gone: &[String], step: &str) {
        let ok = wait_for(CONVERGE, || self.check(live, extra, gone).is_empty());
        assert!(ok, "{step}: {:?}\n{}", self.check(live, extra, gone), self.dump());
    }

    fn dump(&self) -> String {
        let mut s = String::new();
        for (i, ns) in self.client_ns.iter().enumerate() {
            s.push_str(&format!("--- n{} routes:\n{}\n", i + 1, bird_routes(ns).join("\n")));
        }
        for d in self.clients.iter().chain(&self.reflectors) {
            s.push_str(&format!("--- {} protocols: {:?}\n", d.name, protocols(&d.socket)));
        }
        for d in self.clients.iter().chain(&self.reflectors).take(3) {
            let log = d.proc.log_text();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            s.push_str(&format!(
                "--- {} log tail:\n{}\n",
                d.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        s
    }
}

fn start() -> Cluster {
    let dir = TempDir::new("etcdnet");
    let br = TestNamespace::new("ebr").expect("bridge namespace");
    br.ip(&["link", "add", "br0", "type", "bridge"]).expect("bridge");
    br.ip(&["addr", "add", &format!("{ETCD_IP}/24"), "dev", "br0"]).expect("bridge address");
    br.ip(&["link", "set", "br0", "up"]).expect("bridge up");
    let client_ns: Vec<TestNamespace> = (1..=CLIENTS).map(|i| node_ns(&br, &i.to_string(), &client_ip(i))).collect();
    let rr_ns: Vec<TestNamespace> =
        REFLECTORS.iter().map(|o| node_ns(&br, &format!("r{o}"), &format!("10.98.0.{o}"))).collect();
    let etcd = Etcd::start_in_netns("etcdnet", br.name(), ETCD_IP);

    etcd.bgp_configuration("default", r#"{"asNumber":64512,"nodeToNodeMeshEnabled":false,"bindMode":"NodeIP"}"#);
    for i in 1..=CLIENTS {
        etcd.node(&format!("n{i}"), &format!("{}/24", client_ip(i)), "", "");
        etcd.put(&format!("/calico/ipam/v2/host/n{i}/ipv4/block/10.64.{i}.0-26"), r#"{"state":"confirmed"}"#);
    }
    for o in REFLECTORS {
        etcd.node(
            &format!("rr{o}"),
            &format!("10.98.0.{o}/24"),
            r#","routeReflectorClusterID":"224.0.0.1""#,
            r#""route-reflector":"true""#,
        );
    }
    etcd.bgp_peer("peer-with-rr", r#"{"nodeSelector":"!has(route-reflector)","peerSelector":"has(route-reflector)"}"#);
    etcd.put(
        &format!("{RES}/ippools/default-ipv4-ippool"),
        r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"default-ipv4-ippool"},"spec":{"cidr":"10.64.0.0/16","ipipMode":"Always"}}"#,
    );

    let reflectors = REFLECTORS
        .iter()
        .zip(&rr_ns)
        .map(|(o, ns)| daemon(env!("CARGO_BIN_EXE_tern-reflector"), ns, &etcd, dir.path(), &format!("rr{o}")))
        .collect();
    let clients = client_ns
        .iter()
        .enumerate()
        .map(|(i, ns)| daemon(env!("CARGO_BIN_EXE_tern-speaker"), ns, &etcd, dir.path(), &format!("n{}", i + 1)))
        .collect();
    Cluster { clients, reflectors, etcd, client_ns, _rr_ns: rr_ns, _br: br, _dir: dir }
}

/// Whether `d` has an Established session to reflector `octet`.
fn up_to_reflector(d: &Daemon, octet: u8) -> bool {
    let tag = format!("10_98_0_{octet}");
    protocols(&d.socket).iter().any(|p| p.0.contains(&tag) && p.3.starts_with("Established"))
}

#[test]
fn etcd_netns_cluster_of_speakers_and_reflector_replicas_follows_the_datastore() {
    if skip_unless_root("etcd_netns_cluster_of_speakers_and_reflector_replicas_follows_the_datastore") {
        return;
    }
    let mut c = start();
    let all: Vec<usize> = (1..=CLIENTS).collect();

    // Every kernel gets every other node's block over tunl0.
    c.converge(&all, &[], &[], "initial convergence");
    let both = wait_for(CONVERGE, || c.clients.iter().all(|d| REFLECTORS.iter().all(|o| up_to_reflector(d, *o))));
    assert!(both, "clients not peered with both reflector replicas:\n{}", c.dump());

    // Deleting Node n6 withdraws its block everywhere (the reflectors drop its session); the
    // rest stays.
    c.etcd.del(&format!("{RES}/nodes/n6"));
    let five: Vec<usize> = (1..CLIENTS).collect();
    c.converge(&five, &[], &[block(6)], "Node n6 deleted");

    // Adding it back peers it in: its block reaches everyone and it gets everyone's.
    c.etcd.node("n6", &format!("{}/24", client_ip(6)), "", "");
    c.converge(&all, &[], &[], "Node n6 added");

    // Killing one reflector replica loses no route on any node: sampled until every client has
    // seen its session to it go, and a while after.
    let before: Vec<Vec<String>> = c.client_ns.iter().map(bird_routes).collect();
    c.reflectors[0].proc.kill();
    let end_of_down = Instant::now() + Duration::from_secs(30);
    let mut settled: Option<Instant> = None;
    let mut samples = 0;
    loop {
        let p = c.check(&all, &[], &[]);
        assert!(p.is_empty(), "route lost after a reflector replica died: {p:?}\n{}", c.dump());
        samples += 1;
        let now = Instant::now();
        match settled {
            None if c.clients.iter().all(|d| !up_to_reflector(d, REFLECTORS[0])) => settled = Some(now),
            Some(t) if now >= t + Duration::from_secs(3) => break,
            _ => {}
        }
        assert!(now < end_of_down, "sessions to the dead replica still up:\n{}", c.dump());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(samples > 10, "too few samples: {samples}");
    let after: Vec<Vec<String>> = c.client_ns.iter().map(bird_routes).collect();
    assert_eq!(after, before, "kernel routes changed when a reflector replica died");
    assert!(c.clients.iter().all(|d| up_to_reflector(d, REFLECTORS[1])), "{}", c.dump());

    // etcd stopped: nothing changes on any kernel, every daemon keeps running.
    c.etcd.kill();
    let outage_end = Instant::now() + OUTAGE;
    while Instant::now() < outage_end {
        let now: Vec<Vec<String>> = c.client_ns.iter().map(bird_routes).collect();
        assert_eq!(now, before, "kernel routes changed while etcd was away\n{}", c.dump());
        std::thread::sleep(Duration::from_millis(500));
    }
    for d in c.clients.iter_mut().chain(c.reflectors[1..].iter_mut()) {
        assert!(d.proc.running(), "{} stopped while etcd was away:\n{}", d.name, d.proc.log_text());
    }
    assert!(c.clients.iter().all(|d| up_to_reflector(d, REFLECTORS[1])), "{}", c.dump());

    // etcd back; a change made then (a second block for n1) reaches every kernel.
    c.etcd.run();
    c.etcd.put("/calico/ipam/v2/host/n1/ipv4/block/10.64.101.0-26", r#"{"state":"confirmed"}"#);
    let extra = [("10.64.101.0/26".to_string(), client_ip(1))];
    c.converge(&all, &extra, &[], "block added after etcd returned");
}
