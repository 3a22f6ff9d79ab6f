//! Property tests: `decode(encode(x)) == x` for valid NLRI, path attributes
//! and UPDATEs in every context, UpdateBuilder output decoding back to its
//! input, and decoders returning (never panicking) on arbitrary bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::attribute::{
    decode_path_attributes, Aggregator, AsPath, AsSegment, EncodeOptions, LargeCommunity, MpNextHop, MpNlri, MpReach,
    MpUnreach, Origin, PartialBits, PathAttributes, RawAttribute, SegmentType,
};
use bgp_proto::nlri::{decode_prefixes, encode_nlri};
use bgp_proto::types::{Afi, Safi};
use bgp_proto::update::{decode_update, Update, UpdateBuilder};
use bgp_proto::{Context, Family, Nlri};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

const ALL: [Family; 4] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];

fn ctx(four_octet_as: bool, add_path: bool) -> Context {
    Context {
        four_octet_as,
        add_path: if add_path { ALL.to_vec() } else { Vec::new() },
        extended_message: true,
        extended_next_hop: Vec::new(),
    }
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).expect("len").trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).expect("len").trunc()))
}

fn prefix(afi: Afi) -> BoxedStrategy<IpNet> {
    if afi == Afi::IPV4 {
        v4_prefix().boxed()
    } else {
        v6_prefix().boxed()
    }
}

fn nlri_list(afi: Afi, add_path: bool, max: usize) -> impl Strategy<Value = Vec<Nlri>> {
    vec((prefix(afi), any::<u32>()), 0..max)
        .prop_map(move |v| v.into_iter().map(|(p, id)| Nlri { path_id: add_path.then_some(id), prefix: p }).collect())
}

fn asn(four: bool) -> BoxedStrategy<u32> {
    if four {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    }
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    let kind = prop_oneof![
        Just(SegmentType::AsSet),
        Just(SegmentType::AsSequence),
        Just(SegmentType::ConfedSequence),
        Just(SegmentType::ConfedSet),
    ];
    vec((kind, vec(asn(four), 1..12)), 0..4)
        .prop_map(|segs| AsPath { segments: segs.into_iter().map(|(kind, asns)| AsSegment { kind, asns }).collect() })
}

fn aggregator(four: bool) -> impl Strategy<Value = Aggregator> {
    (asn(four), any::<u32>()).prop_map(|(asn, a)| Aggregator { asn, address: Ipv4Addr::from(a) })
}

fn next_hop_for(family: Family) -> BoxedStrategy<MpNextHop> {
    let v6 = prop_oneof![
        any::<u128>().prop_map(|a| MpNextHop::V6(Ipv6Addr::from(a))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(g, l)| MpNextHop::V6LinkLocal { global: Ipv6Addr::from(g), link_local: Ipv6Addr::from(l) }),
    ];
    match family.afi {
        Afi::IPV4 if family.has_prefix_nlri() => any::<u32>().prop_map(|a| MpNextHop::V4(Ipv4Addr::from(a))).boxed(),
        Afi::IPV6 if family.has_prefix_nlri() => v6.boxed(),
        // Other families: lengths that are not 4, 16 or 32 stay Other.
        _ => vec(any::<u8>(), 0..40)
            .prop_filter("not an address length", |b| !matches!(b.len(), 4 | 16 | 32))
            .prop_map(|b| MpNextHop::Other(Bytes::from(b)))
            .boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::IPV4_UNICAST),
        Just(Family::IPV6_UNICAST),
        Just(Family::IPV4_MULTICAST),
        Just(Family::IPV6_MULTICAST),
        Just(Family::new(Afi::IPV4, Safi::MPLS_VPN)),
        Just(Family::new(Afi(25), Safi(70))),
    ]
}

fn mp_nlri(family: Family, add_path: bool) -> BoxedStrategy<MpNlri> {
    if family.has_prefix_nlri() {
        nlri_list(family.afi, add_path, 20).prop_map(MpNlri::Prefixes).boxed()
    } else {
        vec(any::<u8>(), 0..60).prop_map(|b| MpNlri::Opaque(Bytes::from(b))).boxed()
    }
}

fn mp_reach(add_path: bool) -> impl Strategy<Value = MpReach> {
    family().prop_flat_map(move |f| {
        (next_hop_for(f), any::<u8>(), mp_nlri(f, add_path)).prop_map(move |(next_hop, reserved, nlri)| MpReach {
            family: f,
            next_hop,
            reserved,
            nlri,
        })
    })
}

fn mp_unreach(add_path: bool) -> impl Strategy<Value = MpUnreach> {
    family().prop_flat_map(move |f| mp_nlri(f, add_path).prop_map(move |withdrawn| MpUnreach { family: f, withdrawn }))
}

