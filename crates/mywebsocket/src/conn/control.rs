//! The driver's side of [`Control`]: the protocol's decisions about replies and the closing
//! handshake, carried out on the shared write queue.
//!
//! `Control` decides what is owed (a pong, the answer to a close, the close frame of a
//! failure) and when the socket should close; this file only puts its replies in the queue,
//! in the order decided, within the write budget, and wakes the tasks that care.

use bytes::Bytes;
use mywebsocket_proto::{
    CloseFrame, ConnectionError, Control, Expired, Initiator, OpCode, ProtocolError, ReplyBudget,
    SendError,
};

use super::queue::{Queue, Shared, PER_FRAME_OVERHEAD};
use crate::error::Error;

/// The most a control frame is charged: the largest header and payload a control frame can
/// have, plus the overhead.
pub(crate) const MAX_CONTROL_COST: usize =
    mywebsocket_proto::MAX_HEADER_LEN + mywebsocket_proto::MAX_CONTROL_PAYLOAD + PER_FRAME_OVERHEAD;

impl Queue {
    /// Moves the replies [`Control`] owes into the queue, behind what is queued, as far as
    /// the budget lets a pong in: while no pong waits untaken one may go past the budget (a
    /// full queue of data never delays a keepalive's answer); otherwise it waits in
    /// `control`, where newer pings replace it, and the reader stops reading. Returns whether
    /// anything was queued. Then marks the socket for shutdown if the protocol says so.
    pub(crate) fn queue_replies(&mut self) -> bool {
        let mut queued = false;
        loop {
            let pong_waiting = self.unsent_pong.is_some_and(|i| i < self.frames.len());
            let room = ReplyBudget {
                queued: self.bytes,
                limit: self.budget,
                pong_waiting,
                reply_cost: MAX_CONTROL_COST,
            };
            let Some(reply) = self.control.poll_transmit(room.has_room()) else {
                break;
            };
            let (is_pong, is_close) = (reply.opcode() == OpCode::Pong, reply.is_close());
            let mask = super::queue::mask(self.control.role());
            if is_pong {
                self.unsent_pong = Some(self.frames.len());
            }
            self.push(reply.into_frame(mask));
            if is_close {
                self.close_seq = Some(self.enqueued);
            }
            queued = true;
        }
        if self.control.should_close_transport() {
            self.shutdown = true;
        }
        queued
    }
}

impl Shared {
    /// The peer pinged: [`Control`] owes it a pong, queued behind what is queued if the
    /// budget lets it in (see `Queue::queue_replies`). Returns whether to keep reading: not
    /// while the pong waits for room (the peer pings faster than it reads our answers, so it
    /// fills its own socket buffers instead of our memory).
    ///
    /// # Errors
    /// The write side failed or timed out: the peer can no longer be answered.
    pub(crate) fn on_ping(&self, payload: Bytes) -> Result<bool, Error> {
        let mut q = self.lock();
        if let Some(failure) = &q.failure {
            return Err(failure.to_error());
        }
        if q.finished || q.shutdown {
            // Nothing more will be written: no answer can reach the peer.
            return Ok(true);
        }
        q.control.on_ping(payload);
        let queued = q.queue_replies();
        let keep_reading = q.control.wants_read();
        drop(q);
        if queued {
            self.work.notify_one();
        }
        Ok(keep_reading)
    }

    /// Waits until [`Control`] wants more read: the pong that waited for room is queued.
    ///
    /// # Errors
    /// The write side failed or timed out; [`Error::AlreadyClosed`] once the connection is
    /// closing (nothing more is owed then).
    pub(crate) async fn wait_pong_queued(&self) -> Result<(), Error> {
        self.wait_until(|q| q.control.wants_read()).await
    }

    /// The peer's close frame arrived: [`Control`] answers it (unless we started the close).
    /// Returns who started the close, and whether the socket is being shut down once the
    /// answer is written (a server closes TCP first, RFC 6455 §7.1.1); if not, wait for the
    /// peer to end it.
    pub(crate) fn on_peer_close(&self, frame: Option<CloseFrame>) -> (Initiator, bool) {
        let mut q = self.lock();
        q.control.on_close(frame);
        q.queue_replies();
        let initiator = q.control.initiator().unwrap_or(Initiator::Remote);
        let closing_socket = q.control.should_close_transport();
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        (initiator, closing_socket)
    }

    /// The peer broke the protocol: the close frame naming the violation is the last frame
    /// queued, then the socket is shut down. Returns that frame.
    pub(crate) fn on_protocol_error(&self, error: &ProtocolError) -> Option<CloseFrame> {
        self.update_control(|c| c.on_error(error)).0
    }

    /// A fatal deadline passed; see [`Control::on_timeout`]. Returns the close frame we
    /// failed with, if any, and who started the end.
    pub(crate) fn on_timeout(&self, expired: Expired) -> (Option<CloseFrame>, Initiator) {
        self.update_control(|c| c.on_timeout(expired))
    }

