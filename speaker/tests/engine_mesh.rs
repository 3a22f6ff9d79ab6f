//! Several engines over loopback: a full iBGP mesh, and a route reflector
//! with four clients, exchanging IPv4 and IPv6 routes (issue #3).

mod engine_common;

use bgp_proto::Family;
use engine_common::*;

/// Each node originates one IPv4 and one IPv6 prefix. iBGP without
/// reflection: every node holds its own two routes and each other node's
/// two, learned from that node directly (never re-advertised by a third),
/// next hops unchanged. Then one node withdraws both and everyone forgets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_full_ibgp_mesh_ipv4_and_ipv6() {
    let n = [
        Node::start("n1", "127.33.2.1", 65000).await,
        Node::start("n2", "127.33.2.2", 65000).await,
        Node::start("n3", "127.33.2.3", 65000).await,
    ];
    for a in &n {
        for b in &n {
            if a.name != b.name {
                a.peer_with(b).await;
            }
        }
    }
    for (i, a) in n.iter().enumerate() {
        for b in n.iter().skip(i + 1) {
            wait_established(a, b).await;
        }
    }
    for (i, a) in n.iter().enumerate() {
        let k = i + 1;
        let e = &a.engine;
        e.originate(Family::IPV4_UNICAST, net(&format!("10.{k}.0.0/16")), attrs_v4(&format!("192.0.2.{k}")))
            .await
            .expect("originate");
        e.originate(Family::IPV6_UNICAST, net(&format!("fd00:{k}::/48")), attrs_v6(&format!("2001:db8::{k}")))
            .await
            .expect("originate");
    }
    let routes_of = |k: usize, from: Option<&str>| {
        vec![
            row(&format!("10.{k}.0.0/16"), from, &format!("192.0.2.{k}"), None, &[]),
            row(&format!("fd00:{k}::/48"), from, &format!("2001:db8::{k}"), None, &[]),
        ]
    };
    for (i, a) in n.iter().enumerate() {
        let mut want = Vec::new();
        for (j, b) in n.iter().enumerate() {
            want.extend(routes_of(j + 1, (i != j).then_some(b.name.as_str())));
        }
        a.expect_loc_rib(want).await;
    }

    n[1].engine.withdraw_local(Family::IPV4_UNICAST, net("10.2.0.0/16")).await.expect("withdraw");
    n[1].engine.withdraw_local(Family::IPV6_UNICAST, net("fd00:2::/48")).await.expect("withdraw");
    for (i, a) in n.iter().enumerate() {
        let mut want = Vec::new();
        for (j, b) in n.iter().enumerate() {
            if j != 1 {
                want.extend(routes_of(j + 1, (i != j).then_some(b.name.as_str())));
            }
        }
        a.expect_loc_rib(want).await;
    }
    for a in &n {
        a.engine.shutdown(None).await;
    }
}

/// A route reflector (cluster 10.0.0.99) with four clients that peer only
/// with it. Every client learns every other client's IPv4 and IPv6 route
/// from the reflector, with ORIGINATOR_ID = the originating client and
/// CLUSTER_LIST = [cluster], next hop unchanged; the reflector holds all
/// four pairs. A withdrawal at one client leaves every table without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_reflector_with_four_clients_ipv4_and_ipv6() {
    let cluster = v4("10.0.0.99");
    let rr = Node::start_with("rr", "127.33.3.100", 65000, Some(cluster), Default::default()).await;
    let mut clients = Vec::new();
    for k in 1..=4 {
        clients.push(Node::start(&format!("c{k}"), &format!("127.33.3.{k}"), 65000).await);
    }
    for c in &clients {
        let mut spec = rr.spec_for(c);
        spec.rr_client = true;
        rr.engine.add_peer(spec).await.expect("add client");
        c.peer_with(&rr).await;
    }
    for c in &clients {
        wait_established(&rr, c).await;
    }
    for (i, c) in clients.iter().enumerate() {
        let k = i + 1;
        let e = &c.engine;
        e.originate(Family::IPV4_UNICAST, net(&format!("10.{k}.0.0/16")), attrs_v4(&format!("192.0.2.{k}")))
            .await
            .expect("originate");
        e.originate(Family::IPV6_UNICAST, net(&format!("fd00:{k}::/48")), attrs_v6(&format!("2001:db8::{k}")))
            .await
            .expect("originate");
    }
    let routes_of = |k: usize, from: Option<&str>, originator: Option<&str>, clusters: &[&str]| {
        vec![
            row(&format!("10.{k}.0.0/16"), from, &format!("192.0.2.{k}"), originator, clusters),
            row(&format!("fd00:{k}::/48"), from, &format!("2001:db8::{k}"), originator, clusters),
        ]
    };
    let check = |gone: Option<usize>| {
        let rr = &rr;
        let clients = &clients;
        async move {
            let live = |k: &usize| Some(*k) != gone;
            let want: Vec<Row> =
                (1..=4).filter(live).flat_map(|k| routes_of(k, Some(&format!("c{k}")), None, &[])).collect();
            rr.expect_loc_rib(want).await;
            for (i, c) in clients.iter().enumerate() {
                let me = i + 1;
                let want: Vec<Row> = (1..=4)
                    .filter(live)
                    .flat_map(|k| {
                        if k == me {
                            routes_of(k, None, None, &[])
                        } else {
                            routes_of(k, Some("rr"), Some(&format!("127.33.3.{k}")), &["10.0.0.99"])
                        }
                    })
                    .collect();
                c.expect_loc_rib(want).await;
            }
        }
    };
    check(None).await;

    clients[2].engine.withdraw_local(Family::IPV4_UNICAST, net("10.3.0.0/16")).await.expect("withdraw");
    clients[2].engine.withdraw_local(Family::IPV6_UNICAST, net("fd00:3::/48")).await.expect("withdraw");
    check(Some(3)).await;

    let status = rr.engine.peer("c1").await.expect("c1");
    assert!(status.rr_client);
    rr.engine.shutdown(None).await;
    for c in &clients {
        c.engine.shutdown(None).await;
    }
}
