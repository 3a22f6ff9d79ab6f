//! TCP MD5 signatures (RFC 2385) with BIRD 2 (right and wrong key), BIRD 1.6, GoBGP and FRR.

mod interop;

use std::time::Duration;

use interop::scenario::{pair, prefixes, spec_for, wait_tern_has, Kind, DAEMON_AS};
use interop::{holds_for, Net};
use speaker::State;

/// Both sides with the same key: the session comes up and routes flow.
fn md5_session_comes_up(kind: Kind, n: u8) {
    let (tern, d, name) = pair(kind, n, false, |o| o.password = Some("tern-md5-key".to_string()));
    d.wait_established(false);
    tern.wait_established(&name);
    wait_tern_has(&tern, &name, &prefixes(tern.net, 2, false));
}

#[test]
fn interop_bird2_md5_session_comes_up() {
    md5_session_comes_up(Kind::Bird2, 60);
}

#[test]
fn interop_bird1_md5_session_comes_up() {
    md5_session_comes_up(Kind::Bird1, 62);
}

#[test]
fn interop_gobgp_md5_session_comes_up() {
    md5_session_comes_up(Kind::Gobgp, 63);
}

#[test]
fn interop_frr_md5_session_comes_up() {
    md5_session_comes_up(Kind::Frr, 64);
}

/// tern with a different key than BIRD: the SYNs carry the wrong digest,
/// the session stays down on both sides; reconfigured with BIRD's key, it
/// comes up.
#[test]
fn interop_bird2_md5_wrong_key_keeps_session_down() {
    let (tern, bird, name) = pair(Kind::Bird2, 61, false, |o| o.password = Some("tern-md5-key".to_string()));
    bird.wait_established(false);
    tern.wait_established(&name);
    let mut spec = spec_for(&tern, Kind::Bird2, 2, DAEMON_AS, false);
    spec.password = Some("not-the-key".to_string());
    tern.reset_peer(spec.clone());
    holds_for("the session to stay down with a wrong key", Duration::from_secs(10), || {
        let ours = tern.state(&name);
        let theirs = bird.session_up(false);
        if ours != Some(State::Established) && !theirs {
            Ok(())
        } else {
            Err((ours, theirs))
        }
    });
    spec.password = Some("tern-md5-key".to_string());
    tern.reset_peer(spec);
    bird.wait_established(false);
    tern.wait_established(&name);
    wait_tern_has(&tern, &name, &prefixes(Net::new(61), 2, false));
}
