//! NOTIFICATION message (RFC 4271 §4.5), with the Cease data formats of
//! RFC 8203/9003 (shutdown communication) and RFC 8538 (hard reset).
//!
//! ```text
//!  error code(1) | error subcode(1) | data (to the end of the message)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::context::{Context, HEADER_LEN};
use crate::error::{cease_subcode, code, DecodeError, EncodeError};
use crate::message::{finish_message, max_len, message_type, put_header};

/// NOTIFICATION message. `data` is kept as received; helpers interpret it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
    pub data: Bytes,
}

/// Longest shutdown communication (RFC 9003 §2; RFC 8203 allowed 128).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

/// The text of an Administrative Shutdown or Reset (RFC 9003 §2), as well as
/// it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ShutdownCommunication {
    /// The message; invalid UTF-8 replaced by U+FFFD, cut at the data's end.
    pub text: String,
    /// What was wrong with the encoding, if anything (RFC 9003 §4: log it).
    pub problem: Option<CommunicationProblem>,
}

/// A malformed shutdown communication (RFC 9003 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CommunicationProblem {
    /// The text is not valid UTF-8.
    InvalidUtf8,
    /// The length octet announces more octets than the data holds.
    LengthOverrun { declared: usize, available: usize },
    /// Octets follow the communication.
    TrailingData { len: usize },
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: impl Into<Bytes>) -> Self {
        Notification { code, subcode, data: data.into() }
    }

    /// A Cease with no data (RFC 4486).
    pub fn cease(subcode: u8) -> Self {
        Notification::new(code::CEASE, subcode, Bytes::new())
    }

    /// Decodes a NOTIFICATION body (after the header). Shorter than 2 octets
    /// (a message under 21) is Bad Message Length (RFC 4271 §6.1).
    pub fn decode(body: &[u8]) -> Result<Notification, DecodeError> {
        let Some((&[code, subcode], data)) = body.split_first_chunk::<2>() else {
            let len = u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX);
            return Err(DecodeError::bad_length(len, "NOTIFICATION shorter than 21 octets"));
        };
        Ok(Notification { code, subcode, data: Bytes::copy_from_slice(data) })
    }

    /// Appends the whole message, header included. The data may make it
    /// too long for `ctx` (RFC 8654 extends NOTIFICATION too); `out` is then unchanged.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        put_header(out, message_type::NOTIFICATION);
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
        let r = finish_message(out, start, max_len(message_type::NOTIFICATION, ctx));
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Administrative Shutdown (subcode 2) or Reset (subcode 4) with a
    /// shutdown communication (RFC 9003 §2): length octet + UTF-8 text. Text
    /// longer than 255 octets is cut at the last character that fits.
    pub fn shutdown(subcode: u8, text: &str) -> Self {
        let mut end = text.len().min(MAX_SHUTDOWN_COMMUNICATION);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text.get(..end).unwrap_or_default();
        let mut data = BytesMut::with_capacity(1 + text.len());
        data.put_u8(u8::try_from(text.len()).unwrap_or(u8::MAX));
        data.put_slice(text.as_bytes());
        Notification::new(code::CEASE, subcode, data.freeze())
    }

    /// The shutdown communication of an Administrative Shutdown or Reset
    /// (RFC 9003 §2), or `None` for another NOTIFICATION or one without
    /// data (RFC 4486 only). Malformed encodings are reported in `problem`
    /// (RFC 9003 §4), never rejected.
    pub fn shutdown_communication(&self) -> Option<ShutdownCommunication> {
        if self.code != code::CEASE
            || !matches!(self.subcode, cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET)
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let declared = usize::from(len);
        let text = rest.get(..declared).unwrap_or(rest);
        let mut problem = match std::str::from_utf8(text) {
            Ok(_) => None,
            Err(_) => Some(CommunicationProblem::InvalidUtf8),
        };
        if declared > rest.len() {
            problem = Some(CommunicationProblem::LengthOverrun { declared, available: rest.len() });
        } else if rest.len() > declared {
            problem = problem.or(Some(CommunicationProblem::TrailingData { len: rest.len() - declared }));
        }
        Some(ShutdownCommunication { text: String::from_utf8_lossy(text).into_owned(), problem })
    }

    /// A Hard Reset (RFC 8538 §3) wrapping `inner`: Cease / subcode 9 with
    /// data = inner code | inner subcode | inner data.
    pub fn hard_reset(inner: &Notification) -> Self {
        let mut data = BytesMut::with_capacity(2 + inner.data.len());
        data.put_u8(inner.code);
        data.put_u8(inner.subcode);
        data.put_slice(&inner.data);
        Notification::new(code::CEASE, cease_subcode::HARD_RESET, data.freeze())
    }

    /// The NOTIFICATION inside a Hard Reset (RFC 8538 §3), or `None` for
    /// another NOTIFICATION or a Hard Reset with less than 2 octets of data.
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        if self.code != code::CEASE || self.subcode != cease_subcode::HARD_RESET {
            return None;
        }
        Notification::decode(&self.data).ok()
    }

    /// A readable name: "Cease / Administrative Shutdown", "Hold Timer
    /// Expired", with the shutdown communication or the hard reset's inner
    /// NOTIFICATION when present. For logs and `ternctl`.
    pub fn describe(&self) -> String {
        let mut s = match (code_name(self.code), subcode_name(self.code, self.subcode)) {
            (Some(c), Some(sc)) => format!("{c} / {sc}"),
            (Some(c), None) if self.subcode == 0 => c.to_string(),
            (Some(c), None) => format!("{c} / subcode {}", self.subcode),
            (None, _) => format!("code {} / subcode {}", self.code, self.subcode),
        };
        if let Some(comm) = self.shutdown_communication() {
            if !comm.text.is_empty() {
                s.push_str(&format!(": {:?}", comm.text));
            }
        } else if let Some(inner) = self.hard_reset_inner() {
            s.push_str(&format!(" ({})", inner.describe()));
        }
        s
    }
}

