//! zlib streams shared by the connections of a thread.
//!
//! A zlib stream is big (about 260 KiB to compress, 40 KiB to decompress, at 15 window bits)
//! and a connection needs one only while it compresses or decompresses a message; what must
//! survive between messages is the window ([`super::history::History`]). So each thread keeps
//! a few streams and lends them out for one message at a time, as uWebSockets' shared
//! compressor does, but without giving up context takeover: a borrower restores its context
//! from its history as a preset dictionary.
//!
//! A compressor also remembers whose context it holds, and after which of its messages: when
//! the same connection compresses its next message on the same thread before anyone else used
//! the stream (one busy connection per thread, the common case under load), it continues the
//! stream as is and skips the reset and the dictionary. The message count matters: a
//! connection whose previous message went out on another thread must not continue this
//! thread's older copy of its context.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress};

/// Compressors kept per thread, the least recently used dropped first: enough for every
/// window a peer may ask for (9 to 15 bits; 8 is compressed as 9) at one level.
const MAX_COMPRESSORS: usize = 8;

/// Idle decompressors kept per thread. A message received in several reads holds its own
/// until it is complete, so a few may be out at once; beyond this they are freed.
const MAX_DECOMPRESSORS: usize = 4;

/// The window every pooled decompressor is made with: the largest, so it reads what a peer
/// compressed with any window.
const DECOMPRESS_BITS: u8 = 15;

struct SharedCompressor {
    bits: u8,
    level: u32,
    stream: Compress,
    /// The compressor whose context `stream` still holds, and how many messages it had sent
    /// once this context was complete.
    owner: Option<Mark>,
    /// `stream` was used since it was last reset.
    dirty: bool,
}

thread_local! {
    static COMPRESSORS: RefCell<Vec<SharedCompressor>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<Decompress>> = const { RefCell::new(Vec::new()) };
}

/// A compressor's context at a point in its stream: its id, and how many messages it has sent.
pub(super) type Mark = (u64, u64);

/// Runs `f` with this thread's compressor for `bits` and `level`, and whether the stream
/// still holds the context `at` (`true`: continue it; `false`: it was reset, and `f` restores
/// the context itself). `f` returns whether the stream then holds the context that follows
/// (`at` one message later), worth continuing.
pub(super) fn with_compressor<R>(
    bits: u8,
    level: u32,
    at: Mark,
    f: impl FnOnce(&mut Compress, bool) -> (R, bool),
) -> R {
    let mut f = Some(f);
    let pooled = COMPRESSORS.try_with(|cell| {
        let Ok(mut pool) = cell.try_borrow_mut() else {
            return None;
        };
        let index = match pool.iter().position(|c| c.bits == bits && c.level == level) {
            Some(index) => index,
            None => {
                if pool.len() == MAX_COMPRESSORS {
                    pool.remove(0);
                }
                pool.push(SharedCompressor {
                    bits,
                    level,
                    stream: new_compressor(bits, level),
                    owner: None,
                    dirty: false,
                });
                pool.len() - 1
            }
        };
        // Most recently used last, so eviction takes the least recently used.
        let used = pool.remove(index);
        pool.push(used);
        let entry = pool.last_mut().expect("just pushed");
        let continues = entry.owner == Some(at);
        if !continues && entry.dirty {
            entry.stream.reset();
        }
        entry.owner = None;
        entry.dirty = true;
        let f = f.take().expect("called once");
        let (result, keep) = f(&mut entry.stream, continues);
        if keep {
            entry.owner = Some((at.0, at.1 + 1));
        }
        Some(result)
    });
    match pooled {
        Ok(Some(result)) => result,
        // The thread is exiting (its pool is gone) or a compression is already running on
        // this thread: use a stream of our own for this message.
        _ => {
            let f = f.take().expect("not called yet");
            f(&mut new_compressor(bits, level), false).0
        }
    }
}

fn new_compressor(bits: u8, level: u32) -> Compress {
    Compress::new_with_window_bits(Compression::new(level), false, bits)
}

/// A decompressor for one message, reset: this thread's spare one, or a new one.
pub(super) fn take_decompressor() -> Decompress {
    DECOMPRESSORS
        .try_with(|cell| cell.try_borrow_mut().ok().and_then(|mut pool| pool.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Decompress::new_with_window_bits(false, DECOMPRESS_BITS))
}

/// Returns a decompressor after its message, for the next message on this thread.
pub(super) fn give_back_decompressor(mut stream: Decompress) {
    stream.reset(false);
    let _ = DECOMPRESSORS.try_with(|cell| {
        if let Ok(mut pool) = cell.try_borrow_mut() {
            if pool.len() < MAX_DECOMPRESSORS {
                pool.push(stream);
            }
        }
    });
}
