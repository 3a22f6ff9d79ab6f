//! Path attribute decoding (`decode_path_attributes`) on arbitrary bytes,
//! in an UPDATE or in an MRT RIB entry. Attributes that decode cleanly must
//! survive encode -> decode unchanged (up to attribute order), and encoding
//! the result again must give the same bytes.
//!
//! Input: context byte, a selector byte (0/1: UPDATE, 2: MRT RIB IPv4
//! unicast, 3: MRT RIB IPv6 unicast), then the attributes.
#![no_main]

use bgp_proto::attribute::decode_path_attributes;
use bgp_proto::Family;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((ctx, rest)) = tern_fuzz::split_context(data) else { return };
    let Some((&selector, attrs)) = rest.split_first() else { return };
    let mrt_rib = match selector % 4 {
        2 => Some(Family::IPV4_UNICAST),
        3 => Some(Family::IPV6_UNICAST),
        _ => None,
    };
    let Ok((decoded, issues)) = decode_path_attributes(attrs, &ctx, mrt_rib) else { return };
    if !issues.is_empty() || mrt_rib.is_some() {
        return;
    }
    let mut out = BytesMut::new();
    if decoded.encode(&ctx, &mut out).is_err() {
        return;
    }
    let (again, issues) = decode_path_attributes(&out, &ctx, None).expect("re-encoded attributes decode");
    assert!(issues.is_empty(), "re-encoded attributes have issues: {issues:?}");
    // The encoder writes attributes in ascending type code order (RFC 4271
    // §5); the decoder keeps unknown ones in wire order.
    let mut expected = decoded;
    expected.unknown.sort_by_key(|a| a.type_code);
    assert_eq!(again, expected, "decode(encode(a)) != a");
    let mut out2 = BytesMut::new();
    again.encode(&ctx, &mut out2).expect("decoded attributes re-encode");
    assert_eq!(out2, out, "encoding is not stable across a round trip");
});
