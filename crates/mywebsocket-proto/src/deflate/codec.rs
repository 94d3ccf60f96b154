//! Compressing and decompressing message payloads (RFC 7692 §7.2).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::history::History;
use super::{pool, DeflateParams};
use crate::error::ProtocolError;
use crate::role::Role;

/// The empty stored block that ends a sync flush: stripped from every compressed message and
/// put back before decompressing it (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// An empty final stored block (header bits with BFINAL, padding, LEN 0 and NLEN): it ends
/// the stream, and only at a block boundary does it do so without output.
const FINAL_EMPTY_STORED_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xFF, 0xFF];

/// zlib cannot compress with a 256-byte window: 8 bits becomes 9. That stays compatible with a
/// peer that agreed on 8, because zlib never emits a distance beyond `window - 262` bytes (250
/// with 9 bits), which fits in 256.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Gives each compressor its own key in the thread's pool of streams.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Compresses the messages one end sends, keeping what later messages may refer back to
/// between messages unless the parameters forbid it ("context takeover").
///
/// It holds no zlib stream of its own: it borrows its thread's for the length of one message
/// (see the `pool` module) and keeps only the last [`DeflateConfig::retained_window`] bytes it
/// sent, so an idle connection costs no more than those bytes.
///
/// [`DeflateConfig::retained_window`]: super::DeflateConfig::retained_window
pub struct Deflater {
    bits: u8,
    level: u32,
    reset_after_message: bool,
    threshold: usize,
    history: History,
    id: u64,
    /// Messages compressed so far: with `id`, names the context the peer now has.
    sent: u64,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("bits", &self.bits)
            .field("reset_after_message", &self.reset_after_message)
            .field("threshold", &self.threshold)
            .field("retained", &self.history.as_slice().len())
            .finish()
    }
}

impl Deflater {
    /// The compressor for the end `role` under `params`.
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let (bits, reset) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
        };
        let bits = zlib_bits(bits);
        let retained = if reset {
            0
        } else {
            params.retained_window.min(1 << bits)
        };
        Self {
            bits,
            level: params.level,
            reset_after_message: reset,
            threshold: params.threshold,
            history: History::new(retained),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sent: 0,
        }
    }

    /// Whether a message of `len` bytes is worth compressing.
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses one whole message; the result goes in frames whose first has RSV1 set.
    pub fn compress(&mut self, input: &[u8]) -> Bytes {
        let history = &self.history;
        let takeover = !self.reset_after_message;
        let at = (self.id, self.sent);
        let out = pool::with_compressor(self.bits, self.level, at, |stream, continues| {
            if !continues && !history.as_slice().is_empty() {
                // Fails only on a stream that already has input, which a reset one has not.
                stream
                    .set_dictionary(history.as_slice())
                    .expect("a reset deflate stream takes a dictionary");
            }
            (compress_message(stream, input), takeover)
        });
        self.history.remember(input);
        self.sent += 1;
        out
    }
}

