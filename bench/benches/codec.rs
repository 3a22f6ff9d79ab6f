//! Codec throughput, side by side with a reference decoder in the same run.
//!
//! - `mrt_rib_decode`: the complete RouteViews IPv6 RIB dump of 2015-09-22
//!   (609,246 RIB entries, ~50 MB once decompressed in memory) decoded by
//!   `bgp_proto::mrt` (every record framed, every entry's path attributes
//!   decoded) and by `bgpkit-parser` (which also decodes every entry's
//!   attributes). Throughput in RIB entries per second.
//! - `update_encode`: `UpdateBuilder` packing 100,000 prefixes behind one
//!   attribute set into 4,096-octet UPDATEs, IPv4 (NLRI field) and IPv6
//!   (MP_REACH_NLRI). Throughput in prefixes per second.
//!
//! `cargo bench -p tern-bench` runs it; `-- --test` runs each benchmark once
//! (the CI smoke). Figures are in `bench/README.md`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::attribute::{AsPath, AsSegment, EncodeOptions, MpNextHop, MpNlri, MpReach, Origin, SegmentType};
use bgp_proto::update::UpdateBuilder;
use bgp_proto::{Context, Family, Nlri, PathAttributes};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use tern_bench::rib::{bgpkit_rib, tern_rib, tern_rib_framing, tern_rib_reusing, RIB_ENTRIES, RIB_FILE};
use tern_bench::{data_dir, read_decompressed};

fn mrt_rib_decode(c: &mut Criterion) {
    let path = data_dir().join(RIB_FILE);
    let data = read_decompressed(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Both decoders must see the whole file before their speed means anything.
    assert_eq!(tern_rib(&data), (RIB_ENTRIES, RIB_ENTRIES), "tern: entries read / decoded");
    assert_eq!(tern_rib_reusing(&data), RIB_ENTRIES, "tern (reusing decoder): entries decoded");
    assert_eq!(bgpkit_rib(&data), RIB_ENTRIES, "bgpkit-parser: entries read");

    let mut group = c.benchmark_group("mrt_rib_decode");
    group.throughput(Throughput::Elements(RIB_ENTRIES));
    group.sample_size(10);
    group.bench_function("tern", |b| b.iter(|| tern_rib(black_box(&data))));
    group.bench_function("tern-reusing", |b| b.iter(|| tern_rib_reusing(black_box(&data))));
    group.bench_function("bgpkit-parser", |b| b.iter(|| bgpkit_rib(black_box(&data))));
    group.bench_function("tern-framing-only", |b| b.iter(|| tern_rib_framing(black_box(&data))));
    group.finish();
}

const PREFIXES: u32 = 100_000;

/// A realistic eBGP attribute set: 4-hop AS path, MED, 4 communities.
fn attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath {
            segments: vec![AsSegment { kind: SegmentType::AsSequence, asns: vec![64512, 3356, 1299, 4_200_000_001] }],
        }),
        med: Some(100),
        communities: Some(vec![0xfc00_0001, 0xfc00_0002, 0x0d1c_0064, 0x0d1c_00c8]),
        ..PathAttributes::default()
    }
}

fn update_encode(c: &mut Criterion) {
    let ctx = Context::default();
    let v4_attrs = PathAttributes { next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)), ..attributes() };
    let v6_attrs = PathAttributes {
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::V6("2001:db8::1".parse().expect("literal")),
            reserved: 0,
            nlri: MpNlri::Prefixes(Vec::new()),
        }),
        ..attributes()
    };
    let v4: Vec<Nlri> = (0..PREFIXES)
        .map(|i| Nlri::new(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).expect("/24"))))
        .collect();
    let v6: Vec<Nlri> = (0..PREFIXES)
        .map(|i| {
            let addr = Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(i) << 80));
            Nlri::new(IpNet::V6(Ipv6Net::new(addr, 48).expect("/48")))
        })
        .collect();

    let mut group = c.benchmark_group("update_encode");
    group.throughput(Throughput::Elements(u64::from(PREFIXES)));
    for (name, family, attrs, nlri) in
        [("ipv4-nlri", Family::IPV4_UNICAST, &v4_attrs, &v4), ("ipv6-mp-reach", Family::IPV6_UNICAST, &v6_attrs, &v6)]
    {
        let builder = UpdateBuilder::new(&ctx, family, attrs, EncodeOptions::default()).expect("builder");
        let mut out = BytesMut::with_capacity(8 << 20);
        let messages = builder.announce(nlri, &mut out).expect("announce");
        assert!(messages > 1 && out.len() > nlri.len(), "{name}: {messages} messages, {} bytes", out.len());
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(builder.announce(black_box(nlri), &mut out).expect("announce"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mrt_rib_decode, update_encode);
criterion_main!(benches);