/// Unknown attributes: distinct unassigned-to-us type codes, optional (a
/// well-known unknown one is an error), any other flag bits but Extended
/// Length, values long enough to need Extended Length sometimes.
fn unknown() -> impl Strategy<Value = Vec<RawAttribute>> {
    let code = prop_oneof![19u8..=31, 36u8..=255];
    btree_map(code, (any::<u8>(), vec(any::<u8>(), 0..300)), 0..3).prop_map(|m| {
        m.into_iter()
            .map(|(type_code, (f, v))| RawAttribute { flags: (f | 0x80) & !0x10, type_code, value: Bytes::from(v) })
            .collect()
    })
}

fn communities<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<Vec<T>>> {
    option::of(vec(s, 1..8))
}

/// Valid path attributes for a context; with MP_REACH_NLRI, ORIGIN and
/// AS_PATH are present (RFC 7606 §3 d).
fn attributes(four: bool, add_path: bool) -> impl Strategy<Value = PathAttributes> {
    let a = (
        option::of(prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)]),
        option::of(as_path(four)),
        option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        any::<bool>(),
        option::of(aggregator(four)),
        communities(any::<u32>()),
        option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        communities(any::<u32>().prop_map(Ipv4Addr::from)),
    );
    let b = (
        option::of(mp_reach(add_path)),
        option::of(mp_unreach(add_path)),
        communities(any::<[u8; 8]>()),
        // AS4_* are interpreted only on 2-octet sessions (RFC 6793 §4.2.2).
        option::of(as_path(true)).prop_map(move |p| if four { None } else { p }),
        option::of(aggregator(true)).prop_map(move |p| if four { None } else { p }),
        communities((any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, l1, l2)| LargeCommunity {
            global_admin: g,
            local_data1: l1,
            local_data2: l2,
        })),
        option::of(any::<u32>()),
        unknown(),
        any::<u64>(),
    );
    (a, b).prop_map(|(a, b)| {
        let mut p = PathAttributes {
            origin: a.0,
            as_path: a.1,
            next_hop: a.2,
            med: a.3,
            local_pref: a.4,
            atomic_aggregate: a.5,
            aggregator: a.6,
            communities: a.7,
            originator_id: a.8,
            cluster_list: a.9,
            mp_reach: b.0,
            mp_unreach: b.1,
            extended_communities: b.2,
            as4_path: b.3,
            as4_aggregator: b.4,
            large_communities: b.5,
            otc: b.6,
            unknown: b.7,
            partial: PartialBits::default(),
        };
        if p.mp_reach.is_some() {
            p.origin.get_or_insert(Origin::Igp);
            p.as_path.get_or_insert_with(AsPath::default);
        }
        // Partial only on present optional transitive attributes.
        let present = [
            (7, p.aggregator.is_some()),
            (8, p.communities.is_some()),
            (16, p.extended_communities.is_some()),
            (17, p.as4_path.is_some()),
            (18, p.as4_aggregator.is_some()),
            (32, p.large_communities.is_some()),
            (35, p.otc.is_some()),
        ];
        for (i, (code, here)) in present.into_iter().enumerate() {
            if here && b.8 & (1 << i) != 0 {
                p.partial.insert(code);
            }
        }
        p
    })
}

/// A valid UPDATE: with IPv4 NLRI, ORIGIN, AS_PATH and NEXT_HOP present.
fn update(four: bool, add_path: bool) -> impl Strategy<Value = Update> {
    (nlri_list(Afi::IPV4, add_path, 30), attributes(four, add_path), nlri_list(Afi::IPV4, add_path, 30)).prop_map(
        |(withdrawn, mut attributes, nlri)| {
            if !nlri.is_empty() {
                attributes.origin.get_or_insert(Origin::Igp);
                attributes.as_path.get_or_insert_with(AsPath::default);
                attributes.next_hop.get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
            }
            Update { withdrawn, attributes, nlri, discarded: Vec::new() }
        },
    )
}

