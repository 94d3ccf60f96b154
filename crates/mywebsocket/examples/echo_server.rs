//! An echo server: every text and binary message comes back as it was sent.
//!
//! `cargo run --release -p mywebsocket --example echo_server -- 127.0.0.1:9001`
//!
//! One port takes both HTTP/1.1 upgrades and HTTP/2 with prior knowledge (cleartext "h2c"):
//! on an HTTP/2 connection every extended CONNECT stream (RFC 8441) is a WebSocket.
//!
//! Ctrl-C shuts it down gracefully: no new connections, 1001 Going Away to every client after
//! what was already queued for it, and up to 10 s for the closing handshakes.

use std::time::Duration;

use std::net::SocketAddr;

use mywebsocket::{h2, Error, Upgrader, WebSocket};
use tokio::net::TcpListener;

/// How long Ctrl-C waits for clients to finish their closing handshakes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    let upgrader = Upgrader::default();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            signal = tokio::signal::ctrl_c() => {
                signal?;
                break;
            }
        };
        tcp.set_nodelay(true)?;
        let upgrader = upgrader.clone();
        tokio::spawn(async move {
            let within = upgrader.config().handshake_timeout;
            if h2::peek_preface(&tcp, within).await.unwrap_or(false) {
                let served = h2::serve_connection(tcp, upgrader, move |ws| echo(ws, peer));
                if let Err(e) = served.await {
                    eprintln!("{peer}: {e}");
                }
                return;
            }
            match upgrader.accept(tcp).await {
                Ok(ws) => echo(ws, peer).await,
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
    drop(listener);
    println!(
        "shutting down: {} connections open",
        upgrader.live_connections()
    );
    let report = upgrader.shutdown(SHUTDOWN_GRACE).await;
    println!(
        "closed {} connections ({} did not finish in time)",
        report.connections, report.forced
    );
    Ok(())
}

/// Sends every message back until the client closes.
async fn echo(mut ws: WebSocket, peer: SocketAddr) {
    loop {
        match ws.read_msg().await {
            Ok(msg) => {
                if let Err(e) = ws.write_message(msg).await {
                    break eprintln!("{peer}: {e}");
                }
            }
            Err(Error::Closed { .. }) => break,
            Err(e) => break eprintln!("{peer}: {e}"),
        }
    }
}
