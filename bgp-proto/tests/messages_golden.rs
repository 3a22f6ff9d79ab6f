//! Golden byte tables for OPEN (with every capability), NOTIFICATION,
//! KEEPALIVE and ROUTE-REFRESH, hand-built from the RFC layouts; the header
//! and per-type errors of RFC 4271 §6; and the real OPENs, NOTIFICATIONs,
//! KEEPALIVEs and ROUTE-REFRESHes of the packet captures re-encoded byte for
//! byte.

mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use bgp_proto::capability::{
    AddPathFamily, AddPathMode, ExtendedNextHop, GracefulRestart, GracefulRestartFamily,
    LongLivedGracefulRestartFamily, Role,
};
use bgp_proto::error::DecodeError;
use bgp_proto::message::{decode_message, message_type};
use bgp_proto::notification::{CommunicationProblem, ShutdownCommunication};
use bgp_proto::open::OptionalParameter;
use bgp_proto::route_refresh::RouteRefreshSubtype;
use bgp_proto::{
    Afi, Capability, Context, ErrorAction, Family, Message, MessageError, Notification, Open, RouteRefresh, Safi,
};
use bytes::{Bytes, BytesMut};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A whole message: marker, length, type, body.
fn msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).expect("length").to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

fn encode(m: &Message, ctx: &Context) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(ctx, &mut out).expect("encodes");
    out.to_vec()
}

fn decode_err(frame: &[u8], ctx: &Context) -> DecodeError {
    match decode_message(frame, ctx) {
        Err(MessageError::Decode(e)) => e,
        Err(MessageError::Update(e)) => e.error().clone(),
        Ok(m) => panic!("{} decoded as {m:?}", hex(frame)),
    }
}

fn fam(afi: u16, safi: u8) -> Family {
    Family::new(Afi(afi), Safi(safi))
}

/// Every capability with its code | length | value bytes (RFC 5492 §4).
fn capability_table() -> Vec<(&'static str, Capability)> {
    vec![
        // RFC 4760 §8: AFI 2, reserved, SAFI 1.
        ("01 04 0002 00 01", Capability::Multiprotocol(Family::IPV6_UNICAST)),
        ("02 00", Capability::RouteRefresh),
        ("80 00", Capability::RouteRefreshOld),
        ("46 00", Capability::EnhancedRouteRefresh),
        // RFC 6793: AS 4200000000.
        ("41 04 fa56ea00", Capability::FourOctetAs(4_200_000_000)),
        // RFC 4724 §3 + RFC 8538: R and N set, time 120; IPv4 unicast with F, IPv6 unicast without.
        (
            "40 0a c078 0001 01 80 0002 01 00",
            Capability::GracefulRestart(GracefulRestart {
                restarting: true,
                notification: true,
                reserved_flags: 0,
                restart_time: 120,
                families: vec![
                    GracefulRestartFamily {
                        family: Family::IPV4_UNICAST,
                        forwarding_preserved: true,
                        reserved_flags: 0,
                    },
                    GracefulRestartFamily {
                        family: Family::IPV6_UNICAST,
                        forwarding_preserved: false,
                        reserved_flags: 0,
                    },
                ],
            }),
        ),
        // Restart time 4095, only the N bit and one reserved bit, no families.
        (
            "40 02 5fff",
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: true,
                reserved_flags: 1,
                restart_time: 4095,
                families: vec![],
            }),
        ),
        // RFC 9494 §3: IPv4 unicast, F bit, stale time 0x010203.
        (
            "47 07 0001 01 80 010203",
            Capability::LongLivedGracefulRestart(vec![LongLivedGracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
                reserved_flags: 0,
                stale_time: 0x010203,
            }]),
        ),
        // RFC 7911 §4: IPv4 unicast both, IPv6 unicast receive.
        (
            "45 08 0001 01 03 0002 01 01",
            Capability::AddPath(vec![
                AddPathFamily { family: Family::IPV4_UNICAST, mode: AddPathMode::Both },
                AddPathFamily { family: Family::IPV6_UNICAST, mode: AddPathMode::Receive },
            ]),
        ),
        // RFC 8950 §4: IPv4 unicast and VPN (SAFI 128) over IPv6 next hops.
        (
            "05 0c 0001 0001 0002 0001 0080 0002",
            Capability::ExtendedNextHop(vec![
                ExtendedNextHop { family: Family::IPV4_UNICAST, next_hop_afi: Afi::IPV6 },
                ExtendedNextHop { family: fam(1, 128), next_hop_afi: Afi::IPV6 },
            ]),
        ),
        ("06 00", Capability::ExtendedMessage),
        // FQDN: "node1", "example.org".
        (
            "49 12 05 6e6f646531 0b 6578616d706c652e6f7267",
            Capability::Fqdn { hostname: Bytes::from_static(b"node1"), domain: Bytes::from_static(b"example.org") },
        ),
        ("49 02 00 00", Capability::Fqdn { hostname: Bytes::new(), domain: Bytes::new() }),
        // RFC 9234 §4.1: Customer.
        ("09 01 03", Capability::Role(Role::Customer)),
        ("09 01 07", Capability::Role(Role::Other(7))),
        ("c8 03 010203", Capability::Unknown { code: 200, value: Bytes::from_static(&[1, 2, 3]) }),
    ]
}

