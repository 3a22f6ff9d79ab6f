//! Golden byte tables for every path attribute and UPDATE variant, and the
//! real UPDATEs of the MRT dumps in `tests/data/bgp/mrt`.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::attribute::{
    decode_path_attributes, type_code, Aggregator, AsPath, AsSegment, EncodeOptions, LargeCommunity, MpNextHop, MpNlri,
    MpReach, MpUnreach, Origin, PartialBits, PathAttributes, RawAttribute, SegmentType,
};
use bgp_proto::error::EncodeError;
use bgp_proto::types::{Afi, Safi, AS_TRANS};
use bgp_proto::update::{decode_update, Update, UpdateBuilder};
use bgp_proto::{Context, Family, Nlri, UpdateError};
use bytes::{Bytes, BytesMut};
use ipnet::IpNet;

mod common;
use common::read_mrt;

/// One BGP message of a BGP4MP record (RFC 6396 §4.4) with what its subtype
/// says about the session.
struct MrtMessage {
    four_octet_as: bool,
    add_path: bool,
    /// The whole BGP message, header included.
    msg: Vec<u8>,
}

/// A minimal BGP4MP / BGP4MP_ET reader: MRT common header (timestamp 4,
/// type 2, subtype 2, length 4), the ET microseconds, then the message
/// subtypes' peer fields and the BGP message.
fn bgp4mp_messages(data: &[u8]) -> Vec<MrtMessage> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= data.len() {
        let typ = u16::from_be_bytes([data[pos + 4], data[pos + 5]]);
        let subtype = u16::from_be_bytes([data[pos + 6], data[pos + 7]]);
        let len = u32::from_be_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]) as usize;
        let Some(mut rec) = data.get(pos + 12..pos + 12 + len) else { break };
        pos += 12 + len;
        if typ != 16 && typ != 17 {
            continue;
        }
        if typ == 17 {
            rec = &rec[4..];
        }
        // MESSAGE 1, MESSAGE_AS4 4, _LOCAL 6/7, _ADDPATH 8/9, _LOCAL_ADDPATH 10/11.
        if !matches!(subtype, 1 | 4 | 6 | 7 | 8 | 9 | 10 | 11) {
            continue;
        }
        let four_octet_as = matches!(subtype, 4 | 7 | 9 | 11);
        let add_path = subtype >= 8;
        let as_len = if four_octet_as { 4 } else { 2 };
        let afi_at = 2 * as_len + 2;
        let afi = u16::from_be_bytes([rec[afi_at], rec[afi_at + 1]]);
        let ip_len = if afi == 2 { 16 } else { 4 };
        let msg = &rec[afi_at + 2 + 2 * ip_len..];
        out.push(MrtMessage { four_octet_as, add_path, msg: msg.to_vec() });
    }
    out
}

fn context_for(m: &MrtMessage) -> Context {
    let all = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];
    Context {
        four_octet_as: m.four_octet_as,
        add_path: if m.add_path { all.clone() } else { Vec::new() },
        extended_message: true,
        extended_next_hop: all,
    }
}

const UPDATE_DUMPS: &[&str] = &[
    "bgpdump__updates.20070211.0141.gz",
    "bgpdump__updates.20100722.2015.gz",
    "bgpdump__updates.20160811.1600.gz",
    "bgpdump__updates.et-header.2015.gz",
    "ris-rrc00__updates.20181218.1140.gz",
    "ris-rrc06__updates.20150401.0000.gz",
    "ris-rrc15__updates.20100227.1600.gz",
    "routeviews-jinx__updates.20150401.0000.bz2",
    "routeviews6__updates.20151009.1230.bz2",
    "routeviews__updates.20240914.ET.bz2",
    "mrtparse__bird_bgp",
    "mrtparse__bird6_bgp",
    "mrtparse__quagga_bgp",
    "mrtparse__openbgpd_bgp",
    "mrtparse__bird-mrtdump_bgp",
];

/// Decodes an UPDATE of a BGP4MP record. BIRD's mrtdump writes ADD-PATH
/// NLRI under the non-ADD-PATH subtypes; such a message is retried with
/// ADD-PATH, as a reader of those files has to.
fn decode_mrt_update(m: &MrtMessage) -> (Context, Result<Update, UpdateError>) {
    let ctx = context_for(m);
    let r = decode_update(&m.msg[19..], &ctx);
    if matches!(&r, Err(UpdateError::SessionReset(_))) && !m.add_path {
        let retry = MrtMessage { add_path: true, four_octet_as: m.four_octet_as, msg: m.msg.clone() };
        let ctx = context_for(&retry);
        let r = decode_update(&m.msg[19..], &ctx);
        if r.is_ok() {
            return (ctx, r);
        }
    }
    (ctx, r)
}

