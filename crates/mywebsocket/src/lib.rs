//! MyWebsocket: a fast, strict WebSocket library (RFC 6455) for tokio.
//!
//! One connection type, [`WebSocket`], for both ends: a server gets it from
//! [`Upgrader::accept`] (any `AsyncRead + AsyncWrite` stream) or [`Upgrader::upgrade`] (hyper
//! and axum); a client from [`connect`]. Read with [`WebSocket::read_msg`], write with
//! `write_string`, `write_binary`, `write_json` (each with a `_with` form taking
//! [`WriteOptions`]), finish with [`WebSocket::close`]. [`WebSocket::split`] gives a
//! [`Reader`] and a [`Writer`] that is cheap to clone and safe to use from many tasks.
//! [`WebSocket::connection_info`] tells the peer's address and the TLS session, read from the
//! stream when the connection was made ([`ConnectionInfo`] says why not the stream itself).
//! As a `Stream`/`Sink` (as in tokio-tungstenite), it yields the peer's [`Message::Close`]
//! once before ending, and sending one starts the closing handshake; `read_msg` reports the
//! end as [`Error::Closed`] instead.
//!
//! Pings and pongs, the heartbeat, fragmentation of large writes, reassembly, UTF-8 checks
//! and the closing handshake happen inside; the protocol itself lives in
//! [`mywebsocket_proto`], which has no I/O.
//!
//! Features: `hyper` (default) for [`Upgrader::upgrade`] on hyper-served requests; `tls` for
//! `wss://` and the `tls` module's helpers; `axum` for `axum::WebSocketUpgrade`, an
//! extractor shaped like axum's own (HTTP/1.1 only for now).
//!
//! ```
//! use mywebsocket::{connect_with, CloseCode, Config, Message, Upgrader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mywebsocket::Error> {
//! // An in-memory pipe stands in for a TCP connection.
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//!
//! // The server echoes every message back.
//! let server = tokio::spawn(async move {
//!     let mut ws = Upgrader::default().accept(server_io).await?;
//!     loop {
//!         match ws.read_msg().await {
//!             Ok(msg) => ws.write_message(msg).await?,
//!             Err(e) if e.is_closed() => return Ok::<_, mywebsocket::Error>(()),
//!             Err(e) => return Err(e),
//!         }
//!     }
//! });
//!
//! let request = http::Request::get("ws://example.com/echo").body(()).unwrap();
//! let (mut ws, _response) = connect_with(client_io, request, Config::default()).await?;
//! ws.write_string("hello").await?;
//! assert_eq!(ws.read_msg().await?, Message::text("hello"));
//! ws.write_json(&serde_json::json!({ "n": 1 })).await?;
//! assert_eq!(ws.read_msg().await?.as_text(), Some(r#"{"n":1}"#));
//! ws.close(CloseCode::NORMAL, "done").await?;
//! server.await.unwrap()?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod accept;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod config;
mod conn;
mod connect;
mod error;
#[cfg(feature = "http2")]
#[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
pub mod h2;
mod head_io;
#[cfg(feature = "hyper")]
mod hyper;
mod info;
#[cfg(feature = "tls")]
pub mod tls;
mod tracker;

pub use accept::Upgrader;
pub use config::{Config, ControlHandler, OriginCheck};
pub use conn::{PreparedMessage, Reader, WebSocket, WriteOptions, Writer};
pub use connect::{connect, connect_config, connect_with};
pub use error::{Error, Initiator, Result, TimeoutKind, TlsError, UrlError};
#[cfg(feature = "hyper")]
pub use hyper::UpgradeFuture;
pub use info::{ConnectionInfo, TlsInfo};
pub use tracker::ShutdownReport;

pub use bytes::Bytes;
pub use http;
/// The protocol crate, for lower-level use (frames, decoder, handshake functions).
pub use mywebsocket_proto as proto;
pub use mywebsocket_proto::deflate::DeflateConfig;
pub use mywebsocket_proto::handshake::Accept;
pub use mywebsocket_proto::{
    CloseCode, CloseFrame, HandshakeError, Limits, Message, ProtocolError, Role, Utf8Bytes,
};