    /// The peer ended the socket; [`Control::on_eof`] says whether that was a clean end.
    /// Returns that, and who started the end.
    pub(crate) fn on_eof(&self) -> (Result<(), ConnectionError>, Initiator) {
        let mut result = Ok(());
        let (_, initiator) = self.update_control(|c| result = c.on_eof());
        (result, initiator)
    }

    /// The wait for the peer to end the socket ran out; [`Control::on_eof_timeout`] says
    /// whether the closing handshake completed on the wire (our answer was written).
    pub(crate) fn on_eof_timeout(&self) -> Result<(), ConnectionError> {
        let mut q = self.lock();
        let written = q.close_written();
        let result = q.control.on_eof_timeout(written);
        q.queue_replies();
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        result
    }

    /// The socket is gone or given up: nothing more is written but what is queued, and the
    /// socket is shut down. Returns who started the end.
    pub(crate) fn terminate(&self) -> Initiator {
        self.update_control(Control::terminate).1
    }

    /// Applies `change` to [`Control`], queues what it owes now (it has the socket shut down
    /// when the protocol says so), and wakes the tasks concerned.
    fn update_control(&self, change: impl FnOnce(&mut Control)) -> (Option<CloseFrame>, Initiator) {
        let mut q = self.lock();
        change(&mut q.control);
        q.queue_replies();
        let failure = q.control.failure().cloned();
        let initiator = q.control.initiator().unwrap_or(Initiator::Local);
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        (failure, initiator)
    }

    /// Queues a ping behind what is already queued.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] past 125 bytes, else as [`Queue::check_writable`].
    pub(crate) fn push_ping(&self, payload: bytes::Bytes) -> Result<(), Error> {
        let mut q = self.lock();
        q.check_writable()?;
        let ping = q.control.ping(payload).map_err(send_error)?;
        q.push(ping.into_frame(self.mask()));
        drop(q);
        self.work.notify_one();
        Ok(())
    }

    /// Starts the closing handshake with `frame` (none: no status code), queued behind what
    /// is already queued, unless it has begun. Data accepted before is still sent. Returns
    /// whether this call started it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a code that may not be sent or a reason too long.
    pub(crate) fn push_close(&self, frame: Option<&CloseFrame>) -> Result<bool, Error> {
        let mut q = self.lock();
        let started = q.control.close(frame.cloned()).map_err(send_error)?;
        if !started || q.finished || q.failure.is_some() {
            // Begun already, or nothing can be written any more.
            return Ok(false);
        }
        q.queue_replies();
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        Ok(true)
    }
}

/// The user's error for a frame [`Control`] refuses to send.
fn send_error(error: SendError) -> Error {
    match error {
        SendError::ControlPayloadTooLong { .. } => {
            Error::InvalidInput("control frame payload over 125 bytes (RFC 6455 section 5.5)")
        }
        SendError::InvalidCloseCode(_) => {
            Error::InvalidInput("close code may not be sent (RFC 6455 section 7.4)")
        }
        _ => Error::AlreadyClosed,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use mywebsocket_proto::Role;

    use super::*;

    fn payloads(q: &Queue) -> Vec<u8> {
        q.frames.iter().map(|f| f.payload()[0]).collect()
    }

    fn ping(shared: &Shared, byte: u8) -> bool {
        shared
            .on_ping(Bytes::from(vec![byte; 100]))
            .expect("write side alive")
    }

    /// Every ping is answered while there is room; past the budget one pong may wait in the
    /// queue and one in `Control`, where newer pings replace it (RFC 6455 §5.5.3), and reading
    /// stops until the write task takes the queued one.
    #[test]
    fn pongs_stay_within_the_budget_plus_one() {
        let budget = 3 * MAX_CONTROL_COST;
        let shared = Shared::new(Role::Server, budget, 1 << 20, None);
        let mut keep_reading = true;
        let mut answered = 0;
        for i in 0..10 {
            keep_reading = ping(&shared, i);
            if keep_reading {
                answered += 1;
            }
            assert!(shared.lock().bytes <= budget + MAX_CONTROL_COST);
        }
        assert!(!keep_reading, "a full budget stops reading");
        let queued = payloads(&shared.lock());
        assert_eq!(queued, (0..answered).collect::<Vec<u8>>(), "in order");
        // The write task takes them: the latest ping's answer follows, and only it.
        let mut batch = VecDeque::new();
        shared.lock().take_frames(&mut batch);
        assert_eq!(payloads(&shared.lock()), [9]);
        assert!(shared.lock().control.wants_read());
    }

    #[test]
    fn no_pong_follows_a_close() {
        let shared = Shared::new(Role::Server, 1 << 20, 1 << 20, None);
        assert!(shared.push_close(None).unwrap());
        assert!(ping(&shared, 0));
        assert_eq!(shared.lock().frames.len(), 1);
        assert!(!shared.push_close(None).unwrap(), "one close only");
    }
}
