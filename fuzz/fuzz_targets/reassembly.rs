//! Message reassembly with UTF-8 validation, checked against a model.
//!
//! Input: a list of fragments, each `[flags, len, payload (len bytes)]`; flags bit 0 is FIN,
//! bit 1 picks text, bit 2 interleaves a ping before the fragment. They are framed correctly
//! (masked, first fragment text or binary, then continuations) and fed to a server's decoder in
//! one go and byte by byte. Both must agree with the model: the message is the concatenated
//! payload, and a text message fails with 1007 exactly when `std::str::from_utf8` rejects it.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::{
    Decoder, Event, Frame, FrameHeader, Limits, Message, OpCode, ProtocolError, Role,
};

fuzz_target!(|data: &[u8]| {
    let mut wire = Vec::new();
    let mut expected = Vec::new(); // (text, payload) of each finished message
    let mut current: Option<(bool, Vec<u8>)> = None;
    let mut rest = data;
    while let [flags, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(take);
        rest = after;
        if flags & 4 != 0 {
            push(
                &mut wire,
                true,
                OpCode::Ping,
                &payload[..payload.len().min(125)],
            );
        }
        let fin = flags & 1 != 0;
        let opcode = match &mut current {
            Some((_, so_far)) => {
                so_far.extend_from_slice(payload);
                OpCode::Continuation
            }
            None => {
                let text = flags & 2 != 0;
                current = Some((text, payload.to_vec()));
                if text {
                    OpCode::Text
                } else {
                    OpCode::Binary
                }
            }
        };
        push(&mut wire, fin, opcode, payload);
        if fin {
            expected.push(current.take().expect("set above"));
        }
    }
    let whole = decode(&wire, wire.len().max(1));
    let bytewise = decode(&wire, 1);
    assert_eq!(whole, bytewise, "chunking changed the outcome");
    let (messages, error) = whole;
    for (i, (text, payload)) in expected.iter().enumerate() {
        let valid = !text || std::str::from_utf8(payload).is_ok();
        if !valid {
            assert_eq!(messages.len(), i, "messages before the bad one");
            assert_eq!(error, Some(ProtocolError::InvalidUtf8));
            return;
        }
        let want = if *text {
            Message::text(String::from_utf8(payload.clone()).expect("checked"))
        } else {
            Message::binary(payload.clone())
        };
        assert_eq!(messages.get(i), Some(&want), "message {i}");
    }
    assert_eq!(messages.len(), expected.len());
    // An unfinished text message fails early exactly when its bytes so far can never become
    // UTF-8 (an incomplete last code point is not yet an error).
    let doomed = matches!(&current, Some((true, partial))
        if matches!(std::str::from_utf8(partial), Err(e) if e.error_len().is_some()));
    assert_eq!(error, doomed.then_some(ProtocolError::InvalidUtf8));
});

fn push(wire: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8]) {
    let mut header = FrameHeader::new(opcode, payload.len() as u64);
    header.fin = fin;
    header.mask = Some([0x37, 0xfa, 0x21, 0x3d]);
    wire.extend_from_slice(&Frame::new(header, Bytes::copy_from_slice(payload)).to_bytes());
}

fn decode(wire: &[u8], chunk: usize) -> (Vec<Message>, Option<ProtocolError>) {
    let mut decoder = Decoder::new(Role::Server, Limits::default());
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.feed(&mut buf) {
                Ok(Some(Event::Message(m))) => messages.push(m),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => return (messages, Some(err)),
            }
        }
    }
    (messages, None)
}
