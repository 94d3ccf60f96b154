//! One incoming transfer: the §3 rules for its chunks and the §5 rules for its acks
//! (docs/file-transfer.md, "Receiver").

use crate::AckSchedule;

/// Where an incoming transfer is.
#[derive(Debug)]
enum Phase {
    /// Offered; the application has not decided yet.
    Offered,
    /// `accept` went out.
    Receiving {
        /// The next offset expected: every byte below it was handed to the driver.
        expected: u64,
        /// Bytes confirmed by the driver (written and hashed).
        confirmed: u64,
        window: u64,
        max_chunk: u64,
        acks: AckSchedule,
    },
    /// Every byte arrived and the SHA-256 matched; waiting for the driver to put the file in
    /// place before `done`.
    Verified,
}

/// The receiver's state of one transfer.
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) size: u64,
    pub(super) sha256: [u8; 32],
    phase: Phase,
}

impl Incoming {
    /// An offer waiting for the application's decision.
    pub(super) fn offered(size: u64, sha256: [u8; 32]) -> Self {
        Self {
            size,
            sha256,
            phase: Phase::Offered,
        }
    }

    /// Whether the application still has to decide on the offer.
    pub(super) fn is_offered(&self) -> bool {
        matches!(self.phase, Phase::Offered)
    }

    /// Bytes handed to the driver so far (0 before `accept`).
    pub(super) fn expected(&self) -> u64 {
        match self.phase {
            Phase::Offered => 0,
            Phase::Receiving { expected, .. } => expected,
            Phase::Verified => self.size,
        }
    }

    /// The application accepted at `offset`; `false` when that is not allowed here.
    pub(super) fn accept(&mut self, offset: u64, window: u64, max_chunk: u64) -> bool {
        if !self.is_offered() || offset > self.size {
            return false;
        }
        self.phase = Phase::Receiving {
            expected: offset,
            confirmed: offset,
            window,
            max_chunk,
            acks: AckSchedule::new(offset, window),
        };
        true
    }

    /// Checks a chunk against §3 and, when it passes, counts it as handed to the driver.
    pub(super) fn chunk(&mut self, offset: u64, len: u64) -> Result<(), String> {
        let Phase::Receiving {
            expected,
            window,
            max_chunk,
            acks,
            ..
        } = &mut self.phase
        else {
            return Err(match self.phase {
                Phase::Offered => "chunk before accept".into(),
                _ => format!("chunk at offset {offset} after the last byte"),
            });
        };
        if offset != *expected {
            return Err(format!("chunk at offset {offset}, expected {expected}"));
        }
        if len > *max_chunk {
            return Err(format!("chunk of {len} bytes, max_chunk is {max_chunk}"));
        }
        let end = offset.saturating_add(len);
        if end > self.size {
            return Err(format!("chunk ends at {end}, past the size {}", self.size));
        }
        let last = acks.last();
        if end.saturating_sub(last) > *window {
            return Err(format!(
                "chunk ends at {end}, past the window of {window} beyond {last}"
            ));
        }
        *expected = end;
        acks.received(end);
        Ok(())
    }

    /// The driver confirmed every byte below `offset`; the acks that are due, in order.
    /// `None` when `offset` is more than was handed over or less than confirmed before.
    pub(super) fn confirmed(&mut self, offset: u64) -> Option<Vec<u64>> {
        let Phase::Receiving {
            expected,
            confirmed,
            acks,
            ..
        } = &mut self.phase
        else {
            return None;
        };
        if offset > *expected || offset < *confirmed {
            return None;
        }
        *confirmed = offset;
        // Nothing else handed over is waiting to be confirmed: ack it all (§5).
        let caught_up = offset == *expected;
        Some(std::iter::from_fn(|| acks.next_ack(offset, caught_up, self.size)).collect())
    }

    /// Whether every byte is confirmed, so the SHA-256 can be compared.
    pub(super) fn is_complete(&self) -> bool {
        matches!(self.phase, Phase::Receiving { confirmed, .. } if confirmed == self.size)
    }

    /// The SHA-256 matched: the transfer waits for `done`.
    pub(super) fn verified(&mut self) {
        self.phase = Phase::Verified;
    }

    /// Whether the SHA-256 matched and `done` may go out.
    pub(super) fn is_verified(&self) -> bool {
        matches!(self.phase, Phase::Verified)
    }
}
