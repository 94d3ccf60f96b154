//! Compressing and decompressing message payloads (RFC 7692 §7.2).

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::DeflateParams;
use crate::error::ProtocolError;
use crate::role::Role;

/// The empty stored block that ends a sync flush: stripped from every compressed message and
/// put back before decompressing it (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// A whole empty, non-final stored block: header bits and padding, then LEN 0 and NLEN.
const EMPTY_STORED_BLOCK: [u8; 5] = [0x00, 0x00, 0x00, 0xFF, 0xFF];

/// The same block with BFINAL set: it ends the stream.
const FINAL_EMPTY_STORED_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xFF, 0xFF];

/// zlib cannot compress with a 256-byte window: 8 bits becomes 9. That stays compatible with a
/// peer that agreed on 8, because zlib never emits a distance beyond `window - 262` bytes (250
/// with 9 bits), which fits in 256.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Compresses the messages one end sends, keeping the LZ77 window between messages unless the
/// parameters forbid it ("context takeover").
pub struct Deflater {
    inner: Compress,
    reset_after_message: bool,
    threshold: usize,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_after_message", &self.reset_after_message)
            .field("threshold", &self.threshold)
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
        Self {
            inner: Compress::new_with_window_bits(
                Compression::new(params.level),
                false,
                zlib_bits(bits),
            ),
            reset_after_message: reset,
            threshold: params.threshold,
        }
    }

    /// Whether a message of `len` bytes is worth compressing.
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses one whole message; the result goes in frames whose first has RSV1 set.
    pub fn compress(&mut self, input: &[u8]) -> Bytes {
        let mut out: Vec<u8> = Vec::with_capacity(input.len() / 2 + 64);
        let start = self.inner.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let consumed = (self.inner.total_in() - start) as usize;
            // Fails only on a misused stream, which this type never allows; data cannot make
            // deflate fail.
            self.inner
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate state is valid");
            let consumed = (self.inner.total_in() - start) as usize;
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
        if self.reset_after_message {
            self.inner.reset();
        }
        Bytes::from(out)
    }
}

/// Decompresses the messages one end receives, with the output bounded by the message limit
/// so that a small "bomb" cannot make us allocate more than the limit.
pub struct Inflater {
    inner: Decompress,
    reset_after_message: bool,
    /// The current message's data ended with a final block (BFINAL, allowed by RFC 7692
    /// §7.2.3.4): the rest of the message, tail included, is not part of the stream.
    stream_ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_after_message", &self.reset_after_message)
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
        Self {
            inner: Decompress::new_with_window_bits(false, zlib_bits(bits)),
            reset_after_message: reset,
            stream_ended: false,
        }
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
        let start = self.inner.total_in();
        loop {
            if out.len() == out.capacity() {
                // Grow by doubling, but never past one byte over the limit: that byte is how
                // we learn the limit was crossed.
                let want = out.capacity().max(4096).min(limit + 1 - out.len());
                out.reserve_exact(want);
            }
            let (in_before, out_before) = (self.inner.total_in(), out.len());
            let consumed = (in_before - start) as usize;
            let status = self
                .inner
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            if out.len() > limit {
                return Err(ProtocolError::MessageTooBig {
                    size: out.len() as u64,
                    limit,
                });
            }
            if status == Status::StreamEnd {
                // A final block ends the stream; the next message starts a new one.
                self.inner.reset(false);
                self.stream_ended = true;
                return Ok(());
            }
            let consumed = (self.inner.total_in() - start) as usize;
            // zlib stops when the input is used up or the output is full.
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if self.inner.total_in() == in_before && out.len() == out_before {
                // No progress with room to spare: with input left that is a stream zlib cannot
                // continue; without, the output simply ended on the buffer's edge.
                return if consumed == input.len() {
                    Ok(())
                } else {
                    Err(ProtocolError::InvalidCompressedData)
                };
            }
        }
    }

    /// Ends a compressed message: feeds the stripped sync-flush tail, checks that the message
    /// ended on a block boundary, then resets the context if the parameters say so.
    ///
    /// # Errors
    /// As [`Inflater::inflate`]; [`ProtocolError::InvalidCompressedData`] also for a message
    /// cut short inside a block, which would otherwise inflate to wrong bytes. Without context
    /// takeover every cut is caught. With it, a cut inside a dynamic block's header can
    /// rarely pass unnoticed (zlib does not tell where in the stream it is, and ending the
    /// stream to find out would lose the window); the next message then fails instead.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let result = self.finish_stream(out, limit);
        if self.reset_after_message && !self.stream_ended {
            self.inner.reset(false);
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
            // Only at a block boundary is a following empty stored block a no-op.
            if self.reset_after_message {
                // The context is dropped anyway, so end the stream: reaching its end proves
                // the boundary.
                self.inflate(&FINAL_EMPTY_STORED_BLOCK, out, limit)?;
                if !self.stream_ended {
                    return Err(ProtocolError::InvalidCompressedData);
                }
            } else {
                // The window must survive, so the stream cannot end; anywhere but at a
                // boundary this block is almost always decoded as data or fails.
                self.inflate(&EMPTY_STORED_BLOCK, out, limit)?;
            }
        }
        if out.len() == before {
            Ok(())
        } else {
            Err(ProtocolError::InvalidCompressedData)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{negotiate, DeflateConfig};

    fn params(offer: &str) -> DeflateParams {
        negotiate([offer], &DeflateConfig::default()).unwrap().0
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
    fn a_final_block_ends_the_message_and_the_next_starts_afresh() {
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
