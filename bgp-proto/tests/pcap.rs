//! Every packet capture in `tests/data/bgp/pcap/` through the codec.
//!
//! Each capture's TCP streams on port 179 are reassembled (see
//! `common/capture.rs`) and split into messages two ways: by an independent
//! marker/length splitter, whose counts must equal the "Independent framing"
//! line of `tests/data/bgp/pcap/SOURCES.md`, and by the codec's own framer
//! and decoders, whose per-type counts must equal the same figures. Captures
//! that are well formed must decode without a single error; the deliberately
//! malformed ones (fuzzer reproducers) must give classified errors, and no
//! capture may panic or hang the codec.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use common::capture::{bgp_streams, split_messages};

/// How a capture's messages must decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every complete message decodes without an error.
    Clean,
    /// At least one message is rejected with a classified error (a
    /// NOTIFICATION code and subcode, or an RFC 7606 action).
    Errors,
}

/// Decode context of a session whose OPENs are not in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoOpen {
    /// 4-octet AS numbers (RFC 6793), no ADD-PATH.
    As4,
    /// 2-octet AS numbers, no ADD-PATH.
    As2,
    /// 2-octet AS numbers and ADD-PATH for IPv4 and IPv6 unicast.
    As2AddPath,
}

/// What one capture must give.
// `outcome` and `no_open` drive the decode test that follows the codec's framer.
#[allow(dead_code)]
struct Capture {
    file: &'static str,
    /// Complete messages per type, in the words of SOURCES.md ("none" for none).
    messages: &'static str,
    /// Bytes of the reassembled streams that are not part of a complete
    /// message: garbage between messages and truncated tails.
    other_bytes: usize,
    outcome: Outcome,
    no_open: NoOpen,
}

const fn clean(file: &'static str, messages: &'static str) -> Capture {
    Capture { file, messages, other_bytes: 0, outcome: Outcome::Clean, no_open: NoOpen::As4 }
}

const fn errors(file: &'static str, messages: &'static str) -> Capture {
    Capture { file, messages, other_bytes: 0, outcome: Outcome::Errors, no_open: NoOpen::As4 }
}

impl Capture {
    const fn other(self, bytes: usize) -> Capture {
        Capture { other_bytes: bytes, ..self }
    }

    const fn no_open(self, no_open: NoOpen) -> Capture {
        Capture { no_open, ..self }
    }
}

