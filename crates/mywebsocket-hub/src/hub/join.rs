//! Joining a room: [`Hub::join`], its options and its outcome, and the guard that undoes a
//! join whose future is dropped.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use super::{Cursor, Hub, Inner};
use crate::error::{HubError, Result};
use crate::id::{ConnId, StreamId};
use crate::presence::{Member, Presence};

/// Options of [`Hub::join`](crate::Hub::join).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JoinOptions {
    /// The last message id the connection saw in this room: it receives what came after, or
    /// a gap notice if history no longer reaches back that far. Without it, it receives the
    /// latest [`HubConfig::history_on_join`](crate::HubConfig::history_on_join) messages.
    pub since: Option<StreamId>,
    /// Application data shown in presence (the chat's nickname).
    pub meta: serde_json::Value,
}

impl JoinOptions {
    /// Sets [`JoinOptions::since`].
    #[must_use]
    pub fn since(mut self, since: Option<StreamId>) -> Self {
        self.since = since;
        self
    }

    /// Sets [`JoinOptions::meta`].
    #[must_use]
    pub fn meta(mut self, meta: serde_json::Value) -> Self {
        self.meta = meta;
        self
    }
}

/// What [`Hub::join`](crate::Hub::join) did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Joined {
    /// Messages replayed from history.
    pub replayed: usize,
    /// History did not reach back to `since`: the connection missed messages (it was sent
    /// the encoder's gap notice).
    pub gap: bool,
    /// Who is in the room now, the joiner included (cut to
    /// [`HubConfig::presence_limit`](crate::HubConfig::presence_limit) members).
    pub presence: Presence,
}

impl Hub {
    /// Puts `conn` in `room`: replays history (see [`JoinOptions::since`]), then live
    /// messages, each exactly once and in room order; announces the join.
    ///
    /// # Errors
    /// [`HubError::UnknownConnection`], or the broker's error: when fetching history failed,
    /// the connection is not in the room; when announcing the join or reading presence failed,
    /// it is in the room and receives its messages ([`Hub::leave`] undoes it).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropped before it completes, the join is undone. The connection is taken
    /// out of the room at once, gets none of its messages from then on (history replayed
    /// before the drop may have been queued to it), and is taken out of presence, with a
    /// leave announced if the join already was (on a task of its own when the broker does
    /// not finish at once). A connection that was in the room before leaves it.
    pub async fn join(&self, conn: &ConnId, room: &str, opts: JoinOptions) -> Result<Joined> {
        let member = {
            let mut st = self.inner.lock();
            let local = st.conns.get_mut(conn).ok_or(HubError::UnknownConnection)?;
            let member = Member {
                conn: conn.to_string(),
                node: self.inner.node.to_string(),
                user: local.user.clone(),
                meta: opts.meta.clone(),
            };
            local.rooms.insert(
                room.to_owned(),
                (Cursor::Joining(Vec::new()), member.clone()),
            );
            st.add_room_member(room, conn, &*self.inner.broker);
            member
        };
        // From here until it returns, dropping this future undoes the join.
        let mut guard = JoinGuard {
            hub: Arc::clone(&self.inner),
            conn: conn.clone(),
            room: room.to_owned(),
            armed: true,
        };
        // The room's live events reach this node before its history is read: what is
        // published in between comes both ways, and the cursor keeps it once.
        let broker = &self.inner.broker;
        let history = match broker.room_ready(room.to_owned()).await {
            Ok(()) => {
                broker
                    .history(
                        room.to_owned(),
                        opts.since,
                        self.inner.config.history_on_join,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let history = match history {
            Ok(h) => h,
            Err(e) => {
                guard.armed = false;
                self.inner.forget_member(conn, room);
                return Err(e);
            }
        };
        let replayed = self
            .inner
            .go_live(conn, room, opts.since, &history.messages, history.gap);
        let joined = async {
            self.inner
                .broker
                .presence_add(room.to_owned(), member)
                .await?;
            let presence = self.presence(room).await?;
            Ok(Joined {
                replayed,
                gap: history.gap,
                presence,
            })
        }
        .await;
        guard.armed = false;
        joined
    }
}

/// Undoes a join whose future is dropped before it returns: takes the connection out of the
/// room and out of presence.
struct JoinGuard {
    hub: Arc<Inner>,
    conn: ConnId,
    room: String,
    /// Cleared when the join returns: it stands (or the join undid it itself).
    armed: bool,
}

impl Drop for JoinGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Some(member) = self.hub.forget_member(&self.conn, &self.room) else {
            return;
        };
        // The join may have been announced, or the connection was in the room before: remove
        // the member from presence (a no-op for the broker when it is not there).
        let (hub, room) = (Arc::clone(&self.hub), std::mem::take(&mut self.room));
        let mut remove = Box::pin(async move {
            if let Err(e) = hub.broker.presence_remove(room.clone(), member).await {
                tracing::warn!(%room, error = %e, "could not announce the leave of a dropped join");
            }
        });
        // Started here, so that it reaches the broker before anything this connection does
        // next (a join again); a broker that does not finish at once finishes on a task.
        let mut cx = Context::from_waker(Waker::noop());
        if remove.as_mut().poll(&mut cx).is_pending() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(remove);
            }
        }
    }
}
