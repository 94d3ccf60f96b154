//! The hub on one node (in-memory broker): delivery rules, recovery, presence, slow consumers.

mod common;

use std::time::Duration;

use common::client;
use mywebsocket::{CloseCode, Error, Message, WebSocket};
use mywebsocket_hub::{
    Encoder, Hub, HubConfig, JoinOptions, PresenceEvent, QueueStats, SlowConsumerPolicy, StreamId,
};
use tokio::time::timeout;

async fn next_text(ws: &mut WebSocket) -> String {
    let msg = timeout(Duration::from_secs(10), ws.read_msg())
        .await
        .expect("a message arrives")
        .expect("the connection is up");
    msg.as_text().expect("text").to_owned()
}

#[tokio::test]
async fn broadcast_except_skips_the_sender_only() {
    let hub = Hub::new(HubConfig::default());
    let (a, mut a_ws) = client(&hub, None).await;
    let (b, mut b_ws) = client(&hub, None).await;
    for r in [&a, &b] {
        hub.join(r.id(), "room", JoinOptions::default())
            .await
            .unwrap();
    }
    hub.broadcast_except("room", a.id(), Message::text("not to a"))
        .await
        .unwrap();
    hub.broadcast("room", Message::text("to all"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut b_ws).await, "not to a");
    assert_eq!(next_text(&mut b_ws).await, "to all");
    assert_eq!(next_text(&mut a_ws).await, "to all");
}

#[tokio::test]
async fn direct_messages_reach_the_connection_or_every_connection_of_a_user() {
    let hub = Hub::new(HubConfig::default());
    let (a1, mut a1_ws) = client(&hub, Some("ann")).await;
    let (_a2, mut a2_ws) = client(&hub, Some("ann")).await;
    let (_b, mut b_ws) = client(&hub, Some("bob")).await;
    hub.send_to_user("ann", Message::text("for ann"))
        .await
        .unwrap();
    hub.send_to_connection(a1.id(), Message::text("for a1"))
        .await
        .unwrap();
    hub.send_to_user("bob", Message::text("for bob"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut a1_ws).await, "for ann");
    assert_eq!(next_text(&mut a1_ws).await, "for a1");
    assert_eq!(next_text(&mut a2_ws).await, "for ann");
    assert_eq!(next_text(&mut b_ws).await, "for bob");
}

#[tokio::test]
async fn rejoining_with_the_last_id_replays_exactly_what_was_missed() {
    let hub = Hub::new(HubConfig::default().history_on_join(0));
    let (a, mut a_ws) = client(&hub, None).await;
    hub.join(a.id(), "r", JoinOptions::default()).await.unwrap();
    for n in 0..3 {
        hub.broadcast("r", Message::text(n.to_string()))
            .await
            .unwrap();
    }
    for n in 0..3 {
        assert_eq!(next_text(&mut a_ws).await, n.to_string());
    }
    a.unregister().await;
    for n in 3..6 {
        hub.broadcast("r", Message::text(n.to_string()))
            .await
            .unwrap();
    }
    let (b, mut b_ws) = client(&hub, None).await;
    // With the raw encoder, ids are not in the messages; the memory engine numbers 1, 2, ...
    let since = StreamId { ms: 0, seq: 3 };
    let joined = hub
        .join(b.id(), "r", JoinOptions::default().since(Some(since)))
        .await
        .unwrap();
    assert_eq!((joined.replayed, joined.gap), (3, false));
    hub.broadcast("r", Message::text("6")).await.unwrap();
    for n in 3..7 {
        assert_eq!(next_text(&mut b_ws).await, n.to_string());
    }
}

