//! MRT (RFC 6396, RFC 8050) reader and writer against the dumps in
//! `tests/data/bgp/mrt`: record, RIB entry and BGP message counts as recorded
//! in its SOURCES.md (mrtparse 2.2.0), attribute decoding of every RIB entry,
//! the streaming reader against the in-memory one, error offsets on corrupt
//! input, and the BGP4MP writer round trip.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_proto::attribute::{MpNextHop, MpNlri};
use bgp_proto::mrt::{
    bgp4mp_subtype, decode_record, mrt_type, write_bgp4mp_message, write_bgp4mp_state_change, Bgp4mpEndpoints,
    MrtErrorKind, Record, SliceReader, StreamReader,
};
use bgp_proto::update::decode_update;
use bgp_proto::Family;
use bytes::BytesMut;

mod common;
use common::{mrt_data_dir, read_mrt};

const TD: u16 = mrt_type::TABLE_DUMP;
const TD2: u16 = mrt_type::TABLE_DUMP_V2;
const MP: u16 = mrt_type::BGP4MP;
const ET: u16 = mrt_type::BGP4MP_ET;

/// What SOURCES.md records for one file.
struct Expect {
    file: &'static str,
    /// (type, subtype, records) for every kind present.
    records: &'static [(u16, u16, usize)],
    /// RIB entries (TABLE_DUMP entries, or entries of AFI-specific TABLE_DUMP_V2 RIBs).
    rib_entries: usize,
    /// BGP messages inside BGP4MP: OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH.
    messages: [usize; 5],
}

const FILES: &[Expect] = &[
    Expect {
        file: "routeviews6__rib.20150922.1200.full-ipv6.bz2",
        records: &[(TD2, 4, 25_878), (TD2, 1, 1)],
        rib_entries: 609_246,
        messages: [0; 5],
    },
    Expect {
        file: "routeviews2__rib.20140523.0600.first9069prefixes.bz2",
        records: &[(TD2, 2, 9_069), (TD2, 1, 1)],
        rib_entries: 269_914,
        messages: [0; 5],
    },
    Expect {
        file: "ris-rrc00__bview.20020722.2337.gz",
        records: &[(TD, 1, 115_521)],
        rib_entries: 115_521,
        messages: [0; 5],
    },
    Expect {
        file: "bgpdump__bview.ipv4_unicast_add_path.gz",
        records: &[(TD2, 8, 31), (TD2, 1, 1)],
        rib_entries: 62,
        messages: [0; 5],
    },
    Expect {
        file: "mrtparse__bird-mrtdump_rib",
        records: &[(TD2, 8, 8), (TD2, 2, 4), (TD2, 1, 2)],
        rib_entries: 18,
        messages: [0; 5],
    },
    Expect {
        file: "mrtparse__quagga_rib",
        records: &[(TD2, 2, 3), (TD2, 4, 3), (TD2, 1, 1)],
        rib_entries: 9,
        messages: [0; 5],
    },
    Expect {
        file: "mrtparse__openbgpd_rib_table-v2",
        records: &[(TD2, 2, 11), (TD2, 4, 10), (TD2, 6, 2), (TD2, 1, 1)],
        // 33 entries in all, of which the two RIB_GENERIC records hold one each.
        rib_entries: 31,
        messages: [0; 5],
    },
    Expect {
        file: "mrtparse__openbgpd_rib_table",
        records: &[(TD, 2, 20), (TD, 1, 11)],
        rib_entries: 31,
        messages: [0; 5],
    },
    Expect {
        file: "mrtparse__bird_bgp",
        records: &[(MP, 4, 16), (MP, 5, 12), (MP, 1, 1)],
        rib_entries: 0,
        messages: [2, 8, 1, 5, 1],
    },
    Expect {
        file: "mrtparse__bird6_bgp",
        records: &[(MP, 4, 16), (MP, 5, 12), (MP, 1, 1)],
        rib_entries: 0,
        messages: [2, 8, 1, 5, 1],
    },
    Expect {
        file: "mrtparse__quagga_bgp",
        records: &[(MP, 4, 43), (MP, 5, 20), (MP, 1, 4)],
        rib_entries: 0,
        messages: [4, 24, 2, 10, 7],
    },
    Expect {
        file: "mrtparse__openbgpd_bgp",
        records: &[(MP, 4, 67), (MP, 0, 8), (MP, 5, 8), (MP, 1, 4)],
        rib_entries: 0,
        messages: [4, 48, 2, 13, 4],
    },
    Expect {
        file: "mrtparse__bird-mrtdump_bgp",
        records: &[(MP, 9, 14), (MP, 5, 12), (MP, 1, 1)],
        rib_entries: 0,
        messages: [2, 6, 1, 5, 1],
    },
    Expect {
        file: "bgpdump__updates.20160811.1600.gz",
        records: &[(MP, 4, 17_384), (MP, 5, 22)],
        rib_entries: 0,
        messages: [0, 17_216, 0, 168, 0],
    },
    Expect {
        file: "bgpdump__updates.20070211.0141.gz",
        records: &[(MP, 1, 23_394)],
        rib_entries: 0,
        messages: [0, 23_394, 0, 0, 0],
    },
    Expect {
        file: "bgpdump__updates.20100722.2015.gz",
        records: &[(MP, 4, 1_364), (MP, 1, 789), (MP, 5, 40)],
        rib_entries: 0,
        messages: [0, 1_822, 0, 331, 0],
    },
    Expect {
        file: "bgpdump__updates.et-header.2015.gz",
        records: &[(ET, 4, 89_681), (ET, 5, 4), (ET, 1, 1)],
        rib_entries: 0,
        messages: [1, 89_679, 0, 2, 0],
    },
    Expect {
        file: "ris-rrc00__updates.20181218.1140.gz",
        records: &[(MP, 4, 57_149), (MP, 5, 62)],
        rib_entries: 0,
        messages: [0, 56_854, 0, 295, 0],
    },
    Expect {
        file: "routeviews6__updates.20151009.1230.bz2",
        records: &[(MP, 4, 14_879), (MP, 1, 165)],
        rib_entries: 0,
        messages: [0, 15_044, 0, 0, 0],
    },
    Expect {
        file: "ris-rrc15__updates.20100227.1600.gz",
        records: &[(MP, 4, 6_053), (MP, 1, 542), (MP, 5, 20)],
        rib_entries: 0,
        messages: [1, 6_546, 1, 47, 0],
    },
    Expect {
        file: "ris-rrc06__updates.20150401.0000.gz",
        records: &[(MP, 4, 791), (MP, 5, 4)],
        rib_entries: 0,
        messages: [0, 761, 0, 30, 0],
    },
    Expect {
        file: "routeviews-jinx__updates.20150401.0000.bz2",
        records: &[(MP, 4, 1_756)],
        rib_entries: 0,
        messages: [0, 1_756, 0, 0, 0],
    },
    Expect {
        file: "routeviews__updates.20240914.ET.bz2",
        records: &[(ET, 4, 85)],
        rib_entries: 0,
        messages: [0, 85, 0, 0, 0],
    },
];