/// Whether the attribute section of an UPDATE is in the canonical form the
/// encoder writes: MP_REACH_NLRI / MP_UNREACH_NLRI first, then ascending
/// type codes, Extended Length only above 255 octets, no unused flag bits,
/// and the flags RFC 4271 §5 prescribes for recognised attributes.
fn canonical_attributes(body: &[u8]) -> bool {
    let wl = u16::from_be_bytes([body[0], body[1]]) as usize;
    let al = u16::from_be_bytes([body[2 + wl], body[3 + wl]]) as usize;
    let mut a = &body[4 + wl..4 + wl + al];
    let mut last: i32 = -1;
    let mut mp_phase = true;
    while !a.is_empty() {
        let (f, code) = (a[0], a[1]);
        let (hl, len) = if f & 0x10 != 0 { (4, u16::from_be_bytes([a[2], a[3]]) as usize) } else { (3, a[2] as usize) };
        if f & 0x0f != 0 || (f & 0x10 != 0) != (len > 255) {
            return false;
        }
        let is_mp = code == 14 || code == 15;
        if is_mp && !mp_phase {
            return false;
        }
        if !is_mp && mp_phase {
            mp_phase = false;
            last = -1;
        }
        if i32::from(code) <= last {
            return false;
        }
        last = i32::from(code);
        let expected = match code {
            1 | 2 | 3 | 5 | 6 => Some(0x40),
            4 | 9 | 10 | 14 | 15 => Some(0x80),
            7 | 8 | 16 | 17 | 18 | 32 | 35 => Some(0xc0),
            _ => None,
        };
        if let Some(e) = expected {
            let partial_ok = e == 0xc0;
            if f & 0xc0 != e || (!partial_ok && f & 0x20 != 0) {
                return false;
            }
        }
        a = &a[hl + len..];
    }
    true
}

#[test]
fn real_updates_reencode_to_their_bytes_where_canonical() {
    let (mut same, mut noncanonical) = (0, 0);
    for name in UPDATE_DUMPS {
        let data = read_mrt(name);
        for m in bgp4mp_messages(&data) {
            if m.msg.len() < 19 || m.msg[18] != 2 {
                continue;
            }
            let (ctx, r) = decode_mrt_update(&m);
            let u = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(u.discarded.is_empty(), "{name}: {:?}", u.discarded);
            let mut out = BytesMut::new();
            u.encode(&ctx, &mut out).expect("re-encode");
            if out[..] == m.msg[..] {
                same += 1;
            } else if canonical_attributes(&m.msg[19..]) {
                panic!("{name}: canonical message re-encoded differently\n{}\n{}", hex(&m.msg), hex(&out));
            } else {
                noncanonical += 1;
            }
        }
    }
    eprintln!("byte-exact {same}, not canonical {noncanonical}");
    assert!(same > 10_000, "only {same} messages re-encoded byte-exact");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn real_updates_decode() {
    for name in UPDATE_DUMPS {
        let data = read_mrt(name);
        let (mut ok, mut discard, mut withdraw, mut reset) = (0, 0, 0, 0);
        for m in bgp4mp_messages(&data) {
            if m.msg.len() < 19 || m.msg[18] != 2 {
                continue;
            }
            match decode_mrt_update(&m).1 {
                Ok(u) if u.discarded.is_empty() => ok += 1,
                Ok(u) => {
                    discard += 1;
                    eprintln!("{name}: discarded {:?}", u.discarded);
                }
                Err(UpdateError::TreatAsWithdraw { error, .. }) => {
                    withdraw += 1;
                    eprintln!("{name}: treat-as-withdraw {error}");
                }
                Err(UpdateError::SessionReset(e)) => {
                    reset += 1;
                    eprintln!("{name}: reset {e}");
                }
            }
        }
        eprintln!("{name}: ok {ok} discard {discard} withdraw {withdraw} reset {reset}");
    }
}

// ---------------------------------------------------------------------------
// Hand-built vectors from the RFC layouts.
// ---------------------------------------------------------------------------

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

fn seg(asns: &[u32]) -> AsSegment {
    AsSegment { kind: SegmentType::AsSequence, asns: asns.to_vec() }
}

/// `wire` decodes to `attrs` without issues, and `attrs` encodes to `wire`.
fn golden(ctx: &Context, wire: &str, attrs: PathAttributes) {
    let wire = h(wire);
    let (got, issues) = decode_path_attributes(&wire, ctx, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(got, attrs);
    let mut out = BytesMut::new();
    attrs.encode(ctx, &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&wire));
}

/// [`golden`] for MP_REACH_NLRI, which needs ORIGIN and AS_PATH beside it
/// (RFC 7606 §3 d): `wire` is followed by `40 01 01 00  40 02 00`.
fn golden_mp(ctx: &Context, wire: &str, attrs: PathAttributes) {
    let attrs = PathAttributes { origin: Some(Origin::Igp), as_path: Some(AsPath::default()), ..attrs };
    golden(ctx, &format!("{wire} 40 01 01 00  40 02 00"), attrs);
}

fn four() -> Context {
    Context::default()
}

fn two() -> Context {
    Context::legacy()
}

#[test]
fn origin() {
    for (v, o) in [(0, Origin::Igp), (1, Origin::Egp), (2, Origin::Incomplete)] {
        golden(&four(), &format!("40 01 01 {v:02x}"), PathAttributes { origin: Some(o), ..Default::default() });
    }
}

#[test]
fn as_path_four_octet() {
    let p = AsPath {
        segments: vec![
            seg(&[65000, 70000]),
            AsSegment { kind: SegmentType::AsSet, asns: vec![1, 4_200_000_000] },
            AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512] },
            AsSegment { kind: SegmentType::ConfedSet, asns: vec![64513] },
        ],
    };
    golden(
        &four(),
        "40 02 20  02 02 0000fde8 00011170  01 02 00000001 fa56ea00  03 01 0000fc00  04 01 0000fc01",
        PathAttributes { as_path: Some(p), ..Default::default() },
    );
    golden(&four(), "40 02 00", PathAttributes { as_path: Some(AsPath::default()), ..Default::default() });
}

