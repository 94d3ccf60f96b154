//! The read, write and close timeouts of `Config`, against raw peers that stop cooperating.

use std::time::Duration;

use mywebsocket::{CloseCode, Config, Error, Initiator, Message, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    assert_closed_by, bounded, our_client_and_raw_server, our_server_and_raw_client, pattern,
    raw_frame, Task,
};
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

const SHORT: Duration = Duration::from_millis(200);
/// Generous: the machine may be busy with other tests.
const LATEST: Duration = Duration::from_secs(5);

#[tokio::test]
async fn read_timeout_ends_a_read_that_gets_no_message() {
    bounded(async {
        let config = Config::default().no_heartbeat().read_timeout(Some(SHORT));
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        // A message in time is fine; pings alone do not count as messages.
        let key = Some([1, 2, 3, 4]);
        peer.send_frame(raw_frame(
            true,
            OpCode::Data(Data::Text),
            &b"on time"[..],
            key,
        ))
        .await;
        assert_eq!(server.read_msg().await.unwrap().as_text(), Some("on time"));

        let start = Instant::now();
        peer.send_frame(raw_frame(
            true,
            OpCode::Control(Control::Ping),
            Vec::new(),
            key,
        ))
        .await;
        let err = server.read_msg().await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
        assert!(elapsed >= SHORT, "timed out after {elapsed:?}");
        assert!(elapsed < LATEST, "timed out only after {elapsed:?}");

        // The connection is ended with 1001.
        assert_eq!(peer.read_close().await.0, 1001);
        peer.expect_eof().await;
    })
    .await;
}

#[tokio::test]
async fn close_timeout_ends_a_close_the_peer_never_answers() {
    bounded(async {
        let config = Config::default().close_timeout(SHORT);
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        let start = Instant::now();
        let err = server.close(CloseCode::NORMAL, "bye").await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, Error::Timeout(TimeoutKind::Close)), "{err:?}");
        assert!(elapsed >= SHORT, "gave up after {elapsed:?}");
        assert!(elapsed < LATEST, "gave up only after {elapsed:?}");

        assert_eq!(peer.read_close().await, (1000, "bye".to_owned()));
        peer.expect_eof().await;
        assert_closed_by(&server.read_msg().await.unwrap_err(), Initiator::Local);
    })
    .await;
}

