//! When a receiver acknowledges (docs/file-transfer.md §5).

use std::collections::VecDeque;

/// Decides the offsets a receiver acknowledges, from the chunks it was handed and the bytes it
/// has confirmed (written and hashed).
///
/// An ack goes out at the end of every chunk that ends `max(1, window / 4)` or more bytes past
/// the previous ack, so a sender always gets its window back a quarter at a time. A receiver
/// that fell behind (its confirmed count jumped several chunks at once) still sends each of
/// those acks in turn: the acks on the wire do not depend on how the receiver was scheduled.
/// Besides, it acknowledges the end of the file, and everything confirmed whenever nothing
/// else it received is waiting (a sender may be short of window until then).
///
/// ```
/// use mywebsocket_files_proto::AckSchedule;
///
/// let mut acks = AckSchedule::new(0, 1024); // acks every 256 bytes
/// for end in [100, 200, 300, 400, 500] {
///     acks.received(end);
/// }
/// // All five chunks confirmed at once, more on the way: acks at 300, then nothing yet.
/// assert_eq!(acks.next_ack(500, false, 10_000), Some(300));
/// assert_eq!(acks.next_ack(500, false, 10_000), None);
/// // Nothing else waiting: everything confirmed is acknowledged.
/// assert_eq!(acks.next_ack(500, true, 10_000), Some(500));
/// ```
#[derive(Debug, Clone)]
pub struct AckSchedule {
    every: u64,
    last: u64,
    /// Ends of the chunks handed over and not yet passed by an ack decision, in order.
    ends: VecDeque<u64>,
}

impl AckSchedule {
    /// A transfer accepted at `offset` with this `window`.
    pub fn new(offset: u64, window: u64) -> Self {
        Self {
            every: (window / 4).max(1),
            last: offset,
            ends: VecDeque::new(),
        }
    }

    /// A chunk ending at `end` was handed over (to be written and hashed).
    pub fn received(&mut self, end: u64) {
        self.ends.push_back(end);
    }

    /// The last offset acknowledged (the accept's offset before the first ack).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The next offset to acknowledge now that every byte below `confirmed` is written and
    /// hashed; call it until it returns `None`. `caught_up` says that every byte received so
    /// far is confirmed and nothing more is waiting; `size` is the file's size.
    pub fn next_ack(&mut self, confirmed: u64, caught_up: bool, size: u64) -> Option<u64> {
        while let Some(&end) = self.ends.front() {
            if end > confirmed {
                break;
            }
            self.ends.pop_front();
            if end - self.last >= self.every {
                self.last = end;
                return Some(end);
            }
        }
        if confirmed > self.last && (confirmed == size || caught_up) {
            self.last = confirmed;
            return Some(confirmed);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    fn drain(acks: &mut AckSchedule, confirmed: u64, caught_up: bool, size: u64) -> Vec<u64> {
        std::iter::from_fn(|| acks.next_ack(confirmed, caught_up, size)).collect()
    }

    #[test]
    fn a_receiver_that_fell_behind_still_acks_every_quarter_window() {
        // 2 MiB window, 256 KiB chunks: an ack every second chunk end.
        let mut acks = AckSchedule::new(0, 2048 * K);
        for n in 1..=7 {
            acks.received(n * 256 * K);
        }
        // Seven chunks confirmed between two looks, more still arriving.
        assert_eq!(
            drain(&mut acks, 7 * 256 * K, false, 64 << 20),
            [512 * K, 1024 * K, 1536 * K]
        );
        acks.received(8 * 256 * K);
        assert_eq!(drain(&mut acks, 8 * 256 * K, false, 64 << 20), [2048 * K]);
    }

    #[test]
    fn acks_the_end_and_whatever_is_confirmed_when_idle() {
        let mut acks = AckSchedule::new(1000, 4000);
        acks.received(1100);
        assert_eq!(drain(&mut acks, 1100, false, 5000), Vec::<u64>::new());
        assert_eq!(drain(&mut acks, 1100, true, 5000), [1100]);
        acks.received(5000);
        assert_eq!(drain(&mut acks, 5000, false, 5000), [5000]);
        assert_eq!(acks.last(), 5000);
    }

    #[test]
    fn a_tiny_window_acks_every_chunk_and_an_empty_file_needs_none() {
        let mut acks = AckSchedule::new(0, 1);
        acks.received(1);
        acks.received(2);
        assert_eq!(drain(&mut acks, 2, false, 10), [1, 2]);
        let mut empty = AckSchedule::new(0, 1 << 20);
        assert_eq!(drain(&mut empty, 0, true, 0), Vec::<u64>::new());
    }
}