#[test]
fn as_path_two_octet_and_as_trans() {
    golden(
        &two(),
        "40 02 06 02 02 fde8 5ba0",
        PathAttributes { as_path: Some(AsPath { segments: vec![seg(&[65000, 23456])] }), ..Default::default() },
    );
    // A 4-octet AS towards a 2-octet speaker is AS_TRANS (RFC 6793 §4.2.2).
    let mut out = BytesMut::new();
    let a = PathAttributes { as_path: Some(AsPath { segments: vec![seg(&[70000])] }), ..Default::default() };
    a.encode(&two(), &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&h("40 02 04 02 01 5ba0")));
}

#[test]
fn long_as_sequence_is_split_into_segments_of_255() {
    let asns: Vec<u32> = (1..=300).collect();
    let a = PathAttributes { as_path: Some(AsPath { segments: vec![seg(&asns)] }), ..Default::default() };
    let mut out = BytesMut::new();
    a.encode(&four(), &mut out).expect("encodes");
    // 2 + 255*4 + 2 + 45*4 = 1204 octets: Extended Length.
    assert_eq!(&out[..4], &h("50 02 04b4")[..]);
    assert_eq!(&out[4..6], &[2, 255]);
    assert_eq!(&out[4 + 2 + 1020..4 + 2 + 1020 + 2], &[2, 45]);
    let (back, _) = decode_path_attributes(&out, &four(), None).expect("decodes");
    assert_eq!(back.as_path.expect("path").segments.iter().map(|s| s.asns.len()).collect::<Vec<_>>(), [255, 45]);
}

#[test]
fn next_hop_med_local_pref_atomic_aggregate() {
    golden(
        &four(),
        "40 03 04 c0000201  80 04 04 00000064  40 05 04 000000c8  40 06 00",
        PathAttributes {
            next_hop: Some(v4("192.0.2.1")),
            med: Some(100),
            local_pref: Some(200),
            atomic_aggregate: true,
            ..Default::default()
        },
    );
}

#[test]
fn aggregator_both_widths() {
    let agg = Some(Aggregator { asn: 70000, address: v4("192.0.2.1") });
    golden(&four(), "c0 07 08 00011170 c0000201", PathAttributes { aggregator: agg, ..Default::default() });
    let agg = Some(Aggregator { asn: 23456, address: v4("192.0.2.1") });
    golden(&two(), "c0 07 06 5ba0 c0000201", PathAttributes { aggregator: agg, ..Default::default() });
}

#[test]
fn communities_originator_cluster_list() {
    golden(
        &four(),
        "c0 08 08 fde80001 ffffff01  80 09 04 0a000001  80 0a 08 0a000001 0a000002",
        PathAttributes {
            communities: Some(vec![0xfde8_0001, 0xffff_ff01]),
            originator_id: Some(v4("10.0.0.1")),
            cluster_list: Some(vec![v4("10.0.0.1"), v4("10.0.0.2")]),
            ..Default::default()
        },
    );
}

