//! The per-connection engine: routes messages to the transfers they belong to.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use mywebsocket_proto::Message;

use super::error::FileError;
use super::options::FilesOptions;
use super::receive::{IncomingOffer, RecvState};
use super::send::SendState;
use super::Side;
use crate::websocket::Writer;
use mywebsocket_files_proto::{
    check_offer, is_chunk, is_control, sanitize_name, Answer, BadChunk, Chunk, Control, Reason,
    TransferId, UsedIds,
};

/// File transfers on one connection, both directions (docs/file-transfer.md).
///
/// Cheap to clone. Pass every message the connection reads through [`Files::route`]: it keeps
/// the file-transfer messages and hands back the application's. Send with
/// [`Files::send_blob`] or [`Files::send_file`]; take incoming files from
/// [`Files::next_offer`]. Call [`Files::connection_lost`] when the connection ends.
#[derive(Clone)]
pub struct Files {
    pub(crate) writer: Writer,
    pub(crate) inner: Rc<RefCell<Inner>>,
}

/// What the transfers of a connection share with [`Files::route`].
pub(crate) struct Inner {
    pub(crate) options: FilesOptions,
    pub(crate) sends: HashMap<TransferId, SendState>,
    pub(crate) recvs: HashMap<TransferId, RecvState>,
    /// Offers not yet handed to the application (plain data: an [`IncomingOffer`] holds a
    /// [`Files`], which must not be kept in here).
    offers: VecDeque<Offered>,
    /// Offers handed out and not yet accepted or rejected; `Some` once the sender cancelled.
    pub(crate) undecided: HashMap<TransferId, Option<(Reason, String)>>,
    offer_wakers: Vec<Waker>,
    lost: bool,
    /// Ids whose accepted transfer ended on this connection (§4.2).
    pub(crate) used: UsedIds,
}

impl Inner {
    /// Removes a running download; its id is used up on this connection (it was accepted).
    pub(crate) fn take_recv(&mut self, id: TransferId) -> Option<RecvState> {
        let state = self.recvs.remove(&id)?;
        self.used.insert(id);
        Some(state)
    }
}