#[tokio::test]
async fn history_that_no_longer_reaches_back_is_reported_as_a_gap() {
    let hub = Hub::new(HubConfig::default().history_len(2));
    for n in 0..5 {
        hub.broadcast("r", Message::text(n.to_string()))
            .await
            .unwrap();
    }
    let (a, mut a_ws) = client(&hub, None).await;
    let joined = hub
        .join(
            a.id(),
            "r",
            JoinOptions::default().since(Some(StreamId { ms: 0, seq: 1 })),
        )
        .await
        .unwrap();
    assert!(joined.gap);
    assert_eq!(joined.replayed, 2);
    assert_eq!(next_text(&mut a_ws).await, "3");
    assert_eq!(next_text(&mut a_ws).await, "4");
}

#[tokio::test]
async fn presence_lists_members_and_announces_joins_and_leaves() {
    let hub = Hub::new(HubConfig::default());
    let mut events = hub.presence_events();
    let (a, _a_ws) = client(&hub, Some("ann")).await;
    let (b, _b_ws) = client(&hub, None).await;
    let meta = serde_json::json!({"nick": "ann"});
    hub.join(a.id(), "r", JoinOptions::default().meta(meta.clone()))
        .await
        .unwrap();
    let joined = hub.join(b.id(), "r", JoinOptions::default()).await.unwrap();
    assert_eq!(
        (joined.presence.members.len(), joined.presence.count),
        (2, 2)
    );
    let ann = joined
        .presence
        .members
        .iter()
        .find(|m| m.conn == a.id().as_str())
        .unwrap();
    assert_eq!((ann.user.as_deref(), &ann.meta), (Some("ann"), &meta));
    hub.leave(a.id(), "r").await.unwrap();
    assert_eq!(hub.presence("r").await.unwrap().count, 1);
    let kinds: Vec<(bool, String)> = (0..3)
        .map(|_| match events.try_recv().unwrap() {
            PresenceEvent::Join { member, .. } => (true, member.conn),
            PresenceEvent::Leave { member, .. } => (false, member.conn),
            _ => unreachable!("only joins and leaves exist"),
        })
        .collect();
    let (a_id, b_id) = (a.id().to_string(), b.id().to_string());
    assert_eq!(kinds, [(true, a_id.clone()), (true, b_id), (false, a_id)]);
    drop(b);
    // Dropping a registration leaves its rooms (asynchronously).
    timeout(Duration::from_secs(5), async {
        while hub.presence("r").await.unwrap().count > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the dropped connection leaves presence");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_with_the_policy_code() {
    let config = HubConfig::default()
        .queue_limits(8, 64 * 1024)
        .slow_consumer(SlowConsumerPolicy::Close(CloseCode::TRY_AGAIN_LATER));
    let hub = Hub::new(config);
    let (slow, mut slow_ws) = client(&hub, None).await;
    hub.join(slow.id(), "r", JoinOptions::default())
        .await
        .unwrap();
    let chunk = Message::binary(vec![0u8; 16 * 1024]);
    // Far more than the duplex pipe, the write buffer and the queue hold together.
    let mut sent = 0;
    while sent < 1000 && hub.queued_bytes() <= 64 * 1024 {
        hub.broadcast("r", chunk.clone()).await.unwrap();
        sent += 1;
        if sent % 16 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let code = timeout(Duration::from_secs(10), slow.closed())
        .await
        .unwrap();
    assert_eq!(code, CloseCode::TRY_AGAIN_LATER);
    assert!(hub.queued_bytes() <= 64 * 1024);
    let closing = loop {
        match timeout(Duration::from_secs(10), slow_ws.read_msg())
            .await
            .unwrap()
        {
            Ok(_) => continue,
            Err(Error::Closed { frame, .. }) => break frame.map(|f| f.code),
            Err(e) => panic!("expected the policy's close frame, got {e}"),
        }
    };
    assert_eq!(closing, Some(CloseCode::TRY_AGAIN_LATER));
}

#[tokio::test]
async fn queued_reports_a_dropping_queue_by_name() {
    let config = HubConfig::default()
        .queue_limits(8, 1 << 20)
        .slow_consumer(SlowConsumerPolicy::DropOldest);
    let hub = Hub::new(config);
    let (slow, _slow_ws) = client(&hub, None).await;
    assert_eq!(slow.queued(), QueueStats::default());
    hub.join(slow.id(), "r", JoinOptions::default())
        .await
        .unwrap();
    let chunk = Message::binary(vec![0u8; 16 * 1024]);
    // The client never reads: the pipe and the write buffer fill, then the queue drops.
    for sent in 1..=1000 {
        hub.broadcast("r", chunk.clone()).await.unwrap();
        if sent % 16 == 0 {
            tokio::task::yield_now().await;
        }
        if slow.queued().dropped > 0 {
            break;
        }
    }
    let stats = slow.queued();
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(stats.messages <= 8, "{stats:?}");
    assert!(stats.bytes >= stats.messages * 16 * 1024, "{stats:?}");
}

/// Announces joins as `join <conn>`; room messages as broadcast.
struct JoinNames;

impl Encoder for JoinNames {
    fn presence(&self, event: &PresenceEvent) -> Option<Message> {
        match event {
            PresenceEvent::Join { member, .. } => {
                Some(Message::text(format!("join {}", member.conn)))
            }
            _ => None,
        }
    }
}

#[tokio::test]
async fn rooms_past_the_presence_limit_list_a_page_and_stop_announcing_joins() {
    let hub = Hub::builder(HubConfig::default().presence_limit(3))
        .encoder(JoinNames)
        .build()
        .await
        .unwrap();
    let mut events = hub.presence_events();
    let mut clients = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let (reg, ws) = client(&hub, None).await;
        last = Some(
            hub.join(reg.id(), "big", JoinOptions::default())
                .await
                .unwrap(),
        );
        clients.push((reg, ws));
    }
    let presence = last.unwrap().presence;
    assert_eq!((presence.members.len(), presence.count), (3, 5));
    assert!(!presence.is_complete());
    assert_eq!(hub.presence("big").await.unwrap().count, 5);

    // The first member hears of the second and third joins (room of 2 and 3 members), not of
    // the fourth and fifth (4 and 5 > 3). A marker broadcast after them bounds the wait.
    hub.broadcast("big", Message::text("marker")).await.unwrap();
    let first = &mut clients[0].1;
    let mut joins = Vec::new();
    loop {
        let text = next_text(first).await;
        match text.split_once(' ') {
            Some(("join", conn)) => joins.push(conn.to_owned()),
            _ if text == "marker" => break,
            _ => panic!("unexpected {text}"),
        }
    }
    let expected: Vec<String> = clients[1..3]
        .iter()
        .map(|(reg, _)| reg.id().to_string())
        .collect();
    assert_eq!(joins, expected);
    // The hub's own event stream still carries every change.
    assert_eq!((0..5).filter(|_| events.try_recv().is_ok()).count(), 5);
}

#[tokio::test]
async fn a_close_is_refused_by_every_send_and_nothing_reaches_the_room() {
    let hub = Hub::new(HubConfig::default());
    let (a, mut a_ws) = client(&hub, Some("ann")).await;
    hub.join(a.id(), "room", JoinOptions::default())
        .await
        .unwrap();
    let close = || Message::close(CloseCode::GOING_AWAY, "everyone out");
    let refused = [
        hub.broadcast("room", close()).await,
        hub.broadcast_except("room", a.id(), close()).await,
        hub.send_to_connection(a.id(), close()).await,
        hub.send_to_user("ann", close()).await,
        hub.broadcast("room", Message::Close(None)).await,
    ];
    for result in refused {
        assert!(
            matches!(result, Err(mywebsocket_hub::HubError::CloseNotDeliverable)),
            "{result:?}"
        );
    }
    // The connection stays open, and the next message is the next data message.
    hub.broadcast("room", Message::text("still here"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut a_ws).await, "still here");
}
