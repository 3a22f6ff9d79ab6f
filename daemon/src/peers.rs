//! A configured peer ([`DesiredPeer`]) as the engine runs it ([`PeerSpec`]).

use std::sync::Arc;
use std::time::Duration;

use bgp_proto::capability::AddPathMode as WireAddPath;
use config::schema::{AddPathMode, NextHopMode as CfgNextHop};
use config::{DesiredPeer, DesiredState, Password};
use speaker::engine::{PeerSpec, TtlMode};
use speaker::rib::{AddPathSend, MaxPrefixes, NextHopMode, Policy};
use speaker::{GracefulRestartConfig, PeerConfig, Timers};

/// Why a peer could not be turned into a session.
#[derive(Debug, thiserror::Error)]
pub enum PeerSpecError {
    #[error("peer {peer}: cannot read password file {path}: {source}")]
    PasswordFile {
        peer: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The import and export filters a peer is built with.
#[derive(Clone)]
pub struct Policies {
    pub import: Option<Arc<dyn Policy>>,
    pub export: Option<Arc<dyn Policy>>,
}

/// Builds the engine's view of `peer`. A password file is read now, so a
/// changed key takes effect when the session is (re)started.
pub fn peer_spec(
    state: &DesiredState,
    peer: &DesiredPeer,
    policies: Policies,
    restarting: bool,
) -> Result<PeerSpec, PeerSpecError> {
    let mut fsm = PeerConfig::new(peer.local_asn, state.router_id, peer.remote_asn);
    fsm.hold_time = peer.hold_time;
    fsm.keepalive = Some(peer.keepalive_time);
    fsm.families = peer.families.clone();
    fsm.passive = peer.passive;
    fsm.enhanced_route_refresh = true;
    let wire_add_path = match peer.add_path {
        AddPathMode::Off => None,
        AddPathMode::Receive => Some(WireAddPath::Receive),
        AddPathMode::Send => Some(WireAddPath::Send),
        AddPathMode::On => Some(WireAddPath::Both),
    };
    if let Some(mode) = wire_add_path {
        fsm.add_path = peer.families.iter().map(|f| (*f, mode)).collect();
    }
    if peer.graceful_restart_time > 0 {
        fsm.graceful_restart = Some(GracefulRestartConfig {
            restart_time: peer.graceful_restart_time,
            restarting,
            notification: true,
            forwarding_preserved: if restarting { peer.families.clone() } else { Vec::new() },
        });
    }
    fsm.timers = Timers {
        connect_delay: Duration::from_secs(peer.connect_delay_time.into()),
        connect_retry: Duration::from_secs(peer.connect_retry_time.into()),
        idle_hold: Duration::from_secs(peer.error_wait_time.0.into()),
        idle_hold_max: Duration::from_secs(peer.error_wait_time.1.into()),
        ..Timers::default()
    };
    let password = match &peer.password {
        None => None,
        Some(Password::Inline(s)) => Some(s.clone()),
        Some(Password::File(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| PeerSpecError::PasswordFile {
                    peer: peer.name.clone(),
                    path: path.display().to_string(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
    };
    let ttl = match peer.ttl {
        config::TtlMode::Security { hops } => TtlMode::Security { hops },
        config::TtlMode::Multihop { ttl } => TtlMode::Multihop(ttl),
    };
    let next_hop = match peer.next_hop_mode {
        CfgNextHop::Auto => NextHopMode::Auto,
        CfgNextHop::SelfAddress => NextHopMode::SelfAddress,
        CfgNextHop::Keep => NextHopMode::Keep,
    };
    Ok(PeerSpec {
        name: peer.name.clone(),
        address: peer.address,
        port: peer.port,
        local_address: peer.local_address,
        fsm,
        password,
        ttl,
        rr_client: peer.rr_client,
        next_hop,
        import: policies.import,
        export: policies.export,
        max_prefixes: peer.max_prefixes.map(|limit| MaxPrefixes { limit: limit as usize, close: true }),
        add_path_send: AddPathSend::Multipath,
        allow_own_as: peer.allow_own_as,
        import_name: peer.import_policy.clone(),
        export_name: peer.export_policy.clone(),
    })
}
