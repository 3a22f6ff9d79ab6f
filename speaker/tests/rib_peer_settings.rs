//! Per-peer settings of the RIB (next-hop mode, allow-own-AS, prefix
//! limit), message packing, and replay determinism.

mod rib_common;

use std::net::Ipv4Addr;

use bgp_proto::update::decode_update;
use bgp_proto::RouteRefresh;
use bgp_proto::{Context, Nlri};
use rib_common::*;
use speaker::rib::{AddPathSend, Input, MaxPrefixes, NextHopMode, Output, PeerId, PeerInfo};

#[test]
fn next_hop_modes() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    let mut keep = info(2, 65002);
    keep.next_hop = NextHopMode::Keep;
    up(&mut rib, 2, keep);
    let mut ibgp_self = info(3, LOCAL_AS);
    ibgp_self.next_hop = NextHopMode::SelfAddress;
    up(&mut rib, 3, ibgp_self);
    up(&mut rib, 4, info(4, LOCAL_AS));
    up(&mut rib, 5, info(5, 65005));
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]);
    let nh = |p: u32| sent_to(&out, p)[0].attributes.next_hop;
    assert_eq!(nh(2), Some(Ipv4Addr::new(10, 0, 0, 1)), "eBGP Keep");
    assert_eq!(nh(3), Some(LOCAL_V4), "iBGP Self");
    assert_eq!(nh(4), Some(Ipv4Addr::new(10, 0, 0, 1)), "iBGP Auto");
    assert_eq!(nh(5), Some(LOCAL_V4), "eBGP Auto");
    assert_eq!(rib.stats().groups, 4);
}

#[test]
fn allow_own_as_accepts_up_to_n_occurrences() {
    let mut rib = rib();
    let mut p = info(1, 65001);
    p.allow_own_as = 1;
    up(&mut rib, 1, p);
    announce(&mut rib, 1, attrs(&[65001, LOCAL_AS], "10.0.0.1"), &["10.2.0.0/24"]);
    announce(&mut rib, 1, attrs(&[65001, LOCAL_AS, 65009, LOCAL_AS], "10.0.0.1"), &["10.3.0.0/24"]);
    let have: Vec<_> = rib.adj_rib_in(PeerId(1)).into_iter().map(|r| r.1).collect();
    assert_eq!(have, [net("10.2.0.0/24")]);
}

#[test]
fn prefix_limit_is_reported_once_per_excursion() {
    let mut rib = rib();
    let mut p = info(1, 65001);
    p.max_prefixes = Some(MaxPrefixes { limit: 2, close: true });
    up(&mut rib, 1, p);
    let exceeded = |out: &[Output]| {
        out.iter().filter(|o| matches!(o, Output::MaxPrefixesExceeded { peer: PeerId(1), close: true, .. })).count()
    };
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24", "10.3.0.0/24"]);
    assert_eq!(exceeded(&out), 0);
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.4.0.0/24", "10.5.0.0/24"]);
    assert_eq!(exceeded(&out), 1);
    assert!(out.contains(&Output::MaxPrefixesExceeded { peer: PeerId(1), count: 3, limit: 2, close: true }));
    withdraw(&mut rib, 1, &["10.4.0.0/24", "10.5.0.0/24"]);
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.6.0.0/24"]);
    assert_eq!(exceeded(&out), 1, "reported again after going back under");
}

#[test]
fn large_batches_are_split_into_several_messages_of_one_encode() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65002));
    let prefixes: Vec<String> = (0..3000u32).map(|i| format!("10.{}.{}.0/24", 100 + i / 256, i % 256)).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let before = rib.stats().encodes;
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &refs);
    assert_eq!(rib.stats().encodes - before, 1);
    let updates = sent_to(&out, 2);
    assert!(updates.len() >= 3, "3000 /24s do not fit one 4096-octet message");
    assert_eq!(updates.iter().map(|u| u.nlri.len()).sum::<usize>(), 3000);
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let now = std::time::Instant::now();
    let mut gr = info(1, 65001);
    gr.graceful_restart = Some(secs(60));
    let inputs = vec![
        Input::PeerUp { peer: PeerId(1), info: gr.clone() },
        Input::PeerUp { peer: PeerId(2), info: info(2, 65002) },
        Input::PeerUp { peer: PeerId(3), info: info(3, LOCAL_AS) },
        Input::Update {
            peer: PeerId(1),
            update: bgp_proto::Update {
                attributes: attrs(&[65001], "10.0.0.1"),
                nlri: vec![net("10.2.0.0/24"), net("10.3.0.0/24")],
                ..Default::default()
            },
        },
        Input::Update {
            peer: PeerId(2),
            update: bgp_proto::Update {
                attributes: attrs(&[65002], "10.0.0.2"),
                nlri: vec![net("10.3.0.0/24"), net("10.4.0.0/24")],
                ..Default::default()
            },
        },
        Input::PeerDown { peer: PeerId(1), graceful: true },
        Input::PeerUp { peer: PeerId(1), info: gr },
        Input::Update { peer: PeerId(1), update: bgp_proto::Update::end_of_rib(V4) },
        Input::RouteRefresh { peer: PeerId(3), refresh: RouteRefresh::new(V4) },
    ];
    let run = || {
        let mut rib = rib();
        inputs.iter().flat_map(|i| rib.handle(now, i.clone())).collect::<Vec<Output>>()
    };
    let first = run();
    assert!(first.len() > 10);
    assert_eq!(first, run());
}

