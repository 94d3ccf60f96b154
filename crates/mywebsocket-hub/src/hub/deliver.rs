//! Delivery on this node: what the broker hands over reaches the local members of a room,
//! in room order and at most once each; resynchronisation after an outage.

use mywebsocket::{CloseCode, Message, PreparedMessage};

use super::{Cursor, Inner, State};
use crate::broker::{BrokerEvent, RoomMessage, Target};
use crate::id::{ConnId, StreamId};
use crate::presence::{PresenceEvent, RoomMember};

/// Tries to fetch a room's history after an outage before reporting a gap instead.
const RESYNC_ATTEMPTS: u32 = 8;

impl Inner {
    fn prepare(&self, room: &str, message: &RoomMessage) -> PreparedMessage {
        PreparedMessage::new(self.encoder.room_message(room, message.id, &message.msg))
    }

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
            if let Some(notice) = self.encoder.gap(room, last) {
                local.outbox.push(PreparedMessage::new(notice));
            }
        }
        let mut replayed = 0;
        for message in history {
            if message.id <= last {
                continue;
            }
            last = message.id;
            if message.except.as_ref() != Some(conn) {
                local.outbox.push(self.prepare(room, message));
                replayed += 1;
            }
        }
        if let Cursor::Joining(waiting) = std::mem::replace(cursor, Cursor::Live(last)) {
            for (id, prepared) in waiting {
                if id > last {
                    last = id;
                    local.outbox.push(prepared);
                }
            }
            *cursor = Cursor::Live(last);
        }
        replayed
    }

    pub(crate) fn handle_event(&self, event: BrokerEvent) {
        match event {
            BrokerEvent::Room { room, message } => self.deliver_room(&room, &message),
            BrokerEvent::Direct { target, msg } => self.deliver_direct(&target, msg),
            BrokerEvent::Presence(event) => self.deliver_presence(event),
        }
    }

    fn deliver_room(&self, room: &str, message: &RoomMessage) {
        let mut st = self.lock();
        let State {
            conns,
            rooms,
            room_last,
            ..
        } = &mut *st;
        let (Some(members), Some(room_last)) = (rooms.get(room), room_last.get_mut(room)) else {
            return;
        };
        if message.id > *room_last {
            *room_last = message.id;
        }
        let mut prepared = None;
        for conn in members {
            if message.except.as_ref() == Some(conn) {
                continue;
            }
            let Some(local) = conns.get_mut(conn) else {
                continue;
            };
            let Some((cursor, _)) = local.rooms.get_mut(room) else {
                continue;
            };
            let prepared = prepared.get_or_insert_with(|| self.prepare(room, message));
            match cursor {
                Cursor::Live(last) if message.id > *last => {
                    *last = message.id;
                    local.outbox.push(prepared.clone());
                }
                Cursor::Live(_) => {}
                Cursor::Joining(waiting) => {
                    if waiting.len() < self.config.queue_messages {
                        waiting.push((message.id, prepared.clone()));
                    } else {
                        // As if its queue had overflowed: the policy's answer, not silent loss.
                        local.outbox.close(match self.config.slow_consumer {
                            crate::SlowConsumerPolicy::Close(code) => code,
                            _ => CloseCode::TRY_AGAIN_LATER,
                        });
                    }
                }
            }
        }
    }

    pub(super) fn deliver_direct(&self, target: &Target, msg: Message) {
        let st = self.lock();
        let prepared = PreparedMessage::new(msg);
        match target {
            Target::Connection(conn) => {
                if let Some(local) = st.conns.get(conn) {
                    local.outbox.push(prepared);
                }
            }
            Target::User(user) => {
                for conn in st.users.get(user).into_iter().flatten() {
                    if let Some(local) = st.conns.get(conn) {
                        local.outbox.push(prepared.clone());
                    }
                }
            }
        }
    }

    fn deliver_presence(&self, event: PresenceEvent) {
        // Past the limit every join would cost a message per member: members of large rooms
        // ask for presence instead (see `HubConfig::presence_limit`).
        let announce = self
            .lock()
            .rooms
            .get(event.room())
            .is_some_and(|m| m.len() <= self.config.presence_limit);
        if let Some(msg) = announce.then(|| self.encoder.presence(&event)).flatten() {
            let prepared = PreparedMessage::new(msg);
            let st = self.lock();
            for conn in st.rooms.get(event.room()).into_iter().flatten() {
                let Some(local) = st.conns.get(conn) else {
                    continue;
                };
                // A joiner learns the members from its join reply; its own join event would
                // arrive before that reply, so it is not sent to it.
                if matches!(&event, PresenceEvent::Join { member, .. } if member.conn == conn.as_str())
                {
                    continue;
                }
                local.outbox.push(prepared.clone());
            }
        }
        let _ = self.presence_events.send(event);
    }

    pub(crate) fn local_presence(&self) -> Vec<RoomMember> {
        let st = self.lock();
        st.conns
            .values()
            .flat_map(|c| {
                c.rooms.iter().map(|(room, (_, m))| RoomMember {
                    room: room.clone(),
                    member: m.clone(),
                })
            })
            .collect()
    }

    /// Fetches from history what each local room missed since the last delivery here.
    pub(crate) async fn resync(&self) {
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
            let mut backoff = std::time::Duration::from_millis(50);
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
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
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
