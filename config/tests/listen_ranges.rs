//! `[global] listen_ranges` (dynamic neighbors, issue #6).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use config::DesiredState;

#[test]
fn listen_ranges_are_read_and_truncated_to_their_network() {
    let t = "[global]\nasn = 64512\nnode_name = \"a\"\nipv4 = \"10.0.0.1\"\n\
             listen_ranges = [\"10.0.0.0/16\", \"fd00::1/64\"]\n";
    let s = DesiredState::from_config(&config::parse(t, "t.toml").unwrap());
    let want: Vec<ipnet::IpNet> = vec!["10.0.0.0/16".parse().unwrap(), "fd00::/64".parse().unwrap()];
    assert_eq!(s.listen_ranges, want);
    assert!(s.peers.is_empty(), "a range is no peer");
}

#[test]
fn listen_ranges_default_to_none() {
    let t = "[global]\nasn = 64512\nnode_name = \"a\"\nipv4 = \"10.0.0.1\"\n";
    let s = DesiredState::from_config(&config::parse(t, "t.toml").unwrap());
    assert!(s.listen_ranges.is_empty());
}

#[test]
fn a_malformed_listen_range_is_reported_with_its_position() {
    let t = "[global]\nasn = 64512\nnode_name = \"a\"\nlisten_ranges = [\"10.0.0.0/33\"]\n";
    let err = config::parse(t, "t.toml").unwrap_err().to_string();
    assert!(err.contains("t.toml:4:"), "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");
}
