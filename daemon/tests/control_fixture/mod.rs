//! Node 1 of the BIRD 1.6.8 transcript in `data/bird-socket/` as plain
//! status data, the transcript's sections, and a temporary socket path.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::attribute::{AsPath, Origin};
use bgp_proto::{Family, Nlri, PathAttributes};
use speaker::engine::{PrefixCounts, RouteCounters};
use speaker::fsm::State;
use tern_speaker::control::plain::PlainStatus;
use tern_speaker::status::{DaemonStatus, PeerStatus, RouteInfo};

/// 2026-11-26 18:27:09 UTC plus `delta` seconds (negative: before).
pub fn at(delta: i64) -> SystemTime {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_717_629);
    if delta >= 0 {
        base + Duration::from_secs(delta as u64)
    } else {
        base - Duration::from_secs((-delta) as u64)
    }
}

/// The transcript's "now" for the first capture (`show status` time).
pub fn now() -> SystemTime {
    at(0)
}

pub fn daemon(started: SystemTime) -> DaemonStatus {
    DaemonStatus {
        version: "1.6.8".to_string(),
        node_name: "node1".to_string(),
        router_id: Ipv4Addr::new(10, 99, 0, 1),
        local_as: 64512,
        started,
        last_reconfiguration: started,
    }
}

/// A peer named as Calico names it, with nothing counted yet.
pub fn peer(name: &str, address: &str, state: State, since: SystemTime) -> PeerStatus {
    PeerStatus {
        name: name.to_string(),
        address: address.parse().expect("address"),
        port: 179,
        local_as: 64512,
        remote_as: 64512,
        state,
        since,
        last_error: None,
        passive: false,
        rr_client: false,
        import_name: "ACCEPT".to_string(),
        export_name: "calico_export_to_bgp_peers".to_string(),
        remote_id: None,
        local_address: None,
        hold_time: None,
        keepalive: None,
        families: vec![Family::IPV4_UNICAST],
        peer_capabilities: Vec::new(),
        messages_in: 0,
        messages_out: 0,
        updates_in: 0,
        updates_out: 0,
        transitions: 0,
        prefixes: Vec::new(),
        stale_routes: 0,
        import_updates: RouteCounters::default(),
        import_withdraws: RouteCounters::default(),
        export_updates: RouteCounters::default(),
        export_withdraws: RouteCounters::default(),
    }
}

fn established(name: &str, address: &str, since: SystemTime) -> PeerStatus {
    let mut p = peer(name, address, State::Established, since);
    p.remote_id = Some(address.parse().expect("id"));
    p.local_address = Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)));
    p.hold_time = Some(Duration::from_secs(240));
    p.keepalive = Some(Duration::from_secs(80));
    p.peer_capabilities =
        ["refresh", "enhanced-refresh", "restart-able", "llgr-aware", "AS4", "add-path-rx", "add-path-tx"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    p.prefixes = vec![(Family::IPV4_UNICAST, PrefixCounts { received: 1, accepted: 1, advertised: 1 })];
    p.import_updates = RouteCounters { received: 1, rejected: 0, filtered: 0, ignored: 0, accepted: 1 };
    p.export_updates = RouteCounters { received: 4, rejected: 2, filtered: 1, ignored: 0, accepted: 1 };
    p.messages_in = 7;
    p.messages_out = 9;
    p.updates_in = 2;
    p.updates_out = 3;
    p.transitions = 5;
    p
}

/// Node 1's three mesh peers as the first capture shows them.
pub fn node1_peers() -> Vec<PeerStatus> {
    let mut down = peer("Mesh_10_99_0_4", "10.99.0.4", State::Connect, at(-12));
    down.last_error = Some("Socket: No route to host".to_string());
    vec![established("Mesh_10_99_0_2", "10.99.0.2", at(-6)), established("Mesh_10_99_0_3", "10.99.0.3", at(-10)), down]
}

pub fn bgp_route(prefix: &str, peer: &str, next_hop: Ipv4Addr) -> RouteInfo {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        next_hop: Some(next_hop),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    RouteInfo {
        family: Family::IPV4_UNICAST,
        prefix: Nlri::new(prefix.parse().expect("prefix")),
        from: Some(peer.to_string()),
        from_address: Some(IpAddr::V4(next_hop)),
        attrs: Arc::new(attrs),
        best: true,
        multipath: false,
        stale: false,
    }
}

/// Node 1's BGP routes (the transcript's `show route` without the kernel
/// and direct routes tern does not have).
pub fn node1_routes() -> Vec<RouteInfo> {
    vec![
        bgp_route("10.65.2.0/26", "Mesh_10_99_0_2", Ipv4Addr::new(10, 99, 0, 2)),
        bgp_route("10.65.3.0/26", "Mesh_10_99_0_3", Ipv4Addr::new(10, 99, 0, 3)),
    ]
}

pub fn node1() -> PlainStatus {
    let mut s = PlainStatus::new(daemon(at(-12)));
    s.peers = node1_peers();
    s.routes = node1_routes();
    s.stats.destinations = 2;
    s.stats.attribute_sets = 2;
    s
}

/// `### COMMAND` sections of a transcript, in order (a command may repeat).
pub fn transcript(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bird-socket").join(name);
    let text = std::fs::read_to_string(&path).expect("transcript");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(cmd) = line.strip_prefix("### ") {
            out.push((cmd.trim_end().to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

pub fn section(name: &str, command: &str) -> String {
    let all: BTreeMap<String, String> = transcript(name).into_iter().collect();
    all.get(command).cloned().unwrap_or_else(|| panic!("no section {command}"))
}

pub const MESH: &str = "bird-1.6.8-calico-mesh.txt";
pub const GR: &str = "bird-1.6.8-calico-mesh-gr-recovery.txt";
pub const STATES: &str = "bird-1.6.8-peer-states.txt";

/// A private directory for sockets, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tern-control-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
