//! Listen ranges in datastore mode (`--listen-range`, `TERN_LISTEN_RANGES`; issue 6): a
//! `tern-reflector` fed from a real etcd accepts a node that connects before its Node object
//! exists when its address is inside the range (a dynamic peer, a route-reflector client), refuses
//! one from outside, and takes the node over as a configured client once its Node object arrives.

mod datastore_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use datastore_common::{established, free_port, protocols, routes, start_daemon, wait_for, Etcd, Proc, TempDir};

const RR: &str = "127.77.9.10";
const N1: &str = "127.77.9.1";
/// Inside the listen range 127.77.8.0/24, no Node object at first.
const B: &str = "127.77.8.2";
/// Outside the range, never a Node.
const C: &str = "127.77.10.3";

/// A file-configured tern-speaker (it needs no Node object) peering with the reflector and
/// originating one IPAM block.
fn file_speaker(dir: &Path, name: &str, addr: &str, port: u16, block: &str) -> (Proc, PathBuf) {
    let socket = dir.join(format!("{name}.ctl"));
    let text = format!(
        "[global]\nasn = 64512\nnode_name = \"{name}\"\nipv4 = \"{addr}\"\nlisten_addresses = [\"{addr}\"]\n\
         listen_port = {port}\n\n[mesh]\nenabled = false\n\n\
         [[peer]]\naddress = \"{RR}\"\nasn = 64512\nport = {port}\n\n\
         [calico]\nipam_blocks = [\"{block}\"]\n\n[[calico.ip_pools]]\ncidr = \"10.244.0.0/16\"\n\n\
         [kernel]\nlearn = false\nprogram = false\n\n\
         [control]\nsocket = \"{sock}\"\nsocket6 = \"{sock6}\"\nhttp_listen = \"{addr}:{http}\"\n",
        sock = socket.display(),
        sock6 = dir.join(format!("{name}6.ctl")).display(),
        http = free_port(addr),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    let args = vec!["--config".to_string(), path.to_string_lossy().into_owned()];
    let proc = Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_tern-speaker")),
        &args,
        dir.join(format!("{name}.log")),
        &[("TERN_LOG", "info")],
    );
    (proc, socket)
}

fn has(socket: &Path, name: &str) -> bool {
    protocols(socket).iter().any(|p| p.0 == name)
}

#[test]
fn etcd_reflector_listen_range_accepts_a_node_before_its_node_object() {
    let etcd = Etcd::start("lr");
    let dir = TempDir::new("ds-lr");
    let port = free_port(RR);
    etcd.bgp_configuration(
        "default",
        &format!(r#"{{"asNumber":64512,"nodeToNodeMeshEnabled":false,"listenPort":{port},"bindMode":"NodeIP"}}"#),
    );
    etcd.node("rr", &format!("{RR}/24"), r#","routeReflectorClusterID":"224.0.0.1""#, r#""route-reflector":"true""#);
    etcd.node("n1", &format!("{N1}/24"), "", "");
    etcd.bgp_peer("peer-with-rr", r#"{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}"#);
    etcd.put(
        &format!("{}/ippools/default-ipv4-ippool", datastore_common::RES),
        r#"{"spec":{"cidr":"10.244.0.0/16","ipipMode":"Never"}}"#,
    );
    etcd.put("/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26", r#"{"state":"confirmed"}"#);

    // The range from the environment variable (the flag's form is in the CLI's unit tests).
    let rr = start_daemon(
        env!("CARGO_BIN_EXE_tern-reflector"),
        &etcd,
        dir.path(),
        "rr",
        RR,
        &[],
        &[("TERN_LISTEN_RANGES", "127.77.8.0/24")],
    );
    let n1 = start_daemon(env!("CARGO_BIN_EXE_tern-speaker"), &etcd, dir.path(), "n1", N1, &[], &[]);
    let (mut b, b_sock) = file_speaker(dir.path(), "b", B, port, "10.244.8.0/26");
    let (mut c, c_sock) = file_speaker(dir.path(), "c", C, port, "10.244.10.0/26");
    let to_rr = format!("Global_127_77_9_10_port_{port}");
    let n1_on_rr = format!("Node_127_77_9_1_port_{port}");

    // b is accepted as a dynamic peer although etcd has no Node for it.
    let up = wait_for(Duration::from_secs(60), || {
        established(&rr.socket, "Dynamic_127_77_8_2").is_some()
            && established(&b_sock, &to_rr).is_some()
            && established(&rr.socket, &n1_on_rr).is_some()
    });
    assert!(up, "b not accepted: {:?}\n{}", protocols(&rr.socket), rr.proc.log_text());
    // ... as a route-reflector client: its block reaches n1 (a client's route goes to every
    // client; a non-client's would not be reflected to n1 either way, so this is the check),
    // and n1's reaches it.
    let reflected = wait_for(Duration::from_secs(20), || {
        routes(&n1.socket).contains("10.244.8.0/26") && routes(&b_sock).contains("10.244.1.0/26")
    });
    assert!(reflected, "n1:\n{}\nb:\n{}\nrr:\n{}", routes(&n1.socket), routes(&b_sock), routes(&rr.socket));

    // c, outside the range, is refused: it tried (its row shows the closed connection) and the
    // reflector lists no peer for it.
    let tried = wait_for(Duration::from_secs(30), || {
        protocols(&c_sock).iter().any(|p| p.0 == to_rr && p.3.contains("Connection closed"))
    });
    assert!(tried, "c did not try: {:?}\n{}", protocols(&c_sock), c.log_text());
    let mut names: Vec<String> = protocols(&rr.socket).into_iter().map(|p| p.0).collect();
    names.sort();
    let mut want = vec!["Dynamic_127_77_8_2".to_string(), n1_on_rr.clone()];
    want.sort();
    assert_eq!(names, want);
    assert!(established(&c_sock, &to_rr).is_none());
    assert!(!routes(&n1.socket).contains("10.244.10.0/26"), "c's block leaked:\n{}", routes(&n1.socket));

    // b's Node object arrives: the configured client replaces the dynamic peer (the engine's
    // take-over: Cease to the dynamic session, then the configured one) and b is Established
    // under its Node name, its routes still reflected.
    etcd.node("b", &format!("{B}/24"), "", "");
    let b_on_rr = format!("Node_127_77_8_2_port_{port}");
    let taken_over = wait_for(Duration::from_secs(60), || {
        established(&rr.socket, &b_on_rr).is_some()
            && !has(&rr.socket, "Dynamic_127_77_8_2")
            && established(&b_sock, &to_rr).is_some()
    });
    assert!(taken_over, "b not taken over: {:?}\n{}", protocols(&rr.socket), rr.proc.log_text());
    let reflected = wait_for(Duration::from_secs(20), || {
        routes(&n1.socket).contains("10.244.8.0/26") && routes(&b_sock).contains("10.244.1.0/26")
    });
    assert!(reflected, "after the take-over, n1:\n{}\nb:\n{}", routes(&n1.socket), routes(&b_sock));
    let mut names: Vec<String> = protocols(&rr.socket).into_iter().map(|p| p.0).collect();
    names.sort();
    let mut want = vec![n1_on_rr, b_on_rr];
    want.sort();
    assert_eq!(names, want);
    assert!(b.running() && c.running());
}