#[test]
fn capabilities_golden() {
    for (bytes, cap) in capability_table() {
        let wire = h(bytes);
        let decoded = Capability::decode_list(&wire).expect(bytes);
        assert_eq!(decoded, vec![cap.clone()], "decode {bytes}");
        let mut out = BytesMut::new();
        cap.encode(&mut out).expect("encodes");
        assert_eq!(hex(&out), hex(&wire), "encode {cap:?}");
        assert_eq!(cap.code(), wire[0]);
    }
}

#[test]
fn capabilities_with_wrong_length_are_kept_unknown() {
    // Known codes whose value does not have the RFC's layout.
    for bytes in [
        "01 03 000100",          // multiprotocol, 3 octets
        "02 01 00",              // route refresh with a value
        "41 02 fde8",            // 4-octet AS in 2 octets
        "40 01 00",              // graceful restart without its 2-octet header
        "40 05 0078 000101",     // graceful restart, partial family
        "45 03 000101",          // add-path, partial entry
        "05 06 0001 0100 0002",  // extended next hop with SAFI 256
        "05 04 0001 0001",       // extended next hop, partial entry
        "47 06 0001 01 80 0102", // LLGR, partial entry
        "06 01 00",              // extended message with a value
        "49 03 05 6e6f",         // FQDN hostname overrun
        "49 03 01 61 05",        // FQDN domain overrun
        "49 04 01 61 00 ff",     // FQDN trailing octet
        "09 00",                 // role without a value
        "09 02 0001",            // role in 2 octets
    ] {
        let wire = h(bytes);
        let caps = Capability::decode_list(&wire).expect(bytes);
        let expected = Capability::Unknown { code: wire[0], value: Bytes::copy_from_slice(&wire[2..]) };
        assert_eq!(caps, vec![expected.clone()], "{bytes}");
        let mut out = BytesMut::new();
        expected.encode(&mut out).expect("encodes");
        assert_eq!(hex(&out), hex(&wire), "{bytes} re-encodes as received");
    }
}

#[test]
fn capability_overrunning_its_parameter_is_open_error_unspecific() {
    for bytes in ["02 01", "41 04 0000fd", "01 04 0002 00 01 02"] {
        let e = Capability::decode_list(&h(bytes)).expect_err(bytes);
        assert_eq!((e.code, e.subcode), (2, 0), "{bytes}");
    }
}

/// The OPEN of RFC 4271 §4.2 with a Capabilities parameter: version 4, AS
/// 65001, hold 90, id 192.0.2.1, MP IPv4 unicast, route refresh, 4-octet AS 65001.
const OPEN_BODY: &str = "04 fde9 005a c0000201 10 02 0e 01040001 0001 0200 4104 0000fde9";

fn open_value() -> Open {
    Open::new(
        65001,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::RouteRefresh, Capability::FourOctetAs(65001)],
    )
}

