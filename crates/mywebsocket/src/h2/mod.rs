//! WebSockets over HTTP/2 (RFC 8441): many WebSockets as streams of one HTTP/2 connection.
//!
//! A client opens each WebSocket with an extended CONNECT (`:method CONNECT`, `:protocol
//! websocket`) once the server's SETTINGS allow it (`SETTINGS_ENABLE_CONNECT_PROTOCOL`); the
//! server answers `200` and the stream carries the WebSocket's frames, unchanged (masked from
//! the client, the close handshake, permessage-deflate). The WebSocket you get is the same
//! [`WebSocket`](crate::WebSocket) as over HTTP/1.1: heartbeat, limits, timeouts and graceful
//! shutdown all apply.
//!
//! - Server: [`serve_connection`] serves an HTTP/2 connection whose streams are WebSockets;
//!   in your own hyper service, [`Upgrader::upgrade`](crate::Upgrader::upgrade) answers an
//!   extended CONNECT as it answers an HTTP/1.1 upgrade (serve with [`server_builder`], or
//!   hyper's builder after `enable_connect_protocol()`). The axum extractor takes both.
//! - Client: [`Http2Connection`] opens WebSockets on one connection; [`connect`] opens one
//!   connection with one WebSocket; [`connect_or_http1`] falls back to an HTTP/1.1 upgrade when
//!   the server does not take WebSockets over HTTP/2.
//! - Both on one port: [`is_preface`] tells an HTTP/2 connection (prior knowledge, "h2c")
//!   from an HTTP/1.1 request by its first bytes; the `echo_server` example serves both.
//!
//! ```no_run
//! # async fn run() -> mywebsocket::Result<()> {
//! let (mut ws, _) = mywebsocket::h2::connect("ws://127.0.0.1:9001/", Default::default()).await?;
//! ws.write_string("hello over HTTP/2").await?;
//! println!("{:?}", ws.read_msg().await?);
//! # Ok(())
//! # }
//! ```
//!
//! Flow control: each stream may hold [`STREAM_WINDOW`] bytes its reader has not taken, and
//! a connection's window is that times [`MAX_STREAMS`], with at most [`MAX_STREAMS`] streams
//! open (our client holds itself to that too, whatever the server allows), so a WebSocket
//! whose application stops reading stalls its own stream and never the others on the
//! connection. This holds for [`serve_connection`] and [`server_builder`] (and any hyper
//! builder whose connection window is at least its stream window times its stream limit),
//! not for hyper's defaults, which `axum::serve` uses: there the connection's window (1 MiB)
//! equals one stream's, and one WebSocket that stops reading stalls every stream of its
//! connection.

mod client;
mod server;
mod stream;

#[cfg(feature = "tls")]
pub use client::connect_tls_or_http1;
pub use client::{connect, connect_or_http1, Http2Connection};
pub use server::{serve_connection, server_builder};

/// The bytes each WebSocket's stream may receive ahead of its reader (the HTTP/2 stream
/// window both roles announce): 256 KiB.
pub const STREAM_WINDOW: u32 = 256 * 1024;

/// The most WebSockets a client may open at once on one connection to [`serve_connection`]
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`), and the number of stream windows in a connection's
/// window.
pub const MAX_STREAMS: u32 = 64;

/// The client connection preface of HTTP/2 (RFC 9113 §3.4), which opens a cleartext
/// connection with prior knowledge.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the first bytes read (or peeked) from a connection, `start`, begin the HTTP/2
/// preface rather than an HTTP/1.1 request. Three bytes decide it: no HTTP/1.1 method that
/// opens a WebSocket starts with `PRI`.
pub fn is_preface(start: &[u8]) -> bool {
    let n = start.len().min(PREFACE.len());
    n >= 3 && start[..n] == PREFACE[..n]
}

/// Whether the client on `tcp` opens HTTP/2 with prior knowledge: peeks (without consuming)
/// until its first bytes tell the HTTP/2 preface from an HTTP/1.1 request (see
/// [`is_preface`]), for at most `within`. A client that sends nothing for that long, or
/// closes, is not an HTTP/2 one (`false`): hand the stream to [`Upgrader::accept`], whose
/// handshake timeout and answers then apply.
///
/// ```no_run
/// # async fn run(tcp: tokio::net::TcpStream, upgrader: mywebsocket::Upgrader) {
/// use mywebsocket::h2;
///
/// let within = upgrader.config().handshake_timeout;
/// if h2::peek_preface(&tcp, within).await.unwrap_or(false) {
///     let _ = h2::serve_connection(tcp, upgrader, |_ws| async {}).await;
/// } else if let Ok(_ws) = upgrader.accept(tcp).await {
///     // ...
/// }
/// # }
/// ```
///
/// # Errors
/// The socket's error.
///
/// # Cancel safety
/// Cancel-safe: it only peeks.
///
/// [`Upgrader::accept`]: crate::Upgrader::accept
pub async fn peek_preface(
    tcp: &tokio::net::TcpStream,
    within: std::time::Duration,
) -> std::io::Result<bool> {
    let deadline = tokio::time::Instant::now() + within;
    let mut start = [0; 3];
    loop {
        let peeked = tokio::time::timeout_at(deadline, tcp.peek(&mut start)).await;
        let n = match peeked {
            Ok(n) => n?,
            Err(_) => return Ok(false),
        };
        if n == 0 || n == start.len() || start[..n] != PREFACE[..n] {
            return Ok(is_preface(&start[..n]));
        }
        // One or two bytes of what may be the preface: the rest is on its way. `peek` would
        // return the same bytes at once, so wait a little before looking again.
        if tokio::time::timeout_at(deadline, tokio::time::sleep(PEEK_RETRY))
            .await
            .is_err()
        {
            return Ok(false);
        }
    }
}

/// How long [`peek_preface`] waits between looks at a preface that arrives split.
const PEEK_RETRY: std::time::Duration = std::time::Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_told_from_an_http1_request() {
        assert!(is_preface(PREFACE));
        assert!(is_preface(b"PRI"));
        assert!(is_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x12\x04"));
        assert!(!is_preface(b"PR"), "too short to tell");
        assert!(!is_preface(b"GET / HTTP/1.1\r\n"));
        assert!(!is_preface(b"PRI * HTTP/1.1\r\n"));
    }
}
