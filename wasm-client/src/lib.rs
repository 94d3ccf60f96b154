//! MyWebsocket for the browser: a WebSocket client compiled to WebAssembly with wasm-bindgen,
//! on the browser's own `WebSocket`, with the same shape of API as the server's connection
//! and the [`Message`] type of the protocol crate, so that a server and its web page share
//! their message types.
//!
//! ```no_run
//! use mywebsocket_wasm::{connect_with, CloseCode, Error, Message, Options};
//!
//! # async fn run() -> Result<(), Error> {
//! let mut ws = connect_with("wss://example.com/chat", Options::default().protocols(["chat.v2"])).await?;
//! assert_eq!(ws.protocol().as_deref(), Some("chat.v2"));
//! ws.write_string("hello").await?;
//! ws.write_json(&serde_json::json!({ "type": "join", "room": 7 })).await?;
//! ws.write_binary(vec![1, 2, 3]).await?;
//! loop {
//!     match ws.read_msg().await {
//!         Ok(Message::Text(text)) if text == "bye" => break,
//!         Ok(Message::Text(text)) => web_log(&text),
//!         Ok(Message::Binary(bytes)) => web_log(&format!("{} bytes", bytes.len())),
//!         // `read_msg` yields data only; `Message` is `#[non_exhaustive]`.
//!         Ok(_) => {}
//!         // The server closed: its code and reason.
//!         Err(Error::Closed(info)) => return Ok(web_log(&format!("{} {}", info.code, info.reason))),
//!         Err(e) => return Err(e),
//!     }
//! }
//! ws.close(CloseCode::NORMAL, "done").await?;
//! # Ok(())
//! # }
//! # fn web_log(_: &str) {}
//! ```
//!
//! What the browser does and this crate adds:
//! - the opening handshake, masking, fragmentation, pings and pongs and the closing handshake
//!   are the browser's; binary messages arrive as bytes (`binaryType = "arraybuffer"`);
//! - every failure is an [`Error`] variant, never a `JsValue`;
//! - writes wait while the browser's send buffer is full ([`Options::max_buffered`]);
//! - pages cannot send pings, so dead connections are found with an application-level
//!   [`KeepAlive`];
//! - lost connections can be re-established with backoff ([`Reconnect`]);
//! - files go both ways over the same connection, streamed from a `File` or `Blob` and
//!   verified with SHA-256 ([`files`]).
//!
//! It runs on the page's thread (or a worker's), with `wasm-bindgen-futures` driving the
//! futures. The types are not `Send`, like everything that holds a JavaScript object. On
//! other targets the crate compiles, so that workspaces check it, but cannot be used.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod close;
mod error;
pub mod files;
mod keep_alive;
mod options;
mod reconnect;
mod socket;
mod timer;
mod websocket;

pub use close::{CloseInfo, Initiator};
pub use error::{Error, Result};
pub use keep_alive::KeepAlive;
pub use options::Options;
pub use reconnect::Reconnect;
pub use websocket::{connect, connect_with, WebSocket, Writer};

pub use bytes::Bytes;
/// The protocol crate, whose types this crate shares with the server.
pub use mywebsocket_proto as proto;
pub use mywebsocket_proto::{CloseCode, CloseFrame, Message, Utf8Bytes};