#[test]
fn open_golden() {
    let wire = msg(message_type::OPEN, &h(OPEN_BODY));
    let m = decode_message(&wire, &Context::default()).expect("decodes");
    assert_eq!(m, Message::Open(open_value()));
    assert_eq!(hex(&encode(&m, &Context::default())), hex(&wire));
    let Message::Open(open) = m else { unreachable!() };
    assert_eq!(open.asn(), 65001);
    assert_eq!(open.capabilities().count(), 3);
    open.validate().expect("valid OPEN");
}

#[test]
fn open_four_octet_asn_uses_as_trans() {
    let open = Open::new(4_200_000_000, 180, Ipv4Addr::new(10, 0, 0, 1), vec![Capability::FourOctetAs(4_200_000_000)]);
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.asn(), 4_200_000_000);
    let wire = encode(&Message::Open(open.clone()), &Context::default());
    assert_eq!(hex(&wire[19..]), "045ba000b40a00000108020641 04fa56ea00".replace(' ', ""));
    // Without the capability the ASN is My Autonomous System.
    let legacy = Open { parameters: vec![], ..open };
    assert_eq!(legacy.asn(), 23456);
}

#[test]
fn open_without_parameters() {
    let body = h("04 fde9 00b4 0a000001 00");
    let open = Open::decode(&body).expect("decodes");
    assert!(open.parameters.is_empty());
    assert!(!open.extended_parameters);
    assert_eq!(hex(&encode(&Message::Open(open), &Context::default())[19..]), hex(&body));
}

#[test]
fn open_rfc9072_extended_parameters_golden() {
    // RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt.
    // Parm. Length 0x0009, then the Capabilities parameter with a 2-octet length.
    let body = h("04 fde9 005a c0000201 ff ff 0009 02 0006 4104 0000fde9");
    let open = Open::decode(&body).expect("decodes");
    assert!(open.extended_parameters);
    assert_eq!(open.capabilities().cloned().collect::<Vec<_>>(), vec![Capability::FourOctetAs(65001)]);
    assert_eq!(hex(&encode(&Message::Open(open.clone()), &Context::default())[19..]), hex(&body));
    // The same OPEN in the RFC 4271 form when the flag is off.
    let short = Open { extended_parameters: false, ..open };
    assert_eq!(
        hex(&encode(&Message::Open(short), &Context::default())[19..]),
        "04fde9005ac0000201080206410400 00fde9".replace(' ', "")
    );
}

#[test]
fn open_parameters_over_255_octets_use_the_extended_form() {
    // 60 ADD-PATH families: 2 + 240 octets of capability, 244 with the parameter header... plus more.
    let families: Vec<AddPathFamily> =
        (0..70u16).map(|i| AddPathFamily { family: fam(i + 1, 1), mode: AddPathMode::Both }).collect();
    let caps: Vec<Capability> = families.chunks(20).map(|c| Capability::AddPath(c.to_vec())).collect();
    let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
    assert!(!open.extended_parameters);
    let wire = encode(&Message::Open(open.clone()), &Context::default());
    // Caps: 3 × (2 + 80) + (2 + 40) = 288; parameter: 3 + 288 = 291.
    assert_eq!(&wire[28..33], &h("ff ff 0123 02")[..]);
    assert_eq!(wire.len(), 19 + 10 + 3 + 291);
    let Ok(Message::Open(back)) = decode_message(&wire, &Context::default()) else { panic!("decodes") };
    assert!(back.extended_parameters);
    assert_eq!(back, Open { extended_parameters: true, ..open });
}

#[test]
fn open_unknown_parameter_kept_by_decode_refused_by_validate() {
    // Parameter type 1 (deprecated authentication), 2 octets.
    let body = h("04 fde9 005a c0000201 04 01 02 abcd");
    let open = Open::decode(&body).expect("decode keeps it");
    assert_eq!(
        open.parameters,
        vec![OptionalParameter::Unknown { param_type: 1, value: Bytes::from_static(&[0xab, 0xcd]) }]
    );
    let e = open.validate().expect_err("unsupported optional parameter");
    assert_eq!((e.code, e.subcode, e.data.len()), (2, 4, 0));
    assert_eq!(hex(&encode(&Message::Open(open), &Context::default())[19..]), hex(&body));
}