/// The captures and their reference counts (SOURCES.md, "Independent
/// framing"). Where a session's OPENs are missing, the AS number size is the
/// one tcpdump's and tshark's decodes show (AS_PATH length against ASN count).
#[rustfmt::skip]
const CAPTURES: &[Capture] = &[
    clean("tcpdump__bgp-4byte-asn.pcap", "KEEPALIVE 16, UPDATE 10, OPEN 8, NOTIFICATION 1"),
    // Crafted, no OPEN: ADD-PATH assumed (SOURCES.md); NEXT_HOP of length 0 is malformed.
    errors("tcpdump__bgp-addpath.pcap", "UPDATE 1").no_open(NoOpen::As2AddPath),
    clean("tcpdump__bgp-aigp.pcap", "UPDATE 2"),
    clean("tcpdump__bgp-large-community.pcap", "UPDATE 5"),
    clean("tcpdump__bgp-lu-multiple-labels.pcap", "KEEPALIVE 8, UPDATE 7, OPEN 4, NOTIFICATION 1"),
    clean("tcpdump__bgp-enhanced-route-refresh.pcapng", "OPEN 1"),
    clean("tcpdump__bgp-enhanced-route-refresh-subtype.pcapng", "UPDATE 5, ROUTE-REFRESH 3"),
    // The second NOTIFICATION reuses the first one's sequence numbers: a retransmission.
    clean("tcpdump__bgp-shutdown-communication.pcapng", "NOTIFICATION 1"),
    clean("tcpdump__bgp-cease-hard-reset.pcap", "OPEN 2, NOTIFICATION 1"),
    clean("tcpdump__bgp-bfd-cease.pcap", "NOTIFICATION 1"),
    clean("tcpdump__bgp_notification_rr_msg_error.pcap", "NOTIFICATION 1"),
    clean("tcpdump__bgp-orf.pcapng", "ROUTE-REFRESH 2"),
    clean("tcpdump__bgp-role.pcapng", "UPDATE 9, KEEPALIVE 2, OPEN 1"),
    clean("tcpdump__bgp_vpn_attrset.pcap", "UPDATE 1").no_open(NoOpen::As2),
    clean("tcpdump__mpbgp-linklocal-nexthop.pcap", "UPDATE 1").no_open(NoOpen::As2),
    errors("tcpdump__bgp-as-path-oobr.pcap", "UPDATE 334").other(14321),
    errors("tcpdump__bgp-infinite-loop.pcap", "UPDATE 4").other(60),
    errors("tcpdump__bgp_mp_reach_nlri-oobr.pcap", "UPDATE 6").other(2310),
    // The only packet is a first IP fragment: no complete segment, nothing to decode.
    clean("tcpdump__bgp-bgp_capabilities_print-oobr-1.pcap", "none"),
    clean("tcpdump__bgp-extended-optional-parameters-length.pcapng", "OPEN 1"),
    errors("tcpdump__bgp-ub.pcap", "UPDATE 22").other(2120),
    clean("tcpdump__bgp-evpn.pcap", "OPEN 1"),
    clean("packetlife__4-byte_AS_numbers_Full_Support.pcap", "UPDATE 9, KEEPALIVE 5, OPEN 2"),
    clean("packetlife__4-byte_AS_numbers_Mixed_Scenario.pcap", "KEEPALIVE 2, UPDATE 2").no_open(NoOpen::As2),
    clean("packetlife__BGP_MP_NLRI.pcap", "KEEPALIVE 16, OPEN 4, UPDATE 4"),
    clean("packetlife__BGP_hard_reset.pcap", "KEEPALIVE 12, UPDATE 12, OPEN 2"),
    clean("packetlife__BGP_notification.pcap", "OPEN 1, NOTIFICATION 1"),
    clean("packetlife__BGP_soft_reset.pcap", "UPDATE 12, KEEPALIVE 8, ROUTE-REFRESH 1").no_open(NoOpen::As2),
    clean("packetlife__IBGP_adjacency.pcap", "UPDATE 14, KEEPALIVE 8, OPEN 2"),
    clean("packetlife__BGP_MD5.pcap", "KEEPALIVE 8, OPEN 2"),
    clean("packetlife__bgp-add-path.pcap", "KEEPALIVE 4, UPDATE 4, OPEN 2, ROUTE-REFRESH 2"),
    clean("packetlife__bgp_orf_prefix_advertisement.pcapng", "KEEPALIVE 1, ROUTE-REFRESH 1"),
    clean("swisscom__300-BGP-IPv6-CISCO-extNH_enc.pcap", "UPDATE 45, OPEN 1, KEEPALIVE 1"),
    // Ends with the first 111 bytes of an UPDATE.
    clean("swisscom__301-BGP-CISCO-pretag.pcap", "UPDATE 20, OPEN 1, KEEPALIVE 1").other(111),
    clean("swisscom__302-BGP-IPv6-multiple-sources-00.pcap", "UPDATE 24, OPEN 1, KEEPALIVE 1").other(43),
    clean("swisscom__302-BGP-IPv6-multiple-sources-02.pcap", "UPDATE 8, OPEN 1, KEEPALIVE 1"),
    clean("swisscom__501-BGP-IPv6-CISCO-MPLS.pcap", "UPDATE 28, OPEN 1, KEEPALIVE 1"),
    clean("swisscom__bgp-session-with-notification.pcap", "UPDATE 28, KEEPALIVE 5, OPEN 2, NOTIFICATION 1"),
    clean("swisscom__bgp-multi-sources.pcap", "UPDATE 416, KEEPALIVE 32, OPEN 8"),
    clean("netgauze__multiple-sessions.pcap", "KEEPALIVE 171, UPDATE 100, OPEN 20"),
    clean("wireshark-wiki__bgp.pcap", "KEEPALIVE 4, UPDATE 3, OPEN 2"),
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/pcap")
}

