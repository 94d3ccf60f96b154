//! Round trips, context takeover, limits and bad input for the deflate codec.

use super::*;
use crate::deflate::{negotiate, DeflateConfig};

fn params(offer: &str) -> DeflateParams {
    negotiate([offer], &DeflateConfig::default())
        .unwrap()
        .params
}

fn round_trip(params: &DeflateParams, messages: &[Vec<u8>]) {
    let mut tx = Deflater::new(params, Role::Server);
    let mut rx = Inflater::new(params, Role::Client);
    for message in messages {
        let compressed = tx.compress(message);
        let mut out = Vec::new();
        // Feed it in uneven pieces, as fragments would arrive.
        for (i, piece) in compressed.chunks(7).enumerate() {
            rx.inflate(piece, &mut out, usize::MAX - 1)
                .unwrap_or_else(|e| {
                    panic!("{params:?} message len {} piece {i}: {e}", message.len())
                });
        }
        rx.finish_message(&mut out, usize::MAX - 1).unwrap();
        assert_eq!(&out, message);
    }
}

#[test]
fn round_trips_every_parameter_combination() {
    let text = br#"{"user":"ada","msg":"hello hello hello","n":[1,2,3,4,5,6,7,8,9]}"#.repeat(50);
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let messages = vec![
        text.clone(),
        Vec::new(),
        noise,
        text.clone(),
        b"x".to_vec(),
        text,
    ];
    for offer in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=9; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=12",
        "permessage-deflate; client_max_window_bits=8",
    ] {
        round_trip(&params(offer), &messages);
    }
}

/// Connections on one thread share its zlib streams: whatever the interleaving, each
/// keeps its own context, and a repeat still refers back to its own earlier message.
#[test]
fn interleaved_connections_on_one_thread_keep_their_own_context() {
    let p = params("permessage-deflate");
    let mut ends: Vec<(Deflater, Inflater)> = (0..3)
        .map(|_| {
            (
                Deflater::new(&p, Role::Server),
                Inflater::new(&p, Role::Client),
            )
        })
        .collect();
    let message = |who: usize, n: usize| -> Vec<u8> {
        format!(
            r#"{{"from":"user-{who}","text":"message number {n} from {who}","room":"lobby-{who}"}}"#
        )
        .repeat(1 + who)
        .into_bytes()
    };
    // Every order of use: the same one twice in a row (the stream continues), then others
    // in between (it is restored from the history).
    let order = [0, 0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 2, 0];
    let mut seen = [0usize; 3];
    for &who in &order {
        let text = message(who, seen[who]);
        let (tx, rx) = &mut ends[who];
        let compressed = tx.compress(&text);
        if seen[who] > 0 {
            assert!(
                compressed.len() < text.len() / 4,
                "connection {who}'s message {} did not refer back: {} of {} bytes",
                seen[who],
                compressed.len(),
                text.len()
            );
        }
        let mut out = Vec::new();
        rx.inflate(&compressed, &mut out, usize::MAX - 1).unwrap();
        rx.finish_message(&mut out, usize::MAX - 1).unwrap();
        assert_eq!(out, text, "connection {who}, message {}", seen[who]);
        seen[who] += 1;
    }
}

