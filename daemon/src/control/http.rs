//! A small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz`,
//! `/peers` and `/routes`: GET and HEAD only, one request per connection,
//! bounded request size and read time. Meant for a local address
//! (Prometheus, kubelet probes, operators with curl).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bgp_proto::{Afi, Family, Safi};
use ipnet::IpNet;
use speaker::fsm::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use super::json::{PeerJson, RouteJson};
use super::metrics;
use crate::status::{EngineStats, PeerStatus, RouteFilter, StatusSource};

/// Calico's default `-bird-ready` threshold.
pub const DEFAULT_READY_THRESHOLD: Duration = Duration::from_secs(30);

const MAX_REQUEST: usize = 8192;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CLIENTS: usize = 32;

#[derive(Clone, Copy, Debug)]
pub struct HttpOptions {
    /// Within this time after start, `/readyz` wants every peer
    /// Established and no graceful-restart recovery; after it, one
    /// Established peer is enough (calico-node's `-bird-ready`).
    pub ready_threshold: Duration,
    /// `/healthz` fails when the engine does not answer within this time.
    pub health_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions { ready_threshold: DEFAULT_READY_THRESHOLD, health_timeout: Duration::from_secs(5) }
    }
}

/// calico-node's readiness rule: no peers → ready; within `threshold` of
/// `started` every peer must be Established and selection not deferred;
/// after it at least one peer must be Established.
pub fn readiness(
    peers: &[PeerStatus],
    stats: &EngineStats,
    started: SystemTime,
    threshold: Duration,
    now: SystemTime,
) -> Result<(), String> {
    if peers.is_empty() {
        return Ok(());
    }
    let down: Vec<String> =
        peers.iter().filter(|p| p.state != State::Established).map(|p| p.address.to_string()).collect();
    let young = now.duration_since(started).map(|d| d < threshold).unwrap_or(true);
    if young {
        if !down.is_empty() {
            return Err(format!("BGP not established with {}", down.join(",")));
        }
        if stats.deferring {
            return Err("graceful restart in progress".to_string());
        }
        Ok(())
    } else if down.len() < peers.len() {
        Ok(())
    } else {
        Err(format!("BGP not established with {}", down.join(",")))
    }
}

/// A bound HTTP listener, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Ok(HttpServer { listener: TcpListener::bind(addr).await? })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true (or its sender is dropped).
    pub async fn serve(self, source: Arc<dyn StatusSource>, options: HttpOptions, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
        if let Ok(a) = self.listener.local_addr() {
            info!(listen = %a, "HTTP endpoint listening");
        }
        loop {
            tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((stream, _)) => {
                        // Wait for a free slot, but not past shutdown.
                        let slot = tokio::select! {
                            s = slots.clone().acquire_owned() => s,
                            _ = shutdown.changed() => break,
                        };
                        let Ok(slot) = slot else { break };
                        let source = source.clone();
                        tokio::spawn(async move {
                            if let Err(e) = connection(stream, &*source, options).await {
                                debug!("HTTP client: {e}");
                            }
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        warn!("HTTP accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
            }
        }
    }
}

/// Binds `addr` and serves the endpoints with default options until
/// `shutdown`.
pub async fn serve_http(
    addr: SocketAddr,
    source: Arc<dyn StatusSource>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    HttpServer::bind(addr).await?.serve(source, HttpOptions::default(), shutdown).await;
    Ok(())
}

/// One response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.into() }
    }

    fn json(body: String) -> Self {
        Response { status: 200, content_type: "application/json", body }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

async fn connection(mut stream: TcpStream, source: &dyn StatusSource, options: HttpOptions) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(Some(end));
            }
            if buf.len() > MAX_REQUEST {
                return Ok(None);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "request ended early"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request not received in time"))??;
    let (response, head_only) = match head {
        None => (Response::text(413, "request too large\n"), false),
        Some(end) => {
            let text = String::from_utf8_lossy(&buf[..end]);
            let first = text.lines().next().unwrap_or("");
            let mut parts = first.split(' ');
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            debug!(method, target, "HTTP request");
            match method {
                "GET" => (handle(source, target, options).await, false),
                "HEAD" => (handle(source, target, options).await, true),
                _ => (Response::text(405, "only GET and HEAD\n"), false),
            }
        }
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if !head_only {
        out.push_str(&response.body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await?;
    if head.is_none() {
        // Read what is left of the oversized request, so that closing
        // does not reset the connection before the client reads the reply.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut sink = [0u8; 4096];
            let mut left = 1 << 20;
            while left > 0 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left -= n.min(left),
                }
            }
        })
        .await;
    }
    Ok(())
}

