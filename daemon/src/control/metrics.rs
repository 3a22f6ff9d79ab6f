//! `/metrics` in the Prometheus text exposition format (0.0.4).
//!
//! Rendered from one snapshot of [`StatusSource`](crate::status::StatusSource) per scrape rather than
//! kept in a registry: the engine already counts everything per peer, and
//! a snapshot cannot drift from what `show protocols` says.

use std::fmt::Write as _;
use std::time::SystemTime;

use speaker::fsm::State;

use crate::status::{DaemonStatus, EngineStats, KernelStats, PeerStatus};

/// Everything one scrape shows.
pub struct Snapshot<'a> {
    pub daemon: &'a DaemonStatus,
    pub peers: &'a [PeerStatus],
    pub stats: &'a EngineStats,
    pub kernel: &'a KernelStats,
    pub now: SystemTime,
}

/// The numeric value of a session state (RFC 4271 §8.2.2 order, 1 = Idle
/// … 6 = Established), as BGP exporters commonly publish it.
pub fn state_value(s: State) -> u8 {
    match s {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

/// Escapes a label value (`\`, `"`, newline).
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// One sample per peer.
    fn per_peer(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        peers: &[PeerStatus],
        value: impl Fn(&PeerStatus) -> u64,
    ) {
        self.family(name, kind, help);
        for p in peers {
            let address = p.address.to_string();
            self.sample(name, &[("peer", &p.name), ("address", &address)], value(p));
        }
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The `/metrics` body.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut o = Out(String::new());
    let peers = s.peers;

    o.family("tern_build_info", "gauge", "Version of the running tern-speaker.");
    o.sample("tern_build_info", &[("version", &s.daemon.version), ("node", &s.daemon.node_name)], 1);
    o.family("tern_start_time_seconds", "gauge", "When the daemon started, seconds since the Unix epoch.");
    o.sample("tern_start_time_seconds", &[], secs(s.daemon.started));
    o.family(
        "tern_last_reconfiguration_time_seconds",
        "gauge",
        "When the configuration was last applied, seconds since the Unix epoch.",
    );
    o.sample("tern_last_reconfiguration_time_seconds", &[], secs(s.daemon.last_reconfiguration));

    o.per_peer(
        "tern_bgp_peer_state",
        "gauge",
        "BGP session state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established.",
        peers,
        |p| u64::from(state_value(p.state)),
    );
    o.per_peer("tern_bgp_peer_up", "gauge", "1 when the session is Established.", peers, |p| {
        u64::from(p.state == State::Established)
    });
    o.per_peer(
        "tern_bgp_peer_uptime_seconds",
        "gauge",
        "Seconds since the session became Established (0 when it is not).",
        peers,
        |p| {
            if p.state == State::Established {
                s.now.duration_since(p.since).map(|d| d.as_secs()).unwrap_or(0)
            } else {
                0
            }
        },
    );
    o.per_peer("tern_bgp_peer_messages_received_total", "counter", "BGP messages received.", peers, |p| p.messages_in);
    o.per_peer("tern_bgp_peer_messages_sent_total", "counter", "BGP messages sent.", peers, |p| p.messages_out);
    o.per_peer("tern_bgp_peer_updates_received_total", "counter", "UPDATE messages received.", peers, |p| p.updates_in);
    o.per_peer("tern_bgp_peer_updates_sent_total", "counter", "UPDATE messages sent.", peers, |p| p.updates_out);
    o.per_peer(
        "tern_bgp_peer_fsm_transitions_total",
        "counter",
        "Session state changes since the peer was configured.",
        peers,
        |p| p.transitions,
    );
    o.per_peer(
        "tern_bgp_peer_stale_routes",
        "gauge",
        "Routes kept stale for the peer's graceful restart.",
        peers,
        |p| p.stale_routes,
    );

    for (name, help, pick) in [
        (
            "tern_bgp_peer_prefixes_received",
            "Prefixes in the peer's Adj-RIB-In.",
            (|c: &speaker::engine::PrefixCounts| c.received) as fn(&speaker::engine::PrefixCounts) -> u64,
        ),
        ("tern_bgp_peer_prefixes_accepted", "Prefixes accepted by the import policy.", |c| c.accepted),
        ("tern_bgp_peer_prefixes_advertised", "Prefixes advertised to the peer.", |c| c.advertised),
    ] {
        o.family(name, "gauge", help);
        for p in peers {
            let address = p.address.to_string();
            for (family, counts) in &p.prefixes {
                let family = family.to_string();
                o.sample(name, &[("peer", &p.name), ("address", &address), ("family", &family)], pick(counts));
            }
        }
    }

    o.family(
        "tern_bgp_peer_route_changes_total",
        "counter",
        "Route changes by direction, kind and outcome (BIRD's Route change stats).",
    );
    for p in peers {
        let address = p.address.to_string();
        for (direction, op, c) in [
            ("import", "update", &p.import_updates),
            ("import", "withdraw", &p.import_withdraws),
            ("export", "update", &p.export_updates),
            ("export", "withdraw", &p.export_withdraws),
        ] {
            for (result, v) in [
                ("received", c.received),
                ("rejected", c.rejected),
                ("filtered", c.filtered),
                ("ignored", c.ignored),
                ("accepted", c.accepted),
            ] {
                let labels = [
                    ("peer", p.name.as_str()),
                    ("address", &address),
                    ("direction", direction),
                    ("op", op),
                    ("result", result),
                ];
                o.sample("tern_bgp_peer_route_changes_total", &labels, v);
            }
        }
    }

    o.family("tern_bgp_peer_last_error_info", "gauge", "The last error of a session that is not Established.");
    for p in peers {
        if let (Some(e), false) = (&p.last_error, p.state == State::Established) {
            let address = p.address.to_string();
            o.sample("tern_bgp_peer_last_error_info", &[("peer", &p.name), ("address", &address), ("error", e)], 1);
        }
    }

    o.family("tern_rib_destinations", "gauge", "Prefixes in the Loc-RIB.");
    o.sample("tern_rib_destinations", &[], s.stats.destinations);
    o.family("tern_rib_attribute_sets", "gauge", "Distinct path attribute sets interned.");
    o.sample("tern_rib_attribute_sets", &[], s.stats.attribute_sets);
    o.family("tern_rib_update_groups", "gauge", "Update groups (peers sharing one Adj-RIB-Out).");
    o.sample("tern_rib_update_groups", &[], s.stats.update_groups);
    o.family(
        "tern_rib_selection_deferred",
        "gauge",
        "1 while best-path selection waits for End-of-RIB after our restart (graceful-restart recovery).",
    );
    o.sample("tern_rib_selection_deferred", &[], u64::from(s.stats.deferring));

    o.family("tern_kernel_routes_installed", "gauge", "Routes tern has programmed into the kernel.");
    o.sample("tern_kernel_routes_installed", &[], s.kernel.routes_installed);
    o.family(
        "tern_kernel_routes_learned",
        "gauge",
        "Kernel routes learned for export (Felix's blocks, static routes).",
    );
    o.sample("tern_kernel_routes_learned", &[], s.kernel.routes_learned);

    o.family("tern_errors_total", "counter", "Errors by kind.");
    let sum = |f: fn(&PeerStatus) -> u64| peers.iter().map(f).sum::<u64>();
    o.sample("tern_errors_total", &[("kind", "kernel_install")], s.kernel.install_failures);
    o.sample("tern_errors_total", &[("kind", "import_rejected")], sum(|p| p.import_updates.rejected));
    o.sample("tern_errors_total", &[("kind", "export_rejected")], sum(|p| p.export_updates.rejected));
    let sessions_down = peers.iter().filter(|p| p.state != State::Established && p.last_error.is_some()).count();
    o.family("tern_bgp_sessions_failing", "gauge", "Sessions that are not Established and have an error.");
    o.sample("tern_bgp_sessions_failing", &[], sessions_down);
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
