//! MRT routing information export format (RFC 6396, RFC 8050 ADD-PATH).
//!
//! ```text
//!  common header (RFC 6396 §2):
//!  timestamp(4) | type(2) | subtype(2) | length(4) | message(length)
//!  extended-timestamp types (BGP4MP_ET, §3) start the message with microseconds(4),
//!  counted in length.
//! ```
//!
//! Layers, each usable alone:
//! - framing: [`SliceReader`] (zero-copy over a whole decompressed file held in
//!   memory, `&[u8]` or `&Bytes`) and [`StreamReader`] (over any [`std::io::Read`],
//!   one reused buffer) yield [`RawRecord`]s: header + body slice + file offset;
//! - record decoding: [`decode_record`] turns a raw record into a [`Record`]
//!   (TABLE_DUMP, TABLE_DUMP_V2, BGP4MP, BGP4MP_ET) without copying; RIB entries
//!   and BGP messages stay slices until asked for ([`RibEntry::decode_attributes`],
//!   [`Bgp4mpMessage::decode`]);
//! - writing: [`write_bgp4mp_message`] / [`write_bgp4mp_state_change`].
//!
//! Errors carry the file offset of the record and a [`MrtErrorKind`]. A corrupt
//! record body never stops a reader: the common header's length frames the next
//! record. Only a header whose length runs past the end of the input ends it.

mod reader;
mod record;
mod writer;

pub use reader::{SliceReader, StreamReader};
pub use record::{
    decode_record, Bgp4mpMessage, Bgp4mpStateChange, PeerEntry, PeerIndexTable, Record, RibEntries, RibEntry,
    RibGeneric, RibPrefix, TableDumpEntry,
};
pub use writer::{write_bgp4mp_message, write_bgp4mp_state_change, Bgp4mpEndpoints};

/// Length of the MRT common header (RFC 6396 §2).
pub const COMMON_HEADER_LEN: usize = 12;

/// MRT types (RFC 6396 §4, IANA "MRT Types").
pub mod mrt_type {
    pub const TABLE_DUMP: u16 = 12;
    pub const TABLE_DUMP_V2: u16 = 13;
    pub const BGP4MP: u16 = 16;
    pub const BGP4MP_ET: u16 = 17;
}

/// TABLE_DUMP subtypes (RFC 6396 §4.2): the AFI of the entry.
pub mod table_dump_subtype {
    pub const AFI_IPV4: u16 = 1;
    pub const AFI_IPV6: u16 = 2;
}

/// TABLE_DUMP_V2 subtypes (RFC 6396 §4.3, RFC 8050 §4).
pub mod table_dump_v2_subtype {
    pub const PEER_INDEX_TABLE: u16 = 1;
    pub const RIB_IPV4_UNICAST: u16 = 2;
    pub const RIB_IPV4_MULTICAST: u16 = 3;
    pub const RIB_IPV6_UNICAST: u16 = 4;
    pub const RIB_IPV6_MULTICAST: u16 = 5;
    pub const RIB_GENERIC: u16 = 6;
    pub const RIB_IPV4_UNICAST_ADDPATH: u16 = 8;
    pub const RIB_IPV4_MULTICAST_ADDPATH: u16 = 9;
    pub const RIB_IPV6_UNICAST_ADDPATH: u16 = 10;
    pub const RIB_IPV6_MULTICAST_ADDPATH: u16 = 11;
    pub const RIB_GENERIC_ADDPATH: u16 = 12;
}

/// BGP4MP / BGP4MP_ET subtypes (RFC 6396 §4.4, RFC 8050 §3).
pub mod bgp4mp_subtype {
    pub const STATE_CHANGE: u16 = 0;
    pub const MESSAGE: u16 = 1;
    pub const MESSAGE_AS4: u16 = 4;
    pub const STATE_CHANGE_AS4: u16 = 5;
    pub const MESSAGE_LOCAL: u16 = 6;
    pub const MESSAGE_AS4_LOCAL: u16 = 7;
    pub const MESSAGE_ADDPATH: u16 = 8;
    pub const MESSAGE_AS4_ADDPATH: u16 = 9;
    pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
    pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;

