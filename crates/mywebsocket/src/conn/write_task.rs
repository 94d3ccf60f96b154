//! The task that owns a connection's write half: it drains the queue in batches.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use mywebsocket_proto::Frame;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::batch::Batch;
use super::queue::{cost, Failure, Shared};

/// Slots of the batch queue kept between batches (the queue it is swapped with takes them).
const KEPT_BATCH_SLOTS: usize = 256;

/// How long an aborted connection's socket shutdown may take.
const ABORT_SHUTDOWN: Duration = Duration::from_millis(100);

pub(crate) type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Writes everything queued, batch by batch, until asked to shut down or the socket fails.
pub(crate) async fn run(
    shared: Arc<Shared>,
    io: BoxedWrite,
    write_timeout: Option<Duration>,
    close_timeout: Duration,
) {
    let mut batch: VecDeque<Frame> = VecDeque::new();
    let mut out = Batch::default();
    // Between batches the socket waits where a writer finding the queue empty can write to it
    // directly (`direct.rs`).
    *shared.io.lock() = Some(io);
    loop {
        let (shutdown, extra_frames, extra_cost) = loop {
            let notified = shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut q = shared.lock();
                if q.aborted {
                    q.writing = true;
                    break (true, 0, 0);
                }
                if !q.writing && q.has_work() {
                    q.writing = true;
                    // A frame a direct write left half-written goes first; frames written
                    // directly into a stream that buffers them are on the socket after the
                    // flush that ends this batch.
                    out.push_front_chunks(&mut q.prefix);
                    let prefix_frames = u64::from(q.prefix_cost > 0);
                    let extra = prefix_frames + std::mem::take(&mut q.unflushed);
                    let extra_cost = std::mem::take(&mut q.prefix_cost);
                    q.take_frames(&mut batch);
                    break (false, extra, extra_cost);
                }
                if q.shutdown && !q.writing {
                    q.writing = true;
                    break (true, 0, 0);
                }
            }
            notified.await;
        };
        let mut io = shared
            .io
            .lock()
            .take()
            .expect("the socket is in its slot whenever nobody is writing");
        if shutdown {
            // Best effort: the peer may already be gone.
            let _ = Box::pin(tokio::time::timeout(close_timeout, io.shutdown())).await;
            finish(&shared, None);
            return;
        }
        let frames = batch.len() as u64 + extra_frames;
        let bytes: usize = batch.iter().map(cost).sum::<usize>() + extra_cost;
        // Most batches fit in the socket's buffer at once: try that before arming the write
        // timeout, whose timer registration (a lock shared by the runtime's workers) and
        // watch for abandonment would cost more than the write itself.
        let first = std::future::poll_fn(|cx| Poll::Ready(out.poll_start(&mut io, &mut batch, cx)));
        let result = match first.await {
            Poll::Ready(result) => result,
            // Boxed: the timers of a write in progress would otherwise sit in this future
            // for the whole life of the connection, idle or not (measured: 680 bytes per
            // connection unboxed).
            Poll::Pending => {
                Box::pin(write_batch(
                    &shared,
                    &mut out,
                    &mut io,
                    write_timeout,
                    close_timeout,
                ))
                .await
            }
        };
        // Back in its slot for the next direct write; kept on failure, to be shut down.
        let failed = match result {
            Ok(()) => {
                *shared.io.lock() = Some(io);
                None
            }
            Err(e) => Some((e, io)),
        };
        let close_written = {
            let mut q = shared.lock();
            q.writing = false;
            q.bytes -= bytes;
            // Frames count as written only once on the socket: `flush` must not report success
            // for a batch that failed.
            if failed.is_none() {
                q.mark_written(frames)
            } else {
                None
            }
        };
        if let Some(reader) = close_written {
            reader.wake();
        }
        shared.progress.notify_waiters();
        if batch.capacity() > KEPT_BATCH_SLOTS {
            // A burst of tiny frames (a ping flood's pongs) grows the queue to thousands of
            // slots; a connection that then behaves need not keep them.
            batch.shrink_to(KEPT_BATCH_SLOTS);
        }
        if let Some((e, mut io)) = failed {
            if e.kind() == io::ErrorKind::ConnectionAborted {
                // The peer is not reading, so only a plain TCP FIN can still go out at once; a
                // TLS close_notify would wait behind the unread bytes.
                let _ = Box::pin(tokio::time::timeout(ABORT_SHUTDOWN, io.shutdown())).await;
            }
            let failure = if e.kind() == io::ErrorKind::TimedOut {
                Failure::Timeout
            } else {
                Failure::Io(Arc::new(e))
            };
            finish(&shared, Some(failure));
            return;
        }
    }
}

/// Writes one batch, giving up after `write_timeout`, or `close_timeout` after every handle
/// is gone while the peer does not read.
async fn write_batch(
    shared: &Shared,
    out: &mut Batch,
    io: &mut BoxedWrite,
    write_timeout: Option<Duration>,
    close_timeout: Duration,
) -> io::Result<()> {
    let write = async {
        let write = std::future::poll_fn(|cx| out.poll_write(io, cx));
        match write_timeout {
            Some(limit) => tokio::time::timeout(limit, write)
                .await
                .unwrap_or(Err(io::ErrorKind::TimedOut.into())),
            None => write.await,
        }
    };
    tokio::select! {
        result = write => result,
        e = abandoned(shared, close_timeout) => Err(e),
    }
}

/// Fails a write in progress when the connection is aborted, or `grace` after every reader
/// and writer handle is gone: a write blocked on a peer that never reads must not keep the
/// task and its socket alive for ever.
async fn abandoned(shared: &Shared, grace: Duration) -> io::Error {
    let mut deadline = None;
    loop {
        let notified = shared.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let q = shared.lock();
            if q.aborted {
                return io::Error::new(io::ErrorKind::ConnectionAborted, "connection aborted");
            }
            if q.handles == 0 && deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + grace);
            }
        }
        match deadline {
            // An abort can still come during the grace period (a shutdown's deadline).
            Some(deadline) => tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(deadline) => {
                    return io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection dropped while the peer was not reading",
                    );
                }
            },
            None => notified.await,
        }
    }
}

fn finish(shared: &Shared, failure: Option<Failure>) {
    let mut q = shared.lock();
    q.finished = true;
    if q.failure.is_none() {
        q.failure = failure;
    }
    q.drop_frames();
    // A reader waiting for our close frame to be written learns it never will be.
    let watcher = q.close_watcher.take();
    drop(q);
    if let Some(reader) = watcher {
        reader.wake();
    }
    shared.progress.notify_waiters();
}
