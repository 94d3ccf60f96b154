//! The part of a compression context that outlives a message: the bytes the next message may
//! refer back to.
//!
//! With context takeover (RFC 7692 §7.1.1) a message may copy from the last `2^window_bits`
//! bytes of the messages before it, and that window is all the state that has to survive
//! between messages: a fresh zlib stream given those bytes as a preset dictionary can refer
//! back to them as the old stream could. (A sender may keep fewer bytes than its window; its
//! output then differs from a continued stream's, but the peer decodes it all the same.) Keeping the window as plain bytes, rather than keeping a
//! zlib stream (about 260 KiB to compress, 40 KiB to decompress at 15 bits), is what lets an
//! idle compressing connection cost only the bytes it has actually seen.

/// The most recent bytes of a stream, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    bytes: Vec<u8>,
    limit: usize,
}

impl History {
    /// Keeps up to `limit` bytes; 0 keeps nothing.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// The bytes kept, oldest first.
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends `data`, dropping the oldest bytes beyond the limit.
    pub(super) fn remember(&mut self, data: &[u8]) {
        let limit = self.limit;
        if limit == 0 || data.is_empty() {
            return;
        }
        if data.len() >= limit {
            self.bytes.clear();
            self.reserve_for(limit);
            self.bytes.extend_from_slice(&data[data.len() - limit..]);
            return;
        }
        let total = self.bytes.len() + data.len();
        if total > limit {
            self.bytes.drain(..total - limit);
        }
        self.reserve_for(self.bytes.len() + data.len());
        self.bytes.extend_from_slice(data);
    }

    /// Grows the buffer to hold `needed` bytes: doubling, so that many small messages do not
    /// reallocate each time, but never past the limit, which is what an idle connection costs.
    fn reserve_for(&mut self, needed: usize) {
        if needed > self.bytes.capacity() {
            let target = needed.max(self.bytes.capacity() * 2).min(self.limit);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_bytes_up_to_the_limit() {
        let mut h = History::new(8);
        h.remember(b"abc");
        assert_eq!(h.as_slice(), b"abc");
        h.remember(b"defgh");
        assert_eq!(h.as_slice(), b"abcdefgh");
        h.remember(b"ij");
        assert_eq!(h.as_slice(), b"cdefghij");
        h.remember(b"0123456789");
        assert_eq!(h.as_slice(), b"23456789");
        h.remember(b"");
        assert_eq!(h.as_slice(), b"23456789");
    }

    #[test]
    fn never_holds_more_memory_than_the_limit() {
        let mut h = History::new(4096);
        for i in 0..1000u32 {
            h.remember(&i.to_le_bytes().repeat(usize::try_from(i % 50).unwrap()));
            assert!(
                h.bytes.capacity() <= 4096,
                "capacity {}",
                h.bytes.capacity()
            );
        }
        assert_eq!(h.as_slice().len(), 4096);
    }

    #[test]
    fn a_zero_limit_keeps_nothing() {
        let mut h = History::new(0);
        h.remember(b"abc");
        assert!(h.as_slice().is_empty());
        assert_eq!(h.bytes.capacity(), 0);
    }
}
