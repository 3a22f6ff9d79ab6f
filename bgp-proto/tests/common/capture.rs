//! Packet captures to BGP byte streams, for the codec tests.
//!
//! Reads pcap and pcapng files (`pcap-parser`), peels the link layer
//! (Ethernet with VLAN tags, Linux cooked v1/v2, Cisco HDLC, PPP, Frame Relay,
//! raw IP, BSD loopback, Juniper Ethernet), IPv4/IPv6 and TCP, keeps the
//! segments to or from port 179 and reassembles each direction of each TCP
//! connection by sequence number: retransmitted and overlapping bytes are
//! taken from the first segment that carried them (RFC 9293 §3.10.7.4 leaves
//! the choice to the receiver), out-of-order segments are put in place, and
//! the stream starts at SYN + 1 when the SYN is in the capture. A hole
//! (segments missing from the capture) splits a stream into chunks.
//!
//! This is test scaffolding: malformed captures (fuzzer reproducers with
//! garbage headers) must never panic it, so every read is bounds-checked.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Linktype, PcapCapture, PcapNGCapture};

/// The BGP port (RFC 4271 §8.2.1).
pub const BGP_PORT: u16 = 179;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// One TCP segment to or from port 179.
#[derive(Clone, Debug)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// One direction of one TCP connection, reassembled.
#[derive(Clone, Debug)]
pub struct Stream {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Index of the connection this direction belongs to; the two directions
    /// of a connection share it.
    pub connection: usize,
    /// Contiguous runs of the byte stream; more than one when the capture
    /// misses segments in between.
    pub chunks: Vec<Vec<u8>>,
}

/// Every port-179 TCP segment of a pcap or pcapng file, in capture order.
pub fn read_segments(file: &[u8]) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for (linktype, frame) in frames(file)? {
        if let Some(ip) = link_payload(linktype, &frame) {
            if let Some(seg) = parse_ip(ip) {
                if seg.src.port() == BGP_PORT || seg.dst.port() == BGP_PORT {
                    out.push(seg);
                }
            }
        }
    }
    Ok(out)
}

/// The frames of a capture with the link type of their interface.
fn frames(file: &[u8]) -> Result<Vec<(Linktype, Vec<u8>)>, String> {
    const PCAPNG_MAGIC: &[u8] = &[0x0a, 0x0d, 0x0d, 0x0a];
    let mut out = Vec::new();
    if file.starts_with(PCAPNG_MAGIC) {
        let cap = PcapNGCapture::from_file(file).map_err(|e| format!("pcapng: {e:?}"))?;
        for section in &cap.sections {
            let mut interfaces = Vec::new();
            for block in &section.blocks {
                match block {
                    Block::InterfaceDescription(idb) => interfaces.push(idb.linktype),
                    Block::EnhancedPacket(epb) => {
                        let lt = interfaces.get(epb.if_id as usize).copied().unwrap_or(Linktype::ETHERNET);
                        out.push((lt, epb.packet_data().to_vec()));
                    }
                    Block::SimplePacket(spb) => {
                        let lt = interfaces.first().copied().unwrap_or(Linktype::ETHERNET);
                        out.push((lt, spb.packet_data().to_vec()));
                    }
                    _ => {}
                }
            }
        }
    } else {
        let cap = PcapCapture::from_file(file).map_err(|e| format!("pcap: {e:?}"))?;
        let lt = cap.header.network;
        for block in &cap.blocks {
            let len = (block.caplen as usize).min(block.data.len());
            out.push((lt, block.data.get(..len).unwrap_or(block.data).to_vec()));
        }
    }
    Ok(out)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The network-layer packet inside a link-layer frame (IPv4 or IPv6 only).
fn link_payload(linktype: Linktype, frame: &[u8]) -> Option<&[u8]> {
    match linktype.0 {
        // DLT_NULL / DLT_LOOP: 4-octet address family; the version nibble tells the rest.
        0 | 108 => frame.get(4..),
        // Ethernet.
        1 => ethernet(frame),
        // PPP: optional ff 03, then the PPP protocol (0x0021 IPv4, 0x0057 IPv6).
        9 | 50 => {
            let rest = if frame.starts_with(&[0xff, 0x03]) { frame.get(2..)? } else { frame };
            match be16(rest, 0)? {
                0x0021 | 0x0057 => rest.get(2..),
                _ => None,
            }
        }
        // Raw IP (DLT_RAW on various systems, LINKTYPE_RAW, LINKTYPE_IPV4/IPV6).
        12 | 14 | 101 | 228 | 229 => Some(frame),
        // Cisco HDLC: address, control, ethertype.
        104 => ether_type_payload(be16(frame, 2)?, frame.get(4..)?),
        // Frame Relay (Q.922): 2-octet address, UI control 0x03, NLPID (0xcc IPv4, 0x8e IPv6).
        107 => match (frame.get(2)?, frame.get(3)?) {
            (0x03, 0xcc | 0x8e) => frame.get(4..),
            _ => None,
        },
        // Linux cooked v1: protocol at offset 14 of a 16-octet header.
        113 => ether_type_payload(be16(frame, 14)?, frame.get(16..)?),
        // Juniper Ethernet: "MGC", flags; flag 0x80 adds a 2-octet length + TLV extensions.
        178 => {
            if frame.get(..3)? != b"MGC" {
                return None;
            }
            let flags = *frame.get(3)?;
            let mut at = 4;
            if flags & 0x80 != 0 {
                at += 2 + usize::from(be16(frame, 4)?);
            }
            ethernet(frame.get(at..)?)
        }
        // Linux cooked v2: protocol first in a 20-octet header.
        276 => ether_type_payload(be16(frame, 0)?, frame.get(20..)?),
        _ => None,
    }
}

fn ethernet(frame: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    let mut ether_type = be16(frame, at)?;
    // 802.1Q / 802.1ad tags.
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        at += 4;
        ether_type = be16(frame, at)?;
    }
    ether_type_payload(ether_type, frame.get(at + 2..)?)
}

