//! Calico's confd peer derivation and the reload diff.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::{IpAddr, Ipv4Addr};

use bgp_proto::types::Family;
use config::{diff, protocol_name, DesiredState, Password, PeerKind, TtlMode};

fn state(text: &str) -> DesiredState {
    match config::parse(text, "t.toml") {
        Ok(c) => DesiredState::from_config(&c),
        Err(e) => panic!("{e}"),
    }
}

fn names(s: &DesiredState) -> Vec<&str> {
    s.peers.iter().map(|p| p.name.as_str()).collect()
}

fn mesh(me: &str, nodes: &[(&str, &str, Option<&str>)]) -> String {
    let mut t = format!("[global]\nasn = 64512\nnode_name = \"{me}\"\n");
    for (name, ip, cid) in nodes {
        t += &format!("[[mesh.nodes]]\nname = \"{name}\"\nipv4 = \"{ip}\"\n");
        if let Some(c) = cid {
            t += &format!("rr_cluster_id = \"{c}\"\n");
        }
    }
    t
}

#[test]
fn protocol_names_use_underscores() {
    assert_eq!(protocol_name(PeerKind::Mesh, "10.0.0.1".parse().unwrap()), "Mesh_10_0_0_1");
    assert_eq!(protocol_name(PeerKind::Global, "fd00::1".parse().unwrap()), "Global_fd00__1");
    assert_eq!(protocol_name(PeerKind::Node, "2001:db8::a:1".parse().unwrap()), "Node_2001_db8__a_1");
}

#[test]
fn mesh_passive_side_compares_addresses_as_strings() {
    let nodes = [("a", "10.0.0.9", None), ("b", "10.0.0.10", None), ("c", "10.0.0.90", None)];
    let s = state(&mesh("a", &nodes));
    assert_eq!(names(&s), ["Mesh_10_0_0_10", "Mesh_10_0_0_90"]);
    // "10.0.0.10" < "10.0.0.9" as strings (numerically it is greater): a connects actively.
    assert!(!s.peer("Mesh_10_0_0_10").unwrap().passive);
    // "10.0.0.90" > "10.0.0.9": a waits for c.
    assert!(s.peer("Mesh_10_0_0_90").unwrap().passive);
    // And from b's side, a's "10.0.0.9" > "10.0.0.10": b is passive toward a.
    let s = state(&mesh("b", &nodes));
    assert!(s.peer("Mesh_10_0_0_9").unwrap().passive);
    let p = s.peer("Mesh_10_0_0_9").unwrap();
    assert_eq!(p.local_address, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10))));
    assert_eq!((p.local_asn, p.remote_asn), (64512, 64512));
    assert_eq!(p.families, vec![Family::IPV4_UNICAST]);
    assert_eq!((p.connect_delay_time, p.connect_retry_time, p.error_wait_time), (2, 5, (5, 30)));
    assert_eq!((p.hold_time, p.keepalive_time, p.graceful_restart_time), (240, 80, 120));
    assert_eq!(p.export_policy, "calico_export_to_bgp_peers");
}

#[test]
fn mesh_skips_reflectors_and_reflectors_skip_mesh() {
    let nodes = [("a", "10.0.0.1", None), ("b", "10.0.0.2", None), ("rr", "10.0.0.3", Some("1.0.0.1"))];
    assert_eq!(names(&state(&mesh("a", &nodes))), ["Mesh_10_0_0_2"]);
    let rr = state(&mesh("rr", &nodes));
    assert!(rr.peers.is_empty());
    assert_eq!(rr.rr_cluster_id, Some(Ipv4Addr::new(1, 0, 0, 1)));
}

#[test]
fn mesh_disabled_gives_no_mesh_peers() {
    let mut t = mesh("a", &[("a", "10.0.0.1", None), ("b", "10.0.0.2", None)]);
    t = t.replacen("[[mesh.nodes]]", "[mesh]\nenabled = false\n[[mesh.nodes]]", 1);
    assert!(state(&t).peers.is_empty());
}

