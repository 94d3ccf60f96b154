//! Stopping a transfer from the outside.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Waker};

/// Cancels the transfers it was given to (see
/// [`TransferOptions::cancel_token`](super::TransferOptions::cancel_token)). Cheap to clone;
/// every clone cancels the same transfers. Cancelling tells the peer (`cancel`, reason
/// `cancelled`) and ends the transfer with [`FileError::Cancelled`](super::FileError::Cancelled).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Rc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels; the transfers notice at once, even while they wait for the peer.
    pub fn cancel(&self) {
        self.inner.cancelled.set(true);
        let wakers = std::mem::take(&mut *self.inner.wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.get()
    }

    /// Whether cancelled; if not, wakes `cx` when it is.
    pub(crate) fn poll_cancelled(&self, cx: &Context<'_>) -> bool {
        if self.is_cancelled() {
            return true;
        }
        let mut wakers = self.inner.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        false
    }
}
