//! `WebSocket::split`: clones of the `Writer` used from many tasks at once while the `Reader`
//! reads. Messages are fragmented into many frames, so if two tasks' frames ever interleaved,
//! tungstenite would fail the connection; each message carries its task and sequence number
//! and a pattern, so a lost, reordered or corrupted message shows.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{
    CloseCode, Config, Initiator, Reader, Upgrader, WebSocket, WriteOptions, Writer,
};
use mywebsocket_tests::{
    assert_closed_by, assert_same_bytes, bounded, our_client_and_tungstenite_server,
    our_server_and_tungstenite_client, pattern, text_pattern, Task, TungsteniteIo,
};
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message as TMessage;

const TASKS: usize = 8;
const PER_TASK: usize = 100;
/// Messages the peer sends us while our writers run.
const FROM_PEER: usize = 200;

/// Message `seq` of writer `task`: text on even numbers, binary on odd, of varied length,
/// starting with `task:seq:`.
fn body(task: usize, seq: usize) -> (bool, Vec<u8>) {
    let len = 1 + (task * 131 + seq * 977) % 5000;
    let seed = (task * 16 + seq) as u8;
    let mut out = format!("{task}:{seq}:").into_bytes();
    let text = seq.is_multiple_of(2);
    if text {
        out.extend_from_slice(text_pattern(len, seed).as_bytes());
    } else {
        out.extend_from_slice(&pattern(len, seed));
    }
    (text, out)
}

/// Starts `TASKS` tasks, each sending `PER_TASK` messages through its own clone of `writer`,
/// fragmented into frames of a size that differs by task.
fn spawn_writers(writer: &Writer) -> Vec<Task<()>> {
    (0..TASKS)
        .map(|task| {
            let writer = writer.clone();
            Task::spawn(async move {
                let opts = WriteOptions::default().fragment_size(64 + 40 * task);
                for seq in 0..PER_TASK {
                    let (text, data) = body(task, seq);
                    let sent = if text {
                        let text = String::from_utf8(data).expect("ASCII");
                        writer.write_string_with(text, &opts).await
                    } else {
                        writer.write_binary_with(data, &opts).await
                    };
                    sent.unwrap_or_else(|e| panic!("writer {task} message {seq}: {e}"));
                }
            })
        })
        .collect()
}

/// Reads the peer's `FROM_PEER` messages on our side, in order, while the writers run.
fn spawn_reader(mut reader: Reader) -> Task<Reader> {
    Task::spawn(async move {
        for i in 0..FROM_PEER {
            let msg = reader.read_msg().await.unwrap();
            assert_eq!(msg.as_text(), Some(format!("peer {i}").as_str()));
        }
        reader
    })
}

/// Checks that `peer` receives all `TASKS * PER_TASK` messages intact, each writer's in its
/// order, while it sends `FROM_PEER` messages of its own; then lets our side close.
async fn exchange(ours: WebSocket, peer: WebSocketStream<impl TungsteniteIo>) {
    let (reader, writer) = ours.split();
    let (mut peer_tx, mut peer_rx) = peer.split();

    let writers = spawn_writers(&writer);
    let reader = spawn_reader(reader);
    let peer_sender = Task::spawn(async move {
        for i in 0..FROM_PEER {
            peer_tx
                .send(TMessage::text(format!("peer {i}")))
                .await
                .unwrap();
        }
        peer_tx
    });

    let mut next = [0usize; TASKS];
    for _ in 0..TASKS * PER_TASK {
        let msg = peer_rx
            .next()
            .await
            .expect("a message")
            .expect("a valid message");
        let (is_text, data) = match &msg {
            TMessage::Text(t) => (true, t.as_bytes()),
            TMessage::Binary(b) => (false, &b[..]),
            other => panic!("unexpected {other:?}"),
        };
        let head = String::from_utf8_lossy(&data[..data.len().min(12)]).into_owned();
        let mut fields = head.splitn(3, ':');
        let task: usize = fields.next().unwrap().parse().unwrap();
        let seq: usize = fields.next().unwrap().parse().unwrap();
        assert_eq!(seq, next[task], "writer {task}'s messages out of order");
        next[task] += 1;
        let (text, expected) = body(task, seq);
        assert_eq!(is_text, text, "type of message {task}:{seq}");
        assert_same_bytes(data, &expected, &format!("message {task}:{seq}"));
    }
    assert_eq!(next, [PER_TASK; TASKS]);

    for w in writers {
        w.join().await;
    }
    let mut reader = reader.join().await;
    let peer_tx = peer_sender.join().await;

    // Close from our side while the peer reads on.
    let peer = peer_rx.reunite(peer_tx).expect("halves of one stream");
    let peer = Task::spawn(async move {
        let mut peer = peer;
        let mut close = None;
        while let Some(msg) = peer.next().await {
            match msg.unwrap() {
                TMessage::Close(frame) => close = frame,
                TMessage::Ping(_) | TMessage::Pong(_) => {}
                other => panic!("a message after the 800: {other:?}"),
            }
        }
        close
    });
    writer.close(CloseCode::NORMAL, "all sent").await.unwrap();
    assert_closed_by(&reader.read_msg().await.unwrap_err(), Initiator::Local);
    let close = peer.join().await.expect("a close frame");
    assert_eq!(close.reason.as_str(), "all sent");
}

/// A small write buffer makes the writers wait for room (backpressure) as they go.
fn config() -> Config {
    Config::default().write_buffer_size(16 << 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_writer_clones_from_8_tasks_reach_tungstenite_client_intact() {
    bounded(async {
        let (server, client) = our_server_and_tungstenite_client(Upgrader::new(config())).await;
        exchange(server, client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_writer_clones_from_8_tasks_reach_tungstenite_server_intact() {
    bounded(async {
        let (client, server) = our_client_and_tungstenite_server(config()).await;
        exchange(client, server).await;
    })
    .await;
}

#[tokio::test]
async fn writer_outlives_a_dropped_reader() {
    bounded(async {
        let (client, mut server) = our_client_and_tungstenite_server(Config::default()).await;

        let (reader, writer) = client.split();
        drop(reader);
        writer.write_string("still writing").await.unwrap();
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            TMessage::text("still writing")
        );
        // Dropping the last handle ends the connection: what was queued is still sent first.
        writer.write_string("last").await.unwrap();
        drop(writer);
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            TMessage::text("last")
        );
        assert!(!matches!(
            server.next().await,
            Some(Ok(TMessage::Text(_) | TMessage::Binary(_)))
        ));
    })
    .await;
}
