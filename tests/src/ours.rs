//! Our library's side of a test: a server for one connection (accepting over TCP, or
//! upgrading inside hyper), the echo it runs, and a client.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mywebsocket::{Config, Error, UpgradeFuture, Upgrader, WebSocket};

use crate::{listen, ws_url, Task};

/// Our server: accepts one TCP connection and returns the result of [`Upgrader::accept`].
pub async fn spawn_accept(
    upgrader: Upgrader,
) -> (SocketAddr, Task<mywebsocket::Result<WebSocket>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        upgrader.accept(tcp).await
    });
    (addr, task)
}

/// Echoes every message back until reading fails, and returns that error (an
/// [`Error::Closed`] after a normal close).
pub async fn echo(mut ws: WebSocket) -> Error {
    loop {
        match ws.read_msg().await {
            Ok(msg) => {
                if let Err(e) = ws.write_message(msg).await {
                    return e;
                }
            }
            Err(e) => return e,
        }
    }
}

/// Our echo server with `config`, for one connection; the task returns the error that ended
/// the connection.
///
/// # Panics
/// In the task, if the handshake fails.
pub async fn spawn_echo_server(config: Config) -> (SocketAddr, Task<Error>) {
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let task = Task::spawn(async move {
        let ws = accept.join().await.expect("server handshake");
        echo(ws).await
    });
    (addr, task)
}

/// Our client, connected to `addr` with `config`.
///
/// # Panics
/// If the connection or handshake fails.
pub async fn connect_client(addr: SocketAddr, config: Config) -> WebSocket {
    let (ws, response) = mywebsocket::connect_config(&ws_url(addr), config)
        .await
        .expect("client handshake");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// A hyper 1.x server for one connection whose service upgrades with
/// [`Upgrader::upgrade`] and echoes. The task returns `None` if no request was upgraded, or
/// the error that ended the echo.
pub async fn spawn_hyper_server(upgrader: Upgrader) -> (SocketAddr, Task<Option<Error>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<UpgradeFuture>();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let tx = tx.clone();
            let upgrader = upgrader.clone();
            async move {
                let response = match upgrader.upgrade::<_, Empty<Bytes>>(&mut req) {
                    Ok((response, upgrade)) => {
                        let _ = tx.send(upgrade);
                        response
                    }
                    Err(e) => hyper::Response::builder()
                        .status(e.status())
                        .body(Empty::new())
                        .expect("a status and an empty body make a response"),
                };
                Ok::<_, Infallible>(response)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        // The connection future ends once the socket is handed over (or the client leaves);
        // the service, and with it the sender, is dropped then, which ends `recv`.
        let session = async move {
            let upgrade = rx.recv().await?;
            let ws = upgrade.await.expect("hyper upgrade");
            Some(echo(ws).await)
        };
        let (served, outcome) = tokio::join!(conn, session);
        served.expect("hyper connection");
        outcome
    });
    (addr, task)
}

/// The configuration of the attack tests against peers that never read: no heartbeat, a
/// small write budget and a short write timeout, so a test sees both bounds at work.
pub fn non_reading_config(write_buffer: usize, write_timeout: std::time::Duration) -> Config {
    Config::default()
        .no_heartbeat()
        .write_buffer_size(write_buffer)
        .write_timeout(Some(write_timeout))
}
