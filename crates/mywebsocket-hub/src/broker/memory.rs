//! The in-memory broker: one process, nothing to set up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use mywebsocket::Message;

use super::{BoxFuture, Broker, BrokerEvent, BrokerSink, History, RoomMessage, Target};
use crate::error::Result;
use crate::id::{ConnId, NodeId, StreamId};
use crate::presence::{Member, Presence, PresenceEvent};

#[derive(Debug, Default)]
struct RoomLog {
    last: u64,
    entries: VecDeque<RoomMessage>,
    /// The newest id dropped by the length cap: a reader behind it has a gap.
    max_deleted: StreamId,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, RoomLog>,
    presence: HashMap<String, HashMap<String, Member>>,
}

/// A broker inside one process: history in memory, delivery by direct call, in the order of
/// publication.
pub struct MemoryBroker {
    history_len: usize,
    state: Mutex<State>,
    sink: OnceLock<Arc<dyn BrokerSink>>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("history_len", &self.history_len)
            .finish_non_exhaustive()
    }
}

impl MemoryBroker {
    /// A broker keeping `history_len` messages per room (at least 1).
    pub fn new(history_len: usize) -> Self {
        Self {
            history_len: history_len.max(1),
            state: Mutex::default(),
            sink: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deliver(&self, event: BrokerEvent) {
        if let Some(sink) = self.sink.get() {
            sink.deliver(event);
        }
    }
}

impl Broker for MemoryBroker {
    fn start(&self, _node: NodeId, sink: Arc<dyn BrokerSink>) -> BoxFuture<'_, Result<()>> {
        let _ = self.sink.set(sink);
        Box::pin(async { Ok(()) })
    }

    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>> {
        // Delivered while the lock is held, so the hub sees each room's messages in id order.
        let mut st = self.lock();
        let log = st.rooms.entry(room.clone()).or_default();
        log.last += 1;
        let id = StreamId {
            ms: 0,
            seq: log.last,
        };
        let message = RoomMessage::new(id, except, msg);
        log.entries.push_back(message.clone());
        while log.entries.len() > self.history_len {
            if let Some(old) = log.entries.pop_front() {
                log.max_deleted = old.id;
            }
        }
        self.deliver(BrokerEvent::Room { room, message });
        drop(st);
        Box::pin(async { Ok(()) })
    }

    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        self.deliver(BrokerEvent::Direct { target, msg });
        Box::pin(async { Ok(()) })
    }

    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        let st = self.lock();
        let history = match st.rooms.get(&room) {
            None => History {
                messages: Vec::new(),
                gap: false,
            },
            Some(log) => match since {
                Some(since) => History {
                    messages: log
                        .entries
                        .iter()
                        .filter(|m| m.id > since)
                        .cloned()
                        .collect(),
                    gap: log.max_deleted > since,
                },
                None => History {
                    messages: log
                        .entries
                        .iter()
                        .skip(log.entries.len().saturating_sub(latest))
                        .cloned()
                        .collect(),
                    gap: false,
                },
            },
        };
        Box::pin(async { Ok(history) })
    }

    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        let mut st = self.lock();
        st.presence
            .entry(room.clone())
            .or_default()
            .insert(member.conn.clone(), member.clone());
        self.deliver(BrokerEvent::Presence(PresenceEvent::Join { room, member }));
        drop(st);
        Box::pin(async { Ok(()) })
    }

    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        let mut st = self.lock();
        let removed = st
            .presence
            .get_mut(&room)
            .and_then(|members| members.remove(&member.conn));
        if st.presence.get(&room).is_some_and(HashMap::is_empty) {
            st.presence.remove(&room);
        }
        if removed.is_some() {
            self.deliver(BrokerEvent::Presence(PresenceEvent::Leave { room, member }));
        }
        drop(st);
        Box::pin(async { Ok(()) })
    }

    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        let st = self.lock();
        let all = st.presence.get(&room);
        let count = all.map_or(0, HashMap::len);
        // Only the page is copied: a join into a room of N must not cost O(N).
        let page: Vec<Member> = all
            .into_iter()
            .flat_map(|m| m.values().take(limit).cloned())
            .collect();
        drop(st);
        let mut presence = Presence::from_members(page, limit);
        presence.count = count;
        Box::pin(async move { Ok(presence) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_reports_a_gap_once_trimmed_past_since() {
        let broker = MemoryBroker::new(3);
        for n in 0..5 {
            broker
                .publish("r".into(), None, Message::text(n.to_string()))
                .await
                .unwrap();
        }
        let id = |seq| StreamId { ms: 0, seq };
        let h = broker.history("r".into(), Some(id(2)), 10).await.unwrap();
        assert!(!h.gap, "3, 4 and 5 are all kept");
        assert_eq!(
            h.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [id(3), id(4), id(5)]
        );
        let h = broker.history("r".into(), Some(id(1)), 10).await.unwrap();
        assert!(h.gap, "2 was trimmed");
        let h = broker.history("r".into(), None, 2).await.unwrap();
        assert_eq!(
            h.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [id(4), id(5)]
        );
    }
}
