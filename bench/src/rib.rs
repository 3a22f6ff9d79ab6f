//! The RIB decode loops both the criterion benchmark and `rib-decode` time:
//! tern (allocating per entry, and through one reused decoder), tern's
//! framing alone, and bgpkit-parser over the same in-memory bytes.

use std::hint::black_box;

use bgp_proto::attribute::PathAttributesDecoder;
use bgp_proto::mrt::{decode_record, Record, SliceReader};

/// The full RouteViews IPv6 RIB, relative to [`crate::data_dir`].
pub const RIB_FILE: &str = "mrt/routeviews6__rib.20150922.1200.full-ipv6.bz2";
/// RIB entries in [`RIB_FILE`] (SOURCES.md: mrtparse and bgpdump agree).
pub const RIB_ENTRIES: u64 = 609_246;

/// tern: frame every record, decode every RIB entry's attributes. Returns
/// (entries, entries whose attributes decoded).
pub fn tern_rib(data: &[u8]) -> (u64, u64) {
    let (mut entries, mut decoded) = (0, 0);
    for raw in SliceReader::new(data).flatten() {
        if let Ok(Record::Rib(rib)) = decode_record(&raw) {
            for entry in rib.entries().flatten() {
                entries += 1;
                if let Ok(attrs) = entry.decode_attributes(rib.family) {
                    black_box(&attrs);
                    decoded += 1;
                }
            }
        }
    }
    (entries, decoded)
}

/// tern through one reusable `PathAttributesDecoder` (how a RIB that interns
/// attribute sets ingests a table: decode into scratch, copy only new sets).
pub fn tern_rib_reusing(data: &[u8]) -> u64 {
    let mut decoder = PathAttributesDecoder::new();
    let mut entries = 0;
    for raw in SliceReader::new(data).flatten() {
        if let Ok(Record::Rib(rib)) = decode_record(&raw) {
            for entry in rib.entries().flatten() {
                if let Ok(attrs) = entry.decode_attributes_with(rib.family, &mut decoder) {
                    black_box(attrs);
                    entries += 1;
                }
            }
        }
    }
    entries
}

/// tern without attribute decoding: framing and RIB entry walking only.
pub fn tern_rib_framing(data: &[u8]) -> u64 {
    let mut entries = 0;
    for raw in SliceReader::new(data).flatten() {
        if let Ok(Record::Rib(rib)) = decode_record(&raw) {
            for entry in rib.entries().flatten() {
                black_box(entry.attributes);
                entries += 1;
            }
        }
    }
    entries
}

/// bgpkit-parser over the same bytes: every record parsed (attributes included).
pub fn bgpkit_rib(data: &[u8]) -> u64 {
    use bgpkit_parser::models::{MrtMessage, TableDumpV2Message};
    let mut input = data;
    let mut entries = 0;
    while !input.is_empty() {
        let Ok(record) = bgpkit_parser::parse_mrt_record(&mut input) else { break };
        if let MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(rib)) = &record.message {
            entries += rib.rib_entries.len() as u64;
        }
        black_box(record);
    }
    entries
}