fn ether_type_payload(ether_type: u16, payload: &[u8]) -> Option<&[u8]> {
    match ether_type {
        0x0800 | 0x86dd => Some(payload),
        _ => None,
    }
}

/// IPv4 or IPv6, then TCP. Lengths in headers are trusted only as far as the
/// captured bytes go (fuzzed captures declare more than they carry).
fn parse_ip(packet: &[u8]) -> Option<Segment> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            let total = usize::from(be16(packet, 2)?);
            let end = if total >= ihl { total.min(packet.len()) } else { packet.len() };
            let frag = be16(packet, 6)?;
            // A fragment (more-fragments flag or an offset) is not a whole
            // segment; without the other fragments its bytes cannot be placed.
            if frag & 0x3fff != 0 || *packet.get(9)? != 6 || ihl < 20 {
                return None;
            }
            let src = Ipv4Addr::from(be32(packet, 12)?);
            let dst = Ipv4Addr::from(be32(packet, 16)?);
            parse_tcp(IpAddr::V4(src), IpAddr::V4(dst), packet.get(ihl..end)?)
        }
        6 => {
            let plen = usize::from(be16(packet, 4)?);
            let mut next = *packet.get(6)?;
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(packet.get(8..24)?).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(packet.get(24..40)?).ok()?);
            let end = if plen == 0 { packet.len() } else { (40 + plen).min(packet.len()) };
            let mut at = 40;
            // Hop-by-hop, routing and destination options headers.
            while matches!(next, 0 | 43 | 60) {
                next = *packet.get(at)?;
                at += (usize::from(*packet.get(at + 1)?) + 1) * 8;
            }
            if next != 6 {
                return None;
            }
            parse_tcp(IpAddr::V6(src), IpAddr::V6(dst), packet.get(at..end)?)
        }
        _ => None,
    }
}

fn parse_tcp(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Option<Segment> {
    let sport = be16(tcp, 0)?;
    let dport = be16(tcp, 2)?;
    let seq = be32(tcp, 4)?;
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    if data_offset < 20 {
        return None;
    }
    Some(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        flags,
        payload: tcp.get(data_offset..).unwrap_or_default().to_vec(),
    })
}

/// Reassembles every direction of every connection, in order of first
/// appearance. A SYN on an address/port pair that already carried data
/// starts a new connection (a session re-established on the same ports).
pub fn reassemble(segments: &[Segment]) -> Vec<Stream> {
    struct Building {
        src: SocketAddr,
        dst: SocketAddr,
        connection: usize,
        syn: Option<u32>,
        segments: Vec<(u32, Vec<u8>)>,
        closed: bool,
    }
    let mut streams: Vec<Building> = Vec::new();
    // (src, dst) -> index of the open stream in `streams`.
    let mut open: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut connections = 0;
    for seg in segments {
        let key = (seg.src, seg.dst);
        let syn = seg.flags & TCP_SYN != 0;
        let restart = match open.get(&key) {
            Some(&i) => {
                let s = &streams[i];
                syn && (!s.segments.is_empty() || s.closed || s.syn.is_some_and(|isn| isn != seg.seq))
            }
            None => true,
        };
        if restart {
            // A client's SYN opens a new connection; a SYN-ACK, or data on a
            // connection whose handshake the capture missed, joins the open
            // stream of the reverse direction.
            let reverse = open.get(&(seg.dst, seg.src)).map(|&r| streams[r].connection);
            let connection = match reverse {
                Some(c) if !(syn && seg.flags & TCP_ACK == 0) => c,
                _ => {
                    connections += 1;
                    connections - 1
                }
            };
            open.insert(key, streams.len());
            streams.push(Building {
                src: seg.src,
                dst: seg.dst,
                connection,
                syn: None,
                segments: Vec::new(),
                closed: false,
            });
        }
        let Some(&i) = open.get(&key) else { continue };
        let s = &mut streams[i];
        if syn {
            s.syn = Some(seg.seq);
        }
        if !seg.payload.is_empty() {
            s.segments.push((seg.seq, seg.payload.clone()));
        }
        if seg.flags & TCP_FIN != 0 {
            s.closed = true;
        }
    }
    streams
        .into_iter()
        .map(|b| Stream { src: b.src, dst: b.dst, connection: b.connection, chunks: assemble(b.syn, &b.segments) })
        .collect()
}

