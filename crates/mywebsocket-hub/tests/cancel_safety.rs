//! What a dropped `Hub::join`, `Hub::leave` or `Registration::unregister` leaves behind: each
//! runs to completion on a task of its own, as its `# Cancel safety` section says.

use std::pin::pin;
use std::time::Duration;

use futures_util::FutureExt;
use mywebsocket::{connect_with, Message, Upgrader, WebSocket};
use mywebsocket_hub::broker::{BoxFuture, BrokerSink, History, Target};
use mywebsocket_hub::{
    Broker, ConnId, Hub, HubConfig, JoinOptions, Member, MemoryBroker, NodeId, Presence,
    Registration, Result, StreamId,
};
use tokio::time::timeout;

/// The in-memory broker, with history and presence changes that take a while: long enough
/// for a caller to drop the operation halfway.
struct Slow(MemoryBroker);

const DELAY: Duration = Duration::from_millis(50);

impl Broker for Slow {
    fn start(&self, node: NodeId, sink: BrokerSink) -> BoxFuture<'_, Result<()>> {
        self.0.start(node, sink)
    }
    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>> {
        self.0.publish(room, except, msg)
    }
    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        self.0.send_direct(target, msg)
    }
    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        Box::pin(async move {
            tokio::time::sleep(DELAY).await;
            self.0.history(room, since, latest).await
        })
    }
    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            tokio::time::sleep(DELAY).await;
            self.0.presence_add(room, member).await
        })
    }
    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            tokio::time::sleep(DELAY).await;
            self.0.presence_remove(room, member).await
        })
    }
    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        self.0.presence(room, limit)
    }
}

async fn slow_hub() -> Hub {
    let config = HubConfig::default();
    Hub::builder(config.clone())
        .broker(Slow(MemoryBroker::new(config.history_len)))
        .build()
        .await
        .unwrap()
}

/// A registered server connection and the client end of it.
async fn client(hub: &Hub) -> (Registration, WebSocket) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Upgrader::default().accept(server_io).await });
    let request = http::Request::get("ws://hub.test/").body(()).unwrap();
    let (ws, _) = connect_with(client_io, request, Default::default())
        .await
        .unwrap();
    let (reader, writer) = server.await.unwrap().unwrap().split();
    tokio::spawn(async move {
        let mut reader = reader;
        while reader.read_msg().await.is_ok() {}
    });
    (hub.register(writer, None), ws)
}

/// Polls `fut` once and drops it; returns whether that poll finished it.
fn poll_once_and_drop<F: std::future::Future>(fut: F) -> bool {
    pin!(fut).now_or_never().is_some()
}

async fn members(hub: &Hub, room: &str) -> usize {
    hub.presence(room).await.unwrap().count
}

/// Waits until `room` has `count` members.
async fn until_members(hub: &Hub, room: &str, count: usize) {
    timeout(Duration::from_secs(10), async {
        while members(hub, room).await != count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("presence reaches the count");
}

#[tokio::test]
async fn a_join_dropped_halfway_still_joins() {
    let hub = slow_hub().await;
    let (reg, mut ws) = client(&hub).await;
    assert!(!poll_once_and_drop(hub.join(
        reg.id(),
        "r",
        JoinOptions::default()
    )));
    until_members(&hub, "r", 1).await;
    hub.broadcast("r", Message::text("after the join"))
        .await
        .unwrap();
    let msg = timeout(Duration::from_secs(10), ws.read_msg())
        .await
        .unwrap();
    assert_eq!(msg.unwrap(), Message::text("after the join"));
}

#[tokio::test]
async fn a_leave_or_unregister_dropped_halfway_still_leaves() {
    let hub = slow_hub().await;
    let (a, _a_ws) = client(&hub).await;
    let (b, _b_ws) = client(&hub).await;
    for reg in [&a, &b] {
        hub.join(reg.id(), "r", JoinOptions::default())
            .await
            .unwrap();
    }
    assert!(!poll_once_and_drop(hub.leave(a.id(), "r")));
    assert!(hub.rooms_of(a.id()).is_empty(), "left in the first poll");
    until_members(&hub, "r", 1).await;
    assert!(!poll_once_and_drop(b.unregister()));
    until_members(&hub, "r", 0).await;
    assert_eq!(hub.local_connections(), 1);
}