#[test]
fn extended_length_only_above_255_octets() {
    let many: Vec<u32> = (0..64).collect(); // 256 octets
    let mut wire = String::from("d0 08 0100");
    many.iter().for_each(|c| wire.push_str(&format!("{c:08x}")));
    golden(&four(), &wire, PathAttributes { communities: Some(many), ..Default::default() });
    let fits: Vec<u32> = (0..63).collect(); // 252 octets
    let mut wire = String::from("c0 08 fc");
    fits.iter().for_each(|c| wire.push_str(&format!("{c:08x}")));
    golden(&four(), &wire, PathAttributes { communities: Some(fits), ..Default::default() });
}

#[test]
fn partial_bit_of_a_recognised_optional_transitive_attribute_is_kept() {
    let mut partial = PartialBits::default();
    partial.insert(type_code::COMMUNITIES);
    golden(
        &four(),
        "e0 08 04 fde80001",
        PathAttributes { communities: Some(vec![0xfde8_0001]), partial, ..Default::default() },
    );
}

#[test]
fn mp_reach_ipv6_global_and_link_local() {
    let reach = MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::V6LinkLocal { global: v6("2001:db8::1"), link_local: v6("fe80::1") },
        reserved: 0,
        nlri: MpNlri::Prefixes(vec![Nlri::new(net("2001:db8::/32")), Nlri::new(net("2001:db8:1::/48"))]),
    };
    golden_mp(
        &four(),
        "80 0e 31 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
         20 20010db8  30 20010db80001",
        PathAttributes { mp_reach: Some(reach), ..Default::default() },
    );
}

#[test]
fn mp_reach_ipv6_single_next_hop_with_add_path() {
    let ctx = Context { add_path: vec![Family::IPV6_UNICAST], ..Context::default() };
    let reach = MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::V6(v6("2001:db8::1")),
        reserved: 0,
        nlri: MpNlri::Prefixes(vec![Nlri::with_path_id(net("2001:db8::/32"), 9)]),
    };
    golden_mp(
        &ctx,
        "80 0e 1e 0002 01 10 20010db8000000000000000000000001 00 00000009 20 20010db8",
        PathAttributes { mp_reach: Some(reach), ..Default::default() },
    );
}

#[test]
fn mp_reach_ipv4_with_ipv6_next_hop_rfc8950() {
    let ctx = Context { extended_next_hop: vec![Family::IPV4_UNICAST], ..Context::default() };
    let reach = MpReach {
        family: Family::IPV4_UNICAST,
        next_hop: MpNextHop::V6(v6("2001:db8::1")),
        reserved: 0,
        nlri: MpNlri::Prefixes(vec![Nlri::new(net("192.0.2.0/24"))]),
    };
    golden_mp(
        &ctx,
        "80 0e 19 0001 01 10 20010db8000000000000000000000001 00 18 c00002",
        PathAttributes { mp_reach: Some(reach), ..Default::default() },
    );
    // Without RFC 8950 negotiated the next-hop length is unexpected (RFC 7606 §7.11).
    let wire = h("80 0e 19 0001 01 10 20010db8000000000000000000000001 00 18 c00002");
    assert!(matches!(decode_path_attributes(&wire, &four(), None), Err(UpdateError::SessionReset(_))));
}

#[test]
fn mp_reach_ipv4_multicast() {
    let reach = MpReach {
        family: Family::IPV4_MULTICAST,
        next_hop: MpNextHop::V4(v4("192.0.2.1")),
        reserved: 0,
        nlri: MpNlri::Prefixes(vec![Nlri::new(net("232.0.0.0/8"))]),
    };
    golden_mp(
        &four(),
        "80 0e 0b 0001 02 04 c0000201 00 08 e8",
        PathAttributes { mp_reach: Some(reach), ..Default::default() },
    );
}

#[test]
fn mp_reach_and_unreach_of_other_families_stay_opaque() {
    // VPNv4 (AFI 1, SAFI 128): 12-octet next hop (RD + address), labelled VPN NLRI.
    let reach = MpReach {
        family: Family::new(Afi::IPV4, Safi::MPLS_VPN),
        next_hop: MpNextHop::Other(Bytes::from(h("0000000000000000 c0000201"))),
        reserved: 0,
        nlri: MpNlri::Opaque(Bytes::from(h("70 000011 0000fde800000001 0a0000"))),
    };
    let unreach = MpUnreach {
        family: Family::new(Afi::IPV4, Safi::MPLS_VPN),
        withdrawn: MpNlri::Opaque(Bytes::from(h("70 800000 0000fde800000001 0a0100"))),
    };
    golden_mp(
        &four(),
        "80 0e 20 0001 80 0c 0000000000000000c0000201 00 70 000011 0000fde800000001 0a0000
         80 0f 12 0001 80 70 800000 0000fde800000001 0a0100",
        PathAttributes { mp_reach: Some(reach), mp_unreach: Some(unreach), ..Default::default() },
    );
}

