//! A tiny broadcast chat on axum: every text message a client sends goes to every client.
//!
//! ```text
//! cargo run -p mywebsocket --example axum_chat --features axum -- 127.0.0.1:3000
//! ```
//! Then connect several clients to `ws://127.0.0.1:3000/ws` (for example `websocat`), over
//! HTTP/1.1 or as streams of one HTTP/2 connection (RFC 8441; the route takes any method, so
//! that the extended CONNECT reaches the handler).

use std::net::SocketAddr;

use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use mywebsocket::axum::WebSocketUpgrade;
use mywebsocket::{Config, Message, Utf8Bytes, WebSocket};
use tokio::sync::broadcast;

/// Messages not yet taken by a slow client; past this it skips ahead.
const BACKLOG: usize = 64;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:3000")
        .parse()?;
    let (tx, _) = broadcast::channel::<Utf8Bytes>(BACKLOG);
    let app = Router::new().route("/ws", any(handler)).with_state(tx);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("chat on ws://{}/ws", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handler(ws: WebSocketUpgrade, State(tx): State<broadcast::Sender<Utf8Bytes>>) -> Response {
    ws.config(Config::default().max_message_size(64 << 10))
        .on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
        .on_upgrade(move |socket| chat(socket, tx))
}

/// Relays this client's text messages to the channel and the channel's to this client.
async fn chat(socket: WebSocket, tx: broadcast::Sender<Utf8Bytes>) {
    let mut rx = tx.subscribe();
    let (mut reader, writer) = socket.split();
    let relay = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(text) => {
                    if writer.write_string(text).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    // Ends with the peer's close (or an error): `read_msg` then returns `Err`.
    while let Ok(msg) = reader.read_msg().await {
        if let Message::Text(text) = msg {
            // No receivers only means nobody is listening right now.
            let _ = tx.send(text);
        }
    }
    relay.abort();
}
