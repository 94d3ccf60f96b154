//! The connection's [`Connection`] behind a lock: every task that tells it something hands
//! its events to the transfers' tasks, and what it queued to the connection's one control
//! writer, in order. Here the tokio side only moves bytes and time; the decisions are the
//! machine's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mywebsocket::Writer;
use mywebsocket_files_proto::{Connection, Direction, End, Event, OfferInfo};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::progress::ProgressCounter;
use crate::receive::Incoming;
use crate::{ReceiveOptions, TransferId};

/// What the machine has said about an outgoing transfer; the sending task watches it.
#[derive(Debug, Default)]
pub(crate) struct SendSignal {
    /// The receiver's `accept`: offset, window, max_chunk.
    pub(crate) accepted: Option<(u64, u64, u64)>,
    pub(crate) acked: u64,
    pub(crate) end: Option<End>,
}

pub(crate) struct SendEntry {
    pub(crate) signal: watch::Sender<SendSignal>,
    pub(crate) progress: Arc<ProgressCounter>,
}

pub(crate) struct RecvEntry {
    /// Tells this entry from a later one with the same id (after a `reject{busy}`, say).
    pub(crate) serial: u64,
    /// Data of chunks the machine let through, in order.
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) end: watch::Sender<Option<End>>,
    pub(crate) progress: Arc<ProgressCounter>,
}

/// What the transfers of one connection share.
pub(crate) struct Inner {
    pub(crate) writer: Writer,
    pub(crate) options: ReceiveOptions,
    machine: Mutex<Connection>,
    /// The machine's `now` is time since this.
    epoch: Instant,
    /// The machine's control messages, moved here in order under the machine's lock and
    /// written by one task, so nothing that reads the connection waits for its writes.
    outbox: Arc<Outbox>,
    /// Whether the writer task of `outbox` runs.
    writing: AtomicBool,
    pub(crate) sends: Mutex<HashMap<TransferId, SendEntry>>,
    pub(crate) recvs: Mutex<HashMap<TransferId, RecvEntry>>,
    pub(crate) incoming_tx: mpsc::Sender<Incoming>,
    pub(crate) incoming_rx: tokio::sync::Mutex<mpsc::Receiver<Incoming>>,
    pub(crate) send_budget: Arc<Semaphore>,
    pub(crate) next_serial: std::sync::atomic::AtomicU64,
}

