//! tern's BIRD replies for the situation of the BIRD 1.6.8 transcripts in
//! `data/bird-socket/` against what BIRD itself answered: codes, columns
//! and spacing byte for byte. Only what tern cannot know is normalised:
//! the interface name of a next hop (`on eth0`) and the remaining seconds
//! of the hold/keepalive timers.

#![allow(clippy::unwrap_used)]

mod control_fixture;

use std::time::Duration;

use control_fixture::*;
use speaker::fsm::State;
use tern_speaker::control::bird_format as fmt;
use tern_speaker::control::bird_format::RouteOrigin;
use tern_speaker::status::{EngineStats, RouteInfo};

/// The transcript's BGP rows (kernel/device/direct are BIRD's own
/// protocols), each without its line prefix.
fn bgp_rows(reply: &str) -> Vec<String> {
    reply
        .lines()
        .filter(|l| l.contains(" BGP "))
        .map(|l| l.strip_prefix("1002-").or_else(|| l.strip_prefix(' ')).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn greeting_is_birds() {
    assert_eq!(fmt::greeting(&daemon(now())), section(MESH, "greeting"));
}

#[test]
fn show_protocols_rows_match_bird() {
    let bird = section(MESH, "show protocols");
    let ours = fmt::show_protocols(&node1_peers(), now());
    let bird_lines: Vec<&str> = bird.lines().collect();
    let our_lines: Vec<&str> = ours.lines().collect();
    assert_eq!(our_lines[0], bird_lines[0], "header");
    assert_eq!(our_lines.last(), bird_lines.last(), "end");
    assert_eq!(bgp_rows(&ours), bgp_rows(&bird));
    assert_eq!(bgp_rows(&ours).len(), 3);
    // The first row carries the code, the others continue it.
    assert!(our_lines[1].starts_with("1002-Mesh_10_99_0_2 BGP"));
    assert!(our_lines[2].starts_with(" Mesh_10_99_0_3 BGP"));
}

/// `Hold timer:       177/240` → `Hold timer:       N/240`.
fn normalise_timers(reply: &str) -> String {
    reply
        .lines()
        .map(|l| {
            if l.contains("Hold timer:") || l.contains("Keepalive timer:") {
                let (head, tail) = l.rsplit_once(' ').unwrap_or((l, ""));
                let total = tail.split('/').nth(1).unwrap_or("");
                format!("{head} N/{total}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn show_protocols_all_established_matches_bird() {
    let peers = node1_peers();
    let bird = section(MESH, "show protocols all Mesh_10_99_0_2");
    let ours = fmt::show_protocol_all(&peers[0], 1, now());
    assert_eq!(normalise_timers(&ours), normalise_timers(&bird));
    assert!(ours.contains("     Hold timer:       240/240\n"), "{ours}");
}

#[test]
fn show_protocols_all_connecting_matches_bird() {
    let peers = node1_peers();
    let bird = section(MESH, "show protocols all Mesh_10_99_0_4");
    assert_eq!(fmt::show_protocol_all(&peers[2], 0, now()), bird);
}

#[test]
fn show_status_matches_bird() {
    let s = node1();
    let ours = fmt::show_status(&s.daemon, &EngineStats::default(), &s.peers, Duration::from_secs(240), now());
    assert_eq!(ours, section(MESH, "show status"));
}

#[test]
fn show_status_during_graceful_restart_recovery_matches_bird() {
    let sections = transcript(GR);
    let statuses: Vec<&String> = sections.iter().filter(|(c, _)| c == "show status").map(|(_, r)| r).collect();
    assert_eq!(statuses.len(), 2);
    let deferring = EngineStats { deferring: true, ..EngineStats::default() };
    let gr = Duration::from_secs(240);

    // 0.7 s after start: all three peers still Active.
    let started = at(11);
    let peers: Vec<_> = ["2", "3", "4"]
        .iter()
        .map(|n| peer(&format!("Mesh_10_99_0_{n}"), &format!("10.99.0.{n}"), State::Active, started))
        .collect();
    let ours = fmt::show_status(&daemon(started), &deferring, &peers, gr, at(12));
    assert_eq!(&ours, statuses[0]);

    // 13 s later only the unreachable 10.99.0.4 holds recovery back.
    let started = at(12);
    let mut peers = peers;
    peers[0].state = State::Established;
    peers[1].state = State::Established;
    let ours = fmt::show_status(&daemon(started), &deferring, &peers, gr, at(25));
    assert_eq!(&ours, statuses[1]);
}

#[test]
fn show_protocols_during_recovery_matches_bird() {
    let started = at(11);
    let peers: Vec<_> = ["2", "3", "4"]
        .iter()
        .map(|n| peer(&format!("Mesh_10_99_0_{n}"), &format!("10.99.0.{n}"), State::Active, started))
        .collect();
    let bird = section(GR, "show protocols");
    assert_eq!(bgp_rows(&fmt::show_protocols(&peers, at(12))), bgp_rows(&bird));
}

fn origins(routes: &[RouteInfo]) -> Vec<RouteOrigin<'_>> {
    let peers = node1_peers();
    routes
        .iter()
        .map(|r| {
            let name = r.from.as_deref().unwrap_or("static1");
            let since = peers.iter().find(|p| p.name == name).map(|p| p.since).unwrap_or(at(-12));
            RouteOrigin { protocol: name, since }
        })
        .collect()
}

fn without_interface(reply: &str) -> String {
    reply.replace(" on eth0", "")
}

#[test]
fn show_route_lines_match_bird() {
    let routes = node1_routes();
    let ours = fmt::show_route(&routes, &origins(&routes), false, now());
    let bird = without_interface(&section(MESH, "show route"));
    let bird_bgp: Vec<&str> = bird.lines().filter(|l| l.contains("[Mesh_")).collect();
    let our_lines: Vec<&str> = ours.lines().collect();
    assert_eq!(our_lines[..2], bird_bgp[..]);
    assert_eq!(our_lines[2], "0000 ");
}

#[test]
fn show_route_all_for_prefix_matches_bird() {
    let routes = node1_routes()[..1].to_vec();
    let ours = fmt::show_route(&routes, &origins(&routes), true, now());
    assert_eq!(ours, without_interface(&section(MESH, "show route all for 10.65.2.0/26")));
}

#[test]
fn show_route_for_address_matches_bird() {
    let filter = tern_speaker::status::RouteFilter {
        prefix: Some("10.65.3.1/32".parse().unwrap()),
        longest_match: true,
        ..Default::default()
    };
    let routes = tern_speaker::control::plain::filter_routes(&node1_routes(), &filter);
    let ours = fmt::show_route(&routes, &origins(&routes), false, now());
    assert_eq!(ours, without_interface(&section(MESH, "show route for 10.65.3.1")));
}

#[test]
fn show_memory_has_birds_layout() {
    let ours = fmt::show_memory(2, &EngineStats { destinations: 2, attribute_sets: 2, ..EngineStats::default() }, 3);
    let bird = section(MESH, "show memory");
    // Numbers differ; labels, the number column and the unit column do not.
    assert_eq!(ours.lines().count(), bird.lines().count());
    for (o, b) in ours.lines().zip(bird.lines()) {
        assert_eq!(o.len(), b.len(), "{o:?} vs {b:?}");
        assert_eq!(o.split(':').next(), b.split(':').next());
        assert_eq!(o.ends_with('B'), b.ends_with('B'));
    }
}

#[test]
fn unknown_command_is_birds_syntax_error() {
    assert_eq!(fmt::syntax_error(), section(MESH, "bogus command"));
}

/// 2026-11-27 06:03:12 UTC, the start of the peer-states capture.
fn states_start() -> std::time::SystemTime {
    at(41_763)
}

/// The two peers of `bird-1.6.8-peer-states.txt` (BIRD's default filters,
/// no description).
fn state_peers(since: std::time::SystemTime) -> Vec<tern_speaker::status::PeerStatus> {
    let mut active = peer("Mesh_127_88_0_2", "127.88.0.2", State::Active, since);
    active.last_error = Some("Socket: Connection refused".to_string());
    active.export_name = "REJECT".to_string();
    let mut passive = peer("Mesh_127_88_0_3", "127.88.0.3", State::Active, since);
    passive.passive = true;
    passive.export_name = "REJECT".to_string();
    vec![active, passive]
}

#[test]
fn active_and_passive_rows_match_bird() {
    let bird = section(STATES, "show protocols");
    let ours = fmt::show_protocols(&state_peers(states_start()), states_start() + Duration::from_secs(6));
    assert_eq!(bgp_rows(&ours), bgp_rows(&bird)[..2]);
}

/// BIRD's block without what tern does not show: the `Description:` line
/// when none is configured, and the `Connect delay:` timer.
fn without_untracked_lines(reply: &str) -> String {
    reply
        .lines()
        .filter(|l| !l.contains("Description:") && !l.contains("Connect delay:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn active_and_passive_details_match_bird() {
    let since = states_start() + Duration::from_secs(1);
    let peers = state_peers(since);
    for (p, name) in peers.iter().zip(["Mesh_127_88_0_2", "Mesh_127_88_0_3"]) {
        let bird = section(STATES, &format!("show protocols all {name}"));
        let ours = fmt::show_protocol_all(p, 0, since + Duration::from_secs(5));
        // BIRD's first details line carries the 1006 code; without the
        // description that is the Preference line.
        let ours = without_untracked_lines(&ours).replacen("\n   Preference:", "\n1006-  Preference:", 1);
        assert_eq!(ours, without_untracked_lines(&bird), "{name}");
    }
}

#[test]
fn refusals_match_bird() {
    use tern_speaker::control::birdsock::{parse, ParseError};
    assert_eq!(parse("show stat"), Err(ParseError::Syntax));
    assert_eq!(fmt::syntax_error(), section(STATES, "show stat"));
    assert_eq!(fmt::not_in_table(), section(STATES, "show route for 10.65.9.1"));
    assert_eq!(fmt::not_in_table(), section(STATES, "show route 10.65.9.0/26"));
    assert_eq!(fmt::no_such_protocol("Nope"), section(STATES, "show protocols all Nope"));
}