/// A close started by a writer handle (`Writer::close`, or writing a `Message::Close`) gives
/// the peer the same close timeout as `WebSocket::close`: without a heartbeat or a read
/// timeout, a peer that never answers would otherwise hold the connection for ever.
#[tokio::test]
async fn close_timeout_ends_a_writer_close_the_peer_never_answers() {
    for via_message in [false, true] {
        bounded(async {
            let config = Config::default().no_heartbeat().close_timeout(SHORT);
            let (server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;
            let (mut reader, writer) = server.split();

            let start = Instant::now();
            if via_message {
                writer
                    .write_message(Message::close(CloseCode::NORMAL, "bye"))
                    .await
                    .unwrap();
            } else {
                writer.close(CloseCode::NORMAL, "bye").await.unwrap();
            }
            let err = reader.read_msg().await.unwrap_err();
            let elapsed = start.elapsed();
            assert!(matches!(err, Error::Timeout(TimeoutKind::Close)), "{err:?}");
            assert!(elapsed >= SHORT, "gave up after {elapsed:?}");
            assert!(elapsed < LATEST, "gave up only after {elapsed:?}");

            assert_eq!(peer.read_close().await, (1000, "bye".to_owned()));
            peer.expect_eof().await;
        })
        .await;
    }
}

/// The server answered in time, so the closing handshake is complete: `close` returns `Ok`
/// (whether or not the server then ends TCP within the close timeout) and the server's
/// answer is reported by later reads.
#[tokio::test]
async fn client_close_waits_for_server_to_end_tcp_at_most_close_timeout() {
    bounded(async {
        let config = Config::default().close_timeout(SHORT);
        let (mut client, mut peer) = our_client_and_raw_server(config).await;

        // The raw server answers the close but keeps TCP open: the client waits for the end
        // of the stream (RFC 6455 §7.1.1) only up to the close timeout.
        let answer = Task::spawn(async move {
            let got = peer.read_close().await;
            let mut payload = got.0.to_be_bytes().to_vec();
            payload.extend_from_slice(got.1.as_bytes());
            peer.send_frame(raw_frame(
                true,
                OpCode::Control(Control::Close),
                payload,
                None,
            ))
            .await;
            peer.expect_eof().await;
            got
        });
        let start = Instant::now();
        client.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(start.elapsed() < LATEST, "{:?}", start.elapsed());
        assert_eq!(answer.join().await, (1000, "done".to_owned()));
        // The server's answer is what ended the connection.
        match client.read_msg().await.unwrap_err() {
            Error::Closed {
                frame: Some(frame),
                initiator: Initiator::Local,
            } => assert_eq!(frame.code, CloseCode::NORMAL),
            other => panic!("expected Closed with the server's answer, got {other:?}"),
        }
    })
    .await;
}

/// Writes to a peer that never reads: once the socket buffers are full, the write task gives
/// up after the write timeout, and the next call reports it.
#[tokio::test]
async fn write_timeout_reports_a_peer_that_stopped_reading() {
    bounded(async {
        let config = Config::default().no_heartbeat().write_timeout(Some(SHORT));
        // The peer never reads.
        let (server, _peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        // Far more than loopback socket buffers hold.
        let chunk = pattern(1 << 20, 0);
        let start = Instant::now();
        let err = loop {
            if let Err(e) = server.write_binary(chunk.clone()).await {
                break e;
            }
            assert!(start.elapsed() < LATEST, "writes never failed");
        };
        assert!(matches!(err, Error::Timeout(TimeoutKind::Write)), "{err:?}");
    })
    .await;
}

/// `flush` promises to wait until the queued messages are on the socket, and to return the
/// socket's error otherwise.
#[tokio::test]
async fn flush_reports_a_write_timeout() {
    bounded(async {
        let config = Config::default().no_heartbeat().write_timeout(Some(SHORT));
        // The peer never reads.
        let (server, _peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        // 32 MiB cannot fit in loopback socket buffers, so this write cannot complete.
        server.write_binary(vec![0u8; 32 << 20]).await.unwrap();
        let flushed = server.flush().await;
        assert!(
            matches!(flushed, Err(Error::Timeout(TimeoutKind::Write))),
            "flush returned {flushed:?} though the message never reached the socket"
        );
    })
    .await;
}

/// The peer's time to answer a close counts from when our close frame is written, not from
/// when it is queued (RFC 6455 §7.1.2; `Timers::on_close_sent`): a close stuck behind data the
/// peer does not read ends with the write timeout, not with a close timeout that started
/// before the peer could see the frame.
#[tokio::test]
async fn the_close_timeout_counts_from_the_written_close() {
    bounded(async {
        let config = Config::default()
            .no_heartbeat()
            .close_timeout(SHORT)
            .write_timeout(Some(SHORT * 4));
        // The peer never reads.
        let (mut server, _peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        // 32 MiB cannot fit in loopback socket buffers: the close frame waits behind it.
        server.write_binary(vec![0u8; 32 << 20]).await.unwrap();
        let start = Instant::now();
        let err = server.close(CloseCode::NORMAL, "bye").await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Write)),
            "{err:?} after {elapsed:?}"
        );
        assert!(elapsed >= SHORT * 4, "gave up after {elapsed:?}");
        assert!(elapsed < LATEST, "gave up only after {elapsed:?}");
    })
    .await;
}

/// A client that received the server's close but could not write its answer (the server
/// stopped reading) did not complete the closing handshake: when its wait for the server to
/// end TCP runs out, the read reports the close timeout, not a clean close
/// (`Control::on_eof_timeout`).
#[tokio::test]
async fn an_answer_that_never_got_out_is_a_close_timeout() {
    bounded(async {
        let config = Config::default()
            .no_heartbeat()
            .close_timeout(SHORT)
            .write_timeout(None);
        let (mut client, mut peer) = our_client_and_raw_server(config).await;
        // The raw server never reads: 32 MiB from the client fill the socket buffers, and the
        // client's answer to the close waits behind them.
        client.write_binary(vec![0u8; 32 << 20]).await.unwrap();
        peer.send_frame(raw_frame(
            true,
            OpCode::Control(Control::Close),
            1000u16.to_be_bytes().to_vec(),
            None,
        ))
        .await;
        let start = Instant::now();
        let err = client.read_msg().await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Close)),
            "{err:?} after {elapsed:?}"
        );
        assert!(elapsed >= SHORT, "gave up after {elapsed:?}");
        assert!(elapsed < LATEST, "gave up only after {elapsed:?}");
    })
    .await;
}
