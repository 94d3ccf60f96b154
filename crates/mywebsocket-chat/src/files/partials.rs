//! Partial uploads kept for a resume (docs/file-transfer.md §6 and its appendix on the chat):
//! an upload cut off by a lost connection keeps its part file for a while, so the same offer
//! (same id and SHA-256) on a new connection continues where the bytes on disk end.
//!
//! Each upload reserves its whole size against the node's budget for files from its offer
//! until its file is stored, fails, or its part file expires, so partial files and stored
//! files together stay within `--files-total-bytes` however many uploads are cut off.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mywebsocket_files::TransferId;

/// A partial upload is named by its transfer id and the SHA-256 its offer announced, as its
/// part file is.
pub(crate) type PartKey = (TransferId, [u8; 32]);

/// One partial upload.
#[derive(Debug)]
struct Partial {
    /// The offered size, reserved in full.
    size: u64,
    /// Connections whose transfer of it has not ended.
    active: u32,
    /// When the last of them ended with the part file kept.
    idle_since: Option<Instant>,
}

/// The partial uploads of a node.
#[derive(Debug)]
pub(crate) struct Partials {
    /// How long a part file nobody is writing is kept.
    ttl: Duration,
    by_key: HashMap<PartKey, Partial>,
    reserved: u64,
}

impl Partials {
    /// Part files nobody writes are kept for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_key: HashMap::new(),
            reserved: 0,
        }
    }

    /// Bytes reserved by every partial upload.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved
    }

    /// A connection continues the partial upload `key`, if there is one (`false` otherwise).
    pub(crate) fn resume(&mut self, key: PartKey) -> bool {
        let Some(partial) = self.by_key.get_mut(&key) else {
            return false;
        };
        partial.active += 1;
        partial.idle_since = None;
        true
    }

    /// A connection starts the new upload `key` of `size` bytes (the caller checked the room).
    pub(crate) fn begin(&mut self, key: PartKey, size: u64) {
        self.by_key.insert(
            key,
            Partial {
                size,
                active: 1,
                idle_since: None,
            },
        );
        self.reserved += size;
    }

    /// A connection's transfer of `key` ended. `kept`: its part file stays (the connection
    /// was lost, or another connection holds the file); otherwise the file is gone (stored
    /// or deleted) and the reservation goes with the last connection.
    pub(crate) fn end(&mut self, key: PartKey, kept: bool, now: Instant) {
        let Some(partial) = self.by_key.get_mut(&key) else {
            return;
        };
        partial.active = partial.active.saturating_sub(1);
        if partial.active > 0 {
            return;
        }
        if kept {
            partial.idle_since = Some(now);
        } else {
            self.reserved -= partial.size;
            self.by_key.remove(&key);
        }
    }

    /// Forgets the partial uploads nobody has written for the time to live as of `now`, and
    /// returns them: their part files are the caller's to delete.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<PartKey> {
        let ttl = self.ttl;
        let expired: Vec<PartKey> = self
            .by_key
            .iter()
            .filter(|(_, p)| p.idle_since.is_some_and(|t| now.duration_since(t) >= ttl))
            .map(|(key, _)| *key)
            .collect();
        for key in &expired {
            if let Some(partial) = self.by_key.remove(key) {
                self.reserved -= partial.size;
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PartKey {
        (TransferId([n; 16]), [n; 32])
    }

    #[test]
    fn a_cut_upload_stays_reserved_until_it_expires() {
        let ttl = Duration::from_secs(600);
        let mut partials = Partials::new(ttl);
        let t0 = Instant::now();
        partials.begin(key(1), 100);
        partials.end(key(1), true, t0);
        assert_eq!(partials.reserved(), 100);
        assert!(partials
            .expire(t0 + ttl - Duration::from_millis(1))
            .is_empty());
        assert_eq!(partials.expire(t0 + ttl), [key(1)]);
        assert_eq!(partials.reserved(), 0);
        assert!(!partials.resume(key(1)), "expired uploads start over");
    }

    #[test]
    fn a_resumed_upload_is_not_expired_while_a_connection_writes_it() {
        let ttl = Duration::from_secs(1);
        let mut partials = Partials::new(ttl);
        let t0 = Instant::now();
        partials.begin(key(2), 50);
        partials.end(key(2), true, t0);
        assert!(partials.resume(key(2)));
        assert!(partials.expire(t0 + 10 * ttl).is_empty());
        // Stored: the reservation goes, the store counts the file from now on.
        partials.end(key(2), false, t0);
        assert_eq!(partials.reserved(), 0);
        assert!(partials.expire(t0 + 10 * ttl).is_empty());
    }

    #[test]
    fn the_reservation_outlives_a_lost_connection_that_ends_after_the_resumed_one_began() {
        let mut partials = Partials::new(Duration::from_secs(1));
        let t0 = Instant::now();
        partials.begin(key(3), 10);
        assert!(partials.resume(key(3))); // a new connection, before the old one noticed
        partials.end(key(3), true, t0); // the old connection's loss
        assert_eq!(partials.reserved(), 10);
        assert!(partials.expire(t0 + Duration::from_secs(5)).is_empty());
    }
}
