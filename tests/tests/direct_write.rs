//! The write path with no hop (`conn/direct.rs`): a writer that finds the queue empty writes
//! to the socket itself. What the socket does not take goes first in the write task's next
//! batch, so messages stay whole and in order whether they went directly, half directly, or
//! through the queue.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, SinkExt, StreamExt};
use mywebsocket::{Config, Message, Role, WebSocket, Writer};
use mywebsocket_tests::{bounded, pattern, spawn_echo_server, tungstenite_connect, Task};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::Role as TRole;
use tokio_tungstenite::WebSocketStream;

/// Payload sizes from empty to several times the pipe, so direct writes are whole, partial
/// (the rest handed to the write task) and refused (the socket full) in one run.
fn sizes() -> Vec<usize> {
    let mut sizes = vec![
        0, 1, 125, 126, 1000, 4095, 4096, 5000, 65_535, 65_536, 200_000,
    ];
    sizes.extend((0..40).map(|i| (i * 7919) % 9000));
    sizes
}

/// Polls a read once (nothing is there to read), which makes this task the connection's
/// reader, the one task whose writes go to the socket directly.
async fn read_once(ws: &mut WebSocket) {
    tokio::select! {
        biased;
        read = ws.read_msg() => panic!("nothing was sent: {read:?}"),
        () = std::future::ready(()) => {}
    }
}

/// A burst written back to back into a small pipe: the first message goes directly and only in
/// part, the next ones queue behind its rest. The peer gets each whole and in order.
#[tokio::test]
async fn a_burst_into_a_small_pipe_arrives_whole_and_in_order() {
    bounded(async {
        for role in [Role::Server, Role::Client] {
            let (ours, theirs) = tokio::io::duplex(1024);
            let ws = WebSocket::from_upgraded(ours, role, Config::default().no_heartbeat());
            let peer_role = match role {
                Role::Server => TRole::Client,
                Role::Client => TRole::Server,
            };
            let mut peer = WebSocketStream::from_raw_socket(theirs, peer_role, None).await;
            let sizes = sizes();
            let expected = sizes.clone();
            let writing = Task::spawn(async move {
                let mut ws = ws;
                // Only the task that reads the connection writes directly.
                read_once(&mut ws).await;
                let writer = ws.writer();
                for (i, n) in sizes.into_iter().enumerate() {
                    writer.write_binary(pattern(n, i as u8)).await.unwrap();
                }
                writer.flush().await.unwrap();
                ws
            });
            for (i, n) in expected.into_iter().enumerate() {
                match peer.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                        assert_eq!(data.len(), n, "message {i}");
                        assert_eq!(&data[..], &pattern(n, i as u8)[..], "message {i}");
                    }
                    other => panic!("{role:?}: message {i}: {other:?}"),
                }
            }
            let _ws = writing.join().await;
        }
    })
    .await;
}

/// Request and answer, one at a time (the case the direct path is for), over TCP: every
/// answer is the request, whole.
#[tokio::test]
async fn one_message_in_flight_round_trips() {
    bounded(async {
        let (addr, _server) = spawn_echo_server(Config::default()).await;
        let mut client = tungstenite_connect(addr).await;
        for (i, n) in sizes().into_iter().cycle().take(500).enumerate() {
            let sent = pattern(n, i as u8);
            client
                .send(tokio_tungstenite::tungstenite::Message::Binary(
                    sent.clone().into(),
                ))
                .await
                .unwrap();
            match client.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                    assert_eq!(&data[..], &sent[..], "round trip {i}");
                }
                other => panic!("round trip {i}: {other:?}"),
            }
        }
    })
    .await;
}

