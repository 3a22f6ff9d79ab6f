//! The control plane: BIRD's control-socket protocol and the HTTP endpoints.
//!
//! Everything here renders from [`StatusSource`]: the daemon implements it,
//! tests use plain data ([`plain::PlainStatus`]).
//!
//! Control sockets ([`birdsock`], BIRD 1.6's protocol; `bird.ctl` answers
//! for IPv4 peers and routes, `bird6.ctl` for IPv6, as Calico's two BIRD
//! daemons do):
//! - `show protocols [all] [NAME]`, `show status` (with the `0024`
//!   graceful-restart block while selection is deferred), `show route [all]
//!   [for ADDR|PREFIX] [PREFIX] [protocol NAME] [count]`, `show memory`;
//! - `configure` (BIRD's) and `reload` (tern's): re-read the configuration;
//! - keywords may be abbreviated where BIRD's are unique (`show proto`).
//!
//! HTTP ([`http`]): `/metrics` (Prometheus text, [`metrics`]), `/healthz`,
//! `/readyz` (calico-node's `-bird-ready` rule), `/peers` and
//! `/routes?prefix=P&for=A&family=ipv4|ipv6&peer=NAME` as JSON ([`json`]).

pub mod bird_format;
pub mod birdsock;
pub mod http;
pub mod json;
pub mod metrics;
pub mod plain;

use std::sync::Arc;

use bgp_proto::Afi;
use tokio::sync::watch;
use tracing::error;

pub use birdsock::{serve_bird_socket, BirdSocket};
pub use http::{serve_http, HttpOptions, HttpServer};

use crate::status::StatusSource;

/// Starts the control sockets (`bird.ctl` for IPv4, `bird6.ctl` for IPv6)
/// and the HTTP endpoint as `state.control` configures them. They stop
/// when `stop` turns true.
pub fn spawn(state: &config::DesiredState, source: Arc<dyn StatusSource>, stop: watch::Receiver<bool>) {
    for (path, afi) in [(state.control.socket.clone(), Afi::IPV4), (state.control.socket6.clone(), Afi::IPV6)] {
        let source = source.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_bird_socket(&path, source, Some(afi), stop).await {
                error!(socket = %path.display(), "control socket: {e}");
            }
        });
    }
    let addr = state.control.http_listen;
    tokio::spawn(async move {
        if let Err(e) = serve_http(addr, source, stop).await {
            error!(listen = %addr, "HTTP endpoint: {e}");
        }
    });
}