#[test]
fn mp_unreach_ipv6() {
    let unreach = MpUnreach {
        family: Family::IPV6_UNICAST,
        withdrawn: MpNlri::Prefixes(vec![Nlri::new(net("2001:db8:1::/48"))]),
    };
    golden(
        &four(),
        "80 0f 0a 0002 01 30 20010db80001",
        PathAttributes { mp_unreach: Some(unreach), ..Default::default() },
    );
}

#[test]
fn mrt_rib_abbreviated_mp_reach() {
    let wire = h("80 0e 11 10 20010db8000000000000000000000001");
    let (a, issues) = decode_path_attributes(&wire, &four(), Some(Family::IPV6_UNICAST)).expect("decodes");
    assert!(issues.is_empty());
    let want = MpReach {
        family: Family::IPV6_UNICAST,
        next_hop: MpNextHop::V6(v6("2001:db8::1")),
        reserved: 0,
        nlri: MpNlri::Prefixes(Vec::new()),
    };
    assert_eq!(a.mp_reach, Some(want));
    let mut out = BytesMut::new();
    a.encode_with(&four(), EncodeOptions { mrt_rib: true, ..Default::default() }, &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&wire));
    // The full RFC 4760 form and an empty attribute are accepted too.
    let full = h("80 0e 15 0002 01 10 20010db8000000000000000000000001 00");
    let (a, _) = decode_path_attributes(&full, &four(), Some(Family::IPV6_UNICAST)).expect("decodes");
    assert_eq!(a.mp_reach.expect("reach").next_hop, MpNextHop::V6(v6("2001:db8::1")));
    // RouteViews repeats the entry's prefix in a full-form attribute: skipped.
    let full = h("80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8");
    let (a, _) = decode_path_attributes(&full, &four(), Some(Family::IPV6_UNICAST)).expect("decodes");
    assert_eq!(a.mp_reach.expect("reach").nlri, MpNlri::Prefixes(Vec::new()));
    let (a, _) = decode_path_attributes(&h("80 0e 00"), &four(), Some(Family::IPV6_UNICAST)).expect("decodes");
    assert_eq!(a.mp_reach.expect("reach").next_hop, MpNextHop::Other(Bytes::new()));
}

#[test]
fn extended_communities_as4_attributes_large_communities_otc() {
    golden(
        &two(),
        "c0 10 08 0002fde800000064  c0 11 0a 02 02 00011170 00011171  c0 12 08 00011170 c0000201
         c0 20 0c 0000fde8 00000001 00000002  c0 23 04 0000fde8",
        PathAttributes {
            extended_communities: Some(vec![[0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 0x64]]),
            as4_path: Some(AsPath { segments: vec![seg(&[70000, 70001])] }),
            as4_aggregator: Some(Aggregator { asn: 70000, address: v4("192.0.2.1") }),
            large_communities: Some(vec![LargeCommunity { global_admin: 65000, local_data1: 1, local_data2: 2 }]),
            otc: Some(65000),
            ..Default::default()
        },
    );
}

#[test]
fn unknown_attributes_are_kept_and_partial_set_when_passed_on() {
    let raw = |flags, type_code, v: &str| RawAttribute { flags, type_code, value: Bytes::from(h(v)) };
    let a = PathAttributes {
        origin: Some(Origin::Igp),
        unknown: vec![raw(0x80, 26, "00 000b 0000000000000064"), raw(0xc0, 99, "abcd")],
        ..Default::default()
    };
    golden(&four(), "40 01 01 00  80 1a 0b 00000b0000000000000064  c0 63 02 abcd", a.clone());
    // Unordered on the wire: decoded in type-code order.
    let (b, _) = decode_path_attributes(&h("c0 63 02 abcd 40 01 01 00 80 1a 0b 00000b0000000000000064"), &four(), None)
        .expect("decodes");
    assert_eq!(b, a);
    // Passing on (RFC 4271 §5): the optional non-transitive one is dropped,
    // the optional transitive one gets the Partial bit.
    let mut out = BytesMut::new();
    a.encode_with(&four(), EncodeOptions { pass_on: true, ..Default::default() }, &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&h("40 01 01 00  e0 63 02 abcd")));
}

#[test]
fn as4_attributes_from_a_four_octet_session_are_ignored() {
    // RFC 6793 §4.2.2: kept opaque (re-encodable), not merged.
    let wire = h("40 02 06 02 01 00011170  c0 11 06 02 01 00011171");
    let (a, issues) = decode_path_attributes(&wire, &four(), None).expect("decodes");
    assert!(issues.is_empty());
    assert_eq!(a.as4_path, None);
    assert_eq!(a.unknown.len(), 1);
    assert_eq!(a.effective_as_path(), Some(AsPath { segments: vec![seg(&[70000])] }));
    let mut out = BytesMut::new();
    a.encode(&four(), &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&wire));
}

