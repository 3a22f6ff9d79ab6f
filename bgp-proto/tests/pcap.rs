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

use bgp_proto::capability::{AddPathMode, Capability};
use bgp_proto::open::OptionalParameter;
use bgp_proto::{Context, DecodeError, Family, Framer, Message, Open};
use bytes::BytesMut;
use common::capture::{bgp_streams, read_segments, split_messages, Stream, MARKER};

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
struct Capture {
    file: &'static str,
    /// Complete messages per type, in the words of SOURCES.md ("none" for none).
    messages: &'static str,
    /// Bytes of the reassembled streams that are not part of a complete
    /// message: garbage between messages and truncated tails.
    other_bytes: usize,
    outcome: Outcome,
    no_open: NoOpen,
    /// When not empty: the only NOTIFICATION code/subcode pairs the errors may carry.
    error_codes: &'static [(u8, u8)],
}

const fn clean(file: &'static str, messages: &'static str) -> Capture {
    Capture { file, messages, other_bytes: 0, outcome: Outcome::Clean, no_open: NoOpen::As4, error_codes: &[] }
}

const fn errors(file: &'static str, messages: &'static str) -> Capture {
    Capture { file, messages, other_bytes: 0, outcome: Outcome::Errors, no_open: NoOpen::As4, error_codes: &[] }
}

impl Capture {
    const fn other(self, bytes: usize) -> Capture {
        Capture { other_bytes: bytes, ..self }
    }

    const fn no_open(self, no_open: NoOpen) -> Capture {
        Capture { no_open, ..self }
    }

    const fn error_codes(self, error_codes: &'static [(u8, u8)]) -> Capture {
        Capture { error_codes, ..self }
    }
}

/// The captures and their reference counts (SOURCES.md, "Independent
/// framing"). Where a session's OPENs are missing, the AS number size is the
/// one tcpdump's and tshark's decodes show (AS_PATH length against ASN count).
#[rustfmt::skip]
const CAPTURES: &[Capture] = &[
    clean("tcpdump__bgp-4byte-asn.pcap", "KEEPALIVE 16, UPDATE 10, OPEN 8, NOTIFICATION 1"),
    // Crafted, no OPEN: ADD-PATH assumed (SOURCES.md). MP_REACH_NLRI is flagged well-known
    // (0x40): Attribute Flags Error (RFC 4271 §6.3), and its NLRI cannot be trusted (RFC 7606 §5.3).
    errors("tcpdump__bgp-addpath.pcap", "UPDATE 1").no_open(NoOpen::As2AddPath).error_codes(&[(3, 4)]),
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
    // 19-octet UPDATEs: Bad Message Length (RFC 4271 §6.1, minimum 23).
    errors("tcpdump__bgp-infinite-loop.pcap", "UPDATE 4").other(60).error_codes(&[(1, 2)]),
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

/// The capabilities an OPEN advertises (RFC 5492), flattened.
fn capabilities(open: &Open) -> Vec<&Capability> {
    open.parameters
        .iter()
        .flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.iter().collect(),
            OptionalParameter::Unknown { .. } => Vec::new(),
        })
        .collect()
}

/// Families for which `open` advertises ADD-PATH sending (`send`) or receiving (`!send`), RFC 7911 §4.
fn add_path_families(open: &Open, send: bool) -> Vec<Family> {
    let mut out = Vec::new();
    for cap in capabilities(open) {
        if let Capability::AddPath(families) = cap {
            for f in families {
                let ok = match f.mode {
                    AddPathMode::Both => true,
                    AddPathMode::Send => send,
                    AddPathMode::Receive => !send,
                    AddPathMode::Other(_) => false,
                };
                if ok {
                    out.push(f.family);
                }
            }
        }
    }
    out
}

