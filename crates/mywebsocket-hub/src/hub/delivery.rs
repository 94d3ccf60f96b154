//! Delivery on this node: what the broker hands over (through the hub's [`BrokerSink`])
//! reaches the local members of a room, in room order and at most once each.

use std::sync::atomic::Ordering;
use std::sync::Weak;

use mywebsocket::{CloseCode, Message, PreparedMessage};

use super::{Cursor, Inner, State};
use crate::broker::{BoxFuture, BrokerEvent, BrokerSink, RoomMessage, Target};
use crate::presence::{PresenceEvent, RoomMember};

/// The hub's side of its broker. Weak, so that the broker's tasks, which hold it, do not keep
/// the hub alive: once the hub is dropped they see [`BrokerSink::is_closed`] and stop.
pub(super) struct HubSink(pub(super) Weak<Inner>);

impl BrokerSink for HubSink {
    fn deliver(&self, event: BrokerEvent) {
        if let Some(hub) = self.0.upgrade() {
            hub.handle_event(event);
        }
    }

    fn resync(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(hub) = self.0.upgrade() {
                hub.resync().await;
            }
        })
    }

    fn local_presence(&self) -> Vec<RoomMember> {
        self.0
            .upgrade()
            .map(|hub| hub.local_presence())
            .unwrap_or_default()
    }

    fn is_closed(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Inner {
    pub(super) fn prepare(&self, room: &str, message: &RoomMessage) -> PreparedMessage {
        PreparedMessage::new(self.encoder.room_message(room, message.id, &message.msg))
    }

    fn handle_event(&self, event: BrokerEvent) {
        match event {
            BrokerEvent::Room { room, message } => self.deliver_room(&room, &message),
            BrokerEvent::Direct { target, msg } => self.deliver_direct(&target, msg),
            BrokerEvent::Presence(event) => self.deliver_presence(event),
        }
    }

    pub(super) fn deliver_room(&self, room: &str, message: &RoomMessage) {
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
        let mut delivered = 0;
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
                    if message.retried {
                        self.push_gap(&local.outbox, room, *last);
                    }
                    *last = message.id;
                    local.outbox.push(prepared.clone());
                    delivered += 1;
                }
                Cursor::Live(_) => {}
                Cursor::Joining(waiting) => {
                    if waiting.len() < self.config.queue_messages {
                        waiting.push((message.id, message.retried, prepared.clone()));
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
        self.room_deliveries.fetch_add(delivered, Ordering::Relaxed);
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

    fn local_presence(&self) -> Vec<RoomMember> {
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
}
