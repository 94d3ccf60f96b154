//! The write path with no hop: a writer that finds nothing queued and nothing being written
//! writes its frame to the socket itself, instead of queueing it and waking the write task.
//!
//! With one message in flight per connection (a request and its answer) the queue is almost
//! always empty, and handing each frame to the write task costs a task wake and a context
//! switch per message. Here the writer takes the `writing` token under the queue's lock (the
//! write task takes the same token for a batch, so the two never write at once), tries one
//! non-blocking write, and gives back whatever the socket did not take: the rest of the frame
//! goes first in the write task's next batch, so order, backpressure and the write timeout
//! stay the write task's business.
//!
//! Two cases still queue, because there the write task does better:
//! - The reader still holds bytes of the same burst (pipelined requests): the write task
//!   sends the answers in one batch, where direct writes would cost a system call each.
//! - The writer is not the task that reads the connection (a broadcast from another
//!   connection's task, a hub's delivery task): one task writing to a thousand sockets in turn
//!   would make a thousand system calls on one core, where a thousand write tasks spread them
//!   over every worker. Request/response traffic answers from the reading task, and keeps the
//!   direct path.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use mywebsocket_proto::Frame;

use super::batch::{with_scratch, write_group};
use super::queue::{cost, Failure, Queue, Shared};
use super::write_task::BoxedWrite;
use crate::error::Error;

/// Payloads below this size are copied next to their header and written with one `write`
/// where they do not go as two slices (see `VECTORED_FROM`); larger ones on a stream without
/// vectored writes (TLS) start with the header alone.
const COPY_BELOW: usize = 4 << 10;

/// On a stream with vectored writes (TCP), payloads from this size go as two slices; smaller
/// ones are cheaper copied next to their header and written as one buffer.
const VECTORED_FROM: usize = 1 << 10;

/// What became of a direct write.
enum Outcome {
    /// On the socket (and flushed).
    Written,
    /// The socket took part of it: the rest, to be written before anything else.
    Partial(VecDeque<Bytes>),
    /// Written into the stream, which still has to flush it (TLS buffers records).
    Unflushed,
    /// The socket failed.
    Failed(io::Error),
}

/// Where the socket's write half waits between uses; see `Shared::io`.
#[derive(Default)]
pub(crate) struct IoSlot(Mutex<Option<BoxedWrite>>);

impl fmt::Debug for IoSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IoSlot")
    }
}

impl IoSlot {
    /// The slot, locked. Only the holder of the queue's `writing` token (or the write task
    /// putting the socket in or taking it out) locks it, so it is never contended.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<BoxedWrite>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What [`Shared::try_write_direct`] did.
pub(crate) enum Direct<'a> {
    /// The frame is the connection's now (written, or its rest handed to the write task), or
    /// the socket failed (the error the caller reports: the message did not go).
    Done(Result<(), Error>),
    /// The socket is busy: queue the frame, under the lock given back.
    Queue(MutexGuard<'a, Queue>, Frame),
}

impl Shared {
    /// Writes `frame` straight to the socket if nothing is queued or being written; gives the
    /// frame back when it has to be queued instead. Called with the queue locked, after the
    /// checks of `push_data`.
    pub(crate) fn try_write_direct<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        frame: Frame,
    ) -> Direct<'a> {
        if !q.is_idle() || self.more_input.load(Ordering::Relaxed) || !self.is_reader_task() {
            return Direct::Queue(q, frame);
        }
        q.writing = true;
        // The frame takes its place in the connection's order now, under the lock: a close
        // queued while it is being written comes after it, and is not counted written when
        // this one is.
        q.enqueued += 1;
        drop(q);
        let outcome = {
            let mut slot = self.io.lock();
            match slot.as_mut() {
                Some(io) => {
                    let unwinding = Unwinding(self);
                    let outcome = write_once(io, &frame);
                    std::mem::forget(unwinding);
                    outcome
                }
                None => {
                    // The write task has not started yet (or has stopped): it writes the
                    // frame, ahead of anything queued meanwhile, which came after it.
                    drop(slot);
                    let mut q = self.lock();
                    q.writing = false;
                    q.bytes += cost(&frame);
                    q.frames.push_front(frame);
                    if let Some(pong) = q.unsent_pong.as_mut() {
                        *pong += 1;
                    }
                    drop(q);
                    self.work.notify_one();
                    return Direct::Done(Ok(()));
                }
            }
        };
        let mut q = self.lock();
        q.writing = false;
        let mut result = Ok(());
        let waker = match outcome {
            Outcome::Written => q.mark_written(1),
            Outcome::Partial(rest) => {
                q.bytes += cost(&frame);
                q.prefix = rest;
                q.prefix_cost = cost(&frame);
                None
            }
            Outcome::Unflushed => {
                q.unflushed += 1;
                None
            }
            Outcome::Failed(e) => {
                // As if the write task had failed: every caller from now on gets this error,
                // and the write task shuts the socket down.
                if q.failure.is_none() {
                    q.failure = Some(Failure::Io(Arc::new(e)));
                }
                result = Err(q
                    .failure
                    .as_ref()
                    .map_or(Error::AlreadyClosed, Failure::to_error));
                q.shutdown = true;
                None
            }
        };
        let wake_task = q.has_work() || q.shutdown;
        drop(q);
        if let Some(reader) = waker {
            reader.wake();
        }
        if wake_task {
            self.work.notify_one();
        }
        Direct::Done(result)
    }

    /// The reader is being polled by the current task: it calls this before each read.
    pub(crate) fn note_reader_task(&self) {
        let key = task_key();
        if self.reader_task.load(Ordering::Relaxed) != key {
            self.reader_task.store(key, Ordering::Relaxed);
        }
    }

    /// Whether the current task is the one that reads this connection.
    fn is_reader_task(&self) -> bool {
        task_key() == self.reader_task.load(Ordering::Relaxed)
    }
}

