//! WebSockets over HTTP/2 (RFC 8441) in both roles: our `h2::serve_connection` and
//! `Upgrader::upgrade` under hyper's HTTP/2 server, our `Http2Connection` client, and the h2
//! crate's client sending extended CONNECTs by hand for what ours never sends.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use mywebsocket::h2::{serve_connection, Http2Connection, STREAM_WINDOW};
use mywebsocket::{CloseCode, Config, Error, HandshakeError, Message, Upgrader, WebSocket};
use mywebsocket_tests::{assert_closed, bounded, echo, listen, pattern, Task};
use tokio::sync::mpsc;

/// Serves HTTP/2 connections on a free port until the test ends; every WebSocket goes to
/// `handler`.
async fn spawn_h2_server<F, Fut>(upgrader: Upgrader, handler: F) -> (SocketAddr, Task<()>)
where
    F: Fn(WebSocket) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("nodelay");
            tokio::spawn(serve_connection(tcp, upgrader.clone(), handler.clone()));
        }
    });
    (addr, task)
}

async fn echo_server() -> (SocketAddr, Task<()>) {
    spawn_h2_server(Upgrader::default(), |ws| async move {
        echo(ws).await;
    })
    .await
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

#[tokio::test]
async fn several_websockets_share_one_connection_and_echo() {
    bounded(async {
        let (addr, _server) = echo_server().await;
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let mut sockets = Vec::new();
        for i in 0..5 {
            let (ws, response) = connection
                .websocket(&url(addr, &format!("/{i}")), Config::default())
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), http::Version::HTTP_2);
            sockets.push(ws);
        }
        // Interleaved: every stream carries its own messages, large ones across many frames
        // and windows.
        for (i, ws) in sockets.iter_mut().enumerate() {
            ws.write_string(format!("hello {i}")).await.unwrap();
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            assert_eq!(
                ws.read_msg().await.unwrap(),
                Message::text(format!("hello {i}"))
            );
        }
        let big = pattern(3 * STREAM_WINDOW as usize + 17, 9);
        for ws in &mut sockets {
            ws.write_binary(big.clone()).await.unwrap();
        }
        for ws in &mut sockets {
            assert_eq!(ws.read_msg().await.unwrap(), Message::binary(big.clone()));
        }
        for ws in &mut sockets {
            ws.close(CloseCode::NORMAL, "bye").await.unwrap();
            let err = ws.read_msg().await.unwrap_err();
            // The echo's answer: the code, without the reason.
            assert_closed(&err, 1000, "", mywebsocket::Initiator::Local);
        }
    })
    .await;
}

