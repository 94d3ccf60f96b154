//! The per-connection engine: passes messages to the protocol's state machine and hands what
//! it decided to the transfers' futures.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use mywebsocket_proto::Message;

use super::error::FileError;
use super::options::FilesOptions;
use super::receive::{IncomingOffer, RecvState};
use super::send::SendState;
use crate::websocket::Writer;
use mywebsocket_files_proto::{
    is_chunk, is_control, Config, Connection, Direction, End, Event, OfferInfo, TransferId,
};

/// File transfers on one connection, both directions (docs/file-transfer.md).
///
/// Cheap to clone. Pass every message the connection reads through [`Files::route`]: it keeps
/// the file-transfer messages and hands back the application's. Send with
/// [`Files::send_blob`] or [`Files::send_file`]; take incoming files from
/// [`Files::next_offer`]. Call [`Files::connection_lost`] when the connection ends.
///
/// The protocol's decisions (offer and chunk checks, windows and acks, which answer is
/// allowed when, the sender's answer timeout) are made by
/// [`mywebsocket_files_proto::Connection`], the state machine the Rust server runs too.
#[derive(Clone)]
pub struct Files {
    pub(crate) writer: Writer,
    pub(crate) inner: Rc<RefCell<Inner>>,
}

/// What the transfers of a connection share with [`Files::route`].
pub(crate) struct Inner {
    pub(crate) options: FilesOptions,
    pub(crate) machine: Connection,
    pub(crate) sends: HashMap<TransferId, SendState>,
    pub(crate) recvs: HashMap<TransferId, RecvState>,
    /// Offers not yet handed to the application (plain data: an [`IncomingOffer`] holds a
    /// [`Files`], which must not be kept in here).
    offers: VecDeque<OfferInfo>,
    /// Offers handed out and not yet accepted or rejected; `Some` once the machine ended it.
    pub(crate) undecided: HashMap<TransferId, Option<End>>,
    offer_wakers: Vec<Waker>,
    lost: bool,
    /// A [`Files::flush`] is writing: later callers leave their messages to it, so control
    /// messages leave in the order the machine queued them.
    flushing: bool,
    /// The machine's clock, never going backwards.
    now: Duration,
    /// The control message [`Files::flush`] took from the machine and has not written yet: it
    /// stays here until its write completed, so a flush whose future is dropped while the
    /// write waits (backpressure) loses nothing; the next flush writes it first.
    unsent: Option<String>,
}

impl Inner {
    /// `performance.now()`, as the machine's `now`: a monotonic clock, so a step of the wall
    /// clock neither fires nor freezes the answer timeout.
    pub(crate) fn now(&mut self) -> Duration {
        self.now = self.now.max(crate::timer::monotonic());
        self.now
    }

    /// The next control message to write: the one whose write did not complete, else the
    /// machine's next. It stays queued until [`Inner::written_control`].
    fn next_control(&mut self) -> Option<String> {
        if self.unsent.is_none() {
            self.unsent = self.machine.poll_transmit();
        }
        self.unsent.clone()
    }

    /// The message [`Inner::next_control`] gave was written (or its write failed: the
    /// connection is gone, and the transfers learn it elsewhere).
    fn written_control(&mut self) {
        self.unsent = None;
    }

    /// Hands the machine's events to the futures; the wakers to call once nothing is borrowed.
    fn dispatch(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while let Some(event) = self.machine.poll_event() {
            match event {
                Event::Offered(offer) => {
                    self.offers.push_back(offer);
                    wakers.append(&mut self.offer_wakers);
                }
                Event::Accepted {
                    id,
                    offset,
                    window,
                    max_chunk,
                } => wakers.extend(self.signal(id, |s| s.accepted(offset, window, max_chunk))),
                Event::Acked { id, offset } => wakers.extend(self.signal(id, |s| s.acked(offset))),
                Event::Ended {
                    id,
                    direction: Direction::Send,
                    end,
                } => wakers.extend(self.signal(id, |s| s.end_with(end))),
                Event::Ended {
                    id,
                    direction: Direction::Receive,
                    end,
                } => {
                    if let Some(state) = self.recvs.remove(&id) {
                        wakers.extend(state.finish(Err(FileError::from_end(end))));
                    } else if let Some(slot) = self.undecided.get_mut(&id) {
                        slot.get_or_insert(end);
                    } else if let Some(pos) = self.offers.iter().position(|o| o.id == id) {
                        // Never handed out: the application need not hear of it.
                        self.offers.remove(pos);
                    }
                }
                _ => {}
            }
        }
        wakers
    }

    fn signal(&mut self, id: TransferId, update: impl FnOnce(&mut SendState)) -> Option<Waker> {
        let state = self.sends.get_mut(&id)?;
        update(state);
        state.waker.take()
    }
}

impl fmt::Debug for Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Files")
            .field("options", &inner.options)
            .field("sending", &inner.sends.len())
            .field("receiving", &inner.recvs.len())
            .finish_non_exhaustive()
    }
}

