//! The HTTP endpoints on a real listener (127.0.0.1, a free port), scraped
//! the way Prometheus, kubelet probes and curl do.
#![allow(clippy::unwrap_used)]

mod control_fixture;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use control_fixture::*;
use tern_speaker::control::json::{PeerJson, RouteJson};
use tern_speaker::control::plain::PlainStatus;
use tern_speaker::control::{HttpOptions, HttpServer};
use tern_speaker::status::{
    BoxFut, DaemonStatus, EngineStats, KernelStats, PeerStatus, RouteFilter, RouteInfo, StatusSource,
};
use tokio::sync::watch;

struct Served {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn serve(source: Arc<dyn StatusSource>, options: HttpOptions) -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(HttpServer::bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    rt.spawn(server.serve(source, options, stop_rx));
    Served { addr, stop, _rt: rt }
}

/// Sends `request` and returns (status, headers, body).
fn request(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    (status, body)
}

/// Node 1 of the transcript, with the established peer's session started
/// 100 s ago and kernel counters set.
fn source() -> (PlainStatus, SystemTime) {
    let mut s = node1();
    let since = SystemTime::now() - Duration::from_secs(100);
    s.peers[0].since = since;
    s.kernel = KernelStats { routes_installed: 4, install_failures: 1, routes_learned: 3 };
    s.stats.update_groups = 1;
    (s, since)
}

/// Sample lines as `name{labels}` → value, after checking that every
/// sample belongs to a family declared with HELP and TYPE.
fn parse_metrics(body: &str) -> BTreeMap<String, f64> {
    let mut declared = Vec::new();
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut w = rest.split(' ');
            let name = w.next().unwrap().to_string();
            assert!(matches!(w.next(), Some("gauge") | Some("counter")), "{line}");
            declared.push(name);
        } else if line.starts_with("# HELP ") {
        } else {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let name = key.split('{').next().unwrap();
            assert!(declared.iter().any(|d| d == name), "undeclared {name}");
            assert!(samples.insert(key.to_string(), value.parse::<f64>().unwrap()).is_none(), "duplicate {key}");
        }
    }
    samples
}