#[test]
fn open_first_parameter_of_type_255_needs_the_extended_form() {
    let open = Open {
        parameters: vec![OptionalParameter::Unknown { param_type: 255, value: Bytes::from_static(&[1]) }],
        ..open_value()
    };
    let wire = encode(&Message::Open(open.clone()), &Context::default());
    assert_eq!(hex(&wire[28..]), "ffff0004ff000101");
    assert_eq!(
        decode_message(&wire, &Context::default()),
        Ok(Message::Open(Open { extended_parameters: true, ..open }))
    );
}

#[test]
fn open_semantic_checks() {
    let ok = open_value();
    let check = |o: Open| o.validate().map_err(|e| (e.code, e.subcode, hex(&e.data)));
    assert_eq!(check(Open { version: 3, ..ok.clone() }), Err((2, 1, "0004".into())));
    assert_eq!(check(Open { hold_time: 1, ..ok.clone() }), Err((2, 6, String::new())));
    assert_eq!(check(Open { hold_time: 2, ..ok.clone() }), Err((2, 6, String::new())));
    assert_eq!(check(Open { hold_time: 0, ..ok.clone() }), Ok(()));
    assert_eq!(check(Open { hold_time: 3, ..ok.clone() }), Ok(()));
    assert_eq!(check(Open { bgp_id: Ipv4Addr::UNSPECIFIED, ..ok.clone() }), Err((2, 3, String::new())));
    // RFC 4271 §6.2 order: version, hold time, identifier, parameters.
    let unknown = vec![OptionalParameter::Unknown { param_type: 1, value: Bytes::new() }];
    let all_bad = Open { version: 5, hold_time: 1, bgp_id: Ipv4Addr::UNSPECIFIED, parameters: unknown, ..ok.clone() };
    assert_eq!(check(all_bad.clone()), Err((2, 1, "0004".into())));
    assert_eq!(check(Open { version: 4, ..all_bad.clone() }), Err((2, 6, String::new())));
    assert_eq!(check(Open { version: 4, hold_time: 3, ..all_bad.clone() }), Err((2, 3, String::new())));
    assert_eq!(
        check(Open { version: 4, hold_time: 3, bgp_id: Ipv4Addr::new(1, 1, 1, 1), ..all_bad }),
        Err((2, 4, String::new()))
    );
    // Decode itself accepts all of them.
    for o in [Open { hold_time: 1, ..ok.clone() }, Open { bgp_id: Ipv4Addr::UNSPECIFIED, ..ok.clone() }] {
        let wire = encode(&Message::Open(o.clone()), &Context::default());
        assert_eq!(decode_message(&wire, &Context::default()), Ok(Message::Open(o)));
    }
}

#[test]
fn open_malformed_parameters() {
    let ctx = Context::default();
    for (body, expected) in [
        // Optional parameters length 16 but 15 octets follow.
        ("04 fde9 005a c0000201 10 02 0e 01040001 0001 0200 4104 0000fd", (2, 0, "")),
        // Parameter length runs past the list.
        ("04 fde9 005a c0000201 04 02 05 4100 00", (2, 0, "")),
        // Truncated parameter header.
        ("04 fde9 005a c0000201 01 02", (2, 0, "")),
        // Trailing octets after the parameters.
        ("04 fde9 005a c0000201 00 00", (2, 0, "")),
        // RFC 9072 form with a short extended length field.
        ("04 fde9 005a c0000201 ff ff 00", (2, 0, "")),
        // RFC 9072 form whose extended length disagrees.
        ("04 fde9 005a c0000201 ff ff 0004 02 0000", (2, 0, "")),
        // Version 3 with a body that does not parse as version 4: Unsupported Version.
        ("03 fde9 005a c0000201 09 02", (2, 1, "0004")),
        // Shorter than 29 octets: Bad Message Length with the length.
        ("04 fde9 005a c0000201", (1, 2, "001c")),
    ] {
        let e = decode_err(&msg(message_type::OPEN, &h(body)), &ctx);
        assert_eq!((e.code, e.subcode, hex(&e.data).as_str()), expected, "{body}: {e}");
    }
}

