//! The chat's JSON protocol and the server that speaks it over a [`Hub`](mywebsocket_hub::Hub).
//!
//! The `mywebsocket-chat` binary serves the page, `/ws` and `/files` on one port; this library
//! holds the part another program may reuse: the [`protocol`] (what browsers and the chat's
//! tests send and receive, and its [`ProtocolEncoder`](protocol::ProtocolEncoder) for the hub)
//! and the [`server`] that serves it on each connection.
//!
//! ```no_run
//! use mywebsocket_chat::{protocol::ProtocolEncoder, server};
//! use mywebsocket_hub::{Hub, HubConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::builder(HubConfig::default())
//!     .encoder(ProtocolEncoder)
//!     .build()
//!     .await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server::serve(listener, hub).await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod protocol;
pub mod server;
