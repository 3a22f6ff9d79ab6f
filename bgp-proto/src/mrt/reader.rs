//! Record framing (RFC 6396 §2): in-memory zero-copy and streaming readers.

use std::io::{ErrorKind, Read};

use super::{Header, MrtError, MrtErrorKind, RawRecord, COMMON_HEADER_LEN};

fn parse_header(h: &[u8; COMMON_HEADER_LEN]) -> Header {
    Header {
        timestamp: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        microseconds: None,
        mrt_type: u16::from_be_bytes([h[4], h[5]]),
        subtype: u16::from_be_bytes([h[6], h[7]]),
        length: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
    }
}

/// Splits the microseconds off the body of an extended-timestamp record
/// (RFC 6396 §3: the field is counted in the header's length).
fn finish<'a>(offset: u64, mut header: Header, body: &'a [u8]) -> Result<RawRecord<'a>, MrtError> {
    if !Header::is_extended(header.mrt_type) {
        return Ok(RawRecord { offset, header, body });
    }
    match body.split_first_chunk::<4>() {
        Some((us, rest)) => {
            header.microseconds = Some(u32::from_be_bytes(*us));
            Ok(RawRecord { offset, header, body: rest })
        }
        None => Err(MrtError::new(offset, MrtErrorKind::TruncatedBody { what: "extended timestamp" })),
    }
}

/// Zero-copy reader over a whole (decompressed) MRT file in memory.
///
/// Yields each record as a slice of the input. Works on `&[u8]` and, through
/// deref, on `&Bytes`/`&Vec<u8>`. A record whose body is corrupt (e.g. an ET
/// record too short for its microseconds) yields an error and the reader moves
/// on; a header whose length runs past the end yields an error and ends it.
#[derive(Clone, Debug)]
pub struct SliceReader<'a> {
    data: &'a [u8],
    pos: usize,
    finished: bool,
}

impl<'a> SliceReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        SliceReader { data, pos: 0, finished: false }
    }

    /// Offset of the next record in the input.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }
}

impl<'a> Iterator for SliceReader<'a> {
    type Item = Result<RawRecord<'a>, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.finished = true;
            return None;
        }
        let offset = self.pos as u64;
        let Some((head, after)) = rest.split_first_chunk::<COMMON_HEADER_LEN>() else {
            self.finished = true;
            return Some(Err(MrtError::new(offset, MrtErrorKind::TruncatedHeader { available: rest.len() })));
        };
        let header = parse_header(head);
        let Some(body) = after.get(..header.length as usize) else {
            self.finished = true;
            return Some(Err(MrtError::new(
                offset,
                MrtErrorKind::TruncatedRecord { declared: header.length, available: after.len() as u64 },
            )));
        };
        self.pos += COMMON_HEADER_LEN + body.len();
        Some(finish(offset, header, body))
    }
}

/// Streaming reader over any [`Read`] (a decompressor, a file, a socket).
///
/// Keeps one body buffer that is reused for every record, so reading a file
/// allocates only as much as its largest record. A lending reader: each record
/// borrows the buffer until the next call.
#[derive(Debug)]
pub struct StreamReader<R> {
    inner: R,
    buf: Vec<u8>,
    offset: u64,
    finished: bool,
}

impl<R: Read> StreamReader<R> {
    pub fn new(inner: R) -> Self {
        StreamReader { inner, buf: Vec::with_capacity(64 * 1024), offset: 0, finished: false }
    }

    /// Offset of the next record in the (decompressed) stream.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Reads as much of `out` as the stream has; returns how many octets were read.
    fn read_full(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            let Some(dst) = out.get_mut(n..) else { break };
            match self.inner.read(dst) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn io_error(&mut self, e: std::io::Error) -> Option<Result<RawRecord<'_>, MrtError>> {
        self.finished = true;
        Some(Err(MrtError::new(self.offset, MrtErrorKind::Io { detail: e.to_string() })))
    }

    /// The next record, `None` at a clean end of input.
    #[allow(clippy::should_implement_trait)]
    pub fn next_record(&mut self) -> Option<Result<RawRecord<'_>, MrtError>> {
        if self.finished {
            return None;
        }
        let offset = self.offset;
        let mut head = [0u8; COMMON_HEADER_LEN];
        let got = match self.read_full(&mut head) {
            Ok(n) => n,
            Err(e) => return self.io_error(e),
        };
        if got == 0 {
            self.finished = true;
            return None;
        }
        if got < COMMON_HEADER_LEN {
            self.finished = true;
            return Some(Err(MrtError::new(offset, MrtErrorKind::TruncatedHeader { available: got })));
        }
        let header = parse_header(&head);
        self.buf.clear();
        // `take` + `read_to_end` grows the buffer only as data arrives, so a
        // corrupt length cannot make us allocate gigabytes up front.
        let want = u64::from(header.length);
        match (&mut self.inner).take(want).read_to_end(&mut self.buf) {
            Ok(_) => {}
            Err(e) => return self.io_error(e),
        }
        if (self.buf.len() as u64) < want {
            self.finished = true;
            return Some(Err(MrtError::new(
                offset,
                MrtErrorKind::TruncatedRecord { declared: header.length, available: self.buf.len() as u64 },
            )));
        }
        self.offset += COMMON_HEADER_LEN as u64 + want;
        Some(finish(offset, header, &self.buf))
    }
}