#[test]
fn open_is_never_an_extended_message() {
    // RFC 8654: an OPEN over 4,096 octets is refused even when extended
    // messages were negotiated.
    let ctx = Context { extended_message: true, ..Context::default() };
    let caps = vec![Capability::Unknown { code: 200, value: Bytes::from(vec![0; 255]) }; 17];
    let open = Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
    let mut out = BytesMut::new();
    assert!(Message::Open(open).encode(&ctx, &mut out).is_err());
    assert!(out.is_empty(), "nothing written on error");
    let mut body = h("04 fde9 005a c0000201 ff ff 1000 02 0ffd");
    body.resize(10 + 3 + 0x1000, 0);
    let e = decode_err(&msg(message_type::OPEN, &body), &ctx);
    assert_eq!((e.code, e.subcode), (1, 2));
}

#[test]
fn keepalive_golden() {
    let wire = h("ffffffffffffffffffffffffffffffff 0013 04");
    assert_eq!(decode_message(&wire, &Context::default()), Ok(Message::Keepalive));
    assert_eq!(hex(&encode(&Message::Keepalive, &Context::default())), hex(&wire));
    // A KEEPALIVE with a body: Bad Message Length with the length (RFC 4271 §6.1).
    let e = decode_err(&msg(message_type::KEEPALIVE, &[0]), &Context::default());
    assert_eq!((e.code, e.subcode, hex(&e.data)), (1, 2, "0014".to_string()));
}

#[test]
fn notification_golden() {
    let cases = [
        ("04 00", Notification::new(4, 0, Bytes::new()), "Hold Timer Expired"),
        ("01 02 0005", Notification::new(1, 2, vec![0, 5]), "Message Header Error / Bad Message Length"),
        ("02 06", Notification::new(2, 6, Bytes::new()), "OPEN Message Error / Unacceptable Hold Time"),
        ("03 0b", Notification::new(3, 11, Bytes::new()), "UPDATE Message Error / Malformed AS_PATH"),
        ("06 03", Notification::cease(3), "Cease / Peer De-configured"),
        ("06 02", Notification::cease(2), "Cease / Administrative Shutdown"),
        ("07 01", Notification::new(7, 1, Bytes::new()), "ROUTE-REFRESH Message Error / Invalid Message Length"),
        ("06 63", Notification::cease(99), "Cease / subcode 99"),
        ("0c 01 ff", Notification::new(12, 1, vec![0xff]), "code 12 / subcode 1"),
    ];
    for (body, n, name) in cases {
        let wire = msg(message_type::NOTIFICATION, &h(body));
        let m = decode_message(&wire, &Context::default()).expect(body);
        assert_eq!(m, Message::Notification(n.clone()));
        assert_eq!(hex(&encode(&m, &Context::default())), hex(&wire));
        assert_eq!(n.describe(), name);
    }
    let e = decode_err(&msg(message_type::NOTIFICATION, &[6]), &Context::default());
    assert_eq!((e.code, e.subcode, hex(&e.data)), (1, 2, "0014".to_string()));
}

#[test]
fn shutdown_communication() {
    // RFC 9003 §2: Cease / Administrative Shutdown, length 11, "maintenance".
    let n = Notification::shutdown(2, "maintenance");
    let wire = encode(&Message::Notification(n.clone()), &Context::default());
    assert_eq!(hex(&wire[19..]), "0602 0b 6d61696e74656e616e6365".replace(' ', ""));
    assert_eq!(n.shutdown_communication(), Some(ShutdownCommunication { text: "maintenance".into(), problem: None }));
    assert_eq!(n.describe(), "Cease / Administrative Shutdown: \"maintenance\"");
    // Reset too; no data at all is plain RFC 4486.
    assert_eq!(Notification::shutdown(4, "").shutdown_communication().map(|c| c.text), Some(String::new()));
    assert_eq!(Notification::cease(2).shutdown_communication(), None);
    assert_eq!(Notification::cease(3).shutdown_communication(), None);
    // Longer than 255 octets: cut at a character boundary ("é" is 2 octets).
    let long = "é".repeat(200);
    let n = Notification::shutdown(2, &long);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.shutdown_communication().map(|c| c.text), Some("é".repeat(127)));
    // Malformed ones are reported, not rejected.
    let bad = |data: &str| Notification::new(6, 2, h(data)).shutdown_communication().expect("communication");
    assert_eq!(bad("02 c328").problem, Some(CommunicationProblem::InvalidUtf8));
    assert_eq!(bad("05 6162").problem, Some(CommunicationProblem::LengthOverrun { declared: 5, available: 2 }));
    assert_eq!(bad("05 6162").text, "ab");
    assert_eq!(bad("01 61 62").problem, Some(CommunicationProblem::TrailingData { len: 1 }));
}

