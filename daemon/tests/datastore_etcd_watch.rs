//! The etcd syncer against a real etcd: the initial list, live puts and deletes, a compaction
//! while the watch was away, and etcd killed and restarted.

mod datastore_common;

use std::time::Duration;

use config::calico::TranslateOptions;
use config::DesiredState;
use datastore_common::{Etcd, RES};
use tern_speaker::datastore::{DatastoreOptions, EtcdOptions, LocalSettings, Syncer};
use tokio::sync::mpsc;

fn options(etcd: &Etcd, node: &str) -> DatastoreOptions {
    // The syncer's log in the test's output (shown when it fails).
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("tern_speaker=debug").try_init();
    DatastoreOptions {
        etcd: EtcdOptions { endpoints: vec![etcd.url.clone()], ..EtcdOptions::default() },
        node: node.to_string(),
        translate: TranslateOptions::default(),
        local: LocalSettings::default(),
        require_reflector: false,
        listen_ranges: Vec::new(),
    }
}

fn peer_names(s: &DesiredState) -> Vec<String> {
    s.peers.iter().map(|p| p.name.clone()).collect()
}

/// The next state sent, within a bound.
async fn next_state(rx: &mut mpsc::Receiver<DesiredState>) -> DesiredState {
    match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
        Ok(Some(s)) => s,
        Ok(None) => panic!("the syncer stopped"),
        Err(_) => panic!("no new state within 15 s"),
    }
}

/// States until one satisfies `f` (intermediate states of a burst may come first).
async fn state_where(rx: &mut mpsc::Receiver<DesiredState>, f: impl Fn(&DesiredState) -> bool) -> DesiredState {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let s = next_state(rx).await;
        if f(&s) {
            return s;
        }
        seen.push(peer_names(&s));
    }
    panic!("no matching state among {seen:?}")
}

