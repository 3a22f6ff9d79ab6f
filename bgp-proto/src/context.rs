//! What a session negotiated, as far as the wire format is concerned.

use crate::types::Family;

/// Maximum BGP message size without RFC 8654 (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum BGP message size once extended messages are negotiated (RFC 8654 §3).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// Header: marker (16) + length (2) + type (1).
pub const HEADER_LEN: usize = 19;

/// Decode/encode context of a session: the result of capability negotiation.
///
/// The same context drives both directions in this crate; a session that
/// negotiated asymmetric ADD-PATH (receive-only on one side) keeps two
/// contexts, one per direction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Context {
    /// RFC 6793: AS numbers in AS_PATH/AGGREGATOR are 4 octets.
    pub four_octet_as: bool,
    /// RFC 7911: families whose NLRI carry a path identifier.
    pub add_path: Vec<Family>,
    /// RFC 8654: messages up to 65,535 octets.
    pub extended_message: bool,
    /// RFC 8950: IPv4 families whose next hop may be IPv6 (MP_REACH only).
    pub extended_next_hop: Vec<Family>,
}

impl Default for Context {
    /// A modern session: 4-octet AS, no ADD-PATH, standard message size.
    fn default() -> Self {
        Context { four_octet_as: true, add_path: Vec::new(), extended_message: false, extended_next_hop: Vec::new() }
    }
}

impl Context {
    /// The context of a speaker that negotiated nothing (2-octet AS).
    pub fn legacy() -> Self {
        Context { four_octet_as: false, ..Context::default() }
    }

    pub fn add_path(&self, family: Family) -> bool {
        self.add_path.contains(&family)
    }

    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}
