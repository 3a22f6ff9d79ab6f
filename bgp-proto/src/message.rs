//! The five BGP message types (RFC 4271 §4) behind one enum, the message
//! header (RFC 4271 §4.1) and its errors (RFC 4271 §6.1).
//!
//! ```text
//!  marker(16, all ones) | length(2, header included) | type(1) | body
//! ```

use bytes::{BufMut, BytesMut};

use crate::context::{Context, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::error::{code, header_subcode, DecodeError, EncodeError, ErrorAction, UpdateError};
use crate::notification::Notification;
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::update::{decode_update, Update};

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub mod message_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// The 16-octet all-ones marker (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];

/// A decoded BGP message.
// UPDATE, the large variant, is nearly every message of a session: boxing it
// would add an allocation per UPDATE to shrink the rare ones.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// Why a message could not be accepted: a plain decode error (the NOTIFICATION
/// to send) or an UPDATE error with its RFC 7606 action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MessageError {
    #[error(transparent)]
    Decode(DecodeError),
    #[error(transparent)]
    Update(UpdateError),
}

impl MessageError {
    /// What the receiver does (RFC 7606 §2); anything but an UPDATE error resets the session.
    pub fn action(&self) -> ErrorAction {
        match self {
            MessageError::Decode(_) => ErrorAction::SessionReset,
            MessageError::Update(e) => e.action(),
        }
    }

    /// The error as RFC 4271 classifies it (code, subcode, data).
    pub fn error(&self) -> &DecodeError {
        match self {
            MessageError::Decode(e) => e,
            MessageError::Update(e) => e.error(),
        }
    }

    /// The NOTIFICATION to send, when the action is a session reset.
    pub fn notification(&self) -> Option<Notification> {
        (self.action() == ErrorAction::SessionReset).then(|| Notification::from(self.error()))
    }
}

impl From<DecodeError> for MessageError {
    fn from(e: DecodeError) -> Self {
        MessageError::Decode(e)
    }
}

impl From<UpdateError> for MessageError {
    fn from(e: UpdateError) -> Self {
        MessageError::Update(e)
    }
}

/// The name of a message type as RFCs write it ("ROUTE-REFRESH"), if known.
pub fn type_name(msg_type: u8) -> Option<&'static str> {
    Some(match msg_type {
        message_type::OPEN => "OPEN",
        message_type::UPDATE => "UPDATE",
        message_type::NOTIFICATION => "NOTIFICATION",
        message_type::KEEPALIVE => "KEEPALIVE",
        message_type::ROUTE_REFRESH => "ROUTE-REFRESH",
        _ => return None,
    })
}

/// Largest message of `msg_type` under `ctx`: RFC 8654 extends every
/// message but OPEN and KEEPALIVE.
pub fn max_len(msg_type: u8, ctx: &Context) -> usize {
    match msg_type {
        message_type::OPEN | message_type::KEEPALIVE => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    }
}

/// Checks a message header (RFC 4271 §6.1) and gives the type and the whole
/// message length. `header` holds at least 19 octets. Errors: marker not all
/// ones → Connection Not Synchronized; length below 19 or above `max_len` →
/// Bad Message Length with the length field as data. The type is checked by
/// [`Message::decode`], since an unknown type does not break framing.
pub fn decode_header(header: &[u8], max_len: usize) -> Result<(u8, usize), DecodeError> {
    let Some((marker, rest)) = header.split_first_chunk::<16>() else {
        return Err(DecodeError::new(
            code::MESSAGE_HEADER,
            header_subcode::BAD_MESSAGE_LENGTH,
            Vec::new(),
            "truncated header",
        ));
    };
    let Some((&[l0, l1, msg_type], _)) = rest.split_first_chunk::<3>() else {
        return Err(DecodeError::new(
            code::MESSAGE_HEADER,
            header_subcode::BAD_MESSAGE_LENGTH,
            Vec::new(),
            "truncated header",
        ));
    };
    if *marker != MARKER {
        return Err(DecodeError::new(
            code::MESSAGE_HEADER,
            header_subcode::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
            "marker is not all ones",
        ));
    }
    let len = u16::from_be_bytes([l0, l1]);
    if usize::from(len) < HEADER_LEN || usize::from(len) > max_len {
        return Err(DecodeError::bad_length(len, format!("message length {len} outside 19..={max_len}")));
    }
    Ok((msg_type, usize::from(len)))
}