/// Compresses `input` as one message on `stream`: a sync flush ends it on a byte boundary,
/// and the flush's empty stored block is stripped (RFC 7692 §7.2.1).
fn compress_message(stream: &mut Compress, input: &[u8]) -> Bytes {
    let mut out: Vec<u8> = Vec::with_capacity((input.len() / 2 + 64).min(MAX_FIRST_OUTPUT));
    let start = stream.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let consumed = (stream.total_in() - start) as usize;
        // Fails only on a misused stream, which this type never allows; data cannot make
        // deflate fail.
        stream
            .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate state is valid");
        let consumed = (stream.total_in() - start) as usize;
        // zlib stops when the output is full or the flush is done.
        if consumed == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    if out.is_empty() {
        // zlib emits nothing for an empty message right after a flush; a lone empty
        // stored-block header is what the receiver needs before the tail it adds back
        // (RFC 7692 §7.2.3.6).
        out.push(0x00);
    }
    if out.capacity() - out.len() > out.len() / 4 + 64 {
        // The frame is charged its wire size against the write budget while queued: spare
        // capacity would be memory held beyond it (a megabyte of zeros compresses to about a
        // kilobyte).
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

/// The most output room reserved before compressing; it grows as needed beyond.
const MAX_FIRST_OUTPUT: usize = 64 << 10;

/// Decompresses the messages one end receives, with the output bounded by the message limit
/// so that a small "bomb" cannot make us allocate more than the limit.
///
/// Like [`Deflater`], it borrows a zlib stream from its thread only while a message is
/// arriving, and between messages keeps just the window the peer may still refer to (the last
/// `2^window_bits` bytes received, with context takeover).
pub struct Inflater {
    /// The stream of the message being received; `None` between messages.
    live: Option<Decompress>,
    /// The current message's data ended with a final block (BFINAL, allowed by RFC 7692
    /// §7.2.3.4): the rest of the message, tail included, is not part of the stream.
    stream_ended: bool,
    /// Where the current message's output starts in the caller's buffer.
    message_start: Option<usize>,
    history: History,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("in_message", &self.live.is_some())
            .field("retained", &self.history.as_slice().len())
            .finish()
    }
}

impl Inflater {
    /// The decompressor for the end `role` under `params` (it reads what the peer compressed).
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let (bits, reset) = match role {
            Role::Server => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        // The peer may refer back as far as its window reaches, so all of it is kept.
        let retained = if reset { 0 } else { 1 << zlib_bits(bits) };
        Self {
            live: None,
            stream_ended: false,
            message_start: None,
            history: History::new(retained),
        }
    }

    /// The stream for the current message, borrowed and given the context on first use.
    fn stream(&mut self, out_len: usize) -> Result<&mut Decompress, ProtocolError> {
        if self.live.is_none() {
            let mut stream = pool::take_decompressor();
            if !self.history.as_slice().is_empty() {
                stream
                    .set_dictionary(self.history.as_slice())
                    .map_err(|_| ProtocolError::InvalidCompressedData)?;
            }
            self.live = Some(stream);
        }
        self.message_start.get_or_insert(out_len);
        Ok(self.live.as_mut().expect("just set"))
    }

    /// Decompresses the next piece of a compressed message, appending to `out`.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooBig`] the moment `out` would pass `limit` bytes (nothing more
    /// is decompressed), [`ProtocolError::InvalidCompressedData`] for a corrupt stream.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if self.stream_ended {
            return Ok(());
        }
        let stream = self.stream(out.len())?;
        self.stream_ended = inflate_into(stream, input, out, limit)?;
        Ok(())
    }

    /// Ends a compressed message: feeds the stripped sync-flush tail, checks that the message
    /// ended on a block boundary, keeps the window the next message may refer to (with context
    /// takeover) and gives the zlib stream back.
    ///
    /// # Errors
    /// As [`Inflater::inflate`]; [`ProtocolError::InvalidCompressedData`] also for a message
    /// cut short inside a block, which would otherwise inflate to wrong bytes.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let result = self.finish_stream(out, limit);
        let start = self.message_start.take().unwrap_or(out.len());
        if let Some(stream) = self.live.take() {
            pool::give_back_decompressor(stream);
        }
        if result.is_ok() {
            self.history.remember(&out[start..]);
        }
        self.stream_ended = false;
        result
    }

    fn finish_stream(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let before = out.len();
        // A whole message leaves the stream waiting for the LEN/NLEN of the empty stored block
        // the sender's flush began (RFC 7692 §7.2.1); the tail completes that block and so
        // yields nothing. A message cut short inside a block instead decodes the tail as data.
        self.inflate(&TAIL, out, limit)?;
        if !self.stream_ended && out.len() == before {
            // The tail can also vanish into a cut block's unfinished code or block header.
            // Only at a block boundary does a final empty stored block end the stream without
            // output, and ending it costs nothing: the window the next message needs is kept
            // apart, in `history`.
            self.inflate(&FINAL_EMPTY_STORED_BLOCK, out, limit)?;
            if !self.stream_ended {
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
        if out.len() == before {
            Ok(())
        } else {
            Err(ProtocolError::InvalidCompressedData)
        }
    }
}

/// Inflates `input` on `stream`, appending to `out` but never past `limit` bytes (plus the
/// one that shows the limit was crossed). Returns whether the stream ended (a final block).
fn inflate_into(
    stream: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, ProtocolError> {
    let start = stream.total_in();
    loop {
        if out.len() == out.capacity() {
            // Grow by doubling, but never past one byte over the limit: that byte is how
            // we learn the limit was crossed.
            let want = out.capacity().max(4096).min(limit + 1 - out.len());
            out.reserve_exact(want);
        }
        let (in_before, out_before) = (stream.total_in(), out.len());
        let consumed = (in_before - start) as usize;
        let status = stream
            .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        if out.len() > limit {
            return Err(ProtocolError::MessageTooBig {
                size: out.len() as u64,
                limit,
            });
        }
        if status == Status::StreamEnd {
            // A final block ends the stream: the rest of the message is not part of it.
            return Ok(true);
        }
        let consumed = (stream.total_in() - start) as usize;
        // zlib stops when the input is used up or the output is full.
        if consumed == input.len() && out.len() < out.capacity() {
            return Ok(false);
        }
        if stream.total_in() == in_before && out.len() == out_before {
            // No progress with room to spare: with input left that is a stream zlib cannot
            // continue; without, the output simply ended on the buffer's edge.
            return if consumed == input.len() {
                Ok(false)
            } else {
                Err(ProtocolError::InvalidCompressedData)
            };
        }
    }
}

#[cfg(test)]
mod tests {
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
        let text =
            br#"{"user":"ada","msg":"hello hello hello","n":[1,2,3,4,5,6,7,8,9]}"#.repeat(50);
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
            format!(r#"{{"from":"user-{who}","text":"message number {n} from {who}","room":"lobby-{who}"}}"#)
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
}