/// An offer as it waits in the queue.
struct Offered {
    id: TransferId,
    name: String,
    size: u64,
    media_type: String,
    sha256: [u8; 32],
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
        Self {
            writer,
            inner: Rc::new(RefCell::new(Inner {
                options,
                sends: HashMap::new(),
                recvs: HashMap::new(),
                offers: VecDeque::new(),
                undecided: HashMap::new(),
                offer_wakers: Vec::new(),
                lost: false,
                used: UsedIds::default(),
            })),
        }
    }

    /// Whether a message belongs to file transfer (§2): text starting `{"ft":`, or binary
    /// starting `F7 46 54 01`.
    pub fn is_file_message(message: &Message) -> bool {
        match message {
            Message::Text(text) => is_control(text.as_str()),
            Message::Binary(data) => is_chunk(data),
        }
    }

    /// Handles a file-transfer message, or gives an application message back untouched.
    ///
    /// Waits only to send an answer (`ack`, `done`, `reject`, ...). A malformed message gets
    /// the answer §3 and §4.1 give it; none closes the connection.
    pub async fn route(&self, message: Message) -> Option<Message> {
        match &message {
            Message::Text(text) if is_control(text.as_str()) => {
                match Control::parse(text.as_str()) {
                    Ok(control) => self.handle_control(control).await,
                    Err(malformed) => match malformed.answer() {
                        Answer::Reject(reply) => {
                            let _ = self.writer.write_string(reply).await;
                        }
                        Answer::CancelIfRunning { id, message } => {
                            self.stop_running(id, Reason::Protocol, message).await;
                        }
                        Answer::Ignore => {}
                    },
                }
                None
            }
            Message::Binary(data) if is_chunk(data) => {
                match Chunk::parse(data.clone()) {
                    Ok(chunk) => self.handle_chunk(chunk).await,
                    Err(BadChunk {
                        id: Some(id),
                        message,
                    }) => self.refuse_chunk(id, message).await,
                    // Shorter than an id: it names no transfer.
                    Err(BadChunk { id: None, .. }) => {}
                }
                None
            }
            _ => Some(message),
        }
    }

    /// Ends a transfer this end runs with `cancel{reason}`; `false` when none runs with `id`.
    pub(crate) async fn stop_running(
        &self,
        id: TransferId,
        reason: Reason,
        message: String,
    ) -> bool {
        let (waker, running) = {
            let mut inner = self.inner.borrow_mut();
            if let Some(state) = inner.take_recv(id) {
                let error = FileError::Protocol {
                    reason,
                    message: message.clone(),
                };
                (state.finish(Err(error)), true)
            } else if let Some(state) = inner.sends.get_mut(&id) {
                // The sending future sends the cancel as it ends.
                state.violate(reason, message.clone());
                (state.waker.take(), false)
            } else if let Some(slot) = inner.undecided.get_mut(&id) {
                // Offered and not yet answered: the application's answer will find it ended.
                *slot = Some((reason, message.clone()));
                inner.used.insert(id);
                (None, true)
            } else if let Some(pos) = inner.offers.iter().position(|o| o.id == id) {
                inner.offers.remove(pos);
                inner.used.insert(id);
                (None, true)
            } else {
                return false;
            }
        };
        if running {
            self.send_control(&Control::Cancel {
                id,
                reason,
                message,
            })
            .await;
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// A chunk that broke §3 and names `id`: the transfer ends with `cancel{bad_chunk}`; an
    /// id that already ended is not answered again; one never seen gets the cancel once.
    pub(crate) async fn refuse_chunk(&self, id: TransferId, message: String) {
        if self
            .stop_running(id, Reason::BadChunk, message.clone())
            .await
        {
            return;
        }
        if !self.inner.borrow_mut().used.insert(id) {
            return;
        }
        self.send_control(&Control::Cancel {
            id,
            reason: Reason::BadChunk,
            message,
        })
        .await;
    }

    /// The next file the peer offers; `None` once [`Files::connection_lost`] was called.
    /// Answer it with [`IncomingOffer::accept`] or [`IncomingOffer::reject`].
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
        let wakers = {
            let mut inner = self.inner.borrow_mut();
            inner.lost = true;
            inner.offers.clear();
            inner.undecided.clear();
            let mut wakers = std::mem::take(&mut inner.offer_wakers);
            for state in inner.sends.values_mut() {
                state.end_with(super::send::SendEnd::Lost);
                wakers.extend(state.waker.take());
            }
            for (_, state) in inner.recvs.drain() {
                let confirmed = state.expected;
                wakers.extend(state.finish(Err(FileError::ConnectionLost { confirmed })));
            }
            wakers
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Sends a control message; a failure means the connection is gone, which the transfers
    /// learn from [`Files::connection_lost`] or their own writes.
    pub(crate) async fn send_control(&self, control: &Control) {
        let _ = self.writer.write_string(control.to_text()).await;
    }

    /// [`Files::send_control`] from code that cannot wait (a `Drop`): the message goes out
    /// from a task of its own.
    pub(crate) fn send_control_detached(&self, control: Control) {
        let files = self.clone();
        wasm_bindgen_futures::spawn_local(async move { files.send_control(&control).await });
    }

    async fn handle_control(&self, control: Control) {
        match control {
            Control::Offer {
                id,
                name,
                size,
                media_type,
                sha256,
            } => self.handle_offer(id, name, size, media_type, &sha256).await,
            Control::Cancel {
                id,
                reason,
                message,
            } => self.handle_cancel(id, reason, message),
            // Answers to a sender make no sense to the receiving end of a transfer.
            other if self.inner.borrow().recvs.contains_key(&other.id()) => {
                let id = other.id();
                let message = format!("an answer to a sender was sent to the receiver of {id}");
                self.stop_running(id, Reason::Protocol, message).await;
            }
            other => super::send::handle_control(self, other),
        }
    }

    async fn handle_offer(
        &self,
        id: TransferId,
        name: String,
        size: u64,
        media_type: String,
        sha256: &str,
    ) {
        let refused = {
            let mut inner = self.inner.borrow_mut();
            let waiting = inner.offers.len() + inner.undecided.len() + inner.recvs.len();
            let in_use = inner.sends.contains_key(&id)
                || inner.recvs.contains_key(&id)
                || inner.undecided.contains_key(&id)
                || inner.offers.iter().any(|o| o.id == id)
                || inner.used.contains(id);
            let checked =
                check_offer(size, sha256, inner.options.max_file_size).and_then(|digest| {
                    let name =
                        sanitize_name(&name).map_err(|why| (Reason::BadName, why.to_owned()))?;
                    if in_use {
                        Err((
                            Reason::DuplicateId,
                            "the id is in use on this connection".to_owned(),
                        ))
                    } else if waiting >= inner.options.max_incoming {
                        Err((
                            Reason::Busy,
                            format!("{waiting} incoming transfers are waiting or running already"),
                        ))
                    } else {
                        Ok((digest, name))
                    }
                });
            match checked {
                Ok((digest, name)) => {
                    inner.offers.push_back(Offered {
                        id,
                        name,
                        size,
                        media_type,
                        sha256: digest,
                    });
                    let wakers = std::mem::take(&mut inner.offer_wakers);
                    drop(inner);
                    wakers.into_iter().for_each(Waker::wake);
                    None
                }
                Err(refusal) => Some(refusal),
            }
        };
        if let Some((reason, message)) = refused {
            self.send_control(&Control::Reject {
                id,
                reason,
                message,
            })
            .await;
        }
    }

    fn handle_cancel(&self, id: TransferId, reason: Reason, message: String) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if let Some(state) = inner.take_recv(id) {
                state.finish(Err(FileError::Cancelled {
                    by: Side::Remote,
                    reason,
                    message,
                }))
            } else if let Some(slot) = inner.undecided.get_mut(&id) {
                *slot = Some((reason, message));
                None
            } else if let Some(pos) = inner.offers.iter().position(|o| o.id == id) {
                // Never handed out: the application need not hear of it.
                inner.offers.remove(pos);
                None
            } else if let Some(state) = inner.sends.get_mut(&id) {
                state.end_with(super::send::SendEnd::Cancelled(reason, message));
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn handle_chunk(&self, chunk: Chunk) {
        super::receive::handle_chunk(self, chunk).await;
    }
}
