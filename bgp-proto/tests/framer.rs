//! The stream framer: whole messages out of bytes however TCP splits them,
//! header errors that stop the stream, and the negotiated maximum size.

use std::net::Ipv4Addr;

use bgp_proto::message::message_type;
use bgp_proto::{Capability, Context, Family, Frame, Framer, Message, Notification, Open, RouteRefresh, Update};
use bytes::BytesMut;

fn encode(m: &Message, ctx: &Context) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(ctx, &mut out).expect("encodes");
    out.to_vec()
}

/// A session's worth of messages of every type, and their encodings.
fn session() -> (Vec<Message>, Vec<Vec<u8>>) {
    let ctx = Context::default();
    let messages = vec![
        Message::Open(Open::new(
            65001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(65001)],
        )),
        Message::Keepalive,
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)),
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)),
        Message::RouteRefresh(RouteRefresh::new(Family::IPV4_UNICAST)),
        Message::Keepalive,
        Message::Notification(Notification::shutdown(2, "bye")),
    ];
    let wires = messages.iter().map(|m| encode(m, &ctx)).collect();
    (messages, wires)
}

/// Feeds `pieces` in order, collecting every frame; panics on a framing error.
fn frame_all(pieces: &[&[u8]]) -> Vec<(u64, Frame)> {
    let mut framer = Framer::new(&Context::default());
    let mut frames = Vec::new();
    for piece in pieces {
        framer.push(piece);
        loop {
            let offset = framer.offset();
            match framer.next_frame() {
                Ok(Some(f)) => frames.push((offset, f)),
                Ok(None) => break,
                Err(e) => panic!("framing error: {e}"),
            }
        }
    }
    assert_eq!(framer.buffered(), 0, "nothing left over");
    frames
}

fn check_frames(frames: &[(u64, Frame)], messages: &[Message], wires: &[Vec<u8>]) {
    assert_eq!(frames.len(), messages.len());
    let mut offset = 0u64;
    for (((at, frame), m), w) in frames.iter().zip(messages).zip(wires) {
        assert_eq!(*at, offset);
        assert_eq!(frame.msg_type, w[18]);
        assert_eq!(&frame.body[..], &w[19..]);
        assert_eq!(frame.len(), w.len());
        assert_eq!(&frame.decode(&Context::default()).expect("decodes"), m);
        offset += w.len() as u64;
    }
}

#[test]
fn every_split_point() {
    let (messages, wires) = session();
    let stream = wires.concat();
    for split in 0..=stream.len() {
        let (a, b) = stream.split_at(split);
        check_frames(&frame_all(&[a, b]), &messages, &wires);
    }
}

#[test]
fn every_pair_of_split_points() {
    let (messages, wires) = session();
    let stream = wires.concat();
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let frames = frame_all(&[&stream[..i], &stream[i..j], &stream[j..]]);
            assert_eq!(frames.len(), messages.len(), "splits at {i} and {j}");
            assert!(frames.iter().zip(&wires).all(|((_, f), w)| f.body[..] == w[19..]), "splits at {i} and {j}");
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let (messages, wires) = session();
    let stream = wires.concat();
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    check_frames(&frame_all(&pieces), &messages, &wires);
}

#[test]
fn incomplete_message_waits_for_more() {
    let (_, wires) = session();
    let mut framer = Framer::new(&Context::default());
    framer.push(&wires[0][..18]);
    assert_eq!(framer.next_frame(), Ok(None), "header incomplete");
    framer.push(&wires[0][18..25]);
    assert_eq!(framer.next_frame(), Ok(None), "body incomplete");
    assert_eq!(framer.buffered(), 25);
    framer.push(&wires[0][25..]);
    let frame = framer.next_frame().expect("frames").expect("a frame");
    assert_eq!(frame.msg_type, message_type::OPEN);
    assert_eq!(framer.next_frame(), Ok(None));
    assert_eq!(framer.offset(), wires[0].len() as u64);
}

