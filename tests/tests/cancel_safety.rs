//! What a dropped write, close or flush future leaves behind, as each one's `# Cancel safety`
//! section says (the reads' cancel safety is in `cancellation.rs`).

use std::pin::pin;

use futures_util::poll;
use mywebsocket::{connect_with, CloseCode, Config, DeflateConfig, Error, Message, Upgrader};
use mywebsocket_tests::{bounded, pattern, Task};

/// Our server and our client over a pipe of `pipe` bytes, both with `config`.
async fn pair(config: Config, pipe: usize) -> (mywebsocket::WebSocket, mywebsocket::WebSocket) {
    let (client_io, server_io) = tokio::io::duplex(pipe);
    let server_config = config.clone();
    let server = Task::spawn(async move { Upgrader::new(server_config).accept(server_io).await });
    let request = http::Request::get("ws://example.com/").body(()).unwrap();
    let (client, _) = connect_with(client_io, request, config).await.unwrap();
    (server.join().await.unwrap(), client)
}

/// A write dropped while it waits for room in the write queue has queued nothing: the next
/// write's message is the next on the wire, with or without compression.
#[tokio::test]
async fn a_write_dropped_on_backpressure_queues_nothing() {
    let plain = Config::default().no_heartbeat().deflate(None);
    let compressing = Config::default()
        .no_heartbeat()
        .deflate(Some(DeflateConfig::default().threshold(0)));
    for config in [plain, compressing] {
        bounded(async {
            // One waiting byte fills the queue, and the pipe holds far less than a message.
            let (server, mut client) = pair(config.write_buffer_size(1), 1024).await;
            let first = Message::binary(pattern(256 << 10, 1));
            server.write_message(first.clone()).await.unwrap();
            // The write task is stuck writing `first` into the full pipe: the queue is full.
            {
                let dropped = pin!(server.write_string("dropped while waiting"));
                let mut dropped = dropped;
                assert!(poll!(dropped.as_mut()).is_pending(), "no room yet");
            }
            let writer = server.writer();
            let next = Task::spawn(async move { writer.write_string("next").await });
            assert_eq!(client.read_msg().await.unwrap(), first);
            next.join().await.unwrap();
            assert_eq!(client.read_msg().await.unwrap(), Message::text("next"));
        })
        .await;
    }
}

/// A `close` dropped after its first poll has queued its close frame: the peer sees it, and a
/// second `close` finishes the handshake.
#[tokio::test]
async fn a_close_dropped_after_its_first_poll_has_sent_the_close_frame() {
    bounded(async {
        let (mut server, mut client) = pair(Config::default().no_heartbeat(), 1 << 16).await;
        {
            let closing = pin!(server.close(CloseCode::GOING_AWAY, "bye"));
            let mut closing = closing;
            assert!(
                poll!(closing.as_mut()).is_pending(),
                "the peer has not answered"
            );
        }
        assert!(
            server.writer().is_closed(),
            "the dropped close queued its frame"
        );
        // The client answers the close, then waits for the server to end TCP, which it does
        // once the second `close` reads that answer.
        let client = Task::spawn(async move { client.read_msg().await });
        server.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
        match client.join().await {
            Err(Error::Closed {
                frame: Some(frame), ..
            }) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("expected the server's close frame, got {other:?}"),
        }
    })
    .await;
}

/// A `flush` dropped while it waits takes nothing back: what was queued is still written.
#[tokio::test]
async fn a_dropped_flush_leaves_the_queue_alone() {
    bounded(async {
        let (server, mut client) = pair(Config::default().no_heartbeat().deflate(None), 1024).await;
        let big = Message::binary(pattern(64 << 10, 2));
        server.write_message(big.clone()).await.unwrap();
        {
            let flushing = pin!(server.flush());
            let mut flushing = flushing;
            assert!(poll!(flushing.as_mut()).is_pending(), "the pipe is full");
        }
        assert_eq!(client.read_msg().await.unwrap(), big);
        server.flush().await.unwrap();
    })
    .await;
}
