//! What a dropped `Hub::join`, `Hub::leave` or `Registration::unregister` leaves behind. A
//! dropped join is undone (the connection is neither in the room nor in its presence, and
//! gets none of its messages); a dropped leave or unregister runs to completion on a task of
//! its own. As each `# Cancel safety` section says.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use common::client;
use futures_util::FutureExt;
use mywebsocket::{Message, WebSocket};
use mywebsocket_hub::broker::{BoxFuture, BrokerSink, History, Target};
use mywebsocket_hub::{
    Broker, ConnId, Hub, HubConfig, JoinOptions, Member, MemoryBroker, NodeId, Presence,
    PresenceEvent, Registration, Result, StreamId,
};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::timeout;

const DELAY: Duration = Duration::from_millis(50);

/// When a slow call does its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delay {
    /// It answers at once.
    None,
    /// It waits, then does its work and answers.
    Before,
    /// It does its work at once, then waits before answering (a reply that is slow to come
    /// back).
    After,
}

/// The in-memory broker, with calls that take a while: long enough for a caller to drop the
/// operation halfway.
struct Slow {
    inner: MemoryBroker,
    history: Delay,
    presence_add: Delay,
    presence_remove: Delay,
}

impl Slow {
    fn new() -> Self {
        Self {
            inner: MemoryBroker::new(HubConfig::default().history_len),
            history: Delay::None,
            presence_add: Delay::None,
            presence_remove: Delay::None,
        }
    }
}

/// `work` (a call of the inner broker), delayed as `delay` says.
fn slowly<'a, T: Send + 'a>(
    delay: Delay,
    work: impl FnOnce() -> BoxFuture<'a, T> + Send + 'a,
) -> BoxFuture<'a, T> {
    match delay {
        Delay::None => work(),
        Delay::Before => Box::pin(async move {
            tokio::time::sleep(DELAY).await;
            work().await
        }),
        Delay::After => {
            // The memory broker does its work when called.
            let done = work();
            Box::pin(async move {
                let out = done.await;
                tokio::time::sleep(DELAY).await;
                out
            })
        }
    }
}

impl Broker for Slow {
    fn start(&self, node: NodeId, sink: Arc<dyn BrokerSink>) -> BoxFuture<'_, Result<()>> {
        self.inner.start(node, sink)
    }
    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>> {
        self.inner.publish(room, except, msg)
    }
    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        self.inner.send_direct(target, msg)
    }
    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        slowly(self.history, move || {
            self.inner.history(room, since, latest)
        })
    }
    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        slowly(self.presence_add, move || {
            self.inner.presence_add(room, member)
        })
    }
    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        slowly(self.presence_remove, move || {
            self.inner.presence_remove(room, member)
        })
    }
    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        self.inner.presence(room, limit)
    }
}

async fn hub_with(broker: Slow) -> Hub {
    Hub::builder(HubConfig::default())
        .broker(broker)
        .build()
        .await
        .unwrap()
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

async fn next_text(ws: &mut WebSocket) -> String {
    let msg = timeout(Duration::from_secs(10), ws.read_msg())
        .await
        .expect("a message arrives")
        .expect("the connection is up");
    msg.as_text().expect("text").to_owned()
}

/// Broadcasts to `room`, then sends `reg` a direct marker, and returns the first message
/// `ws` receives: the marker when the broadcast did not reach it (both go through the same
/// queue, in order).
async fn first_after_broadcast(
    hub: &Hub,
    room: &str,
    reg: &Registration,
    ws: &mut WebSocket,
) -> String {
    hub.broadcast(room, Message::text("to the room"))
        .await
        .unwrap();
    hub.send_to_connection(reg.id(), Message::text("marker"))
        .await
        .unwrap();
    next_text(ws).await
}

#[tokio::test]
async fn a_join_dropped_while_fetching_history_is_forgotten() {
    let hub = hub_with(Slow {
        history: Delay::Before,
        ..Slow::new()
    })
    .await;
    let mut events = hub.presence_events();
    let (reg, mut ws) = client(&hub, None).await;
    assert!(!poll_once_and_drop(hub.join(
        reg.id(),
        "r",
        JoinOptions::default()
    )));
    assert!(hub.rooms_of(reg.id()).is_empty(), "forgotten when dropped");
    assert_eq!(
        first_after_broadcast(&hub, "r", &reg, &mut ws).await,
        "marker"
    );
    // Long enough for the history fetch the join started to have finished.
    tokio::time::sleep(DELAY * 2).await;
    assert!(hub.rooms_of(reg.id()).is_empty());
    assert_eq!(members(&hub, "r").await, 0);
    assert_eq!(
        events.try_recv().unwrap_err(),
        TryRecvError::Empty,
        "no join announced"
    );
}

#[tokio::test]
async fn a_join_dropped_after_it_was_announced_is_undone_with_a_leave() {
    let hub = hub_with(Slow {
        presence_add: Delay::After,
        presence_remove: Delay::Before,
        ..Slow::new()
    })
    .await;
    let mut events = hub.presence_events();
    let (reg, mut ws) = client(&hub, None).await;
    assert!(!poll_once_and_drop(hub.join(
        reg.id(),
        "r",
        JoinOptions::default()
    )));
    assert!(hub.rooms_of(reg.id()).is_empty(), "forgotten when dropped");
    assert_eq!(
        first_after_broadcast(&hub, "r", &reg, &mut ws).await,
        "marker"
    );
    until_members(&hub, "r", 0).await;
    let conn = reg.id().to_string();
    assert!(
        matches!(events.try_recv(), Ok(PresenceEvent::Join { member, .. }) if member.conn == conn)
    );
    assert!(
        matches!(events.try_recv(), Ok(PresenceEvent::Leave { member, .. }) if member.conn == conn)
    );
    assert!(hub.rooms_of(reg.id()).is_empty());
}

#[tokio::test]
async fn a_join_dropped_then_made_again_stands() {
    let hub = hub_with(Slow {
        presence_add: Delay::After,
        ..Slow::new()
    })
    .await;
    let (reg, mut ws) = client(&hub, None).await;
    assert!(!poll_once_and_drop(hub.join(
        reg.id(),
        "r",
        JoinOptions::default()
    )));
    let joined = hub
        .join(reg.id(), "r", JoinOptions::default())
        .await
        .unwrap();
    assert_eq!(joined.presence.count, 1);
    assert_eq!(hub.rooms_of(reg.id()), ["r"]);
    assert_eq!(
        first_after_broadcast(&hub, "r", &reg, &mut ws).await,
        "to the room"
    );
    assert_eq!(
        members(&hub, "r").await,
        1,
        "the undo did not outrun the new join"
    );
}

#[tokio::test]
async fn a_leave_or_unregister_dropped_halfway_still_leaves() {
    let hub = hub_with(Slow {
        history: Delay::Before,
        presence_add: Delay::Before,
        presence_remove: Delay::Before,
        ..Slow::new()
    })
    .await;
    let (a, _a_ws) = client(&hub, None).await;
    let (b, _b_ws) = client(&hub, None).await;
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