#[test]
fn hard_reset() {
    // RFC 8538 §3: Cease / Hard Reset with data = inner code, subcode, data.
    let inner = Notification::new(4, 0, Bytes::new());
    let n = Notification::hard_reset(&inner);
    assert_eq!((n.code, n.subcode, hex(&n.data)), (6, 9, "0400".to_string()));
    assert_eq!(n.hard_reset_inner(), Some(inner));
    assert_eq!(n.describe(), "Cease / Hard Reset (Hold Timer Expired)");
    let shutdown = Notification::hard_reset(&Notification::shutdown(2, "bye"));
    assert_eq!(hex(&shutdown.data), "060203627965");
    assert_eq!(shutdown.describe(), "Cease / Hard Reset (Cease / Administrative Shutdown: \"bye\")");
    assert_eq!(Notification::new(6, 9, vec![6]).hard_reset_inner(), None);
    assert_eq!(Notification::cease(2).hard_reset_inner(), None);
}

#[test]
fn route_refresh_golden() {
    let cases = [
        ("0001 00 01", RouteRefresh::new(Family::IPV4_UNICAST)),
        (
            "0002 01 01",
            RouteRefresh {
                subtype: RouteRefreshSubtype::BeginningOfRefresh,
                ..RouteRefresh::new(Family::IPV6_UNICAST)
            },
        ),
        (
            "0002 02 01",
            RouteRefresh { subtype: RouteRefreshSubtype::EndOfRefresh, ..RouteRefresh::new(Family::IPV6_UNICAST) },
        ),
        (
            "0001 07 02",
            RouteRefresh { subtype: RouteRefreshSubtype::Other(7), ..RouteRefresh::new(Family::IPV4_MULTICAST) },
        ),
        // RFC 5291 ORF entries after a request are kept raw.
        (
            "0001 00 01 01 40 0007 00 00000001 00",
            RouteRefresh {
                orf: Bytes::from(h("01 40 0007 00 00000001 00")),
                ..RouteRefresh::new(Family::IPV4_UNICAST)
            },
        ),
    ];
    for (body, rr) in cases {
        let wire = msg(message_type::ROUTE_REFRESH, &h(body));
        let m = decode_message(&wire, &Context::default()).expect(body);
        assert_eq!(m, Message::RouteRefresh(rr));
        assert_eq!(hex(&encode(&m, &Context::default())), hex(&wire));
    }
}

#[test]
fn route_refresh_errors() {
    // RFC 7313 §5: a BoRR/EoRR of the wrong length is 7/1 with the whole message as data.
    for body in ["0001 01 01 00", "0001 02 01 0000"] {
        let wire = msg(message_type::ROUTE_REFRESH, &h(body));
        let e = decode_err(&wire, &Context::default());
        assert_eq!((e.code, e.subcode, hex(&e.data)), (7, 1, hex(&wire)), "{body}");
    }
    // Shorter than 23: Bad Message Length (RFC 4271 §6.1).
    let e = decode_err(&msg(message_type::ROUTE_REFRESH, &h("0001 00")), &Context::default());
    assert_eq!((e.code, e.subcode, hex(&e.data)), (1, 2, "0016".to_string()));
    // A BoRR with ORF data cannot be encoded.
    let rr = RouteRefresh {
        subtype: RouteRefreshSubtype::BeginningOfRefresh,
        orf: Bytes::from_static(&[1]),
        ..RouteRefresh::new(Family::IPV4_UNICAST)
    };
    let mut out = BytesMut::from(&b"x"[..]);
    assert!(Message::RouteRefresh(rr).encode(&Context::default(), &mut out).is_err());
    assert_eq!(&out[..], b"x");
}