/// Decode context for the messages one speaker sends, from the OPEN it sent
/// and the OPEN its peer sent: 4-octet AS when both advertise it (RFC 6793
/// §4), ADD-PATH where the sender may send and the receiver receive (RFC 7911
/// §4), extended messages when both advertise them (RFC 8654 §3), extended
/// next hop where both list the family (RFC 8950 §4). When the capture holds
/// only one of the two OPENs, that one decides, except for ADD-PATH, which
/// needs both (tcpdump's bgp-role capture: the receiver offers to receive
/// paths, the sender never sends them).
fn direction_context(sender: Option<&Open>, receiver: Option<&Open>, no_open: NoOpen) -> Context {
    let opens: Vec<&Open> = [sender, receiver].into_iter().flatten().collect();
    if opens.is_empty() {
        return match no_open {
            NoOpen::As4 => Context::default(),
            NoOpen::As2 => Context::legacy(),
            NoOpen::As2AddPath => {
                Context { add_path: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST], ..Context::legacy() }
            }
        };
    }
    let all = |f: &dyn Fn(&Capability) -> bool| opens.iter().all(|o| capabilities(o).into_iter().any(f));
    let four_octet_as = all(&|c| matches!(c, Capability::FourOctetAs(_)));
    let extended_message = all(&|c| matches!(c, Capability::ExtendedMessage));
    // ADD-PATH takes both sides: with one OPEN missing nothing is known to be negotiated.
    let mut add_path = match (sender, receiver) {
        (Some(s), Some(r)) => {
            let recv = add_path_families(r, false);
            add_path_families(s, true).into_iter().filter(|f| recv.contains(f)).collect()
        }
        _ => Vec::new(),
    };
    add_path.dedup();
    let enh = |o: &Open| -> Vec<Family> {
        capabilities(o)
            .into_iter()
            .flat_map(|c| match c {
                Capability::ExtendedNextHop(list) => list.iter().map(|e| e.family).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    let first = enh(opens[0]);
    let extended_next_hop = first.into_iter().filter(|f| opens.iter().all(|o| enh(o).contains(f))).collect();
    Context { four_octet_as, add_path, extended_message, extended_next_hop }
}

/// The first OPEN of a stream, if it starts with one.
fn first_open(stream: &Stream) -> Option<Open> {
    let chunk = stream.chunks.first()?;
    let mut framer = Framer::with_max_message_len(bgp_proto::context::MAX_EXTENDED_MESSAGE_LEN);
    framer.push(chunk);
    while let Ok(Some(frame)) = framer.next_frame() {
        if let Ok(Message::Open(open)) = frame.decode(&Context::default()) {
            return Some(open);
        }
    }
    None
}

/// What the codec made of one capture.
#[derive(Default)]
struct Decoded {
    /// Frames per message type.
    frames: BTreeMap<u8, usize>,
    /// Bytes skipped to resynchronise after a header error, plus truncated tails.
    other_bytes: usize,
    /// Header, message and UPDATE errors, each with its action.
    errors: Vec<(DecodeError, String)>,
    /// Messages that did not decode back to themselves after encoding.
    round_trip_failures: Vec<String>,
}

/// A NOTIFICATION code/subcode pair that RFC 4271 §4.5 (and RFC 7313 §5)
/// define; subcode 0 is "unspecific".
fn classified(e: &DecodeError) -> bool {
    match e.code {
        1 => (1..=3).contains(&e.subcode),
        2 => matches!(e.subcode, 0..=4 | 6 | 7 | 11),
        3 => matches!(e.subcode, 0..=6 | 8..=11),
        7 => e.subcode == 1,
        _ => false,
    }
}

/// Frames one reassembled chunk with the codec's framer and decodes every
/// frame. After a header error, or at a truncated tail, framing restarts at
/// the next marker, as the reference splitter does, so malformed captures
/// are decoded as far as they go.
fn decode_chunk(chunk: &[u8], ctx: &Context, out: &mut Decoded) {
    let mut pos = 0;
    while pos < chunk.len() {
        let mut framer = Framer::new(ctx);
        framer.push(&chunk[pos..]);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    *out.frames.entry(frame.msg_type).or_insert(0) += 1;
                    match frame.decode(ctx) {
                        Ok(msg) => check_round_trip(frame.msg_type, msg, ctx, out),
                        Err(e) => out.errors.push((e.error().clone(), format!("{:?}", e.action()))),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.errors.push((e, "header".to_string()));
                    break;
                }
            }
        }
        let stop = pos + framer.offset() as usize;
        if stop >= chunk.len() {
            break;
        }
        let next =
            chunk[stop + 1..].windows(MARKER.len()).position(|w| w == MARKER).map_or(chunk.len(), |p| stop + 1 + p);
        out.other_bytes += next - stop;
        pos = next;
    }
}

/// The decoded message has the frame's type, and encoding it gives a message
/// that decodes to the same value (less attributes RFC 7606 discarded).
fn check_round_trip(msg_type: u8, mut msg: Message, ctx: &Context, out: &mut Decoded) {
    let variant_type = match &msg {
        Message::Open(_) => 1,
        Message::Update(_) => 2,
        Message::Notification(_) => 3,
        Message::Keepalive => 4,
        Message::RouteRefresh(_) => 5,
    };
    if variant_type != msg_type {
        out.round_trip_failures.push(format!("type {msg_type} decoded as {msg:?}"));
        return;
    }
    if let Message::Update(u) = &mut msg {
        u.discarded.clear();
    }
    let mut buf = BytesMut::new();
    let again = match msg.encode(ctx, &mut buf) {
        Ok(()) => buf.get(19..).map(|body| Message::decode(msg_type, body, ctx)),
        Err(e) => {
            out.round_trip_failures.push(format!("{msg:?} does not encode: {e}"));
            return;
        }
    };
    match again {
        Some(Ok(mut m)) => {
            if let Message::Update(u) = &mut m {
                u.discarded.clear();
            }
            if m != msg {
                out.round_trip_failures.push(format!("{msg:?} came back as {m:?}"));
            }
        }
        other => out.round_trip_failures.push(format!("{msg:?} re-encoded does not decode: {other:?}")),
    }
}

