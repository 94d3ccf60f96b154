//! permessage-deflate inflation of arbitrary data with a bounded output, and compression
//! round trips of arbitrary messages.
//!
//! Input: byte 0 picks the parameters; the rest is split at each 0xFF byte into messages.
//! Each is inflated as if received (in two pieces, as two fragments would arrive): the output
//! must never pass the limit nor its buffer grow beyond limit + 1 bytes. Then each is compressed
//! and inflated back, which must give the message again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::deflate::{negotiate, DeflateConfig, Deflater, Inflater};
use mywebsocket_proto::{ProtocolError, Role};

const LIMIT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let offer = match flags & 3 {
        0 => "permessage-deflate",
        1 => "permessage-deflate; server_no_context_takeover",
        2 => "permessage-deflate; server_max_window_bits=9",
        _ => "permessage-deflate; server_max_window_bits=8; server_no_context_takeover",
    };
    let mut params = negotiate([offer], &DeflateConfig::default())
        .expect("valid offer")
        .params;
    params.level = u32::from(flags >> 4) % 10;
    let messages: Vec<&[u8]> = rest.split(|&b| b == 0xFF).collect();

    let mut rx = Inflater::new(&params, Role::Client);
    for message in &messages {
        let mut out = Vec::new();
        let (a, b) = message.split_at(message.len() / 2);
        let result = rx
            .inflate(a, &mut out, LIMIT)
            .and_then(|()| rx.inflate(b, &mut out, LIMIT))
            .and_then(|()| rx.finish_message(&mut out, LIMIT));
        assert!(out.capacity() <= LIMIT + 1, "capacity {}", out.capacity());
        match result {
            Ok(()) => assert!(out.len() <= LIMIT),
            Err(ProtocolError::InvalidCompressedData | ProtocolError::MessageTooBig { .. }) => {
                break
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    let mut tx = Deflater::new(&params, Role::Server);
    let mut rx = Inflater::new(&params, Role::Client);
    for message in &messages {
        let compressed = tx.compress(message);
        let mut out = Vec::new();
        for piece in compressed.chunks(5) {
            rx.inflate(piece, &mut out, usize::MAX - 1)
                .expect("our own output inflates");
        }
        rx.finish_message(&mut out, usize::MAX - 1)
            .expect("our own output ends cleanly");
        assert_eq!(out, *message);
    }
});
