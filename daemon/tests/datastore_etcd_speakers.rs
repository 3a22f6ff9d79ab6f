//! End to end: two `tern-speaker --datastore etcd` processes on loopback addresses mesh with
//! each other from what etcd says; Nodes and BGPPeers written to etcd afterwards add and remove
//! sessions live while the established session stays up (its `since` never moves, on both sides).

mod datastore_common;

use std::path::Path;
use std::time::Duration;

use datastore_common::{established, free_port, protocols, start_daemon, wait_for, Daemon, Etcd, TempDir, RES};

const A: &str = "127.77.6.1";
const B: &str = "127.77.6.2";
const C: &str = "127.77.6.3";
const EXT: &str = "127.77.6.9";

fn speaker(etcd: &Etcd, dir: &Path, node: &str, ip: &str) -> Daemon {
    daemon(env!("CARGO_BIN_EXE_tern-speaker"), etcd, dir, node, ip)
}

fn daemon(bin: &str, etcd: &Etcd, dir: &Path, node: &str, ip: &str) -> Daemon {
    start_daemon(bin, etcd, dir, node, ip, &[], &[])
}

fn has(socket: &Path, name: &str) -> bool {
    protocols(socket).iter().any(|p| p.0 == name)
}

#[test]
fn etcd_two_speakers_mesh_and_follow_datastore_changes_live() {
    let mut etcd = Etcd::start("e2e");
    let dir = TempDir::new("ds-e2e");
    let port = free_port(A);
    etcd.bgp_configuration(
        "default",
        &format!(r#"{{"asNumber":64512,"nodeToNodeMeshEnabled":true,"listenPort":{port},"bindMode":"NodeIP"}}"#),
    );
    etcd.node("a", &format!("{A}/24"), "", "");
    etcd.node("b", &format!("{B}/24"), "", "");

    let mut a = speaker(&etcd, dir.path(), "a", A);
    let mut b = speaker(&etcd, dir.path(), "b", B);
    let (ab, ba) = ("Mesh_127_77_6_2", "Mesh_127_77_6_1");
    let up = wait_for(Duration::from_secs(60), || {
        established(&a.socket, ab).is_some() && established(&b.socket, ba).is_some()
    });
    assert!(
        up,
        "not established: {:?} / {:?}\n--- a:\n{}\n--- b:\n{}",
        protocols(&a.socket),
        protocols(&b.socket),
        a.proc.log_text(),
        b.proc.log_text()
    );
    std::thread::sleep(Duration::from_millis(1100)); // `since` has a one-second resolution
    let since_a = established(&a.socket, ab).expect("a since");
    let since_b = established(&b.socket, ba).expect("b since");
    let unchanged = |a: &Daemon, b: &Daemon, step: &str| {
        assert_eq!(established(&a.socket, ab).as_deref(), Some(since_a.as_str()), "{step}: a's session moved");
        assert_eq!(established(&b.socket, ba).as_deref(), Some(since_b.as_str()), "{step}: b's session moved");
    };

    // A third Node joins (no daemon behind it): both add a mesh session to it.
    etcd.node("c", &format!("{C}/24"), "", "");
    let added =
        wait_for(Duration::from_secs(10), || has(&a.socket, "Mesh_127_77_6_3") && has(&b.socket, "Mesh_127_77_6_3"));
    assert!(added, "node c not peered: {:?}\n{}", protocols(&a.socket), a.proc.log_text());
    unchanged(&a, &b, "node added");

    // A global BGPPeer: a session on both.
    etcd.bgp_peer("ext", &format!(r#"{{"peerIP":"{EXT}","asNumber":65009}}"#));
    let added = wait_for(Duration::from_secs(10), || {
        has(&a.socket, "Global_127_77_6_9") && has(&b.socket, "Global_127_77_6_9")
    });
    assert!(added, "BGPPeer not applied: {:?}", protocols(&a.socket));
    unchanged(&a, &b, "BGPPeer added");

    // The Node and the BGPPeer deleted: their sessions go, the mesh session stays.
    etcd.del(&format!("{RES}/nodes/c"));
    etcd.del(&format!("{RES}/bgppeers/ext"));
    let removed = wait_for(Duration::from_secs(10), || {
        [&a.socket, &b.socket].iter().all(|s| !has(s, "Mesh_127_77_6_3") && !has(s, "Global_127_77_6_9"))
    });
    assert!(removed, "sessions left: {:?} / {:?}", protocols(&a.socket), protocols(&b.socket));
    unchanged(&a, &b, "node and BGPPeer removed");
    assert_eq!(protocols(&a.socket).len(), 1, "{:?}", protocols(&a.socket));
    assert!(a.proc.running() && b.proc.running());
    let log = a.proc.log_text();
    assert!(log.contains("reconfigured"), "no reconfiguration logged:\n{log}");

    // etcd goes away: the daemons keep their sessions and say so; a change made after it returns
    // is applied.
    etcd.kill();
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.proc.running() && b.proc.running());
    unchanged(&a, &b, "etcd stopped");
    let log = a.proc.log_text();
    assert!(log.contains("sessions and routes stay as they are until etcd returns"), "outage not logged:\n{log}");
    etcd.run();
    etcd.node("c", &format!("{C}/24"), "", "");
    let added =
        wait_for(Duration::from_secs(15), || has(&a.socket, "Mesh_127_77_6_3") && has(&b.socket, "Mesh_127_77_6_3"));
    assert!(added, "change after etcd's return not applied: {:?}\n{}", protocols(&a.socket), a.proc.log_text());
    unchanged(&a, &b, "etcd back");
    assert!(a.proc.log_text().contains("etcd reachable again"));
}

fn routes(socket: &Path) -> String {
    datastore_common::ask(socket, "show route").map(|l| l.join("\n")).unwrap_or_default()
}

/// Calico's route-reflector recipe with a `tern-reflector`: two nodes' blocks reach each other
/// through it; a Node added in etcd becomes a client session on the reflector while the others
/// stay up, and goes when the Node is deleted.
#[test]
fn etcd_reflector_serves_clients_and_follows_nodes_live() {
    const N1: &str = "127.77.7.1";
    const N2: &str = "127.77.7.2";
    const RR: &str = "127.77.7.10";
    let etcd = Etcd::start("rr");
    let dir = TempDir::new("ds-rr");
    let port = free_port(RR);
    etcd.bgp_configuration(
        "default",
        &format!(r#"{{"asNumber":64512,"nodeToNodeMeshEnabled":false,"listenPort":{port},"bindMode":"NodeIP"}}"#),
    );
    etcd.node("n1", &format!("{N1}/24"), "", "");
    etcd.node("n2", &format!("{N2}/24"), "", "");
    etcd.node("rr", &format!("{RR}/24"), r#","routeReflectorClusterID":"224.0.0.1""#, r#""route-reflector":"true""#);
    etcd.bgp_peer("peer-with-rr", r#"{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}"#);
    etcd.put(&format!("{RES}/ippools/default-ipv4-ippool"), r#"{"spec":{"cidr":"10.244.0.0/16","ipipMode":"Always"}}"#);
    etcd.put("/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26", r#"{"state":"confirmed"}"#);
    etcd.put("/calico/ipam/v2/host/n2/ipv4/block/10.244.2.0-26", r#"{"state":"confirmed"}"#);

    let rr = daemon(env!("CARGO_BIN_EXE_tern-reflector"), &etcd, dir.path(), "rr", RR);
    let n1 = speaker(&etcd, dir.path(), "n1", N1);
    let n2 = speaker(&etcd, dir.path(), "n2", N2);
    // A peering to a selected node carries the node's listen port, so its name too (confd's).
    let names = [1, 2, 10, 3].map(|i| format!("Node_127_77_7_{i}_port_{port}"));
    let [rr1, rr2, to_rr, rr3] = [0, 1, 2, 3].map(|i| names[i].as_str());
    let up = wait_for(Duration::from_secs(60), || {
        established(&rr.socket, rr1).is_some()
            && established(&rr.socket, rr2).is_some()
            && established(&n1.socket, to_rr).is_some()
            && established(&n2.socket, to_rr).is_some()
    });
    assert!(up, "not established: {:?}\n{}", protocols(&rr.socket), rr.proc.log_text());
    // Each node's block reaches the other through the reflector.
    let reflected = wait_for(Duration::from_secs(20), || {
        routes(&n2.socket).contains("10.244.1.0/26") && routes(&n1.socket).contains("10.244.2.0/26")
    });
    assert!(reflected, "n2:\n{}\nn1:\n{}", routes(&n2.socket), routes(&n1.socket));

    std::thread::sleep(Duration::from_millis(1100));
    let since: Vec<Option<String>> =
        [(&rr.socket, rr1), (&rr.socket, rr2), (&n1.socket, to_rr)].iter().map(|(s, n)| established(s, n)).collect();
    let same = |step: &str| {
        let now: Vec<Option<String>> = [(&rr.socket, rr1), (&rr.socket, rr2), (&n1.socket, to_rr)]
            .iter()
            .map(|(s, n)| established(s, n))
            .collect();
        assert_eq!(now, since, "{step}: a session moved");
    };

    etcd.node("n3", "127.77.7.3/24", "", "");
    assert!(
        wait_for(Duration::from_secs(10), || has(&rr.socket, rr3)),
        "new node not a client: {:?}",
        protocols(&rr.socket)
    );
    same("node added");
    etcd.del(&format!("{RES}/nodes/n3"));
    assert!(
        wait_for(Duration::from_secs(10), || !has(&rr.socket, rr3)),
        "deleted node still a client: {:?}",
        protocols(&rr.socket)
    );
    same("node removed");
    assert!(routes(&n2.socket).contains("10.244.1.0/26"));
}
