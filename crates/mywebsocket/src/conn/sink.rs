//! The state behind [`Writer`](super::Writer)'s `Sink` implementation: which wait, if any, is
//! in flight, tagged so that one operation never completes another's.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_util::sync::ReusableBoxFuture;

use super::queue::Shared;
use crate::error::Result;

/// What the `Sink` is waiting for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// No wait in flight.
    #[default]
    Nothing,
    /// `poll_ready`: room in the write queue.
    Space,
    /// `poll_flush`: everything queued when the wait started is on the socket.
    Flush,
    /// `poll_close`: the close frame is queued; everything up to and including it is on the
    /// socket.
    Close,
}

/// The `Sink`'s in-flight wait. Each `Writer` clone has its own.
#[derive(Default)]
pub(super) struct SinkState {
    waiting: Waiting,
    /// The wait's future: made the first time this sink has to wait, then reused. Every kind
    /// of wait is the same future type ([`wait`]), so starting another never reallocates.
    wait: Option<ReusableBoxFuture<'static, Result<()>>>,
}

impl SinkState {
    /// `Sink::poll_ready`: `Ready` at once, without allocating, while the queue has room;
    /// otherwise waits for room (the wait made on the first block is reused after that).
    pub(super) fn poll_ready(
        &mut self,
        shared: &Arc<Shared>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        if self.waiting != Waiting::Space {
            {
                let q = shared.lock();
                q.check_writable()?;
                if q.bytes < shared.write_buffer_size {
                    return Poll::Ready(Ok(()));
                }
            }
            // Any flush in flight is given up (the next `poll_flush` starts another): what it
            // waited for is queued and is written all the same.
            self.start(shared, Waiting::Space);
        }
        self.poll_wait(cx)
    }

    /// `Sink::start_send` queued (or tried to queue) a message: a flush started before it
    /// does not cover it, so the next `poll_flush` starts a new one.
    pub(super) fn sent(&mut self) {
        if self.waiting == Waiting::Flush {
            self.waiting = Waiting::Nothing;
        }
    }

    /// `Sink::poll_flush`: waits until everything queued is on the socket. A close in flight
    /// is continued (it flushes everything, the close frame included).
    pub(super) fn poll_flush(
        &mut self,
        shared: &Arc<Shared>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        if !matches!(self.waiting, Waiting::Flush | Waiting::Close) {
            // Nothing unwritten: done, without making a wait (as `Shared::flush` would find).
            {
                let q = shared.lock();
                if q.written >= q.enqueued {
                    self.waiting = Waiting::Nothing;
                    return Poll::Ready(Ok(()));
                }
            }
            self.start(shared, Waiting::Flush);
        }
        self.poll_wait(cx)
    }

    /// Whether a `poll_close` is in flight: its close frame is queued, only its wait remains.
    pub(super) fn closing(&self) -> bool {
        self.waiting == Waiting::Close
    }

    /// `Sink::poll_close`, once the caller has queued the close frame (unless [`closing`]
    /// said it already had): waits until it and everything before it is on the socket. A
    /// ready or flush wait in flight is given up first, never mistaken for the close.
    ///
    /// [`closing`]: SinkState::closing
    pub(super) fn poll_close(
        &mut self,
        shared: &Arc<Shared>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        if self.waiting != Waiting::Close {
            self.start(shared, Waiting::Close);
        }
        self.poll_wait(cx)
    }

    /// Replaces the wait in flight, if any, with a wait for `what`.
    fn start(&mut self, shared: &Arc<Shared>, what: Waiting) {
        let fut = wait(Arc::clone(shared), what);
        match &mut self.wait {
            Some(boxed) => boxed.set(fut),
            None => self.wait = Some(ReusableBoxFuture::new(fut)),
        }
        self.waiting = what;
    }

    /// Polls the wait in flight; once it completes, nothing is in flight.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let wait = self
            .wait
            .as_mut()
            .expect("a wait is started before it is polled");
        let result = std::task::ready!(wait.poll(cx));
        self.waiting = Waiting::Nothing;
        Poll::Ready(result)
    }
}

/// Every kind of wait, as one future type (so the box holding it is reused).
async fn wait(shared: Arc<Shared>, what: Waiting) -> Result<()> {
    match what {
        Waiting::Space => shared.wait_for_space().await,
        // A close's frame was queued before this wait started, so the flush covers it.
        Waiting::Flush | Waiting::Close | Waiting::Nothing => shared.flush().await,
    }
}