fn decode_capture(c: &Capture) -> Decoded {
    let streams = bgp_streams(&read_capture(c.file)).unwrap_or_else(|e| panic!("{}: {e}", c.file));
    let opens: Vec<Option<Open>> = streams.iter().map(first_open).collect();
    let mut out = Decoded::default();
    for (i, stream) in streams.iter().enumerate() {
        // The OPEN of the other direction of the same connection.
        let peer = streams
            .iter()
            .enumerate()
            .find(|(j, s)| *j != i && s.connection == stream.connection && s.src == stream.dst)
            .and_then(|(j, _)| opens[j].as_ref());
        let ctx = direction_context(opens[i].as_ref(), peer, c.no_open);
        for chunk in &stream.chunks {
            decode_chunk(chunk, &ctx, &mut out);
        }
    }
    out
}

/// The codec's framer finds the reference number of messages of each type in
/// every capture, well-formed captures decode without one error and re-encode
/// to themselves, and malformed ones give classified errors.
#[test]
fn codec_decodes_every_capture() {
    let mut failures = String::new();
    for c in CAPTURES {
        let d = decode_capture(c);
        let want = parse_counts(c.messages);
        if d.frames != want || d.other_bytes != c.other_bytes {
            writeln!(
                failures,
                "{}: framer found {:?} + {} other bytes, want {:?}",
                c.file, d.frames, d.other_bytes, c.messages
            )
            .ok();
        }
        for (e, action) in &d.errors {
            if !c.error_codes.is_empty() && !c.error_codes.contains(&(e.code, e.subcode)) {
                writeln!(
                    failures,
                    "{}: error {}/{} ({action}) not in {:?}: {}",
                    c.file, e.code, e.subcode, c.error_codes, e.detail
                )
                .ok();
            }
            if !classified(e) {
                writeln!(failures, "{}: unclassified error {}/{} ({action}): {}", c.file, e.code, e.subcode, e.detail)
                    .ok();
            }
        }
        match c.outcome {
            Outcome::Clean => {
                for (e, action) in &d.errors {
                    writeln!(
                        failures,
                        "{}: unexpected error {}/{} ({action}): {}",
                        c.file, e.code, e.subcode, e.detail
                    )
                    .ok();
                }
                for f in &d.round_trip_failures {
                    writeln!(failures, "{}: round trip: {f}", c.file).ok();
                }
            }
            Outcome::Errors if d.errors.is_empty() => {
                writeln!(failures, "{}: malformed capture decoded without an error", c.file).ok();
            }
            Outcome::Errors => {}
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Every TCP segment's payload alone, under several contexts: whatever the
/// cut, the framer and the decoders return values or classified errors.
#[test]
fn every_segment_alone_decodes_or_fails_cleanly() {
    let contexts = [
        Context::default(),
        Context::legacy(),
        Context {
            add_path: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            extended_message: true,
            ..Context::default()
        },
    ];
    let mut failures = String::new();
    let mut frames = 0;
    for c in CAPTURES {
        let segments = read_segments(&read_capture(c.file)).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        for seg in segments.iter().filter(|s| !s.payload.is_empty()) {
            for ctx in &contexts {
                let mut d = Decoded::default();
                decode_chunk(&seg.payload, ctx, &mut d);
                frames += d.frames.values().sum::<usize>();
                for (e, action) in d.errors.iter().filter(|(e, _)| !classified(e)) {
                    writeln!(
                        failures,
                        "{}: unclassified error {}/{} ({action}): {}",
                        c.file, e.code, e.subcode, e.detail
                    )
                    .ok();
                }
            }
        }
    }
    assert!(frames > 1000, "only {frames} frames found in single segments");
    assert!(failures.is_empty(), "{failures}");
}

/// The decode contexts derived from real OPENs: ADD-PATH as negotiated in
/// packetlife's capture, 2-octet AS where a speaker lacks the capability.
#[test]
fn contexts_follow_the_opens() {
    let context_of = |file: &str| -> Vec<Context> {
        let streams = bgp_streams(&read_capture(file)).expect(file);
        let opens: Vec<Option<Open>> = streams.iter().map(first_open).collect();
        // Streams that carried data (a SYN-only direction has no context to speak of).
        (0..streams.len())
            .filter(|&i| !streams[i].chunks.is_empty())
            .map(|i| {
                let peer = (0..streams.len())
                    .find(|&j| j != i && streams[j].connection == streams[i].connection)
                    .and_then(|j| opens[j].as_ref());
                direction_context(opens[i].as_ref(), peer, NoOpen::As4)
            })
            .collect()
    };
    let add_path = context_of("packetlife__bgp-add-path.pcap");
    assert_eq!(add_path.len(), 2);
    assert!(add_path.iter().all(|c| c.four_octet_as));
    assert!(add_path.iter().any(|c| c.add_path == vec![Family::IPV4_UNICAST]), "{add_path:?}");
    let wiki = context_of("wireshark-wiki__bgp.pcap");
    assert!(!wiki.is_empty() && wiki.iter().all(|c| !c.four_octet_as && c.add_path.is_empty()), "{wiki:?}");
}
