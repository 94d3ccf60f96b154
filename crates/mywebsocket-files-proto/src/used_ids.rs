//! Ids whose transfer ended on a connection (docs/file-transfer.md §4.2): a later offer of one
//! is a `duplicate_id`, and late chunks or answers about one are ignored rather than answered
//! again.

use std::collections::{HashSet, VecDeque};

use crate::TransferId;

/// How many ended ids a connection remembers. Beyond this the oldest are forgotten (the spec
/// allows it): a late chunk for a forgotten id is then answered as an unknown one, and a
/// re-offer of it is taken. Bounds the memory a peer can make a connection hold (16 bytes an
/// id, twice).
pub const REMEMBERED: usize = 1024;

/// The ids used up on one connection, oldest first, at most [`REMEMBERED`].
#[derive(Debug, Default)]
pub struct UsedIds {
    set: HashSet<TransferId>,
    order: VecDeque<TransferId>,
}

impl UsedIds {
    /// Remembers that `id` is used up; `false` when it was already.
    pub fn insert(&mut self, id: TransferId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        true
    }

    /// Whether `id` ended on this connection (as far as it is remembered).
    pub fn contains(&self, id: TransferId) -> bool {
        self.set.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> TransferId {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
        TransferId(bytes)
    }

    #[test]
    fn remembers_the_latest_ids_and_forgets_the_oldest_beyond_the_bound() {
        let mut used = UsedIds::default();
        for n in 0..=REMEMBERED {
            assert!(used.insert(id(n)));
            assert!(!used.insert(id(n)), "twice counts once");
        }
        assert!(!used.contains(id(0)));
        assert!(used.contains(id(1)) && used.contains(id(REMEMBERED)));
        assert_eq!(used.order.len(), REMEMBERED);
    }
}