#[test]
fn mesh_node_asn_and_ipv6() {
    let t = "[global]\nasn = 64512\nnode_name = \"a\"\n\
             [[mesh.nodes]]\nname = \"a\"\nipv4 = \"10.0.0.1\"\nipv6 = \"fd00::9\"\n\
             [[mesh.nodes]]\nname = \"b\"\nipv4 = \"10.0.0.2\"\nipv6 = \"fd00::a\"\nasn = 64513\n";
    let s = state(t);
    assert_eq!(names(&s), ["Mesh_10_0_0_2", "Mesh_fd00__a"]);
    let v6 = s.peer("Mesh_fd00__a").unwrap();
    assert!(v6.passive);
    assert_eq!(v6.remote_asn, 64513);
    assert_eq!(v6.families, vec![Family::IPV6_UNICAST]);
}

#[test]
fn reflector_clients_follow_calicos_rule() {
    let t = "[global]\nasn = 64512\nnode_name = \"rr\"\nipv4 = \"10.0.0.3\"\nrr_cluster_id = \"1.0.0.1\"\n\
             [[peer]]\naddress = \"10.0.0.1\"\nasn = 64512\n\
             [[peer]]\naddress = \"10.0.0.2\"\nasn = 64512\npeer_cluster_id = \"1.0.0.2\"\n\
             [[peer]]\naddress = \"10.0.0.4\"\nasn = 64512\npeer_cluster_id = \"1.0.0.1\"\n\
             [[peer]]\naddress = \"10.0.0.5\"\nasn = 65000\n\
             [[peer]]\naddress = \"10.0.0.6\"\nasn = 64512\nrr_client = false\n";
    let s = state(t);
    let client = |n: &str| {
        let p = s.peer(n).unwrap();
        (p.rr_client, p.cluster_id)
    };
    let cid = Some(Ipv4Addr::new(1, 0, 0, 1));
    assert_eq!(client("Global_10_0_0_1"), (true, cid)); // no cluster ID of its own
    assert_eq!(client("Global_10_0_0_2"), (true, cid)); // a different cluster ID
    assert_eq!(client("Global_10_0_0_4"), (false, None)); // the same cluster
    assert_eq!(client("Global_10_0_0_5"), (false, None)); // eBGP
    assert_eq!(client("Global_10_0_0_6"), (false, None)); // explicit
}

