//! A room message a broker marks as published again after an uncertain failure
//! (`RoomMessage::retried`, what the Redis broker does after a cluster failover) reaches each
//! member after the encoder's gap notice, live, from history on join, and while joining.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::client;
use mywebsocket::{Message, WebSocket};
use mywebsocket_hub::broker::{BoxFuture, BrokerEvent, BrokerSink, History, RoomMessage, Target};
use mywebsocket_hub::{
    Broker, ConnId, Encoder, Hub, HubConfig, JoinOptions, Member, MemoryBroker, NodeId, Presence,
    Result, StreamId,
};
use tokio::time::timeout;

/// The in-memory broker, with the hub's sink kept so the test can deliver events itself,
/// and a history of its choosing.
struct Manual {
    inner: MemoryBroker,
    sink: Mutex<Option<Arc<dyn BrokerSink>>>,
    history: Mutex<Vec<RoomMessage>>,
}

impl Manual {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryBroker::new(HubConfig::default().history_len),
            sink: Mutex::new(None),
            history: Mutex::new(Vec::new()),
        })
    }

    fn deliver(&self, room: &str, message: RoomMessage) {
        let sink = self.sink.lock().unwrap().clone().expect("started");
        sink.deliver(BrokerEvent::Room {
            room: room.to_owned(),
            message,
        });
    }
}

/// The hub owns its broker; the test keeps a handle on it.
struct Shared(Arc<Manual>);

impl Broker for Shared {
    fn start(&self, node: NodeId, sink: Arc<dyn BrokerSink>) -> BoxFuture<'_, Result<()>> {
        *self.0.sink.lock().unwrap() = Some(Arc::clone(&sink));
        self.0.inner.start(node, sink)
    }
    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>> {
        self.0.inner.publish(room, except, msg)
    }
    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        self.0.inner.send_direct(target, msg)
    }
    fn history(
        &self,
        _room: String,
        since: Option<StreamId>,
        _latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        let since = since.unwrap_or(StreamId::ZERO);
        let messages = self
            .0
            .history
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.id > since)
            .cloned()
            .collect();
        Box::pin(async move { Ok(History::new(messages, false)) })
    }
    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        self.0.inner.presence_add(room, member)
    }
    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        self.0.inner.presence_remove(room, member)
    }
    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        self.0.inner.presence(room, limit)
    }
}

/// Room messages as sent; gap notices as `gap <room> <since>`.
struct WithGaps;

impl Encoder for WithGaps {
    fn gap(&self, room: &str, since: StreamId) -> Option<Message> {
        Some(Message::text(format!("gap {room} {since}")))
    }
}

fn id(seq: u64) -> StreamId {
    StreamId { ms: 1, seq }
}

fn message(seq: u64, text: &str, retried: bool) -> RoomMessage {
    let mut m = RoomMessage::new(id(seq), None, Message::text(text));
    m.retried = retried;
    m
}

async fn texts(ws: &mut WebSocket, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let msg = timeout(Duration::from_secs(10), ws.read_msg())
            .await
            .expect("a message arrives")
            .expect("the connection is up");
        out.push(msg.as_text().expect("text").to_owned());
    }
    out
}

async fn hub(broker: &Arc<Manual>) -> Hub {
    Hub::builder(HubConfig::default())
        .broker(Shared(Arc::clone(broker)))
        .encoder(WithGaps)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_message_follows_a_gap_notice_live() {
    let broker = Manual::new();
    let hub = hub(&broker).await;
    let (reg, mut ws) = client(&hub, None).await;
    hub.join(reg.id(), "r", JoinOptions::default())
        .await
        .unwrap();
    broker.deliver("r", message(1, "a", false));
    broker.deliver("r", message(2, "b", true));
    // A repeat of an id already delivered stays a duplicate, retried or not.
    broker.deliver("r", message(2, "b", true));
    broker.deliver("r", message(3, "c", false));
    assert_eq!(
        texts(&mut ws, 4).await,
        ["a", "gap r 1-1", "b", "c"],
        "the notice names the last id the member had"
    );
}

#[tokio::test]
async fn a_retried_message_in_history_follows_a_gap_notice_on_join() {
    let broker = Manual::new();
    *broker.history.lock().unwrap() = vec![message(1, "a", false), message(2, "b", true)];
    let hub = hub(&broker).await;
    let (reg, mut ws) = client(&hub, None).await;
    hub.join(reg.id(), "r", JoinOptions::default())
        .await
        .unwrap();
    broker.deliver("r", message(3, "c", true));
    assert_eq!(
        texts(&mut ws, 5).await,
        ["a", "gap r 1-1", "b", "gap r 1-2", "c"]
    );
}
