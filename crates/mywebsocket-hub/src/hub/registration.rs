//! A connection's registration with a hub, and its outbound queue's numbers.

use std::sync::Arc;

use mywebsocket::CloseCode;

use super::Hub;
use crate::id::ConnId;
use crate::outbox::Outbox;

/// A connection's registration with a hub. Dropping it (or [`Registration::unregister`])
/// takes the connection out of every room.
#[derive(Debug)]
pub struct Registration {
    pub(super) hub: Hub,
    pub(super) id: ConnId,
    pub(super) outbox: Arc<Outbox>,
    /// Set once the unregistration has started, so that dropping does not start it again.
    pub(super) done: bool,
}

impl Registration {
    /// The connection's id, unique across nodes.
    pub fn id(&self) -> &ConnId {
        &self.id
    }

    /// Waits until the hub closes the connection (the slow-consumer policy); returns the
    /// close code it sent.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub async fn closed(&self) -> CloseCode {
        self.outbox.wait_closed().await
    }

    /// What waits in this connection's outbound queue, and what the slow-consumer policy
    /// dropped from it.
    pub fn queued(&self) -> QueueStats {
        let (bytes, messages, dropped) = self.outbox.stats();
        QueueStats {
            messages,
            bytes,
            dropped,
        }
    }

    /// Leaves every room and forgets the connection, announcing the leaves.
    ///
    /// # Cancel safety
    /// The work runs on a task of its own and finishes even if this future is dropped, as
    /// when the registration is dropped without it: a dropped `unregister` never leaves
    /// presence announcing a connection that is gone.
    pub async fn unregister(mut self) {
        self.done = true;
        let (hub, id) = (self.hub.clone(), self.id.clone());
        super::to_completion(async move { hub.unregister(&id).await }).await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.done {
            let hub = self.hub.clone();
            let id = self.id.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { hub.unregister(&id).await });
            }
        }
    }
}

impl Hub {
    /// Forgets `conn`: closes its queue (1001 Going Away), takes it out of every room and
    /// announces the leaves.
    pub(super) async fn unregister(&self, conn: &ConnId) {
        let removed = {
            let mut st = self.inner.lock();
            let Some(local) = st.conns.remove(conn) else {
                return;
            };
            local.outbox.close(CloseCode::GOING_AWAY);
            if let Some(user) = &local.user {
                if let Some(set) = st.users.get_mut(user) {
                    set.remove(conn);
                    if set.is_empty() {
                        st.users.remove(user);
                    }
                }
            }
            for room in local.rooms.keys() {
                st.remove_room_member(room, conn, &*self.inner.broker);
            }
            local.rooms
        };
        for (room, (_, member)) in removed {
            if let Err(e) = self
                .inner
                .broker
                .presence_remove(room.clone(), member)
                .await
            {
                tracing::warn!(%room, error = %e, "could not announce a leave");
            }
        }
    }
}

/// A connection's outbound queue, from [`Registration::queued`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages waiting to be handed to the connection's writer.
    pub messages: usize,
    /// Their wire bytes (what counts against [`HubConfig::queue_bytes`](crate::HubConfig::queue_bytes)).
    pub bytes: usize,
    /// Messages dropped since registration by
    /// [`SlowConsumerPolicy::DropOldest`](crate::SlowConsumerPolicy::DropOldest).
    pub dropped: u64,
}
