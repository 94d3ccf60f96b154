//! The frame decoder fed arbitrary bytes in arbitrary chunks, in either role, with or without
//! permessage-deflate.
//!
//! Input: byte 0 picks the role, deflate and its parameters; byte 1 seeds the chunk sizes; the
//! rest is the wire. Checked: no panic, every event within the limits, text valid UTF-8, the
//! error sticky, and the read buffer never holding far more than what was fed.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::deflate::{negotiate, DeflateConfig, Inflater};
use mywebsocket_proto::{Decoder, Event, Limits, Role, MAX_CONTROL_PAYLOAD};

/// Small limits so the fuzzer reaches the "too big" paths with small inputs.
const MAX_MESSAGE: usize = 4096;
const MAX_FRAME: usize = 1024;
/// The decoder reserves at most 1 MiB ahead of a frame's data, plus a header.
const RESERVE_AHEAD: usize = (1 << 20) + 64;

fuzz_target!(|data: &[u8]| {
    let [flags, seed, wire @ ..] = data else {
        return;
    };
    let role = if flags & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let mut decoder = Decoder::new(
        role,
        Limits::default()
            .max_message_size(MAX_MESSAGE)
            .max_frame_size(MAX_FRAME),
    );
    if flags & 2 != 0 {
        let offer = match (flags >> 2) & 3 {
            0 => "permessage-deflate",
            1 => "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            2 => "permessage-deflate; client_max_window_bits=9; server_max_window_bits=9",
            _ => "permessage-deflate; client_max_window_bits=8; server_no_context_takeover",
        };
        let params = negotiate([offer], &DeflateConfig::default())
            .expect("valid offer")
            .params;
        decoder.enable_deflate(Inflater::new(&params, role));
    }
    let mut buf = BytesMut::new();
    let mut rest = wire;
    let mut state = u32::from(*seed) | 1;
    while !rest.is_empty() {
        // A cheap xorshift makes chunk sizes from 1 to 64 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let take = ((state % 64) as usize + 1).min(rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match decoder.feed(&mut buf) {
                Ok(Some(event)) => check(&event),
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(decoder.feed(&mut buf), Err(err), "errors are sticky");
                    let _ = err.close_code();
                    return;
                }
            }
        }
        assert!(
            buf.capacity() <= wire.len() + RESERVE_AHEAD,
            "buffer capacity {} after {} bytes",
            buf.capacity(),
            wire.len()
        );
    }
});

fn check(event: &Event) {
    match event {
        Event::Message(message) => {
            assert!(message.len() <= MAX_MESSAGE);
            if let Some(text) = message.as_text() {
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            }
        }
        Event::Ping(payload) | Event::Pong(payload) => {
            assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        }
        Event::Close(Some(frame)) => assert!(frame.code.is_valid_on_wire(), "{frame:?}"),
        Event::Close(None) => {}
        // No extension is negotiated here, so the decoder has no other events.
        _ => {}
    }
}
