//! Any message body under any decode context: `Message::decode` returns a
//! message or a classified error, never panics. A message that decodes and
//! re-encodes must decode again to the same value (less the attributes that
//! RFC 7606 discarded).
//!
//! Input: context byte (see `tern_fuzz::context_from_byte`), message type
//! byte, then the body (the bytes after the 19-octet header).
#![no_main]

use bgp_proto::Message;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((ctx, rest)) = tern_fuzz::split_context(data) else { return };
    let Some((&msg_type, body)) = rest.split_first() else { return };
    // Types 0..=7 cover the five known ones and unknown neighbours.
    let msg_type = msg_type % 8;
    let Ok(mut msg) = Message::decode(msg_type, body, &ctx) else { return };
    // Attributes discarded under RFC 7606 §2 are gone from the message and
    // cannot come back from its encoding.
    if let Message::Update(update) = &mut msg {
        update.discarded.clear();
    }
    let mut out = BytesMut::new();
    if msg.encode(&ctx, &mut out).is_ok() {
        let body = out.get(19..).expect("encoded message has a header");
        let again = Message::decode(out[18], body, &ctx).expect("re-encoded message decodes");
        assert_eq!(again, msg, "decode(encode(m)) != m");
    }
});
