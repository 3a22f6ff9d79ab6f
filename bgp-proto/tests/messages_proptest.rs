//! Property tests: `decode(encode(m)) == m` for OPEN (every capability),
//! NOTIFICATION, KEEPALIVE, ROUTE-REFRESH and End-of-RIB UPDATEs; decoders
//! and the framer never panic on arbitrary bytes; framing does not depend on
//! how the stream is cut.

use std::net::Ipv4Addr;

use bgp_proto::capability::{
    AddPathFamily, AddPathMode, ExtendedNextHop, GracefulRestart, GracefulRestartFamily,
    LongLivedGracefulRestartFamily, Role,
};
use bgp_proto::message::decode_message;
use bgp_proto::open::OptionalParameter;
use bgp_proto::route_refresh::RouteRefreshSubtype;
use bgp_proto::{Afi, Capability, Context, Family, Framer, Message, Notification, Open, RouteRefresh, Safi, Update};
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::IPV4_UNICAST),
        Just(Family::IPV6_UNICAST),
        (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s))),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Codes this crate interprets; others stay `Unknown`.
const KNOWN: [u8; 12] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73, 128];

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::RouteRefreshOld),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (any::<bool>(), any::<bool>(), 0u8..4, 0u16..4096, vec((family(), any::<bool>(), 0u8..128), 0..4)).prop_map(
            |(restarting, notification, reserved_flags, restart_time, fams)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification,
                    reserved_flags,
                    restart_time,
                    families: fams
                        .into_iter()
                        .map(|(family, forwarding_preserved, reserved_flags)| GracefulRestartFamily {
                            family,
                            forwarding_preserved,
                            reserved_flags,
                        })
                        .collect(),
                })
            }
        ),
        vec((family(), any::<bool>(), 0u8..128, 0u32..1 << 24), 0..4).prop_map(|fams| {
            Capability::LongLivedGracefulRestart(
                fams.into_iter()
                    .map(|(family, forwarding_preserved, reserved_flags, stale_time)| LongLivedGracefulRestartFamily {
                        family,
                        forwarding_preserved,
                        reserved_flags,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both),
                    prop_oneof![Just(0u8), 4u8..].prop_map(AddPathMode::Other),
                ]
            ),
            0..4
        )
        .prop_map(|f| Capability::AddPath(
            f.into_iter().map(|(family, mode)| AddPathFamily { family, mode }).collect()
        )),
        vec((family(), any::<u16>()), 0..4).prop_map(|e| Capability::ExtendedNextHop(
            e.into_iter().map(|(family, afi)| ExtendedNextHop { family, next_hop_afi: Afi(afi) }).collect()
        )),
        (bytes(20), bytes(20)).prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        prop_oneof![
            Just(Role::Provider),
            Just(Role::RouteServer),
            Just(Role::RouteServerClient),
            Just(Role::Customer),
            Just(Role::Peer),
            (5u8..).prop_map(Role::Other),
        ]
        .prop_map(Capability::Role),
        (any::<u8>().prop_filter("unknown code", |c| !KNOWN.contains(c)), bytes(16))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn parameter() -> impl Strategy<Value = OptionalParameter> {
    prop_oneof![
        3 => vec(capability(), 0..3).prop_map(OptionalParameter::Capabilities),
        1 => ((0u8..255).prop_filter("not Capabilities", |t| *t != 2), bytes(24))
            .prop_map(|(param_type, value)| OptionalParameter::Unknown { param_type, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    // At most 2 parameters of at most 2 capabilities of at most 44 octets:
    // the RFC 4271 form always fits, so `extended_parameters` is free.
    (any::<u8>(), any::<u16>(), any::<u16>(), any::<u32>(), vec(parameter(), 0..3), any::<bool>()).prop_map(
        |(version, my_as, hold_time, id, mut parameters, extended_parameters)| {
            for p in &mut parameters {
                if let OptionalParameter::Capabilities(c) = p {
                    c.truncate(2);
                }
            }
            Open { version, my_as, hold_time, bgp_id: Ipv4Addr::from(id), parameters, extended_parameters }
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        (any::<u8>(), any::<u8>(), bytes(64)).prop_map(|(c, s, d)| Message::Notification(Notification::new(c, s, d))),
        "\\PC{0,80}".prop_map(|t| Message::Notification(Notification::shutdown(2, &t))),
        Just(Message::Keepalive),
        (family(), prop_oneof![Just(0u8), 3u8..], bytes(32)).prop_map(|(family, subtype, orf)| {
            let subtype = if subtype == 0 { RouteRefreshSubtype::Request } else { RouteRefreshSubtype::Other(subtype) };
            Message::RouteRefresh(RouteRefresh { family, subtype, orf })
        }),
        (family(), prop_oneof![Just(RouteRefreshSubtype::BeginningOfRefresh), Just(RouteRefreshSubtype::EndOfRefresh)])
            .prop_map(|(family, subtype)| Message::RouteRefresh(RouteRefresh { subtype, ..RouteRefresh::new(family) })),
        prop_oneof![Just(Family::IPV4_UNICAST), Just(Family::IPV6_UNICAST)]
            .prop_map(|f| Message::Update(Update::end_of_rib(f))),
    ]
}

fn context() -> impl Strategy<Value = Context> {
    (any::<bool>(), any::<bool>()).prop_map(|(four_octet_as, extended_message)| Context {
        four_octet_as,
        extended_message,
        ..Context::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn messages_round_trip(m in message(), ctx in context()) {
        let mut out = BytesMut::new();
        m.encode(&ctx, &mut out).expect("encodes");
        prop_assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), out.len());
        prop_assert_eq!(decode_message(&out, &ctx), Ok(m.clone()));
        // Through the framer too.
        let mut framer = Framer::new(&ctx);
        framer.push(&out);
        let frame = framer.next_frame().expect("frames").expect("a frame");
        prop_assert_eq!(frame.decode(&ctx), Ok(m));
    }

    #[test]
    fn capabilities_round_trip(caps in vec(capability(), 0..6)) {
        let mut out = BytesMut::new();
        for c in &caps {
            c.encode(&mut out).expect("encodes");
        }
        prop_assert_eq!(Capability::decode_list(&out), Ok(caps));
    }

    #[test]
    fn capability_decode_never_fails(code in any::<u8>(), value in vec(any::<u8>(), 0..40)) {
        // Any value gives a capability that re-encodes to the same bytes
        // or to a value that decodes to the same capability.
        let cap = Capability::decode(code, &value);
        let mut out = BytesMut::new();
        cap.encode(&mut out).expect("encodes");
        prop_assert_eq!(Capability::decode_list(&out), Ok(vec![cap]));
    }

    #[test]
    fn decode_never_panics(msg_type in 0u8..8, body in vec(any::<u8>(), 0..300), ctx in context()) {
        if let Ok(m) = Message::decode(msg_type, &body, &ctx) {
            let mut out = BytesMut::new();
            if m.encode(&ctx, &mut out).is_ok() {
                prop_assert_eq!(decode_message(&out, &ctx), Ok(m));
            }
        }
    }

    #[test]
    fn open_bodies_never_panic(head in vec(any::<u8>(), 10..11), params in vec(any::<u8>(), 0..120)) {
        // A version-4 OPEN with random optional parameters: a value or an OPEN/header error.
        let mut body = head;
        body[0] = 4;
        body[9] = u8::try_from(params.len()).unwrap_or(255);
        body.extend_from_slice(&params);
        match Open::decode(&body) {
            Ok(open) => {
                let mut out = BytesMut::new();
                if open.encode(&mut out).is_ok() {
                    prop_assert_eq!(Open::decode(&out[19..]), Ok(open));
                }
            }
            Err(e) => prop_assert!(e.code == 2 && e.subcode == 0, "{e}"),
        }
    }

    #[test]
    fn mutated_opens_decode_or_fail_cleanly(
        m in open(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        // A valid OPEN with a few octets of its body changed and perhaps cut
        // short: a value that round-trips, or an OPEN/header error.
        let mut out = BytesMut::new();
        m.encode(&mut out).expect("encodes");
        let mut body = out[19..].to_vec();
        for (at, value) in edits {
            let i = at.index(body.len());
            body[i] = value;
        }
        body.truncate(cut.index(body.len() + 1).max(10));
        match Open::decode(&body) {
            Ok(open) => {
                let mut again = BytesMut::new();
                open.encode(&mut again).expect("re-encodes");
                prop_assert_eq!(Open::decode(&again[19..]), Ok(open));
            }
            Err(e) => prop_assert!(e.code == 2 && matches!(e.subcode, 0 | 1), "{e}"),
        }
    }

    #[test]
    fn framing_is_independent_of_segmentation(
        ms in vec(message(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let ctx = Context::default();
        let mut stream = BytesMut::new();
        for m in &ms {
            m.encode(&ctx, &mut stream).expect("encodes");
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut framer = Framer::new(&ctx);
        let mut decoded = Vec::new();
        for w in cuts.windows(2) {
            framer.push(&stream[w[0]..w[1]]);
            while let Some(f) = framer.next_frame().expect("frames") {
                decoded.push(f.decode(&ctx).expect("decodes"));
            }
        }
        prop_assert_eq!(decoded, ms);
        prop_assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn framer_never_panics(pieces in vec(vec(any::<u8>(), 0..64), 0..8), extended in any::<bool>()) {
        // Streams that start like BGP so that the length and type paths run.
        let mut framer = Framer::new(&Context { extended_message: extended, ..Context::default() });
        for (i, p) in pieces.iter().enumerate() {
            if i % 2 == 0 {
                framer.push(&[0xff; 16]);
            }
            framer.push(p);
            while let Ok(Some(f)) = framer.next_frame() {
                let _ = f.decode(&Context::default());
            }
        }
    }
}
