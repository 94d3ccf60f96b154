//! HTTP/2 connections that peers do not finish: silent clients (before or after their
//! preface, or not answering the GOAWAY's PING), a shutdown with such a client, a WebSocket
//! handed off by its handler, and our client's own limit of streams per connection.

use std::time::Duration;

use mywebsocket::h2::{serve_connection, Http2Connection, MAX_STREAMS, PREFACE};
use mywebsocket::{Config, Error, TimeoutKind, Upgrader};
use mywebsocket_tests::{bounded, echo, listen, Task};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// An empty SETTINGS frame: a client's whole side of the HTTP/2 handshake after the preface.
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Short timeouts, so that a connection given up is given up quickly.
fn quick() -> Config {
    Config::default()
        .handshake_timeout(Duration::from_millis(200))
        .close_timeout(Duration::from_millis(300))
}

/// Serves one connection; the task ends with `serve_connection`.
async fn serve_one(upgrader: Upgrader) -> (std::net::SocketAddr, Task<mywebsocket::Result<()>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        serve_connection(tcp, upgrader, |ws| async move {
            echo(ws).await;
        })
        .await
    });
    (addr, task)
}

#[tokio::test]
async fn silent_clients_are_ended_before_and_after_their_preface() {
    bounded(async {
        // No preface at all: hyper is still waiting for the handshake.
        let (addr, served) = serve_one(Upgrader::new(quick())).await;
        let silent = TcpStream::connect(addr).await.unwrap();
        served.join().await.unwrap();
        drop(silent);

        // The preface and SETTINGS, then nothing: the GOAWAY's PING is never answered.
        let (addr, served) = serve_one(Upgrader::new(quick())).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        silent.write_all(PREFACE).await.unwrap();
        silent.write_all(&EMPTY_SETTINGS).await.unwrap();
        served.join().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_shutdown_ends_a_connection_whose_client_is_silent() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().close_timeout(Duration::from_millis(300)));
        let (addr, served) = serve_one(upgrader.clone()).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        silent.write_all(PREFACE).await.unwrap();
        silent.write_all(&EMPTY_SETTINGS).await.unwrap();
        let report = upgrader.shutdown(Duration::from_millis(300)).await;
        assert_eq!(report.connections, 0);
        served.join().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_websocket_handed_off_by_its_handler_keeps_the_connection_open() {
    bounded(async {
        // The handler passes its WebSocket on (as to a hub) and returns at once.
        let (tx, mut held) = mpsc::unbounded_channel();
        let (listener, addr) = listen().await;
        let _served = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            serve_connection(tcp, Upgrader::new(quick()), move |ws| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(ws);
                }
            })
            .await
        });
        let url = format!("ws://{addr}/");
        let connection = Http2Connection::connect(&url).await.unwrap();
        let (_first, _) = connection.websocket(&url, Config::default()).await.unwrap();
        let _kept = held.recv().await.unwrap();
        // Five idle periods with the handler long gone: the open WebSocket keeps the
        // connection from counting as idle (a GOAWAY would refuse the next stream).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = connection.websocket(&url, Config::default()).await;
        assert!(second.is_ok(), "{:?}", second.err());
    })
    .await;
}

#[tokio::test]
async fn our_client_holds_at_most_max_streams_websockets_per_connection() {
    bounded(async {
        // A server that would take more streams than we open.
        let mut builder = mywebsocket::h2::server_builder();
        builder.max_concurrent_streams(MAX_STREAMS * 2);
        let (listener, addr) = listen().await;
        let _served = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let upgrader = Upgrader::default();
            let service = hyper::service::service_fn(move |mut req| {
                let response =
                    match upgrader.upgrade::<_, http_body_util::Empty<bytes::Bytes>>(&mut req) {
                        Ok((response, upgrade)) => {
                            tokio::spawn(async move {
                                if let Ok(ws) = upgrade.await {
                                    echo(ws).await;
                                }
                            });
                            response
                        }
                        Err(e) => http::Response::builder()
                            .status(e.status())
                            .body(http_body_util::Empty::new())
                            .unwrap(),
                    };
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
        let url = format!("ws://{addr}/");
        let connection = Http2Connection::connect(&url).await.unwrap();
        let mut open = Vec::new();
        for _ in 0..MAX_STREAMS {
            open.push(
                connection
                    .websocket(&url, Config::default())
                    .await
                    .unwrap()
                    .0,
            );
        }
        // One more waits for a slot, here past its handshake timeout.
        let waiting = Config::default().handshake_timeout(Duration::from_millis(200));
        let err = connection.websocket(&url, waiting).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Handshake)),
            "{err:?}"
        );
        // Once one ends, the next one opens.
        drop(open.pop());
        let (mut next, _) = connection.websocket(&url, Config::default()).await.unwrap();
        next.write_string("in").await.unwrap();
        assert_eq!(
            next.read_msg().await.unwrap(),
            mywebsocket::Message::text("in")
        );
    })
    .await;
}

#[tokio::test]
async fn a_preface_that_arrives_split_is_still_told_apart() {
    bounded(async {
        let (listener, addr) = listen().await;
        let peeked = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            mywebsocket::h2::peek_preface(&tcp, Duration::from_secs(5)).await
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        // One byte, then (once it has surely been seen alone) the rest.
        client.write_all(&PREFACE[..1]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(&PREFACE[1..]).await.unwrap();
        assert!(peeked.join().await.unwrap());

        // An HTTP/1.1 request, and a client that sends nothing in time, are not HTTP/2.
        let (listener, addr) = listen().await;
        let peeked = Task::spawn(async move {
            let (a, _) = listener.accept().await.unwrap();
            let (b, _) = listener.accept().await.unwrap();
            let quick = Duration::from_millis(100);
            (
                mywebsocket::h2::peek_preface(&a, quick).await.unwrap(),
                mywebsocket::h2::peek_preface(&b, quick).await.unwrap(),
            )
        });
        let mut http1 = TcpStream::connect(addr).await.unwrap();
        http1.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let _silent = TcpStream::connect(addr).await.unwrap();
        assert_eq!(peeked.join().await, (false, false));
    })
    .await;
}
