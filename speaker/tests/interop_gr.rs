//! Graceful restart (RFC 4724), tern as receiving speaker: a GR-capable
//! daemon is killed with SIGKILL (no NOTIFICATION, the kernel just closes
//! its sockets); tern keeps its routes, marked stale, until the daemon
//! comes back (then they are fresh again) or its restart time passes
//! (then they are gone).

mod interop;

use std::time::Duration;

use interop::scenario::{pair, prefixes, spec_for, tern_set, wait_tern_has, Kind, DAEMON_AS};
use interop::{holds_for, scenario, wait_for, wait_for_in};
use speaker::engine::RouteInfo;
use speaker::rib::SelectionDeferral;
use speaker::GracefulRestartConfig;

/// The daemon's restart time when it comes back (long enough never to
/// expire during the test).
const RESTART_TIME: u16 = 60;
/// The daemon's restart time when it stays away.
const SHORT_RESTART_TIME: u16 = 6;

fn all_stale(routes: &[RouteInfo]) -> bool {
    routes.iter().all(|r| r.stale)
}

fn none_stale(routes: &[RouteInfo]) -> bool {
    routes.iter().all(|r| !r.stale)
}

/// Kill the daemon; tern keeps its routes as stale; when `comes_back`,
/// restart it and see them fresh again, else see them go after the
/// restart time.
fn killed_peer(kind: Kind, n: u8, comes_back: bool) {
    let restart_time = if comes_back { RESTART_TIME } else { SHORT_RESTART_TIME };
    let (tern, mut d, name) = pair(kind, n, false, |o| o.graceful_restart = Some(restart_time));
    // pair() added the peer without GR: re-add it with the capability.
    let mut spec = spec_for(&tern, kind, 2, DAEMON_AS, false);
    spec.fsm.graceful_restart = Some(GracefulRestartConfig { restart_time: 120, ..GracefulRestartConfig::default() });
    tern.reset_peer(spec);
    d.wait_established(false);
    tern.wait_established(&name);
    let theirs = prefixes(tern.net, 2, false);
    let fresh = wait_tern_has(&tern, &name, &theirs);
    assert!(none_stale(&fresh), "{fresh:#?}");
    let caps = tern.peer(&name).peer_capabilities;
    assert!(caps.iter().any(|c| c.contains("restart")), "{} announced graceful restart: {caps:?}", d.label());

    d.kill();
    let stale = wait_for("tern to mark the killed peer's routes stale", || {
        let routes = tern.routes_from(&name);
        if tern_set(&routes) == scenario::set(&theirs) && all_stale(&routes) {
            Ok(routes)
        } else {
            Err(format!("{routes:#?}"))
        }
    });
    assert!(stale.iter().all(|r| r.best), "stale routes stay in use: {stale:#?}");
    assert_eq!(tern.peer(&name).stale_routes, theirs.len() as u64);

    // Still there while the daemon is away (inside its restart time).
    holds_for("the stale routes to stay", Duration::from_secs(2), || {
        let routes = tern.routes_from(&name);
        if tern_set(&routes) == scenario::set(&theirs) && all_stale(&routes) {
            Ok(())
        } else {
            Err(routes)
        }
    });
    if comes_back {
        d.restart();
        d.wait_established(false);
        tern.wait_established(&name);
        wait_for("tern to hold the returned peer's routes, fresh", || {
            let routes = tern.routes_from(&name);
            if tern_set(&routes) == scenario::set(&theirs) && none_stale(&routes) {
                Ok(())
            } else {
                Err(format!("{routes:#?}"))
            }
        });
        assert_eq!(tern.peer(&name).stale_routes, 0);
    } else {
        wait_for_in(
            "tern to drop the stale routes after the restart time",
            Duration::from_secs(u64::from(SHORT_RESTART_TIME) + 30),
            || {
                let routes = tern.routes_from(&name);
                if routes.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{routes:#?}"))
                }
            },
        );
    }
}

#[test]
fn interop_bird2_gr_killed_peer_routes_stale_until_it_returns() {
    killed_peer(Kind::Bird2, 80, true);
}

#[test]
fn interop_bird2_gr_killed_peer_routes_removed_after_restart_time() {
    killed_peer(Kind::Bird2, 81, false);
}

#[test]
fn interop_bird1_gr_killed_peer_routes_stale_until_it_returns() {
    killed_peer(Kind::Bird1, 82, true);
}

#[test]
fn interop_gobgp_gr_killed_peer_routes_stale_until_it_returns() {
    killed_peer(Kind::Gobgp, 83, true);
}

