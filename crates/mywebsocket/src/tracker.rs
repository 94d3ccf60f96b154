//! The live connections of one [`Upgrader`](crate::Upgrader): the connection limit and the
//! graceful shutdown both count them here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use mywebsocket_proto::{CloseCode, CloseFrame, HandshakeError};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::conn::Shared;

/// The reason sent with the 1001 Going Away of a graceful shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";

/// Shared by an upgrader and its clones.
#[derive(Debug)]
pub(crate) struct Tracker {
    limit: usize,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    /// Wakes what waits for a shutdown to start (an HTTP/2 connection's GOAWAY).
    shutdown_started: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Weak, so that the registry never keeps a finished connection's buffers alive.
    live: HashMap<u64, Weak<Shared>>,
    shutting_down: bool,
}

/// A connection's place in its tracker: holds a slot of the connection limit and removes the
/// connection from the registry when dropped (with the connection's last handle).
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    tracker: Arc<Tracker>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.tracker.lock().live.remove(&self.id);
    }
}

/// What a graceful shutdown achieved; from [`Upgrader::shutdown`](crate::Upgrader::shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections that were open when the shutdown began.
    pub connections: usize,
    /// Of those, the ones still open at the deadline; their sockets are being shut down.
    pub forced: usize,
}

impl Tracker {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            permits: Arc::new(Semaphore::new(limit)),
            state: Mutex::new(State::default()),
            shutdown_started: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single insert, remove or store, so a poisoned lock is consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for a new connection.
    ///
    /// # Errors
    /// The 503 refusal when the limit is reached or a shutdown has begun.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<ConnectionGuard, HandshakeError> {
        let mut state = self.lock();
        if state.shutting_down {
            return Err(HandshakeError::ShuttingDown);
        }
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| HandshakeError::TooManyConnections { limit: self.limit })?;
        let id = state.next_id;
        state.next_id += 1;
        Ok(ConnectionGuard {
            tracker: Arc::clone(self),
            id,
            _permit: permit,
        })
    }

    /// Registers the connection `guard` was admitted for; it leaves the registry when `shared`
    /// (which takes the guard) is dropped. A connection admitted just before a shutdown began
    /// is told to go away at once.
    pub(crate) fn register(&self, guard: ConnectionGuard, shared: &Arc<Shared>) {
        let mut state = self.lock();
        state.live.insert(guard.id, Arc::downgrade(shared));
        let shutting_down = state.shutting_down;
        drop(state);
        shared.hold(guard);
        if shutting_down {
            go_away(shared);
        }
    }

    /// Connections open now (answered `101` and not yet finished).
    pub(crate) fn live(&self) -> usize {
        self.open_connections().len()
    }

    fn open_connections(&self) -> Vec<Arc<Shared>> {
        self.lock()
            .live
            .values()
            .filter_map(Weak::upgrade)
            .filter(|shared| !shared.is_finished())
            .collect()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// The graceful shutdown; see [`Upgrader::shutdown`](crate::Upgrader::shutdown).
    /// Resolves once a shutdown has started (at once if one already has).
    pub(crate) async fn shutdown_started(&self) {
        let notified = self.shutdown_started.notified();
        tokio::pin!(notified);
        // Registered before the check, so a shutdown between the two is not missed.
        notified.as_mut().enable();
        if self.is_shutting_down() {
            return;
        }
        notified.await;
    }

    pub(crate) async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let deadline = Instant::now() + grace;
        self.lock().shutting_down = true;
        self.shutdown_started.notify_waiters();
        let open = self.open_connections();
        for shared in &open {
            go_away(shared);
        }
        // Each connection finishes on its own; waiting for them in turn takes as long as the
        // slowest.
        let all_finished = async {
            for shared in &open {
                shared.finished().await;
            }
        };
        let _ = tokio::time::timeout_at(deadline, all_finished).await;
        let mut forced = 0;
        for shared in &open {
            if !shared.is_finished() {
                forced += 1;
                shared.abort();
            }
        }
        ShutdownReport {
            connections: open.len(),
            forced,
        }
    }
}

/// Queues 1001 Going Away behind whatever is already queued, so that it all reaches the peer
/// first.
fn go_away(shared: &Shared) {
    // Fails only for an invalid frame, and this one is valid; a close already begun stands.
    let _ = shared.push_close(Some(&CloseFrame::new(
        CloseCode::GOING_AWAY,
        SHUTDOWN_REASON,
    )));
}