/// The NLRI (with path ids) announced and withdrawn towards `peer`, decoded
/// with an ADD-PATH IPv4 context.
fn add_path_nlri(out: &[Output], peer: u32) -> (Vec<Nlri>, Vec<Nlri>) {
    let ctx = Context { add_path: vec![V4], ..Context::default() };
    let mut announced = Vec::new();
    let mut withdrawn = Vec::new();
    for o in out {
        let Output::Send { peers, messages } = o else { continue };
        if !peers.contains(&PeerId(peer)) {
            continue;
        }
        let mut rest: &[u8] = messages;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let u = decode_update(&rest[19..len], &ctx).expect("valid UPDATE");
            announced.extend(u.nlri);
            withdrawn.extend(u.withdrawn);
            rest = &rest[len..];
        }
    }
    (announced, withdrawn)
}

#[test]
fn add_path_send_multipath_and_all() {
    let mut rib = rib();
    up(&mut rib, 1, info(1, 65001));
    up(&mut rib, 2, info(2, 65001));
    up(&mut rib, 5, info(5, 65001));
    let mut multi = info(3, 65003);
    multi.ctx.add_path = vec![V4];
    up(&mut rib, 3, multi);
    let mut all = info(4, 65004);
    all.ctx.add_path = vec![V4];
    all.add_path_send = AddPathSend::All;
    up(&mut rib, 4, all);
    let mut out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["10.2.0.0/24"]);
    out.extend(announce(&mut rib, 2, attrs(&[65001], "10.0.0.2"), &["10.2.0.0/24"]));
    out.extend(announce(&mut rib, 5, attrs(&[65001, 65009], "10.0.0.5"), &["10.2.0.0/24"]));
    let p = "10.2.0.0/24".parse().expect("prefix");
    let ids = |v: Vec<Nlri>| {
        let mut ids: Vec<u32> = v
            .iter()
            .map(|n| {
                assert_eq!(n.prefix, p);
                n.path_id.expect("path id")
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    assert_eq!(ids(add_path_nlri(&out, 3).0), [1, 2], "best + ECMP");
    assert_eq!(ids(add_path_nlri(&out, 4).0), [1, 2, 3], "all paths");
    let out = withdraw(&mut rib, 1, &["10.2.0.0/24"]);
    assert_eq!(add_path_nlri(&out, 3), (vec![], vec![Nlri::with_path_id(p, 1)]));
    assert_eq!(add_path_nlri(&out, 4), (vec![], vec![Nlri::with_path_id(p, 1)]));
}

#[test]
fn routes_of_a_family_not_negotiated_are_ignored() {
    let mut rib = rib();
    // Peer 1 negotiated IPv4 unicast only, peer 2 (the one we look from) both.
    up(&mut rib, 1, PeerInfo { families: vec![V4], ..info(1, 65001) });
    up(&mut rib, 2, info(2, 65002));
    let out = announce_v6(&mut rib, 1, attrs(&[65001], "10.0.0.1"), "2001:db8::1", &["2001:db8:1::/48"]);
    assert!(sent_to(&out, 2).is_empty(), "nothing of IPv6 reaches peer 2: {out:?}");
    assert!(rib.adj_rib_in(PeerId(1)).is_empty(), "no IPv6 route stored");
    // Its IPv4 routes are taken as usual, and sent on.
    let out = announce(&mut rib, 1, attrs(&[65001], "10.0.0.1"), &["192.0.2.0/24"]);
    assert_eq!(announced_to(&out, 2), vec![net("192.0.2.0/24")]);
    assert_eq!(rib.adj_rib_in(PeerId(1)).len(), 1);
    // The other way round: a peer without IPv4 unicast sends IPv4 NLRI.
    up(&mut rib, 3, PeerInfo { families: vec![V6], ..info(3, 65003) });
    let out = announce(&mut rib, 3, attrs(&[65003], "10.0.0.3"), &["198.51.100.0/24"]);
    assert!(announced_to(&out, 2).is_empty());
    assert!(rib.adj_rib_in(PeerId(3)).is_empty());
}
