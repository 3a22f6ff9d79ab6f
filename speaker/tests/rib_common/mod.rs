//! Shared helpers of the RIB tests: peers, attribute sets, and decoding of
//! the RIB's output bytes back into UPDATE messages.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bgp_proto::attribute::{AsPath, AsSegment, MpNextHop, MpNlri, MpReach, Origin, SegmentType};
use bgp_proto::update::decode_update;
use bgp_proto::{Context, Family, Nlri, PathAttributes, Update};
use speaker::rib::{AddPathSend, FibChange, Input, NextHopMode, Output, PeerId, PeerInfo, Rib, RibConfig};

pub const LOCAL_AS: u32 = 65000;
pub const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub const CLUSTER_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
pub const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
pub const LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xfe);
pub const V4: Family = Family::IPV4_UNICAST;
pub const V6: Family = Family::IPV6_UNICAST;

pub fn t0() -> Instant {
    Instant::now()
}

pub fn rib() -> Rib {
    Rib::new(RibConfig::new(LOCAL_AS, ROUTER_ID))
}

pub fn rr() -> Rib {
    let mut c = RibConfig::new(LOCAL_AS, ROUTER_ID);
    c.cluster_id = Some(CLUSTER_ID);
    Rib::new(c)
}

/// Peer `n` at 10.0.0.n with router ID 1.1.1.n.
pub fn info(n: u8, asn: u32) -> PeerInfo {
    PeerInfo {
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        asn,
        router_id: Ipv4Addr::new(1, 1, 1, n),
        ctx: Context::default(),
        families: vec![V4, V6],
        rr_client: false,
        next_hop: NextHopMode::Auto,
        local_v4: Some(LOCAL_V4),
        local_v6: Some(LOCAL_V6),
        import_policy: None,
        export_policy: None,
        graceful_restart: None,
        allow_own_as: 0,
        max_prefixes: None,
        add_path_send: AddPathSend::Multipath,
        enhanced_route_refresh: false,
    }
}

pub fn up(rib: &mut Rib, peer: u32, info: PeerInfo) -> Vec<Output> {
    rib.handle(t0(), Input::PeerUp { peer: PeerId(peer), info })
}

pub fn net(s: &str) -> Nlri {
    Nlri::new(s.parse().expect("prefix"))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

pub fn seq(asns: &[u32]) -> AsPath {
    AsPath { segments: vec![AsSegment { kind: SegmentType::AsSequence, asns: asns.to_vec() }] }
}

/// IPv4 attributes: ORIGIN IGP, AS_PATH `path`, NEXT_HOP `nh`.
pub fn attrs(path: &[u32], nh: &str) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(seq(path)),
        next_hop: Some(nh.parse().expect("next hop")),
        ..PathAttributes::default()
    }
}

pub fn announce(rib: &mut Rib, peer: u32, attrs: PathAttributes, prefixes: &[&str]) -> Vec<Output> {
    let update = Update { attributes: attrs, nlri: prefixes.iter().map(|p| net(p)).collect(), ..Update::default() };
    rib.handle(t0(), Input::Update { peer: PeerId(peer), update })
}

pub fn announce_v6(rib: &mut Rib, peer: u32, mut attrs: PathAttributes, nh: &str, prefixes: &[&str]) -> Vec<Output> {
    attrs.next_hop = None;
    attrs.mp_reach = Some(MpReach {
        family: V6,
        next_hop: MpNextHop::V6(nh.parse().expect("next hop")),
        reserved: 0,
        nlri: MpNlri::Prefixes(prefixes.iter().map(|p| net(p)).collect()),
    });
    let update = Update { attributes: attrs, ..Update::default() };
    rib.handle(t0(), Input::Update { peer: PeerId(peer), update })
}

pub fn withdraw(rib: &mut Rib, peer: u32, prefixes: &[&str]) -> Vec<Output> {
    let update = Update { withdrawn: prefixes.iter().map(|p| net(p)).collect(), ..Update::default() };
    rib.handle(t0(), Input::Update { peer: PeerId(peer), update })
}

/// Splits back-to-back messages and decodes each UPDATE.
pub fn decode_all(bytes: &[u8]) -> Vec<Update> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        assert_eq!(rest[18], 2, "not an UPDATE");
        out.push(decode_update(&rest[19..len], &Context::default()).expect("valid UPDATE"));
        rest = &rest[len..];
    }
    out
}

/// The UPDATEs `peer` is sent in `outputs`, in order.
pub fn sent_to(outputs: &[Output], peer: u32) -> Vec<Update> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { peers, messages } if peers.contains(&PeerId(peer)) => Some(decode_all(messages)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Prefixes announced to `peer` (IPv4 NLRI field and MP_REACH), in order.
pub fn announced_to(outputs: &[Output], peer: u32) -> Vec<Nlri> {
    sent_to(outputs, peer)
        .into_iter()
        .flat_map(|u| {
            let mut v = u.nlri.clone();
            if let Some(MpReach { nlri: MpNlri::Prefixes(p), .. }) = &u.attributes.mp_reach {
                v.extend(p.iter().copied());
            }
            v
        })
        .collect()
}

/// Prefixes withdrawn towards `peer` (Withdrawn Routes and MP_UNREACH).
pub fn withdrawn_to(outputs: &[Output], peer: u32) -> Vec<Nlri> {
    sent_to(outputs, peer)
        .into_iter()
        .flat_map(|u| {
            let mut v = u.withdrawn.clone();
            if let Some(un) = &u.attributes.mp_unreach {
                if let MpNlri::Prefixes(p) = &un.withdrawn {
                    v.extend(p.iter().copied());
                }
            }
            v
        })
        .collect()
}

pub fn fib(outputs: &[Output]) -> Vec<FibChange> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Fib(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
