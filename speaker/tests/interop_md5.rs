//! TCP MD5 signatures (RFC 2385) with BIRD 2.

mod interop;

use std::time::Duration;

use interop::scenario::{pair, prefixes, spec_for, wait_tern_has, Kind, DAEMON_AS};
use interop::{holds_for, Net};
use speaker::State;

/// Both sides with the same key: the session comes up and routes flow.
#[test]
fn interop_bird2_md5_session_comes_up() {
    let (tern, bird, name) = pair(Kind::Bird2, 60, false, |o| o.password = Some("tern-md5-key".to_string()));
    bird.wait_established(false);
    tern.wait_established(&name);
    wait_tern_has(&tern, &name, &prefixes(tern.net, 2, false));
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