#[test]
fn extend_is_zero_copy() {
    let (_, wires) = session();
    let stream = wires.concat();
    let buf = BytesMut::from(&stream[..]);
    let base = buf.as_ptr() as usize;
    let mut framer = Framer::new(&Context::default());
    framer.extend(buf);
    let mut at = 0;
    for w in &wires {
        let frame = framer.next_frame().expect("frames").expect("a frame");
        if !frame.body.is_empty() {
            assert_eq!(frame.body.as_ptr() as usize, base + at + 19, "body points into the pushed buffer");
        }
        at += w.len();
    }
    // A second extend after a partial message joins the pieces.
    let (a, b) = wires[0].split_at(10);
    framer.extend(BytesMut::from(a));
    framer.extend(BytesMut::from(b));
    assert_eq!(framer.next_frame().expect("frames").map(|f| f.msg_type), Some(message_type::OPEN));
}

#[test]
fn bad_marker_poisons_the_framer() {
    let (_, wires) = session();
    let mut bad = wires[1].clone();
    bad[0] = 0;
    let mut framer = Framer::new(&Context::default());
    framer.push(&wires[0]);
    framer.push(&bad);
    framer.push(&wires[1]);
    assert!(framer.next_frame().expect("first message is fine").is_some());
    let e = framer.next_frame().expect_err("marker");
    assert_eq!((e.code, e.subcode), (1, 1));
    // The stream cannot be resynchronised: the same error from now on.
    framer.push(&wires[1]);
    assert_eq!(framer.next_frame(), Err(e.clone()));
    assert_eq!(framer.error(), Some(&e));
}

#[test]
fn bad_lengths_poison_the_framer() {
    for len in [0u16, 18, 4097, 65535] {
        let mut header = vec![0xff; 16];
        header.extend_from_slice(&len.to_be_bytes());
        header.push(message_type::UPDATE);
        let mut framer = Framer::new(&Context::default());
        framer.push(&header);
        let e = framer.next_frame().expect_err("length");
        assert_eq!((e.code, e.subcode, e.data.to_vec()), (1, 2, len.to_be_bytes().to_vec()), "length {len}");
        assert_eq!(framer.next_frame(), Err(e));
    }
}

#[test]
fn extended_messages_after_open_exchange() {
    // RFC 8654: a 5,000-octet NOTIFICATION is a header error until both sides
    // advertised extended messages.
    let ext = Context { extended_message: true, ..Context::default() };
    let big = encode(&Message::Notification(Notification::new(6, 2, vec![0u8; 5000 - 21])), &ext);
    assert_eq!(big.len(), 5000);

    let mut framer = Framer::new(&Context::default());
    framer.push(&big);
    assert_eq!(framer.next_frame().map_err(|e| (e.code, e.subcode)), Err((1, 2)));

    let mut framer = Framer::new(&Context::default());
    assert_eq!(framer.max_message_len(), 4096);
    framer.set_max_message_len(ext.max_message_len());
    framer.push(&big);
    let frame = framer.next_frame().expect("frames").expect("a frame");
    assert_eq!(frame.len(), 5000);
    assert!(matches!(frame.decode(&ext), Ok(Message::Notification(_))));
}

#[test]
fn unknown_type_does_not_break_framing() {
    let (_, wires) = session();
    let mut odd = wires[1].clone();
    odd[18] = 9;
    let mut framer = Framer::new(&Context::default());
    framer.push(&odd);
    framer.push(&wires[1]);
    let frame = framer.next_frame().expect("frames").expect("a frame");
    let e = frame.decode(&Context::default()).expect_err("bad type");
    assert_eq!((e.error().code, e.error().subcode, e.error().data.to_vec()), (1, 3, vec![9]));
    assert_eq!(framer.next_frame().expect("frames").map(|f| f.msg_type), Some(message_type::KEEPALIVE));
}