#[test]
fn metrics_show_peers_rib_and_kernel() {
    let (s, _) = source();
    let served = serve(Arc::new(s), HttpOptions::default());
    let before = SystemTime::now();
    let (status, head, body) = request(served.addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let after = SystemTime::now();
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    let m = parse_metrics(&body);
    let p2 = r#"{peer="Mesh_10_99_0_2",address="10.99.0.2"}"#;
    let p4 = r#"{peer="Mesh_10_99_0_4",address="10.99.0.4"}"#;
    let v = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no sample {k}"));
    assert_eq!(v(&format!("tern_bgp_peer_state{p2}")), 6.0);
    assert_eq!(v(&format!("tern_bgp_peer_state{p4}")), 2.0);
    assert_eq!(v(&format!("tern_bgp_peer_up{p2}")), 1.0);
    assert_eq!(v(&format!("tern_bgp_peer_up{p4}")), 0.0);
    let uptime = v(&format!("tern_bgp_peer_uptime_seconds{p2}"));
    let hi = 100.0 + after.duration_since(before).unwrap().as_secs_f64() + 1.0;
    assert!((100.0..=hi).contains(&uptime), "uptime {uptime}");
    assert_eq!(v(&format!("tern_bgp_peer_uptime_seconds{p4}")), 0.0);
    assert_eq!(v(&format!("tern_bgp_peer_messages_received_total{p2}")), 7.0);
    assert_eq!(v(&format!("tern_bgp_peer_messages_sent_total{p2}")), 9.0);
    assert_eq!(v(&format!("tern_bgp_peer_updates_received_total{p2}")), 2.0);
    assert_eq!(v(&format!("tern_bgp_peer_updates_sent_total{p2}")), 3.0);
    assert_eq!(v(&format!("tern_bgp_peer_fsm_transitions_total{p2}")), 5.0);
    let fam = r#"{peer="Mesh_10_99_0_2",address="10.99.0.2",family="ipv4-unicast"}"#;
    assert_eq!(v(&format!("tern_bgp_peer_prefixes_received{fam}")), 1.0);
    assert_eq!(v(&format!("tern_bgp_peer_prefixes_accepted{fam}")), 1.0);
    assert_eq!(v(&format!("tern_bgp_peer_prefixes_advertised{fam}")), 1.0);
    assert_eq!(
        v(
            r#"tern_bgp_peer_route_changes_total{peer="Mesh_10_99_0_2",address="10.99.0.2",direction="export",op="update",result="rejected"}"#
        ),
        2.0
    );
    assert_eq!(
        v(
            r#"tern_bgp_peer_last_error_info{peer="Mesh_10_99_0_4",address="10.99.0.4",error="Socket: No route to host"}"#
        ),
        1.0
    );
    assert!(!m.keys().any(|k| k.starts_with("tern_bgp_peer_last_error_info{peer=\"Mesh_10_99_0_2\"")));
    assert_eq!(v("tern_rib_destinations"), 2.0);
    assert_eq!(v("tern_rib_attribute_sets"), 2.0);
    assert_eq!(v("tern_rib_update_groups"), 1.0);
    assert_eq!(v("tern_rib_selection_deferred"), 0.0);
    assert_eq!(v("tern_kernel_routes_installed"), 4.0);
    assert_eq!(v("tern_kernel_routes_learned"), 3.0);
    assert_eq!(v(r#"tern_errors_total{kind="kernel_install"}"#), 1.0);
    assert_eq!(v(r#"tern_errors_total{kind="export_rejected"}"#), 4.0);
    assert_eq!(v("tern_bgp_sessions_failing"), 1.0);
}

#[test]
fn readyz_follows_calicos_rule() {
    // Within the threshold after start: every peer must be Established.
    let (s, _) = source();
    let mut young = PlainStatus::new(DaemonStatus { started: SystemTime::now(), ..s.daemon.clone() });
    young.peers = s.peers.clone();
    let long = HttpOptions { ready_threshold: Duration::from_secs(3600), ..HttpOptions::default() };
    let served = serve(Arc::new(young), long);
    assert_eq!(get(served.addr, "/readyz"), (503, "BGP not established with 10.99.0.4\n".to_string()));

    // After it, one Established peer is enough.
    let short = HttpOptions { ready_threshold: Duration::ZERO, ..HttpOptions::default() };
    let (s, _) = source();
    let served = serve(Arc::new(s), short);
    assert_eq!(get(served.addr, "/readyz"), (200, "ready\n".to_string()));

    // ... but not none.
    let (mut s, _) = source();
    s.peers.remove(0);
    s.peers.remove(0);
    let served = serve(Arc::new(s), short);
    assert_eq!(get(served.addr, "/readyz").0, 503);

    // All Established but graceful-restart recovery still running.
    let (mut s, _) = source();
    s.daemon.started = SystemTime::now();
    s.peers.truncate(2);
    s.stats.deferring = true;
    let served = serve(Arc::new(s), long);
    assert_eq!(get(served.addr, "/readyz"), (503, "graceful restart in progress\n".to_string()));

    // No peers at all: ready.
    let served = serve(Arc::new(PlainStatus::new(daemon(SystemTime::now()))), long);
    assert_eq!(get(served.addr, "/readyz").0, 200);
}

/// A daemon whose engine no longer answers.
struct Stuck(PlainStatus);

impl StatusSource for Stuck {
    fn daemon(&self) -> DaemonStatus {
        self.0.daemon()
    }
    fn peers(&self) -> BoxFut<'_, Vec<PeerStatus>> {
        self.0.peers()
    }
    fn routes(&self, filter: RouteFilter) -> BoxFut<'_, Vec<RouteInfo>> {
        self.0.routes(filter)
    }
    fn stats(&self) -> BoxFut<'_, EngineStats> {
        Box::pin(std::future::pending())
    }
    fn kernel(&self) -> KernelStats {
        self.0.kernel()
    }
    fn reload(&self) -> BoxFut<'_, Result<String, String>> {
        self.0.reload()
    }
}

#[test]
fn healthz_fails_when_the_engine_is_stuck() {
    let (s, _) = source();
    let served = serve(Arc::new(s), HttpOptions::default());
    assert_eq!(get(served.addr, "/healthz"), (200, "ok\n".to_string()));

    let (s, _) = source();
    let options = HttpOptions { health_timeout: Duration::from_millis(50), ..HttpOptions::default() };
    let served = serve(Arc::new(Stuck(s)), options);
    assert_eq!(get(served.addr, "/healthz").0, 503);
}

#[test]
fn peers_and_routes_as_json() {
    let (s, since) = source();
    let served = serve(Arc::new(s), HttpOptions::default());
    let (status, body) = get(served.addr, "/peers");
    assert_eq!(status, 200);
    let peers: Vec<PeerJson> = serde_json::from_str(&body).unwrap();
    assert_eq!(peers.len(), 3);
    assert_eq!(peers[0].name, "Mesh_10_99_0_2");
    assert_eq!(peers[0].state, "Established");
    assert_eq!(peers[0].since, since.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs());
    assert_eq!(peers[0].hold_time, Some(240));
    assert_eq!(peers[0].prefixes[0].family, "ipv4-unicast");
    assert_eq!(peers[0].prefixes[0].accepted, 1);
    assert_eq!(peers[2].state, "Connect");
    assert_eq!(peers[2].last_error.as_deref(), Some("Socket: No route to host"));

    let (status, body) = get(served.addr, "/routes");
    assert_eq!(status, 200);
    let routes: Vec<RouteJson> = serde_json::from_str(&body).unwrap();
    assert_eq!(routes.len(), 2);

    let (_, body) = get(served.addr, "/routes?for=10.65.3.1");
    let routes: Vec<RouteJson> = serde_json::from_str(&body).unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].prefix, "10.65.3.0/26");
    assert_eq!(routes[0].next_hop, Some("10.99.0.3".parse().unwrap()));
    assert_eq!(routes[0].from.as_deref(), Some("Mesh_10_99_0_3"));
    assert_eq!(routes[0].local_pref, Some(100));
    assert_eq!(routes[0].origin.as_deref(), Some("i"));

    let (_, body) = get(served.addr, "/routes?peer=Mesh_10_99_0_2&family=ipv4");
    let routes: Vec<RouteJson> = serde_json::from_str(&body).unwrap();
    assert_eq!(routes.iter().map(|r| r.prefix.as_str()).collect::<Vec<_>>(), ["10.65.2.0/26"]);

    assert_eq!(get(served.addr, "/routes?family=ipv5").0, 400);
}

#[test]
fn http_details() {
    let (s, _) = source();
    let served = serve(Arc::new(s), HttpOptions::default());
    assert_eq!(get(served.addr, "/nowhere").0, 404);
    let (status, _, _) = request(served.addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, 405);
    let (status, head, body) = request(served.addr, "HEAD /healthz HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Content-Length: 3"), "{head}");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(request(served.addr, &huge).0, 413);
}
