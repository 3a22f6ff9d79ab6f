//! `ternctl status|routes|peer|reload` against tern-speaker's control
//! socket server (with plain status data) on real unix sockets.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::attribute::{AsPath, Origin};
use bgp_proto::{Afi, Family, Nlri, PathAttributes};
use speaker::engine::{PrefixCounts, RouteCounters};
use speaker::fsm::State;
use tern_speaker::control::bird_format::short_time;
use tern_speaker::control::plain::PlainStatus;
use tern_speaker::control::BirdSocket;
use tern_speaker::status::{DaemonStatus, PeerStatus, RouteInfo, StatusSource};
use tokio::sync::watch;

/// A private socket directory with a daemon's `bird.ctl` and `bird6.ctl`
/// served; dropping it stops the servers and removes the directory.
struct Daemon {
    dir: PathBuf,
    stop: watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
}

impl Daemon {
    fn start(tag: &str, source: PlainStatus) -> Daemon {
        let dir = temp_dir(tag);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let source: Arc<dyn StatusSource> = Arc::new(source);
        for (name, afi) in [("bird.ctl", Afi::IPV4), ("bird6.ctl", Afi::IPV6)] {
            let socket = rt.block_on(BirdSocket::bind(&dir.join(name))).unwrap();
            rt.spawn(socket.serve(source.clone(), Some(afi), stop_rx.clone()));
        }
        Daemon { dir, stop, _rt: rt }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ternctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ternctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternctl")).arg("--socket").arg(socket).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn peer(name: &str, address: &str, state: State, since: SystemTime) -> PeerStatus {
    PeerStatus {
        name: name.to_string(),
        address: address.parse().unwrap(),
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
        prefixes: vec![(Family::IPV4_UNICAST, PrefixCounts::default())],
        stale_routes: 0,
        import_updates: RouteCounters::default(),
        import_withdraws: RouteCounters::default(),
        export_updates: RouteCounters::default(),
        export_withdraws: RouteCounters::default(),
    }
}

fn route(prefix: &str, from: &str, nh: Ipv4Addr) -> RouteInfo {
    RouteInfo {
        family: Family::IPV4_UNICAST,
        prefix: Nlri::new(prefix.parse().unwrap()),
        from: Some(from.to_string()),
        from_address: Some(IpAddr::V4(nh)),
        attrs: Arc::new(PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(nh),
            local_pref: Some(100),
            ..PathAttributes::default()
        }),
        best: true,
        multipath: false,
        stale: false,
    }
}

/// A node with one established mesh peer, one that cannot connect, and
/// the established peer's route.
fn node(up_since: SystemTime, down_since: SystemTime) -> PlainStatus {
    let mut s = PlainStatus::new(DaemonStatus {
        version: "1.6.8".to_string(),
        node_name: "node1".to_string(),
        router_id: Ipv4Addr::new(10, 99, 0, 1),
        local_as: 64512,
        started: down_since,
        last_reconfiguration: down_since,
    });
    let mut up = peer("Mesh_10_99_0_2", "10.99.0.2", State::Established, up_since);
    up.remote_id = Some(Ipv4Addr::new(10, 99, 0, 2));
    up.hold_time = Some(Duration::from_secs(240));
    up.keepalive = Some(Duration::from_secs(80));
    let mut down = peer("Mesh_10_99_0_4", "10.99.0.4", State::Connect, down_since);
    down.last_error = Some("Socket: No route to host".to_string());
    s.peers = vec![up, down];
    s.routes = vec![route("10.65.2.0/26", "Mesh_10_99_0_2", Ipv4Addr::new(10, 99, 0, 2))];
    s
}

#[test]
fn status_prints_calicoctls_table() {
    let now = SystemTime::now();
    let (up, down) = (now - Duration::from_secs(60), now - Duration::from_secs(120));
    let d = Daemon::start("status", node(up, down));
    let out = ternctl(&d.socket(), &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (t_up, t_down) = (short_time(up, now), short_time(down, now));
    let expected = format!(
        "\
tern-speaker is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+--------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |              INFO              |
+--------------+-------------------+-------+----------+--------------------------------+
| 10.99.0.2    | node-to-node mesh | up    | {t_up} | Established                    |
| 10.99.0.4    | node-to-node mesh | start | {t_down} | Connect Socket: No route to    |
|              |                   |       |          | host                           |
+--------------+-------------------+-------+----------+--------------------------------+

IPv6 BGP status
No IPv6 peers found.

"
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn status_shows_ipv6_peers_from_bird6_ctl() {
    let now = SystemTime::now();
    let mut s = node(now, now);
    let mut v6 = peer("Global_fd00__1", "fd00::1", State::Established, now);
    v6.remote_as = 65001;
    s.peers.push(v6);
    let d = Daemon::start("status6", s);
    let out = stdout(&ternctl(&d.socket(), &["status"]));
    let t = short_time(now, now);
    let v6_part = out.split("IPv6 BGP status\n").nth(1).unwrap();
    assert_eq!(
        v6_part,
        format!(
            "\
+--------------+-----------+-------+----------+-------------+
| PEER ADDRESS | PEER TYPE | STATE |  SINCE   |    INFO     |
+--------------+-----------+-------+----------+-------------+
| fd00::1      | global    | up    | {t} | Established |
+--------------+-----------+-------+----------+-------------+

"
        )
    );
}

#[test]
fn no_daemon_is_a_clear_error() {
    let dir = temp_dir("none");
    let missing = dir.join("bird.ctl");
    let out = ternctl(&missing, &["status"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out), format!("ternctl: no tern-speaker running at {} (no such socket)\n", missing.display()));

    // A socket file left by a daemon that is gone.
    drop(std::os::unix::net::UnixListener::bind(&missing).unwrap());
    for cmd in [&["status"][..], &["routes"], &["peer", "Mesh_10_99_0_2"], &["reload"]] {
        let out = ternctl(&missing, cmd);
        assert!(!out.status.success(), "{cmd:?}");
        assert_eq!(
            stderr(&out),
            format!("ternctl: no tern-speaker running at {} (connection refused)\n", missing.display()),
            "{cmd:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn routes_and_peer_print_birds_replies() {
    let now = SystemTime::now();
    let d = Daemon::start("routes", node(now, now));
    let t = short_time(now, now);
    let out = ternctl(&d.socket(), &["routes", "10.65.2.7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("10.65.2.0/26       via 10.99.0.2 [Mesh_10_99_0_2 {t}] * (100/0) [i]\n"));

    let out = ternctl(&d.socket(), &["routes", "192.0.2.1"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "Network not in table\n");

    let out = ternctl(&d.socket(), &["peer", "Mesh_10_99_0_4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("name     proto    table    state  since       info\nMesh_10_99_0_4 BGP"), "{text}");
    assert!(text.contains("\n    Last error:       Socket: No route to host\n"), "{text}");

    let out = ternctl(&d.socket(), &["peer", "Mesh_10_99_0_9"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "Mesh_10_99_0_9 is not a protocol\n");
}

#[test]
fn reload_reports_the_daemons_answer() {
    let now = SystemTime::now();
    let mut s = node(now, now);
    s.reload = Ok("1 peer added, 2 unchanged".to_string());
    let d = Daemon::start("reload", s);
    let out = ternctl(&d.socket(), &["reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 peer added, 2 unchanged\nReconfigured\n");

    let mut s = node(now, now);
    s.reload = Err("/etc/calico/tern.toml:4:9: expected an AS number".to_string());
    let d = Daemon::start("reload-bad", s);
    let out = ternctl(&d.socket(), &["reload"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "/etc/calico/tern.toml:4:9: expected an AS number\n");
}
