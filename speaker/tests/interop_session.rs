//! Session-level interop: shutdown communication, GTSM, 4-octet AS numbers
//! with Calico's BIRD 1.6, and the maximum-prefix Cease.

mod interop;

use std::time::Duration;

use interop::peers::{BirdPeer, Daemon, Opts};
use interop::scenario::{
    prefixes, routes_both_ways, spec_for, tern_prefixes, wait_daemon_has, wait_tern_has, Kind, DAEMON_AS,
};
use interop::tern::Tern;
use interop::{holds_for, wait_for, Net};
use speaker::engine::{Event, TtlMode};
use speaker::rib::MaxPrefixes;

/// tern with its IPv4 prefixes and BIRD 2 as daemon 2 with its own, peered.
fn bird2_pair(
    n: u8,
    tweak: impl FnOnce(&mut Opts),
    tweak_spec: impl FnOnce(&mut speaker::engine::PeerSpec),
) -> (Tern, BirdPeer, String) {
    let net = Net::new(n);
    let tern = Tern::start(net);
    for p in tern_prefixes(net, false) {
        tern.originate(&p, None);
    }
    let mut opts = Opts { asn: DAEMON_AS, ipv4: true, v4_prefixes: prefixes(net, 2, false), ..Opts::default() };
    tweak(&mut opts);
    let bird = BirdPeer::bird2(net, 2, &opts);
    let mut spec = spec_for(&tern, Kind::Bird2, 2, DAEMON_AS, false);
    tweak_spec(&mut spec);
    let name = spec.name.clone();
    tern.add_peer(spec);
    (tern, bird, name)
}

/// BIRD's `show protocols all` text for tern's IPv4 session.
fn bird_status(bird: &BirdPeer) -> String {
    bird.birds[0].cmd("show protocols all tern4").unwrap_or_default()
}

/// tern removes the peer with Cease/Administrative Shutdown and a shutdown
/// communication (RFC 8203): BIRD 2 shows the message as the reason and
/// drops tern's routes.
#[test]
fn interop_bird2_admin_shutdown_communication() {
    let (tern, bird, name) = bird2_pair(90, |_| {}, |_| {});
    let net = tern.net;
    wait_daemon_has(&bird, false, &tern_prefixes(net, false));
    tern.remove_peer(&name, 2, Some("tern maintenance window"));
    wait_for("BIRD to show the shutdown communication", || {
        let s = bird_status(&bird);
        if s.contains("Administrative shutdown") && s.contains("tern maintenance window") {
            Ok(())
        } else {
            Err(s)
        }
    });
    wait_daemon_has(&bird, false, &[]);
}

/// GTSM (RFC 5082) with BIRD 2's `ttl security`: both sending with TTL
/// 255 and checking it, the session comes up and routes flow.
#[test]
fn interop_bird2_gtsm_session_comes_up() {
    let (tern, bird, name) = bird2_pair(
        91,
        |o| o.bird_session = "ttl security yes;".to_string(),
        |spec| spec.ttl = TtlMode::Security { hops: 1 },
    );
    bird.wait_established(false);
    tern.wait_established(&name);
    wait_tern_has(&tern, &name, &prefixes(tern.net, 2, false));
}

/// tern with GTSM (minimum TTL 255), BIRD 2 without (an eBGP multihop
/// session: BIRD sends TTL 64): tern drops BIRD's packets, BIRD never gets
/// to Established and tern learns nothing.
#[test]
fn interop_bird2_gtsm_drops_peer_without_it() {
    let (tern, bird, name) = bird2_pair(94, |_| {}, |spec| spec.ttl = TtlMode::Security { hops: 1 });
    holds_for("BIRD to stay out of Established", Duration::from_secs(8), || {
        let routes = tern.routes_from(&name);
        if !bird.session_up(false) && routes.is_empty() {
            Ok(())
        } else {
            Err(format!("tern: {routes:#?}\nBIRD: {}", bird_status(&bird)))
        }
    });
}

/// 4-octet AS numbers (RFC 6793) on both sides with Calico's BIRD 1.6:
/// routes flow with the full AS numbers in both tables.
#[test]
fn interop_bird1_four_octet_as() {
    const TERN: u32 = 4_200_000_001;
    const BIRD: u32 = 4_200_000_002;
    let net = Net::new(92);
    let tern = Tern::start_with(net, |rib| rib.local_as = TERN);
    for p in tern_prefixes(net, false) {
        tern.originate(&p, None);
    }
    let opts =
        Opts { asn: BIRD, tern_as: Some(TERN), ipv4: true, v4_prefixes: prefixes(net, 2, false), ..Opts::default() };
    let bird = BirdPeer::bird1(net, 2, &opts);
    tern.add_peer(spec_for(&tern, Kind::Bird1, 2, BIRD, false));
    routes_both_ways(Kind::Bird1, &tern, &bird, 2, BIRD, false);
}

/// tern's prefix limit of 1 with close: BIRD 2 sends 2 and is told why
/// (Cease/Maximum Number of Prefixes Reached, RFC 4486).
#[test]
fn interop_bird2_max_prefixes_cease() {
    let (mut tern, bird, name) = bird2_pair(93, |_| {}, |_| {});
    bird.wait_established(false);
    let mut spec = spec_for(&tern, Kind::Bird2, 2, DAEMON_AS, false);
    spec.max_prefixes = Some(MaxPrefixes { limit: 1, close: true });
    tern.reset_peer(spec);
    wait_for("BIRD to show the maximum-prefix Cease", || {
        let s = bird_status(&bird);
        if s.contains("Maximum number of prefixes reached") {
            Ok(())
        } else {
            Err(s)
        }
    });
    // tern says why too, in the peer-state event of the session it closed.
    let mut reasons = Vec::new();
    wait_for("tern's peer-state event naming the prefix limit", || {
        while let Ok(e) = tern.events.try_recv() {
            if let Event::PeerState { name: n, reason: Some(r), .. } = e {
                if n == name {
                    reasons.push(r);
                }
            }
        }
        if reasons.iter().any(|r| r.to_lowercase().contains("prefix")) {
            Ok(())
        } else {
            Err(reasons.clone())
        }
    });
}
