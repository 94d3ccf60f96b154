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
mod tests;