/// Decodes one whole message, header included: checks the header against
/// `ctx` (RFC 4271 §6.1; the length field must equal `frame.len()`), then
/// [`Message::decode`].
pub fn decode_message(frame: &[u8], ctx: &Context) -> Result<Message, MessageError> {
    let (msg_type, len) = decode_header(frame, ctx.max_message_len())?;
    if len != frame.len() {
        let field = u16::try_from(len).unwrap_or(u16::MAX);
        return Err(DecodeError::bad_length(
            field,
            format!("length field {len} but the message has {} octets", frame.len()),
        )
        .into());
    }
    Message::decode(msg_type, frame.get(HEADER_LEN..).unwrap_or_default(), ctx)
}

/// Marker, a length to patch, and `msg_type`.
pub(crate) fn put_header(out: &mut BytesMut, msg_type: u8) {
    out.put_slice(&MARKER);
    out.put_u16(0);
    out.put_u8(msg_type);
}

/// Checks the size of the message that starts at `start` against `max` and
/// writes it into the header (RFC 4271 §4.1).
pub(crate) fn finish_message(out: &mut BytesMut, start: usize, max: usize) -> Result<(), EncodeError> {
    let len = out.len() - start;
    let field = u16::try_from(len).ok().filter(|_| len <= max).ok_or(EncodeError::TooLong { len, max })?;
    if let Some(f) = out.get_mut(start + 16..start + 18) {
        f.copy_from_slice(&field.to_be_bytes());
    }
    Ok(())
}

impl Message {
    /// The type code of this message.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Open(_) => message_type::OPEN,
            Message::Update(_) => message_type::UPDATE,
            Message::Notification(_) => message_type::NOTIFICATION,
            Message::Keepalive => message_type::KEEPALIVE,
            Message::RouteRefresh(_) => message_type::ROUTE_REFRESH,
        }
    }

    /// "OPEN", "UPDATE", "NOTIFICATION", "KEEPALIVE" or "ROUTE-REFRESH".
    pub fn type_name(&self) -> &'static str {
        type_name(self.msg_type()).unwrap_or("UNKNOWN")
    }

    /// Decodes a message body (the octets after the 19-octet header) of type
    /// `msg_type`. Header-level errors (RFC 4271 §6.1): an unknown type is
    /// Bad Message Type with the type octet as data; a message longer than
    /// allowed for its type under `ctx`, or shorter than its type's minimum
    /// (OPEN 29, UPDATE 23, KEEPALIVE exactly 19, NOTIFICATION 21,
    /// ROUTE-REFRESH 23), is Bad Message Length with the length as data.
    pub fn decode(msg_type: u8, body: &[u8], ctx: &Context) -> Result<Message, MessageError> {
        let total = body.len() + HEADER_LEN;
        let len_field = u16::try_from(total).unwrap_or(u16::MAX);
        let Some(name) = type_name(msg_type) else {
            return Err(DecodeError::new(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_TYPE,
                vec![msg_type],
                format!("unknown message type {msg_type}"),
            )
            .into());
        };
        let max = max_len(msg_type, ctx);
        if total > max {
            return Err(DecodeError::bad_length(len_field, format!("{name} of {total} octets exceeds {max}")).into());
        }
        Ok(match msg_type {
            message_type::OPEN => Message::Open(Open::decode(body)?),
            message_type::UPDATE => Message::Update(decode_update(body, ctx)?),
            message_type::NOTIFICATION => Message::Notification(Notification::decode(body)?),
            message_type::KEEPALIVE if body.is_empty() => Message::Keepalive,
            message_type::KEEPALIVE => {
                return Err(
                    DecodeError::bad_length(len_field, format!("KEEPALIVE of {total} octets (must be 19)")).into()
                )
            }
            _ => Message::RouteRefresh(RouteRefresh::decode(body)?),
        })
    }

    /// Appends the whole message, header included, to `out`. Fails (leaving
    /// `out` unchanged) when the message exceeds the maximum for its type
    /// under `ctx` or a field cannot be represented.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Message::Open(open) => open.encode(out),
            Message::Update(update) => update.encode(ctx, out),
            Message::Notification(n) => n.encode(ctx, out),
            Message::Keepalive => {
                let start = out.len();
                put_header(out, message_type::KEEPALIVE);
                finish_message(out, start, MAX_MESSAGE_LEN)
            }
            Message::RouteRefresh(rr) => rr.encode(ctx, out),
        }
    }
}