#[test]
fn interop_gobgp_gr_killed_peer_routes_removed_after_restart_time() {
    killed_peer(Kind::Gobgp, 84, false);
}

#[test]
fn interop_frr_gr_killed_peer_routes_stale_until_it_returns() {
    killed_peer(Kind::Frr, 85, true);
}

#[test]
fn interop_frr_gr_killed_peer_routes_removed_after_restart_time() {
    killed_peer(Kind::Frr, 86, false);
}

/// tern as the restarting speaker (RFC 4724 §4.1): tern crashes (no
/// NOTIFICATION); the daemon keeps tern's routes; a new tern comes up with
/// the Restart State bit and announces only one of its two prefixes
/// before End-of-RIB (with `deferral`, only after the daemon's own
/// End-of-RIB); the daemon then has exactly that one.
fn tern_restarts(kind: Kind, n: u8, deferral: bool) {
    use interop::peers::Opts;
    use interop::scenario::{expected_next_hop, start_daemon, tern_next_hop, tern_prefixes, wait_daemon_has};
    use interop::tern::Tern;
    use interop::Net;

    let net = Net::new(n);
    let ours = tern_prefixes(net, false);
    let next_hop = kind.keeps_next_hop().then(|| tern_next_hop(net, false));
    let gr = |restarting| GracefulRestartConfig { restart_time: 60, restarting, ..GracefulRestartConfig::default() };
    let opts = Opts {
        asn: DAEMON_AS,
        ipv4: true,
        v4_prefixes: prefixes(net, 2, false),
        graceful_restart: Some(RESTART_TIME),
        ..Opts::default()
    };
    let d = start_daemon(kind, net, 2, &opts);

    let tern = Tern::start(net);
    for p in &ours {
        tern.originate(p, next_hop);
    }
    let mut spec = spec_for(&tern, kind, 2, DAEMON_AS, false);
    spec.fsm.graceful_restart = Some(gr(false));
    tern.add_peer(spec);
    let seen = wait_daemon_has(d.as_ref(), false, &ours);
    assert!(seen.iter().all(|r| r.next_hop.parse().ok() == Some(expected_next_hop(kind, net, false))), "{seen:?}");

    tern.crash();
    holds_for(&format!("{} to keep tern's routes while tern is away", d.label()), Duration::from_secs(3), || {
        let got = scenario::seen_set(&d.learned(false));
        if got == scenario::set(&ours) {
            Ok(())
        } else {
            Err(got)
        }
    });

    // With `deferral`, back with selection deferred until the daemon's
    // End-of-RIB (§4.1): nothing goes out before it, so the daemon's EoR
    // must be recognised.
    let tern = Tern::start_with(net, |rib| {
        if deferral {
            rib.selection_deferral = Some(SelectionDeferral { time: Duration::from_secs(120), gr_peers: 1 })
        }
    });
    tern.originate(&ours[1], next_hop);
    let mut spec = spec_for(&tern, kind, 2, DAEMON_AS, false);
    spec.fsm.graceful_restart = Some(gr(true));
    tern.add_peer(spec);
    d.wait_established(false);
    wait_daemon_has(d.as_ref(), false, &ours[1..]);
    wait_tern_has(&tern, &scenario::peer_name(2, false), &prefixes(net, 2, false));
    assert!(!tern.stats().deferring, "selection deferral ended at the daemon's End-of-RIB");
}

#[test]
fn interop_bird2_gr_tern_restarts() {
    tern_restarts(Kind::Bird2, 87, false);
}

#[test]
fn interop_bird1_gr_tern_restarts() {
    tern_restarts(Kind::Bird1, 88, false);
}

#[test]
fn interop_gobgp_gr_tern_restarts() {
    tern_restarts(Kind::Gobgp, 89, false);
}

#[test]
fn interop_frr_gr_tern_restarts() {
    tern_restarts(Kind::Frr, 95, false);
}

// A route originated while selection is deferred must go out when the
// deferral ends (it once went only into the Adj-RIB-Out: RIB fix with
// `rib_gr::route_originated_while_deferring_is_sent_when_the_deferral_ends`).
#[test]
fn interop_bird2_gr_tern_restarts_with_selection_deferral() {
    tern_restarts(Kind::Bird2, 96, true);
}

#[test]
fn interop_gobgp_gr_tern_restarts_with_selection_deferral() {
    tern_restarts(Kind::Gobgp, 97, true);
}