/// A write straight into a socket whose peer is gone reports the failure to the writer (the
/// message did not go), and to every later call. (In a task: only the task that reads a
/// connection writes to it directly, and a test's body is not a task.)
#[tokio::test]
async fn a_direct_write_into_a_dead_socket_is_an_error() {
    bounded(async {
        Task::spawn(async {
            let (ours, theirs) = tokio::io::duplex(1024);
            let mut ws =
                WebSocket::from_upgraded(ours, Role::Server, Config::default().no_heartbeat());
            read_once(&mut ws).await;
            // Once flushed, the write task is running and the socket waits in its slot.
            ws.write_binary(vec![1u8; 10]).await.unwrap();
            ws.flush().await.unwrap();
            drop(theirs);
            let e = ws
                .write_binary(vec![1u8; 10])
                .await
                .expect_err("written directly into a closed pipe, the first write fails");
            assert!(matches!(e, mywebsocket::Error::Io(_)), "{e:?}");
            assert!(ws.write_binary(vec![1u8; 10]).await.is_err());
        })
        .join()
        .await;
    })
    .await;
}

/// A stream that never yields a byte and hands what is written to `F`.
struct WriteOnly<F>(F);

impl<F: Unpin> AsyncRead for WriteOnly<F> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl<F> AsyncWrite for WriteOnly<F>
where
    F: FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>> + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        (self.0)(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A byte stream carried in the binary messages of another connection's `Writer` (a tunnel):
/// a connection over it writes, from inside its own direct write, to the carrying one.
fn tunnel(
    mut carrier: Writer,
) -> WriteOnly<impl FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>> + Unpin> {
    WriteOnly(move |cx: &mut Context<'_>, buf: &[u8]| {
        let mut carrier = Pin::new(&mut carrier);
        ready!(carrier.as_mut().poll_ready(cx)).map_err(io::Error::other)?;
        carrier
            .start_send(Message::Binary(buf.to_vec().into()))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    })
}

/// A direct write made from inside another direct write (a connection tunnelled through
/// another's `Writer`, both read by one task) goes through: each has its own copy buffer.
#[tokio::test]
async fn a_direct_write_inside_another_goes_through() {
    bounded(async {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let mut peer = WebSocketStream::from_raw_socket(theirs, TRole::Client, None).await;
        let sending = Task::spawn(async move {
            let config = Config::default().no_heartbeat();
            let mut carrier = WebSocket::from_upgraded(ours, Role::Server, config.clone());
            let mut inner =
                WebSocket::from_upgraded(tunnel(carrier.writer()), Role::Server, config);
            read_once(&mut carrier).await;
            read_once(&mut inner).await;
            // Flushed once each, so both write tasks have their sockets in their slots: the
            // next write of each goes directly.
            for i in 0..2u8 {
                inner.write_binary(vec![i; 10]).await.unwrap();
                inner.flush().await.unwrap();
                carrier.flush().await.unwrap();
            }
            (carrier, inner)
        });
        for i in 0..2u8 {
            match peer.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                    // The inner connection's frame, whole: binary, final, 10 bytes.
                    let mut frame = vec![0x82, 10];
                    frame.extend_from_slice(&[i; 10]);
                    assert_eq!(&data[..], &frame[..], "tunnelled message {i}");
                }
                other => panic!("tunnelled message {i}: {other:?}"),
            }
        }
        let _ = sending.join().await;
    })
    .await;
}

/// A stream that panics inside a direct write takes the writing task down, but not the
/// connection's other handles: they get an error instead of waiting for ever.
#[tokio::test]
async fn a_stream_that_panics_in_a_direct_write_fails_the_connection() {
    bounded(async {
        // Takes its first write and panics in the second.
        let mut writes = 0;
        let stream = WriteOnly(move |_: &mut Context<'_>, buf: &[u8]| {
            writes += 1;
            assert!(writes < 2, "the stream panics");
            Poll::Ready(Ok(buf.len()))
        });
        let mut ws =
            WebSocket::from_upgraded(stream, Role::Server, Config::default().no_heartbeat());
        let other = ws.writer();
        let panicked = tokio::spawn(async move {
            read_once(&mut ws).await;
            ws.write_binary(vec![1u8; 10]).await.unwrap();
            ws.flush().await.unwrap();
            let _ = ws.write_binary(vec![2u8; 10]).await;
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()), "the stream panicked");
        assert!(other.write_binary(vec![3u8; 10]).await.is_err());
        assert!(other.flush().await.is_err());
    })
    .await;
}
