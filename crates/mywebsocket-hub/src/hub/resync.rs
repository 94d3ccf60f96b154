//! Catching up: a joining connection's history before its live messages, and after a broker
//! outage what each room missed, fetched from history; what cannot be recovered is reported
//! to the members as a gap.

use std::time::Duration;

use mywebsocket::PreparedMessage;

use super::{Cursor, Inner};
use crate::broker::RoomMessage;
use crate::id::{ConnId, StreamId};

/// Tries to fetch a room's history after an outage before reporting a gap instead.
const RESYNC_ATTEMPTS: u32 = 8;

impl Inner {
    /// Gives a joining connection its history, then what arrived meanwhile, and makes it live.
    pub(super) fn go_live(
        &self,
        conn: &ConnId,
        room: &str,
        since: Option<StreamId>,
        history: &[RoomMessage],
        gap: bool,
    ) -> usize {
        let mut st = self.lock();
        let Some(local) = st.conns.get_mut(conn) else {
            return 0;
        };
        let Some((cursor, _)) = local.rooms.get_mut(room) else {
            return 0;
        };
        let mut last = since.unwrap_or(StreamId::ZERO);
        if gap {
            self.push_gap(&local.outbox, room, last);
        }
        let mut replayed = 0;
        for message in history {
            if message.id <= last {
                continue;
            }
            if message.except.as_ref() != Some(conn) {
                if message.retried {
                    self.push_gap(&local.outbox, room, last);
                }
                local.outbox.push(self.prepare(room, message));
                replayed += 1;
            }
            last = message.id;
        }
        if let Cursor::Joining(waiting) = std::mem::replace(cursor, Cursor::Live(last)) {
            for (id, retried, prepared) in waiting {
                if id > last {
                    if retried {
                        self.push_gap(&local.outbox, room, last);
                    }
                    last = id;
                    local.outbox.push(prepared);
                }
            }
            *cursor = Cursor::Live(last);
        }
        replayed
    }

    /// Fetches from history what each local room missed since the last delivery here.
    pub(super) async fn resync(&self) {
        let rooms: Vec<(String, StreamId)> = self
            .lock()
            .room_last
            .iter()
            .map(|(room, last)| (room.clone(), *last))
            .collect();
        for (room, last) in rooms {
            let since = (last != StreamId::ZERO).then_some(last);
            // The first command after an outage can fail on a connection that has not noticed
            // yet; retry a few times before giving up on this room.
            let mut backoff = Duration::from_millis(50);
            let mut attempt = 0;
            let history = loop {
                attempt += 1;
                match self
                    .broker
                    .history(room.clone(), since, self.config.history_len)
                    .await
                {
                    Ok(history) => break Some(history),
                    Err(e) if attempt < RESYNC_ATTEMPTS => {
                        tracing::debug!(%room, error = %e, "resynchronisation failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    Err(e) => {
                        tracing::error!(%room, error = %e, "could not resynchronise room: members are told of a gap");
                        break None;
                    }
                }
            };
            let Some(history) = history else {
                self.report_gap(&room, last);
                continue;
            };
            if history.gap {
                tracing::warn!(%room, %last, "history no longer reaches the last delivered message: members are told of a gap");
                self.report_gap(&room, last);
            }
            let recovered = history.messages.len();
            for message in &history.messages {
                self.deliver_room(&room, message);
            }
            tracing::info!(%room, recovered, "resynchronised room from history");
        }
    }

    /// Queues the encoder's gap notice for one member: what follows may repeat or miss
    /// something since `since`.
    pub(super) fn push_gap(&self, outbox: &crate::outbox::Outbox, room: &str, since: StreamId) {
        if let Some(notice) = self.encoder.gap(room, since) {
            outbox.push(PreparedMessage::new(notice));
        }
    }

    fn report_gap(&self, room: &str, since: StreamId) {
        let Some(notice) = self.encoder.gap(room, since) else {
            return;
        };
        let prepared = PreparedMessage::new(notice);
        let st = self.lock();
        for conn in st.rooms.get(room).into_iter().flatten() {
            if let Some(local) = st.conns.get(conn) {
                local.outbox.push(prepared.clone());
            }
        }
    }
}