#[test]
fn effective_as_path_and_aggregator_rfc6793() {
    let trans = AS_TRANS;
    let mut a = PathAttributes {
        as_path: Some(AsPath { segments: vec![seg(&[65001, trans, 65002, trans])] }),
        as4_path: Some(AsPath { segments: vec![seg(&[70000, 65002, 70001])] }),
        ..Default::default()
    };
    assert_eq!(a.effective_as_path(), Some(AsPath { segments: vec![seg(&[65001, 70000, 65002, 70001])] }));
    // AS4_PATH longer than AS_PATH: ignored.
    a.as4_path = Some(AsPath { segments: vec![seg(&[1, 2, 3, 4, 5])] });
    assert_eq!(a.effective_as_path(), a.as_path);
    // With an AS_SET counting one and a leading confederation segment kept.
    let a = PathAttributes {
        as_path: Some(AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512] },
                seg(&[65001]),
                AsSegment { kind: SegmentType::AsSet, asns: vec![trans, 65003] },
            ],
        }),
        as4_path: Some(AsPath { segments: vec![AsSegment { kind: SegmentType::AsSet, asns: vec![70000, 65003] }] }),
        ..Default::default()
    };
    assert_eq!(
        a.effective_as_path(),
        Some(AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512] },
                seg(&[65001]),
                AsSegment { kind: SegmentType::AsSet, asns: vec![70000, 65003] },
            ]
        })
    );
    // AGGREGATOR not AS_TRANS: AS4_PATH and AS4_AGGREGATOR ignored.
    let agg4 = Aggregator { asn: 70000, address: v4("192.0.2.1") };
    let mut a = PathAttributes {
        as_path: Some(AsPath { segments: vec![seg(&[trans])] }),
        as4_path: Some(AsPath { segments: vec![seg(&[70000])] }),
        aggregator: Some(Aggregator { asn: 65000, address: v4("192.0.2.1") }),
        as4_aggregator: Some(agg4),
        ..Default::default()
    };
    assert_eq!(a.effective_as_path(), a.as_path);
    assert_eq!(a.effective_aggregator(), a.aggregator);
    a.aggregator = Some(Aggregator { asn: trans, address: v4("192.0.2.1") });
    assert_eq!(a.effective_as_path(), Some(AsPath { segments: vec![seg(&[70000])] }));
    assert_eq!(a.effective_aggregator(), Some(agg4));
}

// ---------------------------------------------------------------------------
// Whole UPDATE messages.
// ---------------------------------------------------------------------------

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

/// `wire` (a whole message) decodes to `u` and `u` encodes to `wire`.
fn golden_update(ctx: &Context, wire: &str, u: Update) {
    let wire = h(wire);
    let got = decode_update(&wire[19..], ctx).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(got, u);
    let mut out = BytesMut::new();
    u.encode(ctx, &mut out).expect("encodes");
    assert_eq!(hex(&out), hex(&wire));
}

fn basic_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath { segments: vec![seg(&[65001])] }),
        next_hop: Some(v4("192.0.2.1")),
        ..Default::default()
    }
}

#[test]
fn update_ipv4_announce_and_withdraw() {
    golden_update(
        &four(),
        &format!(
            "{MARKER} 0034 02  0003 10 0a01  0014 40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c0000201
             18 c63364  08 0b"
        ),
        Update {
            withdrawn: vec![Nlri::new(net("10.1.0.0/16"))],
            attributes: basic_attrs(),
            nlri: vec![Nlri::new(net("198.51.100.0/24")), Nlri::new(net("11.0.0.0/8"))],
            discarded: vec![],
        },
    );
}

#[test]
fn update_ipv4_withdraw_only_and_add_path() {
    golden_update(
        &four(),
        &format!("{MARKER} 001a 02 0003 10 0a01 0000"),
        Update { withdrawn: vec![Nlri::new(net("10.1.0.0/16"))], ..Default::default() },
    );
    let ctx = Context { add_path: vec![Family::IPV4_UNICAST], ..Context::default() };
    golden_update(
        &ctx,
        &format!(
            "{MARKER} 0033 02 0000 0014 40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 c0000201 00000007 18 c63364"
        ),
        Update {
            attributes: basic_attrs(),
            nlri: vec![Nlri::with_path_id(net("198.51.100.0/24"), 7)],
            ..Default::default()
        },
    );
}

#[test]
fn update_ipv6_via_mp_reach_comes_first() {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath { segments: vec![seg(&[65001])] }),
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::V6(v6("2001:db8::1")),
            reserved: 0,
            nlri: MpNlri::Prefixes(vec![Nlri::new(net("2001:db8::/32"))]),
        }),
        ..Default::default()
    };
    golden_update(
        &four(),
        &format!(
            "{MARKER} 0041 02 0000 002a  80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8
             40 01 01 00  40 02 06 02 01 0000fde9"
        ),
        Update { attributes: attrs, ..Default::default() },
    );
}