/// A number for the current tokio task, never 0. `tokio::task::Id` gives no integer, but
/// hashes one: this hasher keeps it. Outside a task (the future of a runtime's `block_on`, as
/// in `#[tokio::main]`) the thread stands for it: one such future runs on a thread at a time.
/// Two tasks with the same key would only make a direct write where a queued one was meant,
/// which is as correct, so the key need not be unique.
fn task_key() -> u64 {
    struct Key(u64);
    impl Hasher for Key {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 ^= n;
        }
    }
    thread_local! {
        static THREAD: u8 = const { 0 };
    }
    match tokio::task::try_id() {
        Some(id) => {
            let mut key = Key(0);
            id.hash(&mut key);
            key.0 | 1 << 63
        }
        // An address: below 2^63, so never a task's key, and never 0 with the bit set.
        None => THREAD.with(|t| std::ptr::from_ref(t).addr() as u64) & !(1 << 63) | 1 << 62,
    }
}

/// Armed around a stream's `poll_write` in a direct write: if the stream panics, the write
/// side fails as if the socket had, instead of staying marked as being written for ever
/// (which would keep the write task from ever writing or shutting the socket down).
struct Unwinding<'a>(&'a Shared);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.writing = false;
        if q.failure.is_none() {
            let e = io::Error::other("the stream panicked in a write");
            q.failure = Some(Failure::Io(Arc::new(e)));
        }
        q.shutdown = true;
        drop(q);
        self.0.work.notify_one();
    }
}

impl Queue {
    /// Whether the socket is free for a direct write: nothing queued, nothing being written,
    /// nothing left over from an earlier direct write.
    fn is_idle(&self) -> bool {
        !self.writing && !self.has_work()
    }

    /// Whether the write task has something to write or flush.
    pub(crate) fn has_work(&self) -> bool {
        self.has_frames() || !self.prefix.is_empty() || self.unflushed > 0
    }
}

/// One non-blocking attempt to write `frame` and flush. Polled with a waker that does
/// nothing: whatever does not go now is handed to the write task, which waits properly.
fn write_once(io: &mut BoxedWrite, frame: &Frame) -> Outcome {
    let mut cx = Context::from_waker(Waker::noop());
    // Small payloads go as one buffer with their header, in a copy in the thread's buffer
    // (an idle connection holds none); larger ones as they are, with the header as a second
    // slice, or alone first where the stream has no vectored writes (TLS).
    let copy_up_to = if io.is_write_vectored() {
        VECTORED_FROM - 1
    } else {
        COPY_BELOW - 1
    };
    let mut rest = VecDeque::new();
    let attempt = with_scratch(|scratch| {
        write_group(
            io,
            std::slice::from_ref(frame),
            copy_up_to,
            scratch,
            &mut cx,
            &mut rest,
        )
    });
    match attempt {
        Ok((_, true)) => {}
        Ok((_, false)) => return Outcome::Partial(rest),
        Err(e) => return Outcome::Failed(e),
    }
    match Pin::new(&mut **io).poll_flush(&mut cx) {
        Poll::Ready(Ok(())) => Outcome::Written,
        Poll::Ready(Err(e)) => Outcome::Failed(e),
        Poll::Pending => Outcome::Unflushed,
    }
}

#[cfg(test)]
mod tests {
    use super::task_key;

    #[tokio::test]
    async fn task_keys_tell_tasks_apart() {
        let outside = task_key();
        assert_ne!(outside, 0);
        assert_eq!(
            outside,
            task_key(),
            "the same thread outside a task, the same key"
        );
        let (a, a_again) = tokio::spawn(async { (task_key(), task_key()) })
            .await
            .unwrap();
        let b = tokio::spawn(async { task_key() }).await.unwrap();
        assert_ne!(a, 0);
        assert_eq!(a, a_again, "the same task, the same key");
        assert_ne!(a, b, "another task, another key");
        assert!(
            a != outside && b != outside,
            "a task is not the thread it runs on"
        );
        let other_thread = std::thread::spawn(task_key).join().unwrap();
        assert_ne!(other_thread, outside, "another thread, another key");
    }
}
