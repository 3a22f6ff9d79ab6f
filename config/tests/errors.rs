//! Every error names file:line:column and what was expected.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

fn errors(text: &str) -> Vec<String> {
    match config::parse(text, "node.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

const HEAD: &str = "[global]\nasn = 64512\nnode_name = \"n1\"\nipv4 = \"10.0.0.1\"\n";

#[test]
fn syntax_error() {
    assert_eq!(errors("[global]\nasn = = 1\n"), vec!["node.toml:2:7: extra `=`, expected nothing"]);
    let e = errors("[global]\nasn = 1\nnode_name = \"n1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("node.toml:3:"), "{e:?}");
}

#[test]
fn unknown_key_lists_expected_keys() {
    let e = errors(&format!("{HEAD}[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nholdtime = 90\n"));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("node.toml:8:1: unknown field `holdtime`, expected one of"), "{e:?}");
    assert!(e[0].contains("`hold_time`"), "{e:?}");
}

#[test]
fn unknown_table() {
    let e = errors(&format!("{HEAD}[bgp]\nx = 1\n"));
    assert!(e[0].starts_with("node.toml:5:2: unknown field `bgp`"), "{e:?}");
}

#[test]
fn wrong_type() {
    let e = errors("[global]\nasn = \"64512\"\nnode_name = \"n1\"\n");
    assert_eq!(e, vec!["node.toml:2:7: invalid type: string \"64512\", expected u32"]);
}

#[test]
fn missing_required_key() {
    let e = errors("[global]\nnode_name = \"n1\"\n");
    assert!(e[0].starts_with("node.toml:1:1: missing field `asn`"), "{e:?}");
}

#[test]
fn bad_cidr_and_router_id_say_what_was_expected() {
    let e = errors(&format!("{HEAD}[calico]\nipam_blocks = [\"10.1.0.0/33\"]\n"));
    assert_eq!(
        e,
        vec!["node.toml:6:16: invalid value: string \"10.1.0.0/33\", expected a CIDR like \"10.244.0.0/16\" or \"fd00::/48\""]
    );
    let e = errors("[global]\nasn = 1\nnode_name = \"n\"\nrouter_id = \"hush\"\n");
    assert_eq!(
        e,
        vec!["node.toml:4:13: invalid value: string \"hush\", expected an IPv4 address like \"10.0.0.1\" or \"hash\""]
    );
}

#[test]
fn enum_value_lists_variants() {
    let e = errors(&format!("{HEAD}[[calico.ip_pools]]\ncidr = \"10.0.0.0/8\"\nipip_mode = \"always\"\n"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("node.toml:7:13: unknown variant `always`, expected one of `Always`, `CrossSubnet`, `Never`"),
        "{e:?}"
    );
}

#[test]
fn semantic_errors_are_all_collected_with_positions() {
    let text = "\
[global]
asn = 0
node_name = \"n1\"
ipv4 = \"10.0.0.1\"

[[peer]]
address = \"10.0.0.2\"
asn = 65000
hold_time = 2
password = \"a\"
password_file = \"/k\"

[[peer]]
address = \"10.0.0.2\"
asn = 65000
hold_time = 30
keepalive_time = 11

[[peer]]
address = \"10.0.0.3\"
asn = 0
rr_client = true

[calico]
ipam_blocks = [\"192.168.1.1/26\"]
";
    let e = errors(text);
    assert_eq!(
        e,
        vec![
            "node.toml:2:7: AS 0 is reserved (RFC 7607): expected an AS number from 1 to 4294967295",
            "node.toml:9:13: hold_time 2 is not allowed (RFC 4271 §4.2): expected 0 or at least 3 seconds",
            "node.toml:11:17: password and password_file are both set: expected at most one of them",
            "node.toml:14:11: duplicate peer 10.0.0.2 (first at line 7): expected each peer address and port once",
            "node.toml:17:18: keepalive_time 11 exceeds a third of the hold time 30: expected at most 10",
            "node.toml:21:7: AS 0 is reserved (RFC 7607): expected an AS number from 1 to 4294967295",
            "node.toml:22:13: rr_client = true needs a cluster ID: expected cluster_id here or [global] rr_cluster_id",
            "node.toml:25:16: IPAM block 192.168.1.1/26 has host bits set: expected 192.168.1.0/26",
        ]
    );
}

#[test]
fn hold_time_one_and_zero() {
    let e = errors(&format!("{HEAD}[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nhold_time = 1\n"));
    assert_eq!(e, vec!["node.toml:8:13: hold_time 1 is not allowed (RFC 4271 §4.2): expected 0 or at least 3 seconds"]);
    // 0 disables keepalives and is valid, with any keepalive.
    config::parse(
        &format!("{HEAD}[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nhold_time = 0\nkeepalive_time = 5\n"),
        "x",
    )
    .expect("hold_time 0 is valid");
}

#[test]
fn keepalive_checked_against_default_hold_time() {
    let e = errors(&format!("{HEAD}[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nkeepalive_time = 81\n"));
    assert_eq!(e, vec!["node.toml:8:18: keepalive_time 81 exceeds a third of the hold time 240: expected at most 80"]);
}

#[test]
fn mesh_errors() {
    let text = "\
[global]
asn = 64512
node_name = \"n9\"

[[mesh.nodes]]
name = \"n1\"
ipv4 = \"10.0.0.1\"

[[mesh.nodes]]
name = \"n1\"
ipv4 = \"10.0.0.1\"
asn = 0
";
    let e = errors(text);
    assert_eq!(
        e,
        vec![
            "node.toml:3:13: node \"n9\" is not among [mesh] nodes and has no ipv4/ipv6: expected a [[mesh.nodes]] entry with this name",
            "node.toml:10:8: duplicate mesh node \"n1\" (first at line 6): expected unique names",
            "node.toml:11:8: duplicate mesh node address 10.0.0.1 (first at line 7)",
            "node.toml:12:7: AS 0 is reserved (RFC 7607): expected an AS number from 1 to 4294967295",
        ]
    );
}

#[test]
fn calico_errors() {
    let text = format!(
        "{HEAD}[calico]
ipam_blocks = [\"10.9.0.0/26\"]
[[calico.ip_pools]]
cidr = \"192.168.0.0/16\"
[[calico.ip_pools]]
cidr = \"fd00::/48\"
ipip_mode = \"Always\"
[[calico.communities]]
name = \"c\"
value = \"70000:1\"
[[calico.prefix_advertisements]]
cidr = \"192.168.0.0/16\"
communities = [\"c\", \"nope\"]
"
    );
    let e = errors(&text);
    assert_eq!(
        e,
        vec![
            "node.toml:6:16: IPAM block 10.9.0.0/26 is inside no [[calico.ip_pools]] CIDR: expected a block of a configured pool",
            "node.toml:10:8: ipip_mode on an IPv6 pool: IPIP carries IPv4 only, expected ipip_mode = \"Never\"",
            "node.toml:14:9: bad community \"70000:1\": expected \"aa:nn\" (16-bit numbers) or \"aa:nn:mm\" (32-bit numbers)",
            "node.toml:17:21: unknown community \"nope\": expected a name from [[calico.communities]] or \"aa:nn\" / \"aa:nn:mm\"",
        ]
    );
}

#[test]
fn ttl_and_misc_peer_errors() {
    let text = format!(
        "{HEAD}[[peer]]
address = \"10.0.0.2\"
asn = 1
ttl_security = 1
multihop = 2
graceful_restart_time = 5000
source_address = \"fd00::1\"
[[peer]]
address = \"10.0.0.1\"
asn = 1
"
    );
    let e = errors(&text);
    assert_eq!(
        e,
        vec![
            "node.toml:8:16: ttl_security and multihop are both set: expected one of them",
            "node.toml:10:25: graceful_restart_time 5000 does not fit the 12-bit Restart Time (RFC 4724 §3): expected 0 to 4095",
            "node.toml:11:18: source_address fd00::1 is not of the peer's address family",
            "node.toml:13:11: peer 10.0.0.1 is this node's own address: expected another router",
        ]
    );
}

#[test]
fn error_display_joins_lines() {
    let err = config::parse("[global]\nasn = 0\nnode_name = \"\"\n", "f.toml").expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "f.toml:2:7: AS 0 is reserved (RFC 7607): expected an AS number from 1 to 4294967295\n\
         f.toml:3:13: node_name is empty: expected this node's Calico node name"
    );
}

#[test]
fn load_missing_file() {
    let err = config::load(std::path::Path::new("/nonexistent/tern.toml")).expect_err("missing");
    assert!(err.to_string().starts_with("/nonexistent/tern.toml:0:0: cannot read:"), "{err}");
}

#[test]
fn rr_client_on_ebgp_peer() {
    let text =
        format!("{HEAD}rr_cluster_id = \"1.0.0.1\"\n[[peer]]\naddress = \"10.0.0.2\"\nasn = 65000\nrr_client = true\n");
    assert_eq!(
        errors(&text),
        vec![
            "node.toml:9:13: rr_client = true on an eBGP peer: route reflection (RFC 4456) applies to iBGP peers only"
        ]
    );
}

#[test]
fn own_address_must_agree_with_mesh_entry() {
    let text = format!("{HEAD}rr_cluster_id = \"1.0.0.1\"\n[[mesh.nodes]]\nname = \"n1\"\nipv4 = \"10.0.0.2\"\nrr_cluster_id = \"1.0.0.2\"\n");
    assert_eq!(
        errors(&text),
        vec![
            "node.toml:8:8: ipv4 10.0.0.2 differs from [global] ipv4 10.0.0.1: expected the same address",
            "node.toml:9:17: rr_cluster_id 1.0.0.2 differs from [global] rr_cluster_id 1.0.0.1: expected the same value",
        ]
    );
}

#[test]
fn unknown_key_in_mesh_node_and_bad_enum_in_log() {
    let e = errors(&format!("{HEAD}[[mesh.nodes]]\nname = \"n1\"\nip = \"10.0.0.1\"\n"));
    assert!(
        e[0].starts_with(
            "node.toml:7:1: unknown field `ip`, expected one of `name`, `ipv4`, `ipv6`, `asn`, `rr_cluster_id`"
        ),
        "{e:?}"
    );
    let e = errors(&format!("{HEAD}[log]\nlevel = \"verbose\"\n"));
    assert!(
        e[0].starts_with("node.toml:6:9: unknown variant `verbose`, expected one of `error`, `warn`, `info`"),
        "{e:?}"
    );
}

#[test]
fn peer_on_a_mesh_address_and_mesh_password_checks() {
    let text = "\
[global]
asn = 1
node_name = \"a\"

[mesh]
password = \"x\"
password_file = \"/k\"
graceful_restart_time = 4096

[[mesh.nodes]]
name = \"a\"
ipv4 = \"10.0.0.1\"

[[mesh.nodes]]
name = \"b\"
ipv4 = \"10.0.0.2\"

[[peer]]
address = \"10.0.0.2\"
asn = 1
";
    assert_eq!(
        errors(text),
        vec![
            "node.toml:7:17: password and password_file are both set: expected at most one of them",
            "node.toml:8:25: graceful_restart_time 4096 does not fit the 12-bit Restart Time (RFC 4724 §3): expected 0 to 4095",
            "node.toml:19:11: peer 10.0.0.2 is also mesh node \"b\" while the mesh is on: expected one session per address",
        ]
    );
}

#[test]
fn same_address_on_another_port_is_another_peer() {
    let peers = "[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\n[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nport = 1179\n";
    config::parse(&format!("{HEAD}{peers}"), "x").expect("different ports");
    let dup = "[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\n[[peer]]\naddress = \"10.0.0.2\"\nasn = 1\nport = 179\n";
    assert_eq!(
        errors(&format!("{HEAD}{dup}")),
        vec!["node.toml:9:11: duplicate peer 10.0.0.2 (first at line 6): expected each peer address and port once"]
    );
}

#[test]
fn peer_of_a_family_this_node_lacks() {
    let text = format!("{HEAD}[[peer]]\naddress = \"fd00::2\"\nasn = 1\n");
    assert_eq!(
        errors(&text),
        vec![
            "node.toml:6:11: peer fd00::2 needs this node's ipv6 address (Calico disables ipv6 BGP without one): \
              expected [global] ipv6 or an ipv6 in this node's [[mesh.nodes]] entry"
        ]
    );
}