impl Inner {
    pub(crate) fn new(
        writer: Writer,
        options: ReceiveOptions,
        incoming: (mpsc::Sender<Incoming>, mpsc::Receiver<Incoming>),
        send_budget: usize,
    ) -> Self {
        let config = mywebsocket_files_proto::Config::default()
            .max_file_size(options.max_file_size)
            .max_incoming(options.max_concurrent)
            .window(options.window)
            .max_chunk(options.max_chunk)
            .answer_timeout(options.answer_timeout)
            .report_writes(true);
        Self {
            writer,
            options,
            machine: Mutex::new(Connection::new(config)),
            epoch: Instant::now(),
            outbox: Arc::default(),
            writing: AtomicBool::new(false),
            sends: Mutex::default(),
            recvs: Mutex::default(),
            incoming_tx: incoming.0,
            incoming_rx: tokio::sync::Mutex::new(incoming.1),
            send_budget: Arc::new(Semaphore::new(send_budget)),
            next_serial: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Runs `f` on the machine with the time now, hands its events to the tasks, and returns
    /// the offers among them (the caller decides on them). Call [`Inner::flush`] after.
    pub(crate) fn step<R>(
        &self,
        f: impl FnOnce(&mut Connection, Duration) -> R,
    ) -> (R, Vec<OfferInfo>) {
        let mut machine = lock(&self.machine);
        let result = f(&mut machine, self.epoch.elapsed());
        // Under the machine's lock, so the outbox keeps the machine's order.
        let mut queued = false;
        {
            let mut outbox = lock(&self.outbox.queue);
            while let Some(message) = machine.poll_transmit_offer() {
                outbox.messages.push_back(message);
                outbox.queued += 1;
                queued = true;
            }
        }
        if queued {
            self.outbox.wake.notify_one();
        }
        let mut offers = Vec::new();
        // Under the machine's lock, so each task sees its transfer's events in order.
        while let Some(event) = machine.poll_event() {
            match event {
                Event::Offered(offer) => offers.push(offer),
                event => self.dispatch(event),
            }
        }
        (result, offers)
    }

    /// [`Inner::step`] for calls that cannot produce offers.
    pub(crate) fn run<R>(&self, f: impl FnOnce(&mut Connection, Duration) -> R) -> R {
        self.step(f).0
    }

    /// Makes sure the writer task runs; it writes every control message the machine queued,
    /// in order. Never waits: the read path calls it. Call it after [`Inner::step`].
    pub(crate) fn flush(self: &Arc<Self>) {
        if !self.writing.swap(true, Ordering::AcqRel) {
            tokio::spawn(write_controls(
                self.outbox.clone(),
                self.writer.clone(),
                Arc::downgrade(self),
            ));
        }
        self.outbox.wake.notify_one();
    }

    /// [`Inner::flush`], then waits until every control message queued so far is written (or
    /// failed to be: the connection is gone). For a task that ends, so its last word leaves
    /// before its result is reported; never called by the read path. Cancelling the wait
    /// loses nothing.
    pub(crate) async fn flushed(self: &Arc<Self>) {
        self.flush();
        let target = lock(&self.outbox.queue).queued;
        let mut written = self.outbox.written.subscribe();
        let _ = written.wait_for(|n| *n >= target).await;
    }

    /// When the machine wants [`Connection::handle_timeout`] called, if ever.
    pub(crate) fn deadline(&self) -> Option<tokio::time::Instant> {
        let after = lock(&self.machine).poll_timeout()?;
        Some((self.epoch + after).into())
    }

    fn dispatch(&self, event: Event) {
        match event {
            Event::Accepted {
                id,
                offset,
                window,
                max_chunk,
            } => self.signal(id, |s| {
                s.accepted.get_or_insert((offset, window, max_chunk));
                s.acked = offset;
            }),
            Event::Acked { id, offset } => self.signal(id, |s| s.acked = s.acked.max(offset)),
            Event::Ended {
                id,
                direction: Direction::Send,
                end,
            } => self.signal(id, |s| {
                s.end.get_or_insert(end);
            }),
            Event::Ended {
                id,
                direction: Direction::Receive,
                end,
            } => {
                if let Some(entry) = lock(&self.recvs).get(&id) {
                    entry.end.send_if_modified(|slot| {
                        let fresh = slot.is_none();
                        slot.get_or_insert(end);
                        fresh
                    });
                }
            }
            // `step` keeps offers; later events are for later versions.
            _ => {}
        }
    }

    fn signal(&self, id: TransferId, update: impl FnOnce(&mut SendSignal)) {
        if let Some(entry) = lock(&self.sends).get(&id) {
            entry.signal.send_modify(update);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer task writes what is left, then ends.
        self.outbox.closed.store(true, Ordering::Release);
        self.outbox.wake.notify_one();
    }
}

/// Control messages on their way to the connection.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<Queued>,
    /// Wakes the writer task.
    wake: Notify,
    /// How many messages were written (or failed to be), in order.
    written: watch::Sender<u64>,
    /// Set when the connection's transfers are dropped.
    closed: AtomicBool,
}

#[derive(Default)]
struct Queued {
    /// Each with the id of the transfer whose offer it is.
    messages: VecDeque<(String, Option<TransferId>)>,
    /// How many messages were ever queued.
    queued: u64,
}

/// The one task that writes a connection's control messages, in the machine's order. It
/// alone waits for room in the connection's write queue, and no caller's future owns a
/// message it took, so a cancelled caller loses none.
async fn write_controls(outbox: Arc<Outbox>, writer: Writer, inner: Weak<Inner>) {
    loop {
        let next = lock(&outbox.queue).messages.pop_front();
        let Some((text, offer)) = next else {
            if outbox.closed.load(Ordering::Acquire) {
                return;
            }
            outbox.wake.notified().await;
            continue;
        };
        let written = writer.write_string(text).await.is_ok();
        if let (true, Some(id), Some(inner)) = (written, offer, inner.upgrade()) {
            // The offer left this end's queue: its answer is owed from now (§5).
            inner.run(|m, now| m.written(now, id));
            // The sending task's timer did not count while the offer waited.
            inner.signal(id, |_| {});
        }
        outbox.written.send_modify(|n| *n += 1);
    }
}

/// Waits until the machine's next deadline (for ever when it has none), then lets it act on
/// the time and writes what it queued. Any task may do this for all: each transfer that
/// waits for an answer has a task waiting here.
pub(crate) async fn timer(inner: &Weak<Inner>) {
    let deadline = inner.upgrade().and_then(|inner| inner.deadline());
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    tokio::time::sleep_until(deadline).await;
    if let Some(inner) = inner.upgrade() {
        inner.run(|machine, now| machine.handle_timeout(now));
        inner.flush();
    }
}

/// Locks a map no code panics while holding, so poisoning cannot happen.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
