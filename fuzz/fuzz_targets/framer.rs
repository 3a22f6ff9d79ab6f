//! The stream framer (`bgp_proto::framer::Framer`) fed the same bytes in one
//! piece and in arbitrary pieces: the frames, the error and the leftover must
//! not depend on where TCP happened to cut the stream, and every frame must
//! be exactly the bytes of the stream at its offset. Every frame is also
//! decoded (`Frame::decode`), which must not panic.
//!
//! Input: two seed bytes (piece sizes; bit 0 of the second selects the
//! 65,535-octet RFC 8654 maximum), then the stream.
#![no_main]

use bgp_proto::framer::{Frame, Framer};
use bgp_proto::{Context, DecodeError};
use libfuzzer_sys::fuzz_target;

/// Everything a framer gives for `stream` delivered in `pieces`.
#[derive(Debug, PartialEq)]
struct Framed {
    frames: Vec<Frame>,
    error: Option<DecodeError>,
    /// Bytes waiting for the rest of a message; not compared after an error
    /// (the pieces after it were never pushed).
    buffered: Option<usize>,
}

fn frame(stream: &[u8], pieces: impl Iterator<Item = usize>, max_len: usize) -> Framed {
    let mut framer = Framer::with_max_message_len(max_len);
    let mut frames = Vec::new();
    let mut error = None;
    let mut rest = stream;
    for size in pieces {
        if rest.is_empty() || error.is_some() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    // A header error is final: the framer keeps returning it.
                    assert_eq!(framer.next_frame(), Err(e.clone()), "header error is not sticky");
                    error = Some(e);
                    break;
                }
            }
        }
    }
    let buffered = if error.is_none() { Some(framer.buffered()) } else { None };
    Framed { frames, error, buffered }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, stream @ ..] = data else { return };
    let max_len = if b & 1 != 0 { 65_535 } else { 4_096 };
    let whole = frame(stream, std::iter::once(stream.len()), max_len);

    // Piece sizes 1..=64, and now and then a large one, from a small LCG.
    let mut state = u32::from(*a) << 8 | u32::from(*b);
    let sizes = std::iter::repeat_with(move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let r = (state >> 16) as usize;
        if r % 8 == 0 {
            r % 4096 + 1
        } else {
            r % 64 + 1
        }
    });
    let pieces = frame(stream, sizes, max_len);
    assert_eq!(whole, pieces, "framing depends on segmentation");

    // Each frame is the stream's bytes at its offset: marker, length, type, body.
    let mut at = 0;
    for f in &whole.frames {
        let len = f.len();
        let bytes = stream.get(at..at + len).expect("frame within the stream");
        assert!(bytes[..16].iter().all(|&x| x == 0xff), "frame without marker");
        assert_eq!(usize::from(u16::from_be_bytes([bytes[16], bytes[17]])), len, "frame length");
        assert!(len >= 19 && len <= max_len, "frame length {len} outside 19..={max_len}");
        assert_eq!(bytes[18], f.msg_type);
        assert_eq!(&bytes[19..], &f.body[..]);
        at += len;
        let _ = f.decode(&Context::default());
    }
    if let Some(buffered) = whole.buffered {
        assert_eq!(at + buffered, stream.len(), "bytes lost");
    }
});
