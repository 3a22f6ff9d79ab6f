//! Errors with their RFC meaning.
//!
//! A [`DecodeError`] knows the NOTIFICATION (RFC 4271 §4.5, §6) a speaker
//! sends for it. An [`UpdateError`] additionally knows its RFC 7606 action.

use std::fmt;

use bytes::Bytes;

use crate::types::{Family, Nlri};

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;
}

/// Message Header Error subcodes (RFC 4271 §6.1).
pub mod header_subcode {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2).
pub mod open_subcode {
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update_subcode {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
pub mod cease_subcode {
    pub const MAX_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh_subcode {
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// A decode failure and the NOTIFICATION that answers it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DecodeError {
    /// NOTIFICATION error code to send.
    pub code: u8,
    /// NOTIFICATION error subcode to send.
    pub subcode: u8,
    /// NOTIFICATION data field, as the RFC prescribes for this error.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
    pub data: Bytes,
    /// Human explanation for logs.
    pub detail: String,
}

impl DecodeError {
    pub fn new(code: u8, subcode: u8, data: impl Into<Bytes>, detail: impl Into<String>) -> Self {
        DecodeError { code, subcode, data: data.into(), detail: detail.into() }
    }

    /// Message Header Error / Bad Message Length with the offending length as data.
    pub fn bad_length(len: u16, detail: impl Into<String>) -> Self {
        DecodeError::new(code::MESSAGE_HEADER, header_subcode::BAD_MESSAGE_LENGTH, len.to_be_bytes().to_vec(), detail)
    }

    pub fn update(subcode: u8, data: impl Into<Bytes>, detail: impl Into<String>) -> Self {
        DecodeError::new(code::UPDATE_MESSAGE, subcode, data, detail)
    }

    pub fn open(subcode: u8, data: impl Into<Bytes>, detail: impl Into<String>) -> Self {
        DecodeError::new(code::OPEN_MESSAGE, subcode, data, detail)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (NOTIFICATION {}/{})", self.detail, self.code, self.subcode)
    }
}

/// RFC 7606 §2: what the receiver of a malformed UPDATE does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ErrorAction {
    /// Drop the attribute and process the rest of the UPDATE.
    AttributeDiscard,
    /// Process every NLRI of the UPDATE as withdrawn.
    TreatAsWithdraw,
    /// Reset the session: send the NOTIFICATION.
    SessionReset,
}

/// One attribute-level problem found in an UPDATE that was still usable
/// (attribute discard), or the worst one of an UPDATE that was not.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttributeIssue {
    /// Path attribute type code concerned (0 when not attribute-specific).
    pub type_code: u8,
    pub action: ErrorAction,
    /// The error as RFC 4271 would have reported it (code 3, subcode, data).
    pub error: DecodeError,
}

/// An UPDATE that could not be accepted as is (RFC 7606).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum UpdateError {
    /// Reset the session with this NOTIFICATION.
    #[error("session reset: {0}")]
    SessionReset(DecodeError),
    /// Every NLRI of the message is withdrawn; `withdrawn` lists them
    /// (IPv4 withdrawn routes and NLRI, MP_UNREACH and MP_REACH prefixes).
    #[error("treat-as-withdraw ({} prefixes): {error}", withdrawn.len())]
    TreatAsWithdraw { withdrawn: Vec<(Family, Nlri)>, error: DecodeError },
}

impl UpdateError {
    pub fn action(&self) -> ErrorAction {
        match self {
            UpdateError::SessionReset(_) => ErrorAction::SessionReset,
            UpdateError::TreatAsWithdraw { .. } => ErrorAction::TreatAsWithdraw,
        }
    }

    pub fn error(&self) -> &DecodeError {
        match self {
            UpdateError::SessionReset(e) => e,
            UpdateError::TreatAsWithdraw { error, .. } => error,
        }
    }
}

/// A value that cannot be put on the wire as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed the negotiated maximum size (RFC 4271 §4.1, RFC 8654).
    #[error("message of {len} octets exceeds the maximum of {max}")]
    TooLong { len: usize, max: usize },
    /// A single field exceeds what its length field can express.
    #[error("{what} too long: {len} octets")]
    FieldTooLong { what: &'static str, len: usize },
    /// The value cannot be represented in this context (e.g. an IPv6 prefix in IPv4 NLRI).
    #[error("cannot encode: {0}")]
    Invalid(String),
}
