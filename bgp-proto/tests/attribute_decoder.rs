//! `PathAttributesDecoder` (the reusing bulk decoder) gives exactly what
//! `decode_path_attributes` gives, entry after entry, with nothing left over
//! from the previous set: checked on real RIB dumps and on a crafted sequence
//! that alternates rich, sparse and malformed sets.

use bgp_proto::attribute::{decode_path_attributes, PathAttributesDecoder};
use bgp_proto::mrt::{decode_record, Record, SliceReader};
use bgp_proto::Context;

mod common;
use common::read_mrt;

/// Compares both decoders on every RIB entry (up to `limit`); returns how many.
fn compare_rib(name: &str, limit: usize) -> usize {
    let data = read_mrt(name);
    let mut decoder = PathAttributesDecoder::new();
    let mut n = 0;
    for raw in SliceReader::new(&data).flatten() {
        let Ok(Record::Rib(rib)) = decode_record(&raw) else { continue };
        for entry in rib.entries().flatten() {
            let owned = entry.decode_attributes(rib.family);
            let reused = entry.decode_attributes_with(rib.family, &mut decoder);
            match (owned, reused) {
                (Ok((a, issues)), Ok(b)) => {
                    assert_eq!(&a, b, "{name}: entry {n}");
                    assert_eq!(issues.as_slice(), decoder.issues(), "{name}: entry {n}");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{name}: entry {n}"),
                (a, b) => panic!("{name}: entry {n}: {a:?} vs {b:?}"),
            }
            n += 1;
            if n == limit {
                return n;
            }
        }
    }
    n
}

#[test]
fn same_as_owned_decode_on_ipv4_rib() {
    assert_eq!(compare_rib("routeviews2__rib.20140523.0600.first9069prefixes.bz2", usize::MAX), 269_914);
    // SOURCES.md: 9,069 prefixes, 269,914 entries
}

#[test]
fn same_as_owned_decode_on_ipv6_rib() {
    assert_eq!(compare_rib("routeviews6__rib.20150922.1200.full-ipv6.bz2", 150_000), 150_000);
}

#[test]
fn nothing_leaks_from_one_set_into_the_next() {
    // ORIGIN IGP, AS_PATH [64512 64513] {64514}, NEXT_HOP, COMMUNITIES, unknown 99.
    let rich: &[u8] = &[
        0x40, 1, 1, 0, //
        0x40, 2, 18, 2, 2, 0, 0, 0xfc, 0, 0, 0, 0xfc, 1, 1, 1, 0, 0, 0xfc, 2, //
        0x40, 3, 4, 10, 0, 0, 1, //
        0xc0, 8, 8, 0xfc, 0, 0, 1, 0xfc, 0, 0, 2, //
        0xc0, 99, 2, 0xab, 0xcd,
    ];
    // ORIGIN only.
    let sparse: &[u8] = &[0x40, 1, 1, 2];
    // AS_PATH with an unknown segment type: treat-as-withdraw.
    let malformed: &[u8] = &[0x40, 1, 1, 0, 0x40, 2, 6, 9, 1, 0, 0, 0xfc, 0];
    // A shorter single-segment path after the two-segment one.
    let short: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 9];
    let ctx = Context::default();
    let mut decoder = PathAttributesDecoder::new();
    for round in 0..3 {
        for (i, set) in [rich, sparse, malformed, rich, short, sparse, rich].into_iter().enumerate() {
            let owned = decode_path_attributes(set, &ctx, None).map(|(a, _)| a);
            let reused = decoder.decode(set, &ctx, None).cloned();
            assert_eq!(owned, reused, "round {round}, set {i}");
        }
    }
}
