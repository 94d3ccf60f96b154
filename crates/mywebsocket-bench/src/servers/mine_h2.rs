//! MyWebsocket over HTTP/2 and HTTP/1.1 on one port, as the `echo_server` example serves them:
//! the first three bytes of each connection (peeked) tell the HTTP/2 preface (cleartext, prior
//! knowledge) from an HTTP/1.1 request; an HTTP/2 connection goes to
//! `mywebsocket::h2::serve_connection`, whose every extended CONNECT stream (RFC 8441) is a
//! WebSocket, and an HTTP/1.1 one to `Upgrader::accept`. Each WebSocket is handled exactly as
//! in [`super::mine`] (same settings, same echo and broadcast).

use std::io;
use std::sync::Arc;

use mywebsocket::{h2, Config, Upgrader, WebSocket};
use tokio::net::TcpListener;

use super::hub::Hub;
use super::mine::{broadcast, echo};
use super::{accept_loop, Mode};

pub(super) async fn serve(listener: TcpListener, mode: Mode) -> io::Result<()> {
    let upgrader = Upgrader::new(Config::default().no_heartbeat().deflate(None));
    let hub = Arc::new(Hub::new());
    accept_loop(listener, move |tcp| {
        let upgrader = upgrader.clone();
        let hub = Arc::clone(&hub);
        let handle = move |ws: WebSocket| {
            let hub = Arc::clone(&hub);
            async move {
                match mode {
                    Mode::Echo => echo(ws).await,
                    Mode::Broadcast => broadcast(ws, &hub).await,
                }
            }
        };
        async move {
            let within = upgrader.config().handshake_timeout;
            if h2::peek_preface(&tcp, within).await.unwrap_or(false) {
                let _ = h2::serve_connection(tcp, upgrader, handle).await;
                return;
            }
            if let Ok(ws) = upgrader.accept(tcp).await {
                handle(ws).await;
            }
        }
    })
    .await
}