fn with_ctx<T: std::fmt::Debug>(f: impl Fn(bool, bool) -> BoxedStrategy<T>) -> impl Strategy<Value = (Context, T)> {
    (any::<bool>(), any::<bool>()).prop_flat_map(move |(four, ap)| f(four, ap).prop_map(move |x| (ctx(four, ap), x)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn nlri_round_trip(
        (afi, add_path, list) in (any::<bool>(), any::<bool>()).prop_flat_map(|(v6, ap)| {
            let afi = if v6 { Afi::IPV6 } else { Afi::IPV4 };
            nlri_list(afi, ap, 50).prop_map(move |l| (afi, ap, l))
        })
    ) {
        let mut out = BytesMut::new();
        list.iter().for_each(|n| encode_nlri(n, &mut out));
        prop_assert_eq!(decode_prefixes(&out, afi, add_path).expect("decodes"), list);
    }

    /// `clone_from` into a value holding other attributes (the RIB's reused
    /// scratch) gives exactly the source, like `clone`.
    #[test]
    fn path_attributes_clone_from_equals_the_source(
        a in attributes(true, false),
        b in attributes(false, true),
    ) {
        let mut scratch = b.clone();
        prop_assert_eq!(&scratch, &b);
        scratch.clone_from(&a);
        prop_assert_eq!(&scratch, &a);
        scratch.clone_from(&b);
        prop_assert_eq!(&scratch, &b);
    }

    #[test]
    fn path_attributes_round_trip((ctx, attrs) in with_ctx(|f, a| attributes(f, a).boxed())) {
        let mut out = BytesMut::new();
        attrs.encode(&ctx, &mut out).expect("encodes");
        let (back, issues) = decode_path_attributes(&out, &ctx, None).expect("decodes");
        prop_assert!(issues.is_empty(), "{:?}", issues);
        prop_assert_eq!(back, attrs);
    }

    #[test]
    fn update_round_trip((ctx, u) in with_ctx(|f, a| update(f, a).boxed())) {
        let mut out = BytesMut::new();
        u.encode(&ctx, &mut out).expect("encodes");
        prop_assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), out.len());
        let back = decode_update(&out[19..], &ctx).expect("decodes");
        prop_assert_eq!(back, u);
    }

    #[test]
    fn builder_output_decodes_to_its_input(
        (ctx, attrs, v6, nlri) in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_flat_map(|(four, ap, v6, small)| {
                let ctx = Context { extended_message: !small, ..ctx(four, ap) };
                let afi = if v6 { Afi::IPV6 } else { Afi::IPV4 };
                (attributes(four, ap), nlri_list(afi, ap, 1500))
                    .prop_map(move |(a, n)| (ctx.clone(), a, v6, n))
            }),
    ) {
        let family = if v6 { Family::IPV6_UNICAST } else { Family::IPV4_UNICAST };
        let mut attrs = attrs;
        attrs.origin.get_or_insert(Origin::Igp);
        attrs.as_path.get_or_insert_with(AsPath::default);
        attrs.mp_unreach = None;
        if v6 {
            attrs.mp_reach = Some(MpReach {
                family,
                next_hop: MpNextHop::V6(Ipv6Addr::LOCALHOST),
                reserved: 0,
                nlri: MpNlri::Prefixes(vec![]),
            });
        } else {
            attrs.mp_reach = None;
            attrs.next_hop.get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
        }
        let b = UpdateBuilder::new(&ctx, family, &attrs, EncodeOptions::default()).expect("builder");
        let mut out = BytesMut::new();
        let n = b.announce(&nlri, &mut out).expect("announces");
        let mut got = Vec::new();
        let mut rest = &out[..];
        let mut count = 0;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            prop_assert!(len <= ctx.max_message_len());
            let u = decode_update(&rest[19..len], &ctx).expect("decodes");
            if v6 {
                let reach = u.attributes.mp_reach.clone().expect("MP_REACH_NLRI");
                let MpNlri::Prefixes(p) = reach.nlri else { panic!("prefixes") };
                got.extend(p);
            } else {
                got.extend(u.nlri.iter().copied());
            }
            let mut shared = u.attributes.clone();
            shared.mp_reach = None;
            let mut want = attrs.clone();
            want.mp_reach = None;
            if v6 {
                want.next_hop = None;
            }
            prop_assert_eq!(shared, want);
            rest = &rest[len..];
            count += 1;
        }
        prop_assert_eq!(count, n);
        prop_assert_eq!(got, nlri);
    }

    #[test]
    fn decoders_return_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..400),
        four in any::<bool>(),
        add_path in any::<bool>(),
        rib in 0u8..3,
    ) {
        let ctx = ctx(four, add_path);
        let _ = decode_update(&bytes, &ctx);
        let mrt = match rib { 1 => Some(Family::IPV4_UNICAST), 2 => Some(Family::IPV6_UNICAST), _ => None };
        if let Ok((a, _)) = decode_path_attributes(&bytes, &ctx, mrt) {
            let mut out = BytesMut::new();
            let _ = a.encode(&ctx, &mut out);
        }
        let _ = decode_prefixes(&bytes, Afi::IPV6, add_path);
    }

    /// Structured garbage: a valid UPDATE with one octet changed decodes to
    /// something or a classified error, and a usable result re-encodes.
    #[test]
    fn mutated_updates_are_classified((ctx, u) in with_ctx(|f, a| update(f, a).boxed()), at in any::<usize>(), to in any::<u8>()) {
        let mut out = BytesMut::new();
        u.encode(&ctx, &mut out).expect("encodes");
        let mut body = out[19..].to_vec();
        if !body.is_empty() {
            let i = at % body.len();
            body[i] = to;
        }
        if let Ok(d) = decode_update(&body, &ctx) {
            let mut again = BytesMut::new();
            if d.encode(&ctx, &mut again).is_ok() && d.discarded.is_empty() {
                prop_assert_eq!(decode_update(&again[19..], &ctx).expect("re-decodes"), d);
            }
        }
    }
}