impl From<&DecodeError> for Notification {
    /// The NOTIFICATION a decode error prescribes.
    fn from(e: &DecodeError) -> Self {
        Notification::new(e.code, e.subcode, e.data.clone())
    }
}

/// Name of a NOTIFICATION error code (IANA "BGP Error Codes").
pub fn code_name(code: u8) -> Option<&'static str> {
    Some(match code {
        code::MESSAGE_HEADER => "Message Header Error",
        code::OPEN_MESSAGE => "OPEN Message Error",
        code::UPDATE_MESSAGE => "UPDATE Message Error",
        code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        code::FSM => "Finite State Machine Error",
        code::CEASE => "Cease",
        code::ROUTE_REFRESH_MESSAGE => "ROUTE-REFRESH Message Error",
        8 => "Send Hold Timer Expired",
        _ => return None,
    })
}

/// Name of an error subcode under `code` (IANA "BGP Error Subcodes";
/// RFC 4271 §4.5, RFC 4486, RFC 5492, RFC 6608, RFC 7313, RFC 8538, RFC 9234, RFC 9384).
pub fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    Some(match (code, subcode) {
        (code::MESSAGE_HEADER, 1) => "Connection Not Synchronized",
        (code::MESSAGE_HEADER, 2) => "Bad Message Length",
        (code::MESSAGE_HEADER, 3) => "Bad Message Type",
        (code::OPEN_MESSAGE, 0) => "Unspecific",
        (code::OPEN_MESSAGE, 1) => "Unsupported Version Number",
        (code::OPEN_MESSAGE, 2) => "Bad Peer AS",
        (code::OPEN_MESSAGE, 3) => "Bad BGP Identifier",
        (code::OPEN_MESSAGE, 4) => "Unsupported Optional Parameter",
        (code::OPEN_MESSAGE, 5) => "Authentication Failure (deprecated)",
        (code::OPEN_MESSAGE, 6) => "Unacceptable Hold Time",
        (code::OPEN_MESSAGE, 7) => "Unsupported Capability",
        (code::OPEN_MESSAGE, 11) => "Role Mismatch",
        (code::UPDATE_MESSAGE, 1) => "Malformed Attribute List",
        (code::UPDATE_MESSAGE, 2) => "Unrecognized Well-known Attribute",
        (code::UPDATE_MESSAGE, 3) => "Missing Well-known Attribute",
        (code::UPDATE_MESSAGE, 4) => "Attribute Flags Error",
        (code::UPDATE_MESSAGE, 5) => "Attribute Length Error",
        (code::UPDATE_MESSAGE, 6) => "Invalid ORIGIN Attribute",
        (code::UPDATE_MESSAGE, 7) => "AS Routing Loop (deprecated)",
        (code::UPDATE_MESSAGE, 8) => "Invalid NEXT_HOP Attribute",
        (code::UPDATE_MESSAGE, 9) => "Optional Attribute Error",
        (code::UPDATE_MESSAGE, 10) => "Invalid Network Field",
        (code::UPDATE_MESSAGE, 11) => "Malformed AS_PATH",
        (code::FSM, 0) => "Unspecified Error",
        (code::FSM, 1) => "Unexpected Message in OpenSent State",
        (code::FSM, 2) => "Unexpected Message in OpenConfirm State",
        (code::FSM, 3) => "Unexpected Message in Established State",
        (code::CEASE, cease_subcode::MAX_PREFIXES_REACHED) => "Maximum Number of Prefixes Reached",
        (code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN) => "Administrative Shutdown",
        (code::CEASE, cease_subcode::PEER_DECONFIGURED) => "Peer De-configured",
        (code::CEASE, cease_subcode::ADMINISTRATIVE_RESET) => "Administrative Reset",
        (code::CEASE, cease_subcode::CONNECTION_REJECTED) => "Connection Rejected",
        (code::CEASE, cease_subcode::OTHER_CONFIGURATION_CHANGE) => "Other Configuration Change",
        (code::CEASE, cease_subcode::CONNECTION_COLLISION_RESOLUTION) => "Connection Collision Resolution",
        (code::CEASE, cease_subcode::OUT_OF_RESOURCES) => "Out of Resources",
        (code::CEASE, cease_subcode::HARD_RESET) => "Hard Reset",
        (code::CEASE, cease_subcode::BFD_DOWN) => "BFD Down",
        (code::ROUTE_REFRESH_MESSAGE, 1) => "Invalid Message Length",
        _ => return None,
    })
}