/// Puts segments in sequence order, first copy of each byte wins, and
/// returns the contiguous runs.
fn assemble(syn: Option<u32>, segments: &[(u32, Vec<u8>)]) -> Vec<Vec<u8>> {
    let Some(first) = segments.first() else { return Vec::new() };
    // Stream origin: the SYN takes one sequence number, so data starts at
    // SYN + 1 (RFC 9293 §3.4) and so does data carried on the SYN itself.
    // Synthetic captures (pmacct's traffic-reproducer) put the SYN's data at
    // the SYN's own number instead; the next segment then starts right after
    // it, and that layout is followed. Without a SYN the origin is the lowest
    // sequence number seen (relative to the first segment, so wrap-around is
    // handled).
    let base = match syn {
        Some(isn) => {
            let syn_data_at_isn = segments
                .iter()
                .find(|(seq, _)| *seq == isn)
                .is_some_and(|(_, d)| segments.iter().any(|(seq, _)| *seq == isn.wrapping_add(d.len() as u32)));
            if syn_data_at_isn {
                isn
            } else {
                isn.wrapping_add(1)
            }
        }
        None => {
            segments.iter().map(|(seq, _)| *seq).min_by_key(|seq| seq.wrapping_sub(first.0) as i32).unwrap_or(first.0)
        }
    };
    // Data on a SYN starts at SYN + 1 unless the capture says otherwise.
    let placed = |seq: u32| if syn == Some(seq) && base != seq { seq.wrapping_add(1) } else { seq };
    // Disjoint pieces (start offset, bytes), in insertion order.
    let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
    for (seq, data) in segments {
        let offset = placed(*seq).wrapping_sub(base);
        if offset >= 1 << 31 {
            // Before the stream start: a retransmitted SYN or a garbage header.
            continue;
        }
        let start = u64::from(offset);
        let end = start + data.len() as u64;
        // Cut [start, end) by what is already covered.
        let mut free = vec![(start, end)];
        for (ps, pd) in &pieces {
            let pe = ps + pd.len() as u64;
            free = free
                .into_iter()
                .flat_map(|(s, e)| {
                    let mut parts = Vec::new();
                    if s < *ps {
                        parts.push((s, e.min(*ps)));
                    }
                    if e > pe {
                        parts.push((s.max(pe), e));
                    }
                    parts
                })
                .filter(|(s, e)| s < e)
                .collect();
        }
        for (s, e) in free {
            let slice = data.get((s - start) as usize..(e - start) as usize).unwrap_or_default();
            pieces.push((s, slice.to_vec()));
        }
    }
    pieces.sort_by_key(|(s, _)| *s);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut chunk_end = None;
    for (s, d) in pieces {
        match (chunks.last_mut(), chunk_end) {
            (Some(last), Some(end)) if end == s => last.extend_from_slice(&d),
            _ => chunks.push(d.clone()),
        }
        chunk_end = Some(s + d.len() as u64);
    }
    chunks
}

/// A capture's BGP streams: read, filter, reassemble.
pub fn bgp_streams(file: &[u8]) -> Result<Vec<Stream>, String> {
    Ok(reassemble(&read_segments(file)?))
}

/// The 16-octet all-ones marker of every BGP message header (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];

/// One run of a byte stream split on the BGP marker and length field,
/// independently of the codec under test.
#[derive(Debug, Default)]
pub struct Split<'a> {
    /// Whole messages, header included.
    pub messages: Vec<&'a [u8]>,
    /// Bytes that are not part of a complete message: garbage between
    /// messages and a truncated tail.
    pub other_bytes: usize,
}

/// Splits on marker + length: a message is a marker, a length of at least
/// 19 and that many bytes present. Anything else is skipped up to the next
/// marker.
pub fn split_messages(chunk: &[u8]) -> Split<'_> {
    let mut split = Split::default();
    let mut at = 0;
    while at < chunk.len() {
        let rest = &chunk[at..];
        let len = be16(rest, 16).map(usize::from);
        match len {
            Some(len) if rest.starts_with(&MARKER) && len >= 19 && len <= rest.len() => {
                split.messages.push(&rest[..len]);
                at += len;
            }
            _ => {
                // Resynchronise at the next marker after this position.
                let skip = rest.windows(16).skip(1).position(|w| w == MARKER).map_or(rest.len(), |p| p + 1);
                split.other_bytes += skip;
                at += skip;
            }
        }
    }
    split
}