/// The response to `GET target`.
pub async fn handle(source: &dyn StatusSource, target: &str, options: HttpOptions) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let now = SystemTime::now();
    match path {
        "/metrics" => {
            let daemon = source.daemon();
            let peers = source.peers().await;
            let stats = source.stats().await;
            let kernel = source.kernel();
            let body = metrics::render(&metrics::Snapshot {
                daemon: &daemon,
                peers: &peers,
                stats: &stats,
                kernel: &kernel,
                now,
            });
            Response { status: 200, content_type: "text/plain; version=0.0.4; charset=utf-8", body }
        }
        "/healthz" => match tokio::time::timeout(options.health_timeout, source.stats()).await {
            Ok(_) => Response::text(200, "ok\n"),
            Err(_) => Response::text(503, "the BGP engine does not answer\n"),
        },
        "/readyz" => {
            let peers = source.peers().await;
            let stats = source.stats().await;
            match readiness(&peers, &stats, source.daemon().started, options.ready_threshold, now) {
                Ok(()) => Response::text(200, "ready\n"),
                Err(e) => Response::text(503, format!("{e}\n")),
            }
        }
        "/peers" => {
            let peers: Vec<PeerJson> = source.peers().await.iter().map(|p| PeerJson::new(p, now)).collect();
            json(&peers)
        }
        "/routes" => match route_filter(query) {
            Ok(filter) => {
                let routes: Vec<RouteJson> = source.routes(filter).await.iter().map(RouteJson::new).collect();
                json(&routes)
            }
            Err(e) => Response::text(400, format!("{e}\n")),
        },
        _ => Response::text(404, "not found; try /metrics /healthz /readyz /peers /routes\n"),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_string_pretty(v) {
        Ok(mut s) => {
            s.push('\n');
            Response::json(s)
        }
        Err(e) => Response::text(500, format!("{e}\n")),
    }
}

/// `/routes?prefix=P&for=A&family=ipv4|ipv6&peer=NAME`.
pub fn route_filter(query: &str) -> Result<RouteFilter, String> {
    let mut f = RouteFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| format!("bad escape in {k}"))?;
        match k {
            "prefix" | "for" => {
                let net = v
                    .parse::<IpNet>()
                    .or_else(|_| v.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{k}: not a prefix or address: {v}"))?;
                f.prefix = Some(net);
                f.longest_match = k == "for";
            }
            "family" => {
                f.family = Some(match v.as_str() {
                    "ipv4" => Family::new(Afi::IPV4, Safi::UNICAST),
                    "ipv6" => Family::new(Afi::IPV6, Safi::UNICAST),
                    _ => return Err(format!("family: ipv4 or ipv6, not {v}")),
                })
            }
            "peer" => f.peer = Some(v),
            _ => return Err(format!("unknown parameter {k} (prefix, for, family, peer)")),
        }
    }
    Ok(f)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn route_query() {
        let f = route_filter("for=10.65.3.1&family=ipv4&peer=Mesh_10_99_0_3").unwrap();
        assert_eq!(f.prefix, Some("10.65.3.1/32".parse().unwrap()));
        assert!(f.longest_match);
        assert_eq!(f.family, Some(Family::new(Afi::IPV4, Safi::UNICAST)));
        assert_eq!(f.peer.as_deref(), Some("Mesh_10_99_0_3"));
        let f = route_filter("prefix=10.65.2.0%2F26").unwrap();
        assert_eq!(f.prefix, Some("10.65.2.0/26".parse().unwrap()));
        assert!(!f.longest_match);
        assert!(route_filter("prefix=nope").is_err());
        assert!(route_filter("colour=red").is_err());
        assert!(route_filter("prefix=%zz").is_err());
    }
}