    /// A MESSAGE subtype whose AS numbers (peering header and AS_PATH) are 4 octets.
    pub const fn is_as4_message(subtype: u16) -> bool {
        matches!(subtype, MESSAGE_AS4 | MESSAGE_AS4_LOCAL | MESSAGE_AS4_ADDPATH | MESSAGE_AS4_LOCAL_ADDPATH)
    }

    /// A MESSAGE subtype whose NLRI carry ADD-PATH path identifiers (RFC 8050 §3).
    pub const fn is_add_path_message(subtype: u16) -> bool {
        matches!(subtype, MESSAGE_ADDPATH | MESSAGE_AS4_ADDPATH | MESSAGE_LOCAL_ADDPATH | MESSAGE_AS4_LOCAL_ADDPATH)
    }

    /// A MESSAGE subtype recording a message the collector itself sent.
    pub const fn is_local_message(subtype: u16) -> bool {
        matches!(subtype, MESSAGE_LOCAL | MESSAGE_AS4_LOCAL | MESSAGE_LOCAL_ADDPATH | MESSAGE_AS4_LOCAL_ADDPATH)
    }
}

/// The MRT common header (RFC 6396 §2), with the BGP4MP_ET microseconds
/// (RFC 6396 §3) when the type has an extended timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Seconds since the Unix epoch.
    pub timestamp: u32,
    /// Microseconds of an extended-timestamp record (type 17).
    pub microseconds: Option<u32>,
    pub mrt_type: u16,
    pub subtype: u16,
    /// Length field as on the wire (includes the microseconds field of ET types).
    pub length: u32,
}

impl Header {
    /// Whether this type carries the extended timestamp (RFC 6396 §3).
    pub fn is_extended(mrt_type: u16) -> bool {
        mrt_type == mrt_type::BGP4MP_ET
    }
}

/// One framed record: its header, its body (after the microseconds of ET types)
/// and where it starts in the (decompressed) input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub offset: u64,
    pub header: Header,
    pub body: &'a [u8],
}

/// What is wrong with a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MrtErrorKind {
    /// Fewer than 12 octets (16 for ET) left for a common header.
    TruncatedHeader { available: usize },
    /// The header's length runs past the end of the input.
    TruncatedRecord { declared: u32, available: u64 },
    /// The body is shorter than its structure requires.
    TruncatedBody { what: &'static str },
    /// A field holds a value the format forbids (bad AFI, missing peer table, ...).
    Invalid { what: &'static str },
    /// The record itself is fine but this reader does not interpret it.
    Unsupported { mrt_type: u16, subtype: u16 },
    /// The BGP message inside a BGP4MP record failed to decode.
    Bgp { detail: String },
    /// The underlying reader failed.
    Io { detail: String },
}

/// A record-level error with the file offset of the record it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("MRT record at offset {offset}: {kind}")]
pub struct MrtError {
    pub offset: u64,
    pub kind: MrtErrorKind,
}

impl MrtError {
    pub fn new(offset: u64, kind: MrtErrorKind) -> Self {
        MrtError { offset, kind }
    }

    /// Whether a reader can continue after this error (the framing is intact).
    pub fn is_recoverable(&self) -> bool {
        !matches!(
            self.kind,
            MrtErrorKind::TruncatedHeader { .. } | MrtErrorKind::TruncatedRecord { .. } | MrtErrorKind::Io { .. }
        )
    }
}

impl std::fmt::Display for MrtErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MrtErrorKind::TruncatedHeader { available } => {
                write!(f, "truncated common header ({available} octets left)")
            }
            MrtErrorKind::TruncatedRecord { declared, available } => {
                write!(f, "record length {declared} exceeds the {available} octets left")
            }
            MrtErrorKind::TruncatedBody { what } => write!(f, "body truncated in {what}"),
            MrtErrorKind::Invalid { what } => write!(f, "invalid {what}"),
            MrtErrorKind::Unsupported { mrt_type, subtype } => {
                write!(f, "unsupported type {mrt_type} subtype {subtype}")
            }
            MrtErrorKind::Bgp { detail } => write!(f, "BGP message: {detail}"),
            MrtErrorKind::Io { detail } => write!(f, "read error: {detail}"),
        }
    }
}