#[tokio::test]
async fn a_websocket_that_does_not_read_stalls_only_its_own_stream() {
    bounded(async {
        // The server floods every WebSocket; the client reads all but the first.
        let (addr, _server) = spawn_h2_server(Upgrader::default(), |ws| async move {
            let chunk = Bytes::from(pattern(64 * 1024, 3));
            loop {
                if ws.write_binary(chunk.clone()).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let (stalled, _) = connection
            .websocket(&url(addr, "/stalled"), Config::default())
            .await
            .unwrap();
        let mut readers = Vec::new();
        for i in 0..3 {
            let (ws, _) = connection
                .websocket(&url(addr, &format!("/{i}")), Config::default())
                .await
                .unwrap();
            readers.push(ws);
        }
        // Far more than one stream window and than the connection's share of the stalled one.
        let want = 8 * STREAM_WINDOW as usize;
        for ws in &mut readers {
            let mut got = 0;
            while got < want {
                match ws.read_msg().await.unwrap() {
                    Message::Binary(b) => got += b.len(),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        drop(stalled);

        // The other way: the client floods a server WebSocket that does not read, and a
        // second WebSocket on the same connection still echoes.
        let (tx, mut parked) = mpsc::unbounded_channel();
        let parking = Upgrader::new(Config::default().protocols(["park"]));
        let (addr, _server) = spawn_h2_server(parking, move |ws| {
            let tx = tx.clone();
            async move {
                if ws.protocol() == Some("park") {
                    let _ = tx.send(ws);
                } else {
                    echo(ws).await;
                }
            }
        })
        .await;
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let park = Config::default().protocols(["park"]);
        let (flooder, _) = connection
            .websocket(&url(addr, "/park"), park)
            .await
            .unwrap();
        let _held = parked.recv().await.unwrap();
        let (mut echoing, _) = connection
            .websocket(&url(addr, "/echo"), Config::default())
            .await
            .unwrap();
        let chunk = Bytes::from(pattern(32 * 1024, 5));
        // The flooder's writes stop once its stream window, the server's buffers and its own
        // write queue are full; meanwhile the echo goes on.
        let flood = async {
            loop {
                flooder.write_binary(chunk.clone()).await.unwrap();
            }
        };
        let exchange = async {
            for i in 0..50 {
                echoing.write_string(format!("{i}")).await.unwrap();
                assert_eq!(
                    echoing.read_msg().await.unwrap(),
                    Message::text(format!("{i}"))
                );
            }
        };
        tokio::select! {
            () = flood => unreachable!("the flood never ends"),
            () = exchange => {}
        }
    })
    .await;
}

#[tokio::test]
async fn subprotocol_deflate_and_limits_apply_over_h2() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().protocols(["chat"]).max_connections(2));
        let (addr, _server) = spawn_h2_server(upgrader, |ws| async move {
            echo(ws).await;
        })
        .await;
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let offer = Config::default().protocols(["other", "chat"]);
        let (mut a, response) = connection
            .websocket(&url(addr, "/"), offer.clone())
            .await
            .unwrap();
        assert_eq!(a.protocol(), Some("chat"));
        assert!(
            response
                .headers()
                .get("sec-websocket-extensions")
                .is_some_and(|v| v.to_str().unwrap().contains("permessage-deflate")),
            "deflate is agreed over h2: {response:?}"
        );
        let text = "compressible ".repeat(1000);
        a.write_string(text.clone()).await.unwrap();
        assert_eq!(a.read_msg().await.unwrap(), Message::text(text));

        let (_b, _) = connection
            .websocket(&url(addr, "/"), offer.clone())
            .await
            .unwrap();
        // The third is over the limit of 2: 503, and the connection goes on.
        let err = connection
            .websocket(&url(addr, "/"), offer.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Handshake(HandshakeError::UnexpectedStatus(503))),
            "{err:?}"
        );
        a.write_string("still here").await.unwrap();
        assert_eq!(a.read_msg().await.unwrap(), Message::text("still here"));
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_h2_websockets_with_1001_and_ends_the_connection() {
    bounded(async {
        let upgrader = Upgrader::default();
        let (listener, addr) = listen().await;
        let served = {
            let upgrader = upgrader.clone();
            Task::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                serve_connection(tcp, upgrader, |ws| async move {
                    echo(ws).await;
                })
                .await
            })
        };
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let (mut a, _) = connection
            .websocket(&url(addr, "/"), Config::default())
            .await
            .unwrap();
        let (mut b, _) = connection
            .websocket(&url(addr, "/"), Config::default())
            .await
            .unwrap();
        // Both are live on the server before the shutdown starts.
        for ws in [&mut a, &mut b] {
            ws.write_string("ping").await.unwrap();
            ws.read_msg().await.unwrap();
        }
        // The clients keep reading, as they must to answer the close.
        let read_close = |mut ws: WebSocket| async move {
            let err = ws.read_msg().await.unwrap_err();
            assert_closed(
                &err,
                1001,
                "server shutting down",
                mywebsocket::Initiator::Remote,
            );
            ws
        };
        let (report, a, b) = tokio::join!(
            upgrader.shutdown(Duration::from_secs(5)),
            read_close(a),
            read_close(b)
        );
        assert_eq!((report.connections, report.forced), (2, 0));
        drop((a, b, connection));
        served.join().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_server_without_extended_connect_is_told_apart_at_once() {
    bounded(async {
        // hyper's HTTP/2 server as it comes, without `enable_connect_protocol()`.
        let (listener, addr) = listen().await;
        let _server = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(
                    http_body_util::Empty::<Bytes>::new(),
                ))
            });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
        let err = Http2Connection::connect(&url(addr, "/")).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Handshake(HandshakeError::ExtendedConnectDisabled)
            ),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idle_connection_is_ended_but_not_one_carrying_a_websocket() {
    bounded(async {
        let config = Config::default().handshake_timeout(Duration::from_millis(300));
        let upgrader = Upgrader::new(config);
        let (listener, addr) = listen().await;
        let served = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            serve_connection(tcp, upgrader, |ws| async move {
                echo(ws).await;
            })
            .await
        });
        // A connection with a WebSocket on it outlives the idle period many times over, even
        // when no message crosses it.
        let connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        let (mut ws, _) = connection
            .websocket(&url(addr, "/"), Config::default())
            .await
            .unwrap();
        // Four idle periods: the duration under test, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        ws.write_string("still open").await.unwrap();
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("still open"));
        // No GOAWAY was sent: the connection still takes new streams.
        let (mut second, _) = connection
            .websocket(&url(addr, "/"), Config::default())
            .await
            .unwrap();
        // Once its last WebSocket ends, the connection is idle and the server ends it.
        for ws in [&mut ws, &mut second] {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            assert!(ws.read_msg().await.unwrap_err().is_closed());
        }
        drop((ws, second));
        served.join().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_never_opens_a_stream_is_ended() {
    bounded(async {
        let config = Config::default().handshake_timeout(Duration::from_millis(200));
        let (listener, addr) = listen().await;
        let served = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            serve_connection(tcp, Upgrader::new(config), |_ws| async {}).await
        });
        let _connection = Http2Connection::connect(&url(addr, "/")).await.unwrap();
        served.join().await.unwrap();
    })
    .await;
}