impl Files {
    /// File transfers over the connection `writer` writes to, receiving under `options`.
    pub fn new(writer: Writer, options: FilesOptions) -> Self {
        let config = Config::default()
            .max_file_size(options.max_file_size)
            .max_incoming(options.max_incoming)
            .window(options.window)
            .max_chunk(options.max_chunk)
            .answer_timeout(options.answer_timeout);
        Self {
            writer,
            inner: Rc::new(RefCell::new(Inner {
                options,
                machine: Connection::new(config),
                sends: HashMap::new(),
                recvs: HashMap::new(),
                offers: VecDeque::new(),
                undecided: HashMap::new(),
                offer_wakers: Vec::new(),
                lost: false,
                flushing: false,
                now: Duration::ZERO,
                unsent: None,
            })),
        }
    }

    /// Whether a message belongs to file transfer (§2): text starting `{"ft":`, or binary
    /// starting `F7 46 54 01`. A [`Message::Close`] never does.
    pub fn is_file_message(message: &Message) -> bool {
        match message {
            Message::Text(text) => is_control(text.as_str()),
            Message::Binary(data) => is_chunk(data),
            _ => false,
        }
    }

    /// Handles a file-transfer message, or gives an application message (or a
    /// [`Message::Close`]) back untouched.
    ///
    /// Waits only to send an answer (`ack`, `done`, `reject`, ...). A malformed message gets
    /// the answer §3 and §4.1 give it; none closes the connection.
    pub async fn route(&self, message: Message) -> Option<Message> {
        match &message {
            Message::Text(text) if is_control(text.as_str()) => {
                self.step(|m, now| m.handle_text(now, text.as_str()));
                self.flush().await;
                None
            }
            Message::Binary(data) if is_chunk(data) => {
                let chunk = self.step(|m, now| m.handle_binary(now, data.clone()));
                if let Some(chunk) = chunk {
                    super::receive::take_chunk(self, chunk);
                }
                self.flush().await;
                None
            }
            _ => Some(message),
        }
    }

    /// Runs `f` on the state machine with the time now, and hands its events to the
    /// transfers. Call [`Files::flush`] after.
    pub(crate) fn step<R>(&self, f: impl FnOnce(&mut Connection, Duration) -> R) -> R {
        let (result, wakers) = {
            let mut inner = self.inner.borrow_mut();
            let now = inner.now();
            let result = f(&mut inner.machine, now);
            (result, inner.dispatch())
        };
        wakers.into_iter().for_each(Waker::wake);
        result
    }

    /// Sends the control messages the machine queued, in order. A failure means the
    /// connection is gone, which the transfers learn from [`Files::connection_lost`] or
    /// their own writes.
    ///
    /// A message leaves the queue only once its write completed: if this future is dropped
    /// while a write waits, the message is written by the next flush, which the drop starts.
    pub(crate) async fn flush(&self) {
        if std::mem::replace(&mut self.inner.borrow_mut().flushing, true) {
            return;
        }
        let _flushing = FlushGuard(self);
        loop {
            let text = self.inner.borrow_mut().next_control();
            let Some(text) = text else { return };
            // The browser takes the message in the poll that completes the write, never
            // before: until then the message is still ours to write.
            let _ = self.writer.write_string(text).await;
            self.inner.borrow_mut().written_control();
        }
    }

    /// [`Files::flush`] from code that cannot wait (a `Drop`).
    pub(crate) fn flush_detached(&self) {
        let files = self.clone();
        wasm_bindgen_futures::spawn_local(async move { files.flush().await });
    }

    /// The next file the peer offers; `None` once [`Files::connection_lost`] was called.
    /// Answer it with [`IncomingOffer::accept`] or [`IncomingOffer::reject`].
    ///
    /// The time taken to decide counts against the sender's answer timeout (60 s by default,
    /// docs/file-transfer.md §5): a page that asks a person should accept or reject
    /// ([`Reason::Busy`](mywebsocket_files_proto::Reason::Busy),
    /// [`Reason::Policy`](mywebsocket_files_proto::Reason::Policy)) within it on the
    /// person's behalf, or the sender gives up with `cancel{timeout}`.
    pub async fn next_offer(&self) -> Option<IncomingOffer> {
        poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            if let Some(offer) = inner.offers.pop_front() {
                inner.undecided.insert(offer.id, None);
                return Poll::Ready(Some(IncomingOffer {
                    files: self.clone(),
                    id: offer.id,
                    name: offer.name,
                    size: offer.size,
                    media_type: offer.media_type,
                    sha256: offer.sha256,
                    decided: false,
                }));
            }
            if inner.lost {
                return Poll::Ready(None);
            }
            if !inner.offer_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                inner.offer_wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Ends every running transfer with [`FileError::ConnectionLost`] and
    /// [`Files::next_offer`] with `None`: call it when the connection has ended.
    pub fn connection_lost(&self) {
        self.step(|m, _| m.connection_lost());
        let wakers = {
            let mut inner = self.inner.borrow_mut();
            inner.lost = true;
            inner.unsent = None;
            inner.offers.clear();
            inner.undecided.clear();
            std::mem::take(&mut inner.offer_wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Lets the next [`Files::flush`] write, however this one ends.
struct FlushGuard<'a>(&'a Files);

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        let resume = {
            let mut inner = self.0.inner.borrow_mut();
            inner.flushing = false;
            // Dropped while a write waited: another flush writes what is left.
            inner.unsent.is_some() && !inner.lost
        };
        if resume {
            self.0.flush_detached();
        }
    }
}