#[test]
fn every_mrt_file_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(mrt_data_dir())
        .expect("mrt data dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SOURCES.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|e| e.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// Counts per file: records by type/subtype, RIB entries, BGP messages by type.
fn check_counts(e: &Expect) {
    let data = read_mrt(e.file);
    let mut records: BTreeMap<(u16, u16), usize> = BTreeMap::new();
    let mut rib_entries = 0usize;
    let mut messages = [0usize; 5];
    let mut peers = 0usize;
    for rec in SliceReader::new(&data) {
        let rec = rec.unwrap_or_else(|err| panic!("{}: {err}", e.file));
        *records.entry((rec.header.mrt_type, rec.header.subtype)).or_default() += 1;
        match decode_record(&rec).unwrap_or_else(|err| panic!("{}: {err}", e.file)) {
            Record::TableDump(_) => rib_entries += 1,
            Record::PeerIndexTable(t) => peers = t.peers.len(),
            Record::Rib(r) => {
                for entry in r.entries() {
                    let entry = entry.unwrap_or_else(|err| panic!("{}: {err}", e.file));
                    assert!(usize::from(entry.peer_index) < peers, "{}: peer index {}", e.file, entry.peer_index);
                    assert_eq!(entry.path_id.is_some(), r.add_path);
                    rib_entries += 1;
                }
            }
            Record::RibGeneric(g) => assert_eq!((g.afi.0, g.safi.0), (1, 128), "{}", e.file),
            Record::Bgp4mpMessage(m) => {
                let (ty, _) = m.split_message().unwrap_or_else(|err| panic!("{}: {err}", e.file));
                let slot = messages.get_mut(usize::from(ty).wrapping_sub(1)).expect("message type 1..=5");
                *slot += 1;
            }
            Record::Bgp4mpStateChange(s) => {
                assert!((1..=8).contains(&s.new_state), "{}: state {}", e.file, s.new_state)
            }
        }
    }
    let expected: BTreeMap<(u16, u16), usize> = e.records.iter().map(|&(t, s, n)| ((t, s), n)).collect();
    assert_eq!(records, expected, "{}: records by type/subtype", e.file);
    assert_eq!(rib_entries, e.rib_entries, "{}: RIB entries", e.file);
    assert_eq!(messages, e.messages, "{}: BGP messages (OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH)", e.file);
}

#[test]
fn counts_match_sources_md_small_files() {
    for e in FILES.iter().filter(|e| !e.file.contains("full-ipv6")) {
        check_counts(e);
    }
}

#[test]
fn full_ipv6_rib_has_609246_entries_from_29_peers() {
    let e = FILES.iter().find(|e| e.file.contains("full-ipv6")).expect("listed");
    check_counts(e);
    let data = read_mrt(e.file);
    let first = SliceReader::new(&data).next().expect("a record").expect("framed");
    match decode_record(&first).expect("decodes") {
        Record::PeerIndexTable(t) => {
            assert_eq!(t.peers.len(), 29);
            assert_eq!(t.collector_id, Ipv4Addr::new(128, 223, 51, 112));
        }
        other => panic!("first record is {other:?}"),
    }
}

/// Every RIB entry's attributes decode through `decode_path_attributes`, and
/// the next hop is where each collector put it: full RFC 4760 MP_REACH
/// (Quagga, RouteViews), abbreviated RFC 6396 MP_REACH (OpenBGPD), NEXT_HOP
/// (IPv4), or nowhere (BIRD's locally originated routes).
#[test]
fn rib_entry_attributes_decode_with_next_hops() {
    // (file, entries with an IPv6 MP_REACH next hop, entries with NEXT_HOP)
    let cases: &[(&str, usize, usize)] = &[
        ("routeviews6__rib.20150922.1200.full-ipv6.bz2", 609_246, 0),
        ("mrtparse__quagga_rib", 6, 3),
        ("mrtparse__openbgpd_rib_table-v2", 20, 11),
        ("mrtparse__bird-mrtdump_rib", 0, 12),
        ("bgpdump__bview.ipv4_unicast_add_path.gz", 0, 60),
        ("mrtparse__openbgpd_rib_table", 20, 11),
    ];
    for &(file, want_v6, want_v4) in cases {
        let data = read_mrt(file);
        let (mut v6, mut v4) = (0, 0);
        let mut check = |attrs: bgp_proto::PathAttributes, family: Family| {
            if let Some(mp) = &attrs.mp_reach {
                assert_eq!(mp.family, family, "{file}");
                if matches!(mp.next_hop, MpNextHop::V6(_) | MpNextHop::V6LinkLocal { .. }) {
                    v6 += 1;
                }
            }
            if attrs.next_hop.is_some() {
                v4 += 1;
            }
        };
        for rec in SliceReader::new(&data) {
            match decode_record(&rec.expect("framed")).expect("decodes") {
                Record::Rib(r) => {
                    for entry in r.entries() {
                        let (attrs, _) =
                            entry.expect("entry").decode_attributes(r.family).unwrap_or_else(|e| panic!("{file}: {e}"));
                        check(attrs, r.family);
                    }
                }
                Record::TableDump(t) => {
                    let (attrs, _) = t.decode_attributes().unwrap_or_else(|e| panic!("{file}: {e}"));
                    check(attrs, t.family());
                }
                _ => {}
            }
        }
        assert_eq!((v6, v4), (want_v6, want_v4), "{file}: entries with IPv6 MP next hop, with NEXT_HOP");
    }
}

/// UPDATEs inside BGP4MP decode with the context the subtype implies (2- or
/// 4-octet AS, ADD-PATH), and hold as many prefixes as bgpdump prints lines.
#[test]
fn bgp4mp_updates_decode() {
    // (file, announced + withdrawn prefixes: the A and W lines `bgpdump -m` prints)
    for (file, want) in [
        ("bgpdump__updates.20100722.2015.gz", 5_614),
        ("routeviews6__updates.20151009.1230.bz2", 25_642),
        ("mrtparse__bird-mrtdump_bgp", 12),
        ("mrtparse__quagga_bgp", 18),
        ("routeviews__updates.20240914.ET.bz2", 268),
    ] {
        let data = read_mrt(file);
        let (mut ok, mut total, mut prefixes) = (0, 0, 0);
        for rec in SliceReader::new(&data) {
            if let Record::Bgp4mpMessage(m) = decode_record(&rec.expect("framed")).expect("decodes") {
                let (ty, body) = m.split_message().expect("BGP header");
                if ty != 2 {
                    continue;
                }
                total += 1;
                if let Ok(u) = decode_update(body, &m.context()) {
                    ok += 1;
                    prefixes += u.nlri.len() + u.withdrawn.len();
                    if let Some(MpNlri::Prefixes(p)) = u.attributes.mp_reach.as_ref().map(|r| &r.nlri) {
                        prefixes += p.len();
                    }
                    if let Some(MpNlri::Prefixes(p)) = u.attributes.mp_unreach.as_ref().map(|r| &r.withdrawn) {
                        prefixes += p.len();
                    }
                    if m.add_path {
                        assert!(u.nlri.iter().all(|n| n.path_id.is_some()), "{file}");
                    }
                }
            }
        }
        assert_eq!(ok, total, "{file}: UPDATEs that decode");
        assert_eq!(prefixes, want, "{file}: prefixes");
    }
}

#[test]
fn stream_reader_yields_the_same_records_as_slice_reader() {
    for file in
        ["bgpdump__updates.et-header.2015.gz", "mrtparse__openbgpd_rib_table-v2", "ris-rrc00__bview.20020722.2337.gz"]
    {
        let data = read_mrt(file);
        let mut slices = SliceReader::new(&data);
        // A reader that returns few bytes at a time exercises partial reads.
        let mut stream = StreamReader::new(Trickle(&data[..]));
        let mut n = 0;
        while let Some(s) = stream.next_record() {
            let s = s.expect("framed");
            let m = slices.next().expect("same count").expect("framed");
            assert_eq!((s.offset, s.header, s.body), (m.offset, m.header, m.body), "{file} record {n}");
            n += 1;
        }
        assert!(slices.next().is_none(), "{file}");
        assert!(n > 0);
    }
}

struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn et_records_carry_microseconds() {
    let data = read_mrt("bgpdump__updates.et-header.2015.gz");
    let first = SliceReader::new(&data).next().expect("record").expect("framed");
    // bgpdump prints this record as 1445565678.509481.
    assert_eq!((first.header.timestamp, first.header.microseconds), (1_445_565_678, Some(509_481)));
    assert_eq!(first.body.len() as u32, first.header.length - 4);
}

#[test]
fn truncated_input_reports_offset_and_stops() {
    let data = read_mrt("mrtparse__bird_bgp");
    let records: Vec<_> = SliceReader::new(&data).map(|r| r.expect("framed").offset).collect();
    let last = *records.last().expect("records");
    let cut = &data[..data.len() - 3];
    let out: Vec<_> = SliceReader::new(cut).collect();
    assert_eq!(out.len(), records.len());
    let err = out.last().expect("items").as_ref().expect_err("truncated");
    assert_eq!(err.offset, last);
    assert!(matches!(err.kind, MrtErrorKind::TruncatedRecord { .. }));
    assert!(!err.is_recoverable());

    let mut stream = StreamReader::new(cut);
    let mut n = 0;
    let mut last_err = None;
    while let Some(r) = stream.next_record() {
        n += 1;
        if let Err(e) = r {
            last_err = Some(e);
        }
    }
    assert_eq!(n, records.len());
    assert_eq!(last_err.expect("error").offset, last);

    // Six stray octets: too short for a header.
    let mut tail = data.clone();
    tail.extend_from_slice(&[0, 0, 0, 1, 0, 13]);
    let err = SliceReader::new(&tail).last().expect("items").expect_err("short header");
    assert_eq!(err.offset, data.len() as u64);
    assert!(matches!(err.kind, MrtErrorKind::TruncatedHeader { available: 6 }));
}

#[test]
fn corrupt_body_is_reported_and_reading_goes_on() {
    let mut out = BytesMut::new();
    let ep = endpoints_v4();
    // An ET record whose length (2) cannot even hold the microseconds.
    out.extend_from_slice(&[0, 0, 0, 1, 0, 17, 0, 4, 0, 0, 0, 2, 0xaa, 0xbb]);
    write_bgp4mp_state_change(&mut out, 7, None, &ep, 3, 6).expect("encodes");
    // A BGP4MP message with an unknown address family.
    out.extend_from_slice(&[0, 0, 0, 1, 0, 16, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 9]);
    write_bgp4mp_state_change(&mut out, 8, None, &ep, 6, 1).expect("encodes");
    let items: Vec<_> = SliceReader::new(&out).collect();
    assert_eq!(items.len(), 4);
    let e = items[0].as_ref().expect_err("ET too short");
    assert_eq!(e.offset, 0);
    assert!(e.is_recoverable());
    let second = items[1].as_ref().expect("framed");
    assert_eq!(second.offset, 14);
    assert!(matches!(decode_record(second), Ok(Record::Bgp4mpStateChange(s)) if s.new_state == 6));
    let third = items[2].as_ref().expect("framed");
    let e = decode_record(third).expect_err("bad AFI");
    assert_eq!(e.offset, third.offset);
    assert!(matches!(e.kind, MrtErrorKind::Invalid { .. }));
    assert!(
        matches!(decode_record(items[3].as_ref().expect("framed")), Ok(Record::Bgp4mpStateChange(s)) if s.new_state == 1)
    );
}

/// Truncating or flipping bytes anywhere never panics and never loops.
#[test]
fn mutated_records_never_panic() {
    let mut data = read_mrt("mrtparse__openbgpd_rib_table-v2");
    data.extend(read_mrt("mrtparse__quagga_bgp"));
    data.extend(read_mrt("mrtparse__openbgpd_rib_table"));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..3000 {
        let mut d = data.clone();
        for _ in 0..1 + round % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % d.len();
            d[at] = (seed >> 32) as u8;
        }
        if round % 7 == 0 {
            d.truncate((seed as usize >> 8) % d.len());
        }
        let mut n = 0;
        for rec in SliceReader::new(&d).flatten() {
            n += 1;
            match decode_record(&rec) {
                Ok(Record::Rib(r)) => {
                    for entry in r.entries().flatten() {
                        let _ = entry.decode_attributes(r.family);
                    }
                }
                Ok(Record::TableDump(t)) => {
                    let _ = t.decode_attributes();
                }
                Ok(Record::Bgp4mpMessage(m)) => {
                    if let Ok((2, body)) = m.split_message() {
                        let _ = decode_update(body, &m.context());
                    }
                }
                _ => {}
            }
        }
        assert!(n <= d.len() / 12 + 1);
    }
}

