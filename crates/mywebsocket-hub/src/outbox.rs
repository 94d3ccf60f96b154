//! A connection's bounded outbound queue and the task that drains it into the connection.
//!
//! Delivery never waits for a slow peer: the hub pushes under its lock and moves on. What a
//! peer does not read piles up here, up to the configured bounds, and then the
//! [`SlowConsumerPolicy`] decides.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use mywebsocket::{CloseCode, PreparedMessage, Writer};
use tokio::sync::Notify;

use crate::config::SlowConsumerPolicy;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<PreparedMessage>,
    bytes: usize,
    /// Set when the policy (or the hub) closed the connection.
    closed: Option<CloseCode>,
    /// Messages dropped by [`SlowConsumerPolicy::DropOldest`].
    dropped: u64,
}

/// The queue between the hub and one connection's [`Writer`].
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    max_messages: usize,
    max_bytes: usize,
    policy: SlowConsumerPolicy,
    /// Wakes the pump.
    work: Notify,
    /// Wakes whoever waits for the connection to be closed by the hub.
    closed: Notify,
}

impl Outbox {
    pub(crate) fn new(max_messages: usize, max_bytes: usize, policy: SlowConsumerPolicy) -> Self {
        Self {
            state: Mutex::default(),
            max_messages,
            max_bytes,
            policy,
            work: Notify::new(),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a push, a pop or a field store: a panicking holder leaves it usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg`, applying the slow-consumer policy when the queue is full. Returns false
    /// when the connection is (now) closed and the message was not queued.
    pub(crate) fn push(&self, msg: PreparedMessage) -> bool {
        let len = msg.wire_len();
        let mut st = self.lock();
        if st.closed.is_some() {
            return false;
        }
        let full = |st: &State| {
            !st.queue.is_empty()
                && (st.queue.len() >= self.max_messages || st.bytes + len > self.max_bytes)
        };
        if full(&st) {
            match self.policy {
                SlowConsumerPolicy::Close(code) => {
                    tracing::info!(
                        queued = st.queue.len(),
                        bytes = st.bytes,
                        "slow consumer: closing with {}",
                        u16::from(code)
                    );
                    drop(st);
                    self.close(code);
                    return false;
                }
                SlowConsumerPolicy::DropOldest => {
                    while full(&st) {
                        let old = st.queue.pop_front().expect("a full queue is not empty");
                        st.bytes -= old.wire_len();
                        st.dropped += 1;
                    }
                }
            }
        }
        st.bytes += len;
        st.queue.push_back(msg);
        drop(st);
        self.work.notify_one();
        true
    }

    /// Closes the connection from the hub's side with `code`, dropping what is queued.
    pub(crate) fn close(&self, code: CloseCode) {
        let mut st = self.lock();
        if st.closed.is_none() {
            st.closed = Some(code);
        }
        st.queue.clear();
        st.bytes = 0;
        drop(st);
        self.work.notify_one();
        self.closed.notify_waiters();
    }

    /// The close code, once the hub closed the connection.
    pub(crate) fn closed_with(&self) -> Option<CloseCode> {
        self.lock().closed
    }

    /// Waits until the hub closes the connection; returns the code.
    pub(crate) async fn wait_closed(&self) -> CloseCode {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(code) = self.closed_with() {
                return code;
            }
            notified.await;
        }
    }

    /// Wire bytes and messages queued now, and messages dropped so far.
    pub(crate) fn stats(&self) -> (usize, usize, u64) {
        let st = self.lock();
        (st.bytes, st.queue.len(), st.dropped)
    }

    /// Moves queued messages into `writer` until the hub closes the connection or the writer
    /// fails; then closes the writer with the hub's code.
    pub(crate) async fn pump(self: Arc<Self>, writer: Writer) {
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut st = self.lock();
                match st.closed {
                    Some(code) => Err(code),
                    None => {
                        let next = st.queue.pop_front();
                        if let Some(msg) = &next {
                            st.bytes -= msg.wire_len();
                        }
                        Ok(next)
                    }
                }
            };
            let next = match next {
                Ok(next) => next,
                Err(code) => {
                    let _ = writer.close(code, "slow consumer").await;
                    return;
                }
            };
            match next {
                Some(msg) => {
                    // A write waiting for room in a full socket buffer must not hold up the
                    // close: the policy's close frame goes out as soon as it is decided.
                    tokio::select! {
                        written = writer.write_prepared(&msg) => {
                            if written.is_err() {
                                self.close(CloseCode::ABNORMAL);
                                return;
                            }
                        }
                        code = self.wait_closed() => {
                            let _ = writer.close(code, "slow consumer").await;
                            return;
                        }
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mywebsocket::Message;

    fn msg(n: usize) -> PreparedMessage {
        PreparedMessage::new(Message::binary(vec![0u8; n]))
    }

    #[test]
    fn close_policy_closes_and_frees_the_queue() {
        let outbox = Outbox::new(
            3,
            1 << 20,
            SlowConsumerPolicy::Close(CloseCode::TRY_AGAIN_LATER),
        );
        assert!(outbox.push(msg(10)) && outbox.push(msg(10)) && outbox.push(msg(10)));
        assert!(!outbox.push(msg(10)));
        assert_eq!(outbox.closed_with(), Some(CloseCode::TRY_AGAIN_LATER));
        assert_eq!(outbox.stats(), (0, 0, 0));
        assert!(!outbox.push(msg(1)), "a closed outbox takes nothing");
    }

    #[test]
    fn byte_bound_applies_before_message_bound() {
        let outbox = Outbox::new(
            100,
            100,
            SlowConsumerPolicy::Close(CloseCode::POLICY_VIOLATION),
        );
        assert!(outbox.push(msg(60)));
        assert!(!outbox.push(msg(60)));
        assert_eq!(outbox.closed_with(), Some(CloseCode::POLICY_VIOLATION));
    }

    #[test]
    fn drop_oldest_keeps_the_newest_within_bounds() {
        let outbox = Outbox::new(2, 1 << 20, SlowConsumerPolicy::DropOldest);
        for n in 1..=5 {
            assert!(outbox.push(msg(n)));
        }
        let (bytes, len, dropped) = outbox.stats();
        assert_eq!((len, dropped), (2, 3));
        assert_eq!(bytes, msg(4).wire_len() + msg(5).wire_len());
        assert_eq!(outbox.closed_with(), None);
    }

    #[test]
    fn one_oversized_message_still_goes_alone() {
        let outbox = Outbox::new(10, 50, SlowConsumerPolicy::DropOldest);
        assert!(outbox.push(msg(10)));
        assert!(outbox.push(msg(500)));
        let (_, len, dropped) = outbox.stats();
        assert_eq!((len, dropped), (1, 1));
    }
}