#[test]
fn end_of_rib_markers() {
    golden_update(&four(), &format!("{MARKER} 0017 02 0000 0000"), Update::end_of_rib(Family::IPV4_UNICAST));
    golden_update(
        &four(),
        &format!("{MARKER} 001d 02 0000 0006 80 0f 03 0002 01"),
        Update::end_of_rib(Family::IPV6_UNICAST),
    );
    for f in
        [Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::new(Afi::IPV4, Safi::MPLS_VPN)]
    {
        let mut out = BytesMut::new();
        Update::end_of_rib(f).encode(&four(), &mut out).expect("encodes");
        let back = decode_update(&out[19..], &four()).expect("decodes");
        assert_eq!(back.is_end_of_rib(), Some(f));
    }
    let u = Update { withdrawn: vec![Nlri::new(net("10.0.0.0/8"))], ..Default::default() };
    assert_eq!(u.is_end_of_rib(), None);
    let mut u = Update::end_of_rib(Family::IPV6_UNICAST);
    u.attributes.origin = Some(Origin::Igp);
    assert_eq!(u.is_end_of_rib(), None);
}

#[test]
fn update_too_long_for_the_session_is_refused() {
    let nlri: Vec<Nlri> = (0..1100u32).map(|i| Nlri::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256)))).collect();
    let u = Update { attributes: basic_attrs(), nlri, ..Default::default() };
    let mut out = BytesMut::from(&b"keep"[..]);
    assert!(matches!(u.encode(&four(), &mut out), Err(EncodeError::TooLong { max: 4096, .. })));
    assert_eq!(&out[..], b"keep");
    let ext = Context { extended_message: true, ..Context::default() };
    u.encode(&ext, &mut out).expect("fits in an extended message");
    assert_eq!(out.len(), 4 + 19 + 4 + 20 + 1100 * 4);
}

// ---------------------------------------------------------------------------
// UpdateBuilder.
// ---------------------------------------------------------------------------

/// Splits a buffer of back-to-back messages and decodes each.
fn split_and_decode(mut buf: &[u8], ctx: &Context) -> Vec<(usize, Update)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let len = u16::from_be_bytes([buf[16], buf[17]]) as usize;
        assert_eq!(&buf[..16], &[0xff; 16]);
        assert_eq!(buf[18], 2);
        out.push((len, decode_update(&buf[19..len], ctx).expect("builder output decodes")));
        buf = &buf[len..];
    }
    out
}

fn many_v4(n: u32) -> Vec<Nlri> {
    (0..n).map(|i| Nlri::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256)))).collect()
}

#[test]
fn builder_packs_ipv4_nlri_into_full_messages() {
    let ctx = four();
    let attrs = PathAttributes { communities: Some(vec![1, 2, 3]), ..basic_attrs() };
    let b = UpdateBuilder::new(&ctx, Family::IPV4_UNICAST, &attrs, EncodeOptions::default()).expect("builder");
    let nlri = many_v4(3000);
    let mut out = BytesMut::new();
    let n = b.announce(&nlri, &mut out).expect("announces");
    let msgs = split_and_decode(&out, &ctx);
    assert_eq!(msgs.len(), n);
    // 19 + 4 + 35 octets of attributes leave 4038 for 4-octet NLRI: 1009 each.
    assert_eq!(n, 3);
    assert_eq!(msgs.iter().map(|(_, u)| u.nlri.len()).collect::<Vec<_>>(), [1009, 1009, 982]);
    assert!(msgs.iter().all(|(len, u)| *len <= 4096 && u.attributes == attrs));
    assert_eq!(msgs.iter().flat_map(|(_, u)| u.nlri.clone()).collect::<Vec<_>>(), nlri);
    // Each message equals Update::encode of what it carries.
    let mut again = BytesMut::new();
    for (_, u) in &msgs {
        u.encode(&ctx, &mut again).expect("encodes");
    }
    assert_eq!(again, out);
}