fn read_capture(file: &str) -> Vec<u8> {
    let path = data_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Message type code for a name as SOURCES.md writes it (RFC 4271 §4.1, RFC 2918 §3).
fn type_code(name: &str) -> u8 {
    match name {
        "OPEN" => 1,
        "UPDATE" => 2,
        "NOTIFICATION" => 3,
        "KEEPALIVE" => 4,
        "ROUTE-REFRESH" => 5,
        other => panic!("unknown message type name {other:?}"),
    }
}

/// "KEEPALIVE 16, UPDATE 10" -> {4: 16, 2: 10}; "none" -> {}.
fn parse_counts(text: &str) -> BTreeMap<u8, usize> {
    if text == "none" {
        return BTreeMap::new();
    }
    text.split(", ")
        .map(|item| {
            let (name, n) = item.rsplit_once(' ').unwrap_or_else(|| panic!("bad count {item:?}"));
            (type_code(name), n.parse().unwrap_or_else(|_| panic!("bad count {item:?}")))
        })
        .collect()
}

/// The table names every capture in the folder, once.
#[test]
fn table_lists_every_capture() {
    let mut on_disk: Vec<String> = std::fs::read_dir(data_dir())
        .expect("tests/data/bgp/pcap")
        .map(|e| e.expect("dir entry").file_name().into_string().expect("utf-8 name"))
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CAPTURES.iter().map(|c| c.file.to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk);
    assert_eq!(on_disk.len(), 41);
}

/// The table says what SOURCES.md says (the "Independent framing" line of each file).
#[test]
fn table_matches_sources_md() {
    let sources = std::fs::read_to_string(data_dir().join("SOURCES.md")).expect("SOURCES.md");
    let mut failures = String::new();
    for c in CAPTURES {
        let heading = format!("### `{}`", c.file);
        let section = sources.split(&heading).nth(1).unwrap_or_else(|| panic!("{heading} missing"));
        let line = section
            .lines()
            .find(|l| l.starts_with("- Independent framing"))
            .unwrap_or_else(|| panic!("{}: no Independent framing line", c.file));
        // "- Independent framing (...): 35 complete messages (KEEPALIVE 16, ...), largest 105 bytes; 111 bytes that ..."
        let body = line.split_once("): ").map_or("", |(_, b)| b);
        let total: usize = body.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
        let counts = body.split_once('(').and_then(|(_, r)| r.split_once(')')).map(|(inside, _)| inside);
        let other: usize = body
            .split_once("; ")
            .map_or(0, |(_, r)| r.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX));
        let expected = parse_counts(c.messages);
        if counts.map(parse_counts) != Some(expected.clone())
            || total != expected.values().sum::<usize>()
            || other != c.other_bytes
        {
            writeln!(failures, "{}: table {:?}/{} vs SOURCES.md {line:?}", c.file, c.messages, c.other_bytes).ok();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// The reassembly and an independent marker/length split reproduce the
/// reference counts: checks the capture reading itself.
#[test]
fn reassembly_reproduces_reference_framing() {
    let mut failures = String::new();
    for c in CAPTURES {
        let streams = bgp_streams(&read_capture(c.file)).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let mut counts = BTreeMap::new();
        let mut other = 0;
        for chunk in streams.iter().flat_map(|s| &s.chunks) {
            let split = split_messages(chunk);
            other += split.other_bytes;
            for m in split.messages {
                *counts.entry(m[18]).or_insert(0) += 1;
            }
        }
        if counts != parse_counts(c.messages) || other != c.other_bytes {
            writeln!(failures, "{}: got {counts:?} + {other} other bytes, want {:?}", c.file, c.messages).ok();
        }
    }
    assert!(failures.is_empty(), "{failures}");
}