#[test]
fn header_errors() {
    let ctx = Context::default();
    let check = |frame: Vec<u8>, ctx: &Context| {
        let e = decode_err(&frame, ctx);
        (e.code, e.subcode, hex(&e.data))
    };
    // Marker not all ones: Connection Not Synchronized.
    let mut bad_marker = msg(message_type::KEEPALIVE, &[]);
    bad_marker[3] = 0xfe;
    assert_eq!(check(bad_marker, &ctx), (1, 1, String::new()));
    // Length below 19 and above 4,096: Bad Message Length with the length field.
    let mut short = msg(message_type::KEEPALIVE, &[]);
    short[16..18].copy_from_slice(&[0, 18]);
    assert_eq!(check(short, &ctx), (1, 2, "0012".into()));
    let big = msg(message_type::UPDATE, &vec![0; 4096 - 18]);
    assert_eq!(check(big.clone(), &ctx), (1, 2, "1001".into()));
    // RFC 8654: the same message is fine framing-wise with extended messages.
    let ext = Context { extended_message: true, ..Context::default() };
    assert_eq!(decode_err(&big, &ext).code, 3, "an UPDATE error, not a header error");
    // Unknown type: Bad Message Type with the type octet.
    assert_eq!(check(msg(6, &[]), &ctx), (1, 3, "06".into()));
    assert_eq!(check(msg(0, &[1, 2]), &ctx), (1, 3, "00".into()));
    // Per-type minimum lengths (RFC 4271 §6.1).
    assert_eq!(check(msg(message_type::OPEN, &[4; 9]), &ctx), (1, 2, "001c".into()));
    assert_eq!(check(msg(message_type::UPDATE, &[0, 0, 0]), &ctx), (1, 2, "0016".into()));
    assert_eq!(check(msg(message_type::NOTIFICATION, &[]), &ctx), (1, 2, "0013".into()));
    assert_eq!(check(msg(message_type::ROUTE_REFRESH, &[0, 1]), &ctx), (1, 2, "0015".into()));
    // A length field that disagrees with the frame.
    let mut frame = msg(message_type::KEEPALIVE, &[]);
    frame.push(0);
    assert_eq!(check(frame, &ctx), (1, 2, "0013".into()));
}

#[test]
fn message_error_actions() {
    let ctx = Context::default();
    let e = decode_message(&msg(9, &[]), &ctx).expect_err("unknown type");
    assert_eq!(e.action(), ErrorAction::SessionReset);
    assert_eq!(e.notification(), Some(Notification::new(1, 3, vec![9])));
    // An UPDATE whose ORIGIN is invalid: treat-as-withdraw, no NOTIFICATION.
    let update = h("0000 0015 40010103 40020600 02 0000fde9 400304c0000201 18 0a0000");
    let e = decode_message(&msg(message_type::UPDATE, &update), &ctx).expect_err("bad ORIGIN");
    assert_eq!(e.action(), ErrorAction::TreatAsWithdraw);
    assert_eq!(e.notification(), None);
}

// ---- Real messages from the captures ----

fn pcap_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/pcap")
}

