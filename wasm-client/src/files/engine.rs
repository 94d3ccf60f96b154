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
    check_offer, is_chunk, is_control, Chunk, Control, Reason, TransferId,
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
    /// Waits only to send an answer (`ack`, `done`, `reject`, ...). A malformed control message
    /// is ignored (§7); the connection stays usable.
    pub async fn route(&self, message: Message) -> Option<Message> {
        match &message {
            Message::Text(text) if is_control(text.as_str()) => {
                if let Ok(control) = serde_json::from_str::<Control>(text.as_str()) {
                    self.handle_control(control).await;
                }
                None
            }
            Message::Binary(data) if is_chunk(data) => {
                if let Some(chunk) = Chunk::parse(data.clone()) {
                    self.handle_chunk(chunk).await;
                }
                None
            }
            _ => Some(message),
        }
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
                || inner.offers.iter().any(|o| o.id == id);
            let checked =
                check_offer(size, sha256, inner.options.max_file_size).and_then(|digest| {
                    if let Err(why) = check_name(&name) {
                        Err((Reason::BadName, why.to_owned()))
                    } else if in_use {
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
                        Ok(digest)
                    }
                });
            match checked {
                Ok(digest) => {
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
            if let Some(state) = inner.recvs.remove(&id) {
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

/// The §8 rules a name must pass to be offered for download under that name. Browsers make
/// download names safe themselves; this only refuses names no sane sender would offer.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("the name is empty, . or ..");
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 bytes");
    }
    if name.contains(['/', '\\']) {
        return Err("the name contains a path separator");
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("the name contains control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_paths_or_controls_are_refused() {
        assert!(check_name("photo.jpg").is_ok());
        assert!(check_name("résumé (1).pdf").is_ok());
        for bad in ["", ".", "..", "../etc/passwd", "a/b", "c:\\x", "tab\there"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }
}