fn endpoints_v4() -> Bgp4mpEndpoints {
    Bgp4mpEndpoints {
        peer_as: 4_200_000_001,
        local_as: 65_000,
        interface_index: 3,
        peer_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        local_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    }
}

#[test]
fn writer_round_trip() {
    let keepalive = [[0xffu8; 16].as_slice(), &[0, 19, 4]].concat();
    let v6 = Bgp4mpEndpoints {
        peer_as: 65_001,
        local_as: 4_200_000_000,
        interface_index: 0,
        peer_ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        local_ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    };
    // Every UPDATE of a real dump, re-wrapped.
    let src = read_mrt("routeviews__updates.20240914.ET.bz2");
    let mut originals = Vec::new();
    for rec in SliceReader::new(&src) {
        if let Record::Bgp4mpMessage(m) = decode_record(&rec.expect("framed")).expect("decodes") {
            originals.push(m.message.to_vec());
        }
    }
    assert_eq!(originals.len(), 85);

    let mut out = BytesMut::new();
    write_bgp4mp_state_change(&mut out, 1_700_000_000, None, &endpoints_v4(), 5, 6).expect("state change");
    write_bgp4mp_message(&mut out, 1_700_000_001, Some(250_000), &v6, &keepalive).expect("keepalive ET");
    for (i, msg) in originals.iter().enumerate() {
        write_bgp4mp_message(&mut out, 1_700_000_002 + i as u32, None, &endpoints_v4(), msg).expect("update");
    }
    write_bgp4mp_state_change(&mut out, 1_700_000_100, Some(999_999), &v6, 6, 1).expect("state change ET");
    assert!(write_bgp4mp_state_change(
        &mut BytesMut::new(),
        0,
        None,
        &Bgp4mpEndpoints { local_ip: v6.local_ip, ..endpoints_v4() },
        1,
        2
    )
    .is_err());

    let recs: Vec<_> = SliceReader::new(&out).map(|r| r.expect("framed")).collect();
    assert_eq!(recs.len(), originals.len() + 3);

    let r0 = &recs[0];
    assert_eq!(
        (r0.header.mrt_type, r0.header.subtype, r0.header.timestamp),
        (MP, bgp4mp_subtype::STATE_CHANGE_AS4, 1_700_000_000)
    );
    match decode_record(r0).expect("decodes") {
        Record::Bgp4mpStateChange(s) => {
            assert_eq!((s.peer_as, s.local_as, s.interface_index), (4_200_000_001, 65_000, 3));
            assert_eq!((s.peer_ip, s.local_ip), (endpoints_v4().peer_ip, endpoints_v4().local_ip));
            assert_eq!((s.old_state, s.new_state, s.as4), (5, 6, true));
        }
        other => panic!("{other:?}"),
    }
    let r1 = &recs[1];
    assert_eq!((r1.header.mrt_type, r1.header.microseconds), (ET, Some(250_000)));
    match decode_record(r1).expect("decodes") {
        Record::Bgp4mpMessage(m) => {
            assert_eq!(
                (m.peer_as, m.local_as, m.peer_ip, m.local_ip),
                (65_001, 4_200_000_000, v6.peer_ip, v6.local_ip)
            );
            assert_eq!(m.message, &keepalive[..]);
            assert_eq!(m.split_message().expect("header"), (4, &[][..]));
        }
        other => panic!("{other:?}"),
    }
    for (rec, msg) in recs[2..].iter().zip(&originals) {
        match decode_record(rec).expect("decodes") {
            Record::Bgp4mpMessage(m) => {
                assert!(m.as4 && !m.add_path && !m.local);
                assert_eq!(m.message, &msg[..]);
                let (ty, body) = m.split_message().expect("header");
                assert_eq!(ty, 2);
                decode_update(body, &m.context()).expect("UPDATE decodes");
            }
            other => panic!("{other:?}"),
        }
    }
    let last = recs.last().expect("records");
    assert_eq!(last.header.microseconds, Some(999_999));
    assert!(
        matches!(decode_record(last), Ok(Record::Bgp4mpStateChange(s)) if s.peer_ip == v6.peer_ip && s.new_state == 1)
    );

    // Byte-exact: re-writing what was read gives the same bytes.
    let mut again = BytesMut::new();
    for rec in &recs {
        match decode_record(rec).expect("decodes") {
            Record::Bgp4mpMessage(m) => {
                let ep = Bgp4mpEndpoints {
                    peer_as: m.peer_as,
                    local_as: m.local_as,
                    interface_index: m.interface_index,
                    peer_ip: m.peer_ip,
                    local_ip: m.local_ip,
                };
                write_bgp4mp_message(&mut again, rec.header.timestamp, rec.header.microseconds, &ep, m.message)
                    .expect("encodes");
            }
            Record::Bgp4mpStateChange(s) => {
                let ep = Bgp4mpEndpoints {
                    peer_as: s.peer_as,
                    local_as: s.local_as,
                    interface_index: s.interface_index,
                    peer_ip: s.peer_ip,
                    local_ip: s.local_ip,
                };
                write_bgp4mp_state_change(
                    &mut again,
                    rec.header.timestamp,
                    rec.header.microseconds,
                    &ep,
                    s.old_state,
                    s.new_state,
                )
                .expect("encodes");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&again[..], &out[..]);
}

/// Every BGP message of the collector and daemon dumps decodes as a
/// `Message` of the type its header names.
#[test]
fn bgp4mp_messages_decode() {
    for file in [
        "mrtparse__quagga_bgp",
        "mrtparse__openbgpd_bgp",
        "mrtparse__bird-mrtdump_bgp",
        "ris-rrc15__updates.20100227.1600.gz",
        "bgpdump__updates.20160811.1600.gz",
        "ris-rrc06__updates.20150401.0000.gz",
    ] {
        let data = read_mrt(file);
        let (mut total, mut ok) = (0, 0);
        for rec in SliceReader::new(&data) {
            if let Record::Bgp4mpMessage(m) = decode_record(&rec.expect("framed")).expect("decodes") {
                total += 1;
                let (ty, _) = m.split_message().expect("header");
                match m.decode_message() {
                    Ok(msg) => {
                        let decoded_type = match msg {
                            bgp_proto::Message::Open(_) => 1,
                            bgp_proto::Message::Update(_) => 2,
                            bgp_proto::Message::Notification(_) => 3,
                            bgp_proto::Message::Keepalive => 4,
                            bgp_proto::Message::RouteRefresh(_) => 5,
                        };
                        assert_eq!(decoded_type, ty, "{file}");
                        ok += 1;
                    }
                    Err(e) => eprintln!("{file}: {e}"),
                }
            }
        }
        assert_eq!(ok, total, "{file}: messages that decode");
    }
}