/// Every complete non-UPDATE message of every capture, with its file name.
fn captured_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(pcap_dir())
        .expect("pcap dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    for name in names {
        let file = std::fs::read(pcap_dir().join(&name)).expect("capture");
        let Ok(streams) = common::capture::bgp_streams(&file) else { continue };
        for stream in &streams {
            for chunk in &stream.chunks {
                for m in common::capture::split_messages(chunk).messages {
                    if m.get(18) != Some(&message_type::UPDATE) {
                        out.push((name.clone(), m.to_vec()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn real_messages_reencode_byte_for_byte() {
    let ctx = Context { extended_message: true, ..Context::default() };
    let mut counts = [0usize; 6];
    let mut opens_with_caps = 0;
    let mut errors = Vec::new();
    for (file, m) in captured_messages() {
        match decode_message(&m, &ctx) {
            Ok(decoded) => {
                let again = encode(&decoded, &ctx);
                assert_eq!(hex(&again), hex(&m), "{file}: {decoded:?}");
                counts[usize::from(decoded.msg_type())] += 1;
                if let Message::Open(open) = &decoded {
                    if open.capabilities().count() > 0 {
                        opens_with_caps += 1;
                    }
                }
            }
            Err(e) => errors.push((file, hex(&m), e.to_string())),
        }
    }
    // Complete non-UPDATE messages per type code (0..=5) in the captures; none fails.
    assert_eq!(errors, vec![]);
    assert_eq!(counts, [0, 70, 0, 8, 307, 9]);
    assert_eq!(opens_with_caps, 68);
}

#[test]
fn real_extended_optional_parameters_open() {
    // tcpdump's RFC 9072 capture: an OPEN in the extended form.
    let opens: Vec<Open> = captured_messages()
        .into_iter()
        .filter(|(f, _)| f == "tcpdump__bgp-extended-optional-parameters-length.pcapng")
        .filter_map(|(_, m)| match decode_message(&m, &Context::default()) {
            Ok(Message::Open(o)) => Some(o),
            _ => None,
        })
        .collect();
    assert!(!opens.is_empty());
    assert!(opens.iter().any(|o| o.extended_parameters), "{opens:#?}");
}

#[test]
fn real_role_and_shutdown_captures() {
    let all = captured_messages();
    let decoded = |file: &str| -> Vec<Message> {
        all.iter().filter(|(f, _)| f == file).filter_map(|(_, m)| decode_message(m, &Context::default()).ok()).collect()
    };
    let roles: Vec<Role> = decoded("tcpdump__bgp-role.pcapng")
        .iter()
        .filter_map(|m| match m {
            Message::Open(o) => o.capabilities().find_map(|c| match c {
                Capability::Role(r) => Some(*r),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert!(!roles.is_empty(), "a BGP role capability");
    let comms: Vec<ShutdownCommunication> = decoded("tcpdump__bgp-shutdown-communication.pcapng")
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) => n.shutdown_communication(),
            _ => None,
        })
        .collect();
    assert!(comms.iter().any(|c| !c.text.is_empty() && c.problem.is_none()), "{comms:?}");
    let hard: Vec<Notification> = decoded("tcpdump__bgp-cease-hard-reset.pcap")
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) => n.hard_reset_inner(),
            _ => None,
        })
        .collect();
    assert!(!hard.is_empty(), "a hard reset with its inner NOTIFICATION");
}

#[test]
fn real_mrt_messages_reencode_byte_for_byte() {
    // The BGP4MP dumps of BIRD, Quagga and OpenBGPD: their OPENs,
    // KEEPALIVEs, ROUTE-REFRESHes and NOTIFICATIONs (SOURCES.md counts).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/mrt");
    let mut counts = [0usize; 6];
    let names = [
        "mrtparse__bird_bgp",
        "mrtparse__bird6_bgp",
        "mrtparse__bird-mrtdump_bgp",
        "mrtparse__openbgpd_bgp",
        "mrtparse__quagga_bgp",
    ];
    for name in names {
        let data = std::fs::read(dir.join(name)).expect("dump");
        for rec in bgp_proto::mrt::SliceReader::new(&data) {
            let Ok(bgp_proto::mrt::Record::Bgp4mpMessage(m)) = bgp_proto::mrt::decode_record(&rec.expect("frames"))
            else {
                continue;
            };
            if m.message.get(18) == Some(&message_type::UPDATE) {
                continue;
            }
            let ctx = Context { four_octet_as: m.as4, ..Context::default() };
            let decoded = decode_message(m.message, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex(&encode(&decoded, &ctx)), hex(m.message), "{name}: {decoded:?}");
            counts[usize::from(decoded.msg_type())] += 1;
        }
    }
    // Per type code: 14 OPENs, 7 NOTIFICATIONs, 38 KEEPALIVEs, 14 ROUTE-REFRESHes.
    assert_eq!(counts, [0, 14, 0, 7, 38, 14]);
}