#[test]
fn builder_uses_mp_reach_for_ipv6_with_add_path_and_extended_messages() {
    let ctx = Context { add_path: vec![Family::IPV6_UNICAST], extended_message: true, ..Context::default() };
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath { segments: vec![seg(&[65001])] }),
        next_hop: Some(v4("192.0.2.1")),
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::V6(v6("2001:db8::1")),
            reserved: 0,
            nlri: MpNlri::Prefixes(vec![]),
        }),
        ..Default::default()
    };
    let b = UpdateBuilder::new(&ctx, Family::IPV6_UNICAST, &attrs, EncodeOptions::default()).expect("builder");
    let nlri: Vec<Nlri> =
        (0..20_000u32).map(|i| Nlri::with_path_id(net(&format!("2001:db8:{:x}::/48", i)), i % 3)).collect();
    let mut out = BytesMut::new();
    let n = b.announce(&nlri, &mut out).expect("announces");
    let msgs = split_and_decode(&out, &ctx);
    assert_eq!(msgs.len(), n);
    assert!(n >= 3 && msgs.iter().all(|(len, _)| *len <= 65535));
    let mut got = Vec::new();
    for (_, u) in &msgs {
        assert!(u.nlri.is_empty() && u.attributes.next_hop.is_none(), "RFC 4760 §3: no NEXT_HOP without NLRI field");
        let reach = u.attributes.mp_reach.as_ref().expect("MP_REACH_NLRI");
        assert_eq!(reach.next_hop, MpNextHop::V6(v6("2001:db8::1")));
        let MpNlri::Prefixes(p) = &reach.nlri else { panic!("prefixes") };
        got.extend_from_slice(p);
    }
    assert_eq!(got, nlri);
}

#[test]
fn builder_withdrawals_for_ipv4_and_ipv6() {
    let ctx = four();
    let b = UpdateBuilder::withdrawals(&ctx, Family::IPV4_UNICAST);
    let mut out = BytesMut::new();
    let nlri = many_v4(1100);
    assert_eq!(b.withdraw(&nlri, &mut out).expect("withdraws"), 2);
    let msgs = split_and_decode(&out, &ctx);
    assert_eq!(msgs.iter().flat_map(|(_, u)| u.withdrawn.clone()).collect::<Vec<_>>(), nlri);
    assert!(b.announce(&nlri, &mut out).is_err());

    let b = UpdateBuilder::withdrawals(&ctx, Family::IPV6_UNICAST);
    let nlri: Vec<Nlri> = (0..900u32).map(|i| Nlri::new(net(&format!("2001:db8:{:x}::/48", i)))).collect();
    let mut out = BytesMut::new();
    assert_eq!(b.withdraw(&nlri, &mut out).expect("withdraws"), 2);
    let mut got = Vec::new();
    for (_, u) in split_and_decode(&out, &ctx) {
        let unreach = u.attributes.mp_unreach.expect("MP_UNREACH_NLRI");
        let MpNlri::Prefixes(p) = unreach.withdrawn else { panic!("prefixes") };
        got.extend(p);
    }
    assert_eq!(got, nlri);
    assert_eq!(b.withdraw(&[], &mut out).expect("nothing"), 0);
}

#[test]
fn builder_refuses_a_family_mismatch_and_leaves_out_untouched() {
    let ctx = four();
    let b = UpdateBuilder::new(&ctx, Family::IPV4_UNICAST, &basic_attrs(), EncodeOptions::default()).expect("builder");
    let mut out = BytesMut::from(&b"x"[..]);
    let mut nlri = many_v4(2000);
    nlri.push(Nlri::new(net("2001:db8::/32")));
    assert!(matches!(b.announce(&nlri, &mut out), Err(EncodeError::Invalid(_))));
    assert_eq!(&out[..], b"x");
    assert!(UpdateBuilder::new(&ctx, Family::IPV6_UNICAST, &basic_attrs(), EncodeOptions::default()).is_err());
}

#[test]
fn attributes_for_a_two_octet_peer_carry_as4_path_and_as4_aggregator() {
    let a = PathAttributes {
        as_path: Some(AsPath {
            segments: vec![AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512] }, seg(&[65001, 70000])],
        }),
        aggregator: Some(Aggregator { asn: 70000, address: v4("192.0.2.1") }),
        ..Default::default()
    };
    let old = a.for_two_octet_peer();
    let mut out = BytesMut::new();
    old.encode(&two(), &mut out).expect("encodes");
    assert_eq!(
        hex(&out),
        hex(&h("40 02 0a 03 01 fc00 02 02 fde9 5ba0  c0 07 06 5ba0 c0000201
                c0 11 0a 02 02 0000fde9 00011170  c0 12 08 00011170 c0000201"))
    );
    // The 2-octet receiver rebuilds the 4-octet path (RFC 6793 §4.2.3).
    let (back, _) = decode_path_attributes(&out, &two(), None).expect("decodes");
    assert_eq!(back.effective_as_path(), a.as_path);
    assert_eq!(back.effective_aggregator(), a.aggregator);
    // Nothing wide: no AS4 attributes.
    let narrow = PathAttributes { as_path: Some(AsPath { segments: vec![seg(&[65001])] }), ..Default::default() };
    assert_eq!(narrow.for_two_octet_peer(), narrow);
}
