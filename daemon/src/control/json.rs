//! JSON views of peers and routes for `/peers` and `/routes`: local
//! serializable records, so that the engine's types stay free of serde.

use std::net::IpAddr;
use std::time::SystemTime;

use bgp_proto::attribute::Origin;
use serde::{Deserialize, Serialize};
use speaker::fsm::State;

use super::bird_format;
use crate::status::{PeerStatus, RouteInfo};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerJson {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub local_as: u32,
    pub remote_as: u32,
    /// `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`.
    pub state: String,
    /// When `state` was entered, seconds since the Unix epoch.
    pub since: u64,
    /// Seconds in Established (0 when not Established).
    pub uptime_seconds: u64,
    pub last_error: Option<String>,
    pub passive: bool,
    pub rr_client: bool,
    pub remote_id: Option<std::net::Ipv4Addr>,
    pub local_address: Option<IpAddr>,
    pub hold_time: Option<u64>,
    pub keepalive: Option<u64>,
    pub families: Vec<String>,
    pub capabilities: Vec<String>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub transitions: u64,
    pub prefixes: Vec<PrefixesJson>,
    pub stale_routes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixesJson {
    pub family: String,
    pub received: u64,
    pub accepted: u64,
    pub advertised: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteJson {
    pub family: String,
    pub prefix: String,
    pub path_id: Option<u32>,
    /// Peer name; `None` for a route this node originates.
    pub from: Option<String>,
    pub from_address: Option<IpAddr>,
    pub next_hop: Option<IpAddr>,
    /// `i`, `e` or `?`.
    pub origin: Option<String>,
    pub as_path: Vec<u32>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    /// `ASN:value`.
    pub communities: Vec<String>,
    /// `global:local1:local2`.
    pub large_communities: Vec<String>,
    pub originator_id: Option<std::net::Ipv4Addr>,
    pub cluster_list: Vec<std::net::Ipv4Addr>,
    pub best: bool,
    pub multipath: bool,
    pub stale: bool,
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

impl PeerJson {
    pub fn new(p: &PeerStatus, now: SystemTime) -> Self {
        let uptime = if p.state == State::Established {
            now.duration_since(p.since).map(|d| d.as_secs()).unwrap_or(0)
        } else {
            0
        };
        PeerJson {
            name: p.name.clone(),
            address: p.address,
            port: p.port,
            local_as: p.local_as,
            remote_as: p.remote_as,
            state: state_name(p.state).to_string(),
            since: epoch(p.since),
            uptime_seconds: uptime,
            last_error: p.last_error.clone(),
            passive: p.passive,
            rr_client: p.rr_client,
            remote_id: p.remote_id,
            local_address: p.local_address,
            hold_time: p.hold_time.map(|d| d.as_secs()),
            keepalive: p.keepalive.map(|d| d.as_secs()),
            families: p.families.iter().map(|f| f.to_string()).collect(),
            capabilities: p.peer_capabilities.clone(),
            messages_in: p.messages_in,
            messages_out: p.messages_out,
            updates_in: p.updates_in,
            updates_out: p.updates_out,
            transitions: p.transitions,
            prefixes: p
                .prefixes
                .iter()
                .map(|(f, c)| PrefixesJson {
                    family: f.to_string(),
                    received: c.received,
                    accepted: c.accepted,
                    advertised: c.advertised,
                })
                .collect(),
            stale_routes: p.stale_routes,
        }
    }
}

impl RouteJson {
    pub fn new(r: &RouteInfo) -> Self {
        let a = &r.attrs;
        RouteJson {
            family: r.family.to_string(),
            prefix: r.prefix.prefix.to_string(),
            path_id: r.prefix.path_id,
            from: r.from.clone(),
            from_address: r.from_address,
            next_hop: bird_format::next_hop(a),
            origin: a.origin.map(|o| {
                match o {
                    Origin::Igp => "i",
                    Origin::Egp => "e",
                    Origin::Incomplete => "?",
                }
                .to_string()
            }),
            as_path: a
                .as_path
                .as_ref()
                .map(|p| p.segments.iter().flat_map(|s| s.asns.iter().copied()).collect())
                .unwrap_or_default(),
            local_pref: a.local_pref,
            med: a.med,
            communities: a.communities.iter().flatten().map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect(),
            large_communities: a
                .large_communities
                .iter()
                .flatten()
                .map(|l| format!("{}:{}:{}", l.global_admin, l.local_data1, l.local_data2))
                .collect(),
            originator_id: a.originator_id,
            cluster_list: a.cluster_list.clone().unwrap_or_default(),
            best: r.best,
            multipath: r.multipath,
            stale: r.stale,
        }
    }
}