/// A connection's messages may be compressed on different threads (a multi-thread
/// runtime moves tasks): a thread's stream that still holds an older copy of the
/// connection's context must not be continued.
#[test]
fn a_context_left_on_another_thread_is_not_continued() {
    use std::sync::mpsc;
    let p = params("permessage-deflate");
    // Noise that does not repeat within a message: the third message is the first again,
    // so it is all a reference one message back, which is the second on the peer's side
    // if thread A continued its stale copy of the context.
    let noise = |seed: u32| -> Vec<u8> {
        (0..2000u32)
            .map(|i| ((i + seed * 7919).wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    };
    let messages = [noise(1), noise(2), noise(1)];
    // Thread A lives through the test; B is another thread in between.
    let (to_a, a_in) = mpsc::channel::<(Deflater, Vec<u8>)>();
    let (a_out, from_a) = mpsc::channel::<(Deflater, Bytes)>();
    let a = std::thread::spawn(move || {
        for (mut tx, message) in a_in {
            let out = tx.compress(&message);
            a_out.send((tx, out)).unwrap();
        }
    });
    let mut wire = Vec::new();
    to_a.send((Deflater::new(&p, Role::Server), messages[0].clone()))
        .unwrap();
    let (tx, out) = from_a.recv().unwrap();
    wire.push(out);
    let message = messages[1].clone();
    let (tx, out) = std::thread::spawn(move || {
        let mut tx = tx;
        let out = tx.compress(&message);
        (tx, out)
    })
    .join()
    .unwrap();
    wire.push(out);
    to_a.send((tx, messages[2].clone())).unwrap();
    wire.push(from_a.recv().unwrap().1);
    drop(to_a);
    a.join().unwrap();
    let mut rx = Inflater::new(&p, Role::Client);
    for (compressed, message) in wire.iter().zip(&messages) {
        let mut out = Vec::new();
        rx.inflate(compressed, &mut out, usize::MAX - 1).unwrap();
        rx.finish_message(&mut out, usize::MAX - 1).unwrap();
        assert_eq!(&out, message);
    }
}

/// A message that compresses very well is not left holding the room reserved for a poor
/// ratio: the frame is charged its wire size while it waits in the write queue.
#[test]
fn compressed_output_is_right_sized() {
    let mut tx = Deflater::new(&params("permessage-deflate"), Role::Server);
    let out = tx.compress(&vec![0u8; 1 << 20]);
    let out = Vec::from(out);
    assert!(
        out.capacity() <= out.len() + out.len() / 4 + 64,
        "{} bytes in a buffer of {}",
        out.len(),
        out.capacity()
    );
}

/// Between messages nothing but the window is held: no zlib stream.
#[test]
fn between_messages_only_the_window_is_kept() {
    let p = params("permessage-deflate; client_max_window_bits=10");
    let mut tx = Deflater::new(&p, Role::Client);
    let mut rx = Inflater::new(&p, Role::Server);
    let text = br#"{"user":"ada","msg":"hello"}"#.repeat(100);
    for _ in 0..3 {
        let compressed = tx.compress(&text);
        let mut out = Vec::new();
        // Split in two, as two frames: the stream is held across them.
        let (a, b) = compressed.split_at(compressed.len() / 2);
        rx.inflate(a, &mut out, usize::MAX - 1).unwrap();
        assert!(rx.live.is_some(), "mid-message the stream is held");
        rx.inflate(b, &mut out, usize::MAX - 1).unwrap();
        rx.finish_message(&mut out, usize::MAX - 1).unwrap();
        assert_eq!(out, text);
        assert!(rx.live.is_none(), "the stream went back to the pool");
        assert_eq!(rx.history.as_slice(), &text[text.len() - 1024..]);
        assert_eq!(
            tx.history.as_slice().len(),
            1024,
            "capped by the 10-bit window"
        );
    }
    let reset = params("permessage-deflate; server_no_context_takeover");
    let mut tx = Deflater::new(&reset, Role::Server);
    tx.compress(&text);
    assert!(tx.history.as_slice().is_empty());
}

#[test]
fn rfc_7692_sample_hello() {
    // RFC 7692 §7.2.3.1: "Hello" compressed without context takeover.
    let p = params("permessage-deflate; server_no_context_takeover");
    let mut rx = Inflater::new(&p, Role::Client);
    let mut out = Vec::new();
    rx.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
        .unwrap();
    rx.finish_message(&mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
}

#[test]
fn a_final_block_ends_the_message_and_the_next_still_decodes() {
    // RFC 7692 §7.2.3.4: "Hello" ending with BFINAL, twice, with context takeover.
    let mut rx = Inflater::new(&params("permessage-deflate"), Role::Client);
    for _ in 0..2 {
        let mut out = Vec::new();
        rx.inflate(
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            &mut out,
            100,
        )
        .unwrap();
        rx.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }
}

#[test]
fn empty_message_compresses_to_a_single_zero_byte() {
    let mut tx = Deflater::new(&params("permessage-deflate"), Role::Server);
    assert_eq!(&tx.compress(b"")[..], &[0x00]);
}

#[test]
fn context_takeover_makes_repeats_smaller() {
    let message = b"the quick brown fox jumps over the lazy dog, again and again".to_vec();
    let mut keep = Deflater::new(&params("permessage-deflate"), Role::Server);
    let mut reset = Deflater::new(
        &params("permessage-deflate; server_no_context_takeover"),
        Role::Server,
    );
    keep.compress(&message);
    reset.compress(&message);
    assert!(keep.compress(&message).len() < reset.compress(&message).len());
}

#[test]
fn bomb_stops_at_the_limit_without_growing_past_it() {
    let mut strongest = params("permessage-deflate");
    strongest.level = 9;
    let mut tx = Deflater::new(&strongest, Role::Server);
    let bomb = tx.compress(&vec![0u8; 10 << 20]);
    assert!(
        bomb.len() < 16 << 10,
        "10 MiB of zeros is a few KiB compressed"
    );
    let mut rx = Inflater::new(&params("permessage-deflate"), Role::Client);
    let mut out = Vec::new();
    let limit = 1 << 20;
    let err = rx.inflate(&bomb, &mut out, limit).unwrap_err();
    assert!(matches!(err, ProtocolError::MessageTooBig { .. }));
    assert!(
        out.capacity() <= limit + 1,
        "capacity {} over the limit",
        out.capacity()
    );
}

#[test]
fn corrupt_data_is_an_error() {
    let mut rx = Inflater::new(&params("permessage-deflate"), Role::Client);
    let mut out = Vec::new();
    let err = rx
        .inflate(&[0xff, 0xff, 0xff, 0xff, 0xff], &mut out, 1000)
        .unwrap_err();
    assert_eq!(err, ProtocolError::InvalidCompressedData);
}

/// Every proper prefix of a compressed message must fail: found by the `deflate` fuzz
/// target's first seeds, where many cuts used to inflate to wrong bytes without an error.
#[test]
fn a_message_cut_short_is_an_error_not_wrong_bytes() {
    let noise: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
    let messages = [
        b"Hello hello hello world, hello!".to_vec(),
        noise,
        vec![b'a'; 1000],
        br#"{"user":"ada","msg":"hi"}"#.repeat(40),
    ];
    for offer in [
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate",
    ] {
        let p = params(offer);
        for message in &messages {
            let mut tx = Deflater::new(&p, Role::Server);
            // With context takeover, cut the second message, which refers back to the first.
            tx.compress(message);
            let whole = tx.compress(message);
            for cut in 0..whole.len() {
                let mut rx = Inflater::new(&p, Role::Client);
                let mut out = Vec::new();
                if !p.server_no_context_takeover {
                    rx.inflate(
                        &Deflater::new(&p, Role::Server).compress(message),
                        &mut out,
                        usize::MAX - 1,
                    )
                    .unwrap();
                    rx.finish_message(&mut out, usize::MAX - 1).unwrap();
                    out.clear();
                }
                let result = rx
                    .inflate(&whole[..cut], &mut out, usize::MAX - 1)
                    .and_then(|()| rx.finish_message(&mut out, usize::MAX - 1));
                assert_eq!(
                    result,
                    Err(ProtocolError::InvalidCompressedData),
                    "{offer}: {} bytes cut at {cut} of {} inflated to {} bytes",
                    message.len(),
                    whole.len(),
                    out.len()
                );
            }
        }
    }
}