#[test]
fn peer_settings_and_self_skip() {
    let t = "[global]\nasn = 64512\nnode_name = \"a\"\nipv4 = \"10.0.0.1\"\n\
             [[peer]]\naddress = \"192.0.2.1\"\nasn = 65000\nscope = \"node\"\nport = 1179\npassive = true\n\
             password_file = \"/k\"\nhold_time = 9\nttl_security = 2\nnext_hop_mode = \"self\"\n\
             families = [\"ipv4-unicast\", \"ipv6-unicast\"]\nadd_path = \"off\"\nmax_prefixes = 1000\n\
             export_policy = \"mine\"\n";
    let s = state(t);
    let p = s.peer("Node_192_0_2_1_port_1179").unwrap();
    assert_eq!(p.port, 1179);
    assert!(p.passive);
    assert_eq!(p.password, Some(Password::File("/k".into())));
    assert_eq!((p.hold_time, p.keepalive_time), (9, 3));
    assert_eq!(p.ttl, TtlMode::Security { hops: 2 });
    assert_eq!(p.next_hop_mode, config::schema::NextHopMode::SelfAddress);
    assert_eq!(p.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert_eq!(p.add_path, config::schema::AddPathMode::Off);
    assert_eq!(p.max_prefixes, Some(1000));
    assert_eq!((p.import_policy.as_str(), p.export_policy.as_str()), ("calico_import_from_bgp_peers", "mine"));
    assert_eq!(p.local_address, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
}

#[test]
fn router_id_sources() {
    let base = "[global]\nasn = 1\nnode_name = \"abc\"\n";
    assert_eq!(state(base).router_id, Ipv4Addr::new(186, 120, 22, 191)); // no IPv4: hash
    assert_eq!(state(&format!("{base}ipv4 = \"10.0.0.7\"\n")).router_id, Ipv4Addr::new(10, 0, 0, 7));
    assert_eq!(
        state(&format!("{base}ipv4 = \"10.0.0.7\"\nrouter_id = \"hash\"\n")).router_id,
        Ipv4Addr::new(186, 120, 22, 191)
    );
    assert_eq!(state(&format!("{base}router_id = \"1.2.3.4\"\n")).router_id, Ipv4Addr::new(1, 2, 3, 4));
}

#[test]
fn diff_sorts_peers_into_unchanged_changed_added_removed() {
    let old = state(&mesh("a", &[("a", "10.0.0.1", None), ("b", "10.0.0.2", None), ("c", "10.0.0.3", None)]));
    let mut t = mesh("a", &[("a", "10.0.0.1", None), ("b", "10.0.0.2", None), ("d", "10.0.0.4", None)]);
    t += "[[peer]]\naddress = \"192.0.2.1\"\nasn = 65000\n";
    let new = state(&t);
    let d = diff(&old, &new);
    assert_eq!(d.unchanged, ["Mesh_10_0_0_2"]);
    assert!(d.changed.is_empty());
    let added: Vec<&str> = d.added.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(added, ["Global_192_0_2_1", "Mesh_10_0_0_4"]);
    let removed: Vec<&str> = d.removed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(removed, ["Mesh_10_0_0_3"]);
    assert!(!d.is_empty());
    assert!(diff(&new, &new).is_empty());
}

#[test]
fn diff_changed_peer_and_global_change() {
    let a = "[global]\nasn = 1\nnode_name = \"a\"\nipv4 = \"10.0.0.1\"\n[[peer]]\naddress = \"10.0.0.2\"\nasn = 2\n";
    let b = format!("{a}hold_time = 30\n");
    let d = diff(&state(a), &state(&b));
    assert_eq!(d.changed.len(), 1);
    assert_eq!((d.changed[0].0.hold_time, d.changed[0].1.hold_time), (240, 30));
    // A new router ID resets every session, though the peer entries are equal.
    let c = a.replace("ipv4 = \"10.0.0.1\"", "ipv4 = \"10.0.0.1\"\nrouter_id = \"9.9.9.9\"");
    let d = diff(&state(a), &state(&c));
    assert_eq!((d.unchanged.len(), d.changed.len()), (0, 1));
}

#[test]
fn mesh_password_and_restart_time_apply_to_mesh_sessions() {
    let mut t = mesh("a", &[("a", "10.0.0.1", None), ("b", "10.0.0.2", None)]);
    t = t.replacen("[[mesh.nodes]]", "[mesh]\npassword = \"s3cret\"\ngraceful_restart_time = 300\n[[mesh.nodes]]", 1);
    let s = state(&t);
    let p = s.peer("Mesh_10_0_0_2").unwrap();
    assert_eq!(p.password, Some(Password::Inline("s3cret".into())));
    assert_eq!(p.graceful_restart_time, 300);
    // Logging a peer never prints the key.
    let shown = format!("{p:?}");
    assert!(!shown.contains("s3cret") && shown.contains("Inline(<hidden>)"), "{shown}");
}

#[test]
fn mesh_port_follows_the_other_nodes_listen_port() {
    let t = "[global]\nasn = 1\nnode_name = \"a\"\nlisten_port = 1790\n\
             [[mesh.nodes]]\nname = \"a\"\nipv4 = \"10.0.0.1\"\n\
             [[mesh.nodes]]\nname = \"b\"\nipv4 = \"10.0.0.2\"\nlisten_port = 8179\n\
             [[mesh.nodes]]\nname = \"c\"\nipv4 = \"10.0.0.3\"\n";
    let s = state(t);
    // Mesh names never carry the port (confd's Mesh_ block has no port suffix).
    assert_eq!(names(&s), ["Mesh_10_0_0_2", "Mesh_10_0_0_3"]);
    assert_eq!((s.peers[0].port, s.peers[1].port), (8179, 1790));
    assert_eq!(s.listen[0].port(), 1790);
}
