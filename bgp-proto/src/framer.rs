//! Stream framing: bytes as TCP delivers them in, whole messages out.
//!
//! The framer only checks what framing needs (RFC 4271 §6.1): the marker
//! and a length between 19 and the session's maximum. Type and per-type
//! lengths are [`Message::decode`](crate::Message::decode)'s business, as an
//! unknown type or a short KEEPALIVE does not stop the next message from
//! being found. A header error does: the stream cannot be resynchronised, so
//! the framer keeps returning that error.

use bytes::{Buf, Bytes, BytesMut};

use crate::context::{Context, HEADER_LEN};
use crate::error::DecodeError;
use crate::message::{decode_header, Message, MessageError};

/// One message cut from the stream: its type and body (header removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: u8,
    /// The octets after the 19-octet header; shares the framer's buffer.
    pub body: Bytes,
}

impl Frame {
    /// Decodes the frame under `ctx` ([`Message::decode`]).
    pub fn decode(&self, ctx: &Context) -> Result<Message, MessageError> {
        Message::decode(self.msg_type, &self.body, ctx)
    }

    /// Length of the whole message, header included.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Never true: a frame has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Splits a BGP byte stream into messages.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_len: usize,
    /// Stream offset of the first octet in `buf`.
    offset: u64,
    poisoned: Option<DecodeError>,
}

impl Framer {
    /// A framer accepting messages up to `ctx.max_message_len()`. Before the
    /// OPEN exchange pass a context without extended messages (4,096 octets).
    pub fn new(ctx: &Context) -> Self {
        Framer::with_max_message_len(ctx.max_message_len())
    }

    pub fn with_max_message_len(max_len: usize) -> Self {
        Framer { buf: BytesMut::new(), max_len, offset: 0, poisoned: None }
    }

    /// Changes the largest accepted message, e.g. to 65,535 once both sides
    /// advertised the extended message capability (RFC 8654).
    pub fn set_max_message_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    pub fn max_message_len(&self) -> usize {
        self.max_len
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends a received buffer, without copying when the framer is empty
    /// or `bytes` directly follows its buffer in memory.
    pub fn extend(&mut self, bytes: BytesMut) {
        if self.buf.is_empty() {
            self.buf = bytes;
        } else {
            self.buf.unsplit(bytes);
        }
    }

    /// The internal buffer, for reading from a socket straight into it
    /// (e.g. `read_buf`); only append to it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Octets received but not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Stream offset of the next frame's first octet (octets consumed so far).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The header error that stopped the stream, if any.
    pub fn error(&self) -> Option<&DecodeError> {
        self.poisoned.as_ref()
    }

    /// The next whole message, `None` when more bytes are needed, or the
    /// header error (Connection Not Synchronized or Bad Message Length, RFC
    /// 4271 §6.1) that ends the stream; after one, every call returns it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let Some(header) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let (msg_type, len) = match decode_header(header, self.max_len) {
            Ok(h) => h,
            Err(e) => {
                self.poisoned = Some(e.clone());
                return Err(e);
            }
        };
        if self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            return Ok(None);
        }
        let mut message = self.buf.split_to(len);
        message.advance(HEADER_LEN);
        self.offset += len as u64;
        Ok(Some(Frame { msg_type, body: message.freeze() }))
    }
}