fn three_nodes(etcd: &Etcd) {
    etcd.bgp_configuration("default", r#"{"asNumber":64600,"nodeToNodeMeshEnabled":true}"#);
    etcd.node("n1", "10.0.0.1/24", "", "");
    etcd.node("n2", "10.0.0.2/24", "", "");
    etcd.bgp_peer("tor", r#"{"peerIP":"10.0.0.254","asNumber":65000}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_initial_list_then_puts_and_deletes_arrive_live() {
    let etcd = Etcd::start("live");
    three_nodes(&etcd);
    // One bad object is reported and skipped; the rest go on.
    etcd.put(&format!("{RES}/nodes/broken"), "{not json");

    let (mut syncer, mut rx) = Syncer::new(options(&etcd, "n1")).expect("syncer");
    let first = syncer.initial().await.expect("initial state");
    assert_eq!(first.asn, 64600);
    assert_eq!(peer_names(&first), ["Global_10_0_0_254", "Mesh_10_0_0_2"]);
    assert_eq!(
        syncer.datastore().malformed().map(|e| e.key.clone()).collect::<Vec<_>>(),
        [format!("{RES}/nodes/broken")]
    );
    let task = tokio::spawn(syncer.run());

    etcd.node("n3", "10.0.0.3/24", "", "");
    let s = next_state(&mut rx).await;
    assert_eq!(peer_names(&s), ["Global_10_0_0_254", "Mesh_10_0_0_2", "Mesh_10_0_0_3"]);

    etcd.del(&format!("{RES}/bgppeers/tor"));
    let s = next_state(&mut rx).await;
    assert_eq!(peer_names(&s), ["Mesh_10_0_0_2", "Mesh_10_0_0_3"]);

    // A change that does not touch n1's state sends nothing; the next one that does arrives alone.
    etcd.put("/calico/ipam/v2/host/n2/ipv4/block/10.244.2.0-26", r#"{"state":"confirmed"}"#);
    etcd.put("/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26", r#"{"state":"confirmed"}"#);
    let s = next_state(&mut rx).await;
    assert_eq!(s.calico.ipam_blocks, ["10.244.1.0/26".parse().expect("net")]);
    assert_eq!(peer_names(&s), ["Mesh_10_0_0_2", "Mesh_10_0_0_3"]);

    // The AS changes for every peer at once (one put).
    etcd.bgp_configuration("default", r#"{"asNumber":64700}"#);
    let s = next_state(&mut rx).await;
    assert_eq!(s.asn, 64700);
    assert!(s.peers.iter().all(|p| p.local_asn == 64700), "{:?}", s.peers);
    assert!(rx.try_recv().is_err(), "a state was sent twice");
    task.abort();
}

/// The watch resumes at a compacted revision: etcd cancels it, the syncer lists again and
/// the state it sends has every change made meanwhile, deletes included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compaction_while_away_leads_to_a_full_resync() {
    let etcd = Etcd::start("compact");
    three_nodes(&etcd);
    let (mut syncer, mut rx) = Syncer::new(options(&etcd, "n1")).expect("syncer");
    let first = syncer.initial().await.expect("initial state");
    assert_eq!(peer_names(&first), ["Global_10_0_0_254", "Mesh_10_0_0_2"]);

    // Changes after the list's revision, then that history compacted away before the watch starts.
    etcd.node("n3", "10.0.0.3/24", "", "");
    etcd.del(&format!("{RES}/bgppeers/tor"));
    etcd.node("n4", "10.0.0.4/24", "", "");
    etcd.del(&format!("{RES}/nodes/n4"));
    let compacted = etcd.compact();
    assert!(compacted > 0);

    let task = tokio::spawn(syncer.run());
    let s = next_state(&mut rx).await;
    assert_eq!(peer_names(&s), ["Mesh_10_0_0_2", "Mesh_10_0_0_3"], "tor deleted and n4 gone while away");

    // The watch after the resync is live.
    etcd.bgp_peer("tor2", r#"{"peerIP":"10.0.0.253","asNumber":65000}"#);
    let s = next_state(&mut rx).await;
    assert_eq!(peer_names(&s), ["Global_10_0_0_253", "Mesh_10_0_0_2", "Mesh_10_0_0_3"]);
    task.abort();
}

/// etcd killed: nothing is sent while it is away (the daemon keeps its state); restarted: the
/// watch resumes where it was, so a change made right after the restart arrives, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_killed_and_restarted_the_watch_resumes() {
    let mut etcd = Etcd::start("restart");
    three_nodes(&etcd);
    let (mut syncer, mut rx) = Syncer::new(options(&etcd, "n1")).expect("syncer");
    let first = syncer.initial().await.expect("initial state");
    assert_eq!(first.peers.len(), 2);
    let task = tokio::spawn(syncer.run());

    etcd.node("n3", "10.0.0.3/24", "", "");
    assert_eq!(next_state(&mut rx).await.peers.len(), 3);

    etcd.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(rx.try_recv().is_err(), "a state was sent while etcd was down");

    etcd.run();
    etcd.node("n5", "10.0.0.5/24", "", "");
    etcd.del(&format!("{RES}/nodes/n3"));
    let s = state_where(&mut rx, |s| s.peers.len() == 3 && s.peers.iter().any(|p| p.name == "Mesh_10_0_0_5")).await;
    assert_eq!(peer_names(&s), ["Global_10_0_0_254", "Mesh_10_0_0_2", "Mesh_10_0_0_5"]);

    // Later changes keep arriving.
    etcd.node("n6", "10.0.0.6/24", "", "");
    let s = next_state(&mut rx).await;
    assert_eq!(peer_names(&s), ["Global_10_0_0_254", "Mesh_10_0_0_2", "Mesh_10_0_0_5", "Mesh_10_0_0_6"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.try_recv().is_err(), "an event was applied twice");
    task.abort();
}

/// A three-member etcd cluster: the syncer has every member's endpoint; whichever member goes
/// away (the others keep the quorum), changes written through the others keep arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_three_member_cluster_survives_the_loss_of_any_member() {
    let mut members = Etcd::cluster("three", 3);
    three_nodes(&members[0]);
    let mut opts = options(&members[0], "n1");
    opts.etcd.endpoints = members.iter().map(|m| m.url.clone()).collect();
    let (mut syncer, mut rx) = Syncer::new(opts).expect("syncer");
    assert_eq!(syncer.initial().await.expect("initial state").peers.len(), 2);
    let task = tokio::spawn(syncer.run());

    let mut expected = vec!["Global_10_0_0_254".to_string(), "Mesh_10_0_0_2".to_string()];
    for down in 0..3 {
        members[down].kill();
        let via = &members[(down + 1) % 3];
        let ip = format!("10.0.0.{}", 10 + down);
        via.node(&format!("x{down}"), &format!("{ip}/24"), "", "");
        expected.push(format!("Mesh_{}", ip.replace('.', "_")));
        expected.sort();
        let s = state_where(&mut rx, |s| s.peers.len() == expected.len()).await;
        assert_eq!(peer_names(&s), expected, "member {down} down");
        members[down].run();
    }
    task.abort();
}

/// Scale smoke: 1,000 Nodes (the list takes several pages) give a full mesh of 999 peers; the
/// 1,001st Node arrives through the watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_thousand_nodes_listed_in_pages_and_watched() {
    let etcd = Etcd::start("scale");
    let mut client = etcd_client::Client::connect([etcd.url.as_str()], None).await.expect("client");
    let node = |i: u32| {
        let name = format!("node-{i:04}");
        let value = format!(
            r#"{{"metadata":{{"name":"{name}"}},"spec":{{"bgp":{{"ipv4Address":"10.{}.{}.1/16"}}}}}}"#,
            i / 256,
            i % 256
        );
        (format!("{RES}/nodes/{name}"), value)
    };
    for chunk in (0..1000).collect::<Vec<u32>>().chunks(100) {
        let ops: Vec<etcd_client::TxnOp> = chunk
            .iter()
            .map(|i| {
                let (k, v) = node(*i);
                etcd_client::TxnOp::put(k, v, None)
            })
            .collect();
        client.txn(etcd_client::Txn::new().and_then(ops)).await.expect("txn");
    }
    let (mut syncer, mut rx) = Syncer::new(options(&etcd, "node-0000")).expect("syncer");
    let first = syncer.initial().await.expect("initial state");
    assert_eq!(syncer.datastore().nodes.len(), 1000);
    assert_eq!(first.peers.len(), 999);
    assert!(first.peers.iter().all(|p| p.name.starts_with("Mesh_10_")));
    let task = tokio::spawn(syncer.run());

    let (k, v) = node(1000);
    client.put(k, v, None).await.expect("put");
    let s = next_state(&mut rx).await;
    assert_eq!(s.peers.len(), 1000);
    assert!(s.peers.iter().any(|p| p.name == "Mesh_10_3_232_1"), "node 1000 is 10.3.232.1");
    task.abort();
}
