//! What the runner knows of one transfer, and the §3/§5 checks of what the testee sends for it.

use bytes::Bytes;
use mywebsocket_files::CHUNK_HEADER_LEN;
use mywebsocket_files_conformance::content;
use serde_json::{Map, Value};

/// One transfer of a case, from the runner's side.
#[derive(Debug, Default)]
pub(crate) struct Track {
    pub(crate) size: u64,
    /// An `accept` was sent or read on this connection.
    pub(crate) accepted: bool,
    /// Runner sending: the next offset to send. Runner receiving: the next offset expected.
    pub(crate) next: u64,
    /// The last ack read (runner sending) or sent (runner receiving).
    pub(crate) acked: u64,
    /// The accept's offset.
    pub(crate) start: u64,
    pub(crate) window: u64,
    pub(crate) max_chunk: u64,
    /// Every ack read, in order.
    pub(crate) acks: Vec<u64>,
    /// The largest chunk the runner sent (for the ack-spacing rule).
    pub(crate) sent_chunk: u64,
    /// The testee ended it: `done`, `reject` (before accept) or `cancel` was read.
    pub(crate) ended: bool,
    /// The runner sent `cancel` (or `done`): what the testee wrote before it learned of it
    /// may still arrive, and its acks are ignored (§4.2).
    pub(crate) ended_by_runner: bool,
    /// The testee's `done` was read.
    pub(crate) done_read: bool,
}

impl Track {
    /// Takes an `accept` (sent or read): the transfer starts at its offset.
    pub(crate) fn accepted(&mut self, accept: &Map<String, Value>) -> Result<(), String> {
        let num = |key: &str| {
            accept
                .get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("the accept has no integer {key}"))
        };
        let (offset, window, max_chunk) = (num("offset")?, num("window")?, num("max_chunk")?);
        if window == 0 || max_chunk == 0 || offset > self.size {
            return Err("accept: window and max_chunk must be ≥ 1 and offset ≤ size (§4)".into());
        }
        *self = Self {
            size: self.size,
            accepted: true,
            next: offset,
            acked: offset,
            start: offset,
            window,
            max_chunk,
            ..Self::default()
        };
        Ok(())
    }

    /// An ack the testee (receiver) sent: §4's "never below the previous ack or the accept's
    /// offset, never above the bytes sent".
    pub(crate) fn ack_read(&mut self, offset: u64) -> Result<(), String> {
        if self.ended {
            return Err(format!(
                "ack {offset} after the transfer ended (§4: done is final)"
            ));
        }
        if self.ended_by_runner {
            return Ok(()); // in flight when the runner ended it: ignored (§4.2)
        }
        if offset < self.acked {
            return Err(format!(
                "ack {offset} below the previous ack {} (§4)",
                self.acked
            ));
        }
        if offset > self.next {
            return Err(format!(
                "ack {offset} above the {} bytes sent (§4)",
                self.next
            ));
        }
        self.acked = offset;
        self.acks.push(offset);
        Ok(())
    }

    /// A chunk the testee (sender) sent: §3's rules, the window (§5), and the bytes.
    pub(crate) fn chunk_read(&mut self, chunk: &Bytes) -> Result<(), String> {
        if self.ended {
            return Err("a chunk after the transfer ended".into());
        }
        if !self.accepted {
            return Err("a chunk before accept (§3)".into());
        }
        let Some(data) = chunk.get(CHUNK_HEADER_LEN..).filter(|d| !d.is_empty()) else {
            return Err("a chunk with no data (§3: n ≥ 1)".into());
        };
        let offset = u64::from_be_bytes(chunk[20..28].try_into().expect("8 bytes"));
        let len = data.len() as u64;
        if offset != self.next {
            return Err(format!("chunk at {offset}, expected {} (§3)", self.next));
        }
        if len > self.max_chunk {
            return Err(format!(
                "chunk of {len} bytes over max_chunk {} (§3)",
                self.max_chunk
            ));
        }
        if offset + len > self.size {
            return Err(format!(
                "chunk runs to {} past the size {} (§3)",
                offset + len,
                self.size
            ));
        }
        if offset + len - self.acked > self.window {
            return Err(format!(
                "chunk runs to {}, past the window: {} acked, window {} (§5)",
                offset + len,
                self.acked,
                self.window
            ));
        }
        if data != content::bytes(offset, len).as_slice() {
            return Err(format!("chunk at {offset}: the bytes are not the file's"));
        }
        self.next += len;
        Ok(())
    }

    /// §5: two consecutive acks less than `q` plus one chunk apart (the largest the runner
    /// sent), and the last byte acked. §5's "at most `q`" holds only when every chunk boundary
    /// falls on a multiple of `q`, which a stream of shorter window-filling or final chunks
    /// need not give, so the runner checks only what §5 promises whatever the chunks.
    pub(crate) fn check_ack_spacing(&self) -> Result<(), String> {
        let q = (self.window / 4).max(1);
        let chunk = self.sent_chunk.max(1);
        let bound = q + chunk - 1;
        let mut previous = self.start;
        for &ack in &self.acks {
            if ack - previous > bound {
                return Err(format!(
                    "acks {previous} and {ack} are {} apart, more than {bound} (q = {q}, §5); acks: {:?}",
                    ack - previous,
                    self.acks
                ));
            }
            previous = ack;
        }
        if previous != self.size {
            return Err(format!(
                "the last byte ({}) was never acked (§5); acks: {:?}",
                self.size, self.acks
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(window: u64, chunk: u64, acks: Vec<u64>) -> Track {
        Track {
            size: *acks.last().unwrap_or(&0),
            window,
            sent_chunk: chunk,
            acks,
            ..Track::default()
        }
    }

    #[test]
    fn acks_may_be_up_to_q_plus_a_chunk_minus_one_apart() {
        // q = 100; chunks of 50 bytes, but a short one shifted the boundaries: an ack at
        // 149 after one at 0 is within §5 (less than q + one chunk).
        assert!(track(400, 50, vec![149, 200]).check_ack_spacing().is_ok());
        let too_far = track(400, 50, vec![150, 200]).check_ack_spacing();
        assert!(too_far.unwrap_err().contains("more than 149"));
        assert!(track(400, 50, vec![100]).check_ack_spacing().is_ok());
    }

    #[test]
    fn the_last_byte_must_be_acked() {
        let mut t = track(400, 50, vec![100]);
        t.size = 120;
        assert!(t.check_ack_spacing().unwrap_err().contains("never acked"));
    }
}
