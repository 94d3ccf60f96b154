//! The WebSocket protocol (RFC 6455) without I/O.
//!
//! This crate turns bytes into protocol events and messages into bytes; it never touches a
//! socket, a clock or a random number generator, so it runs anywhere (including
//! `wasm32-unknown-unknown`) and every behaviour is deterministic to test. The
//! [`mywebsocket`](https://docs.rs/mywebsocket) crate drives it over tokio.
//!
//! ```text
//!   bytes from the peer ──► Decoder::feed ──► Event (Message | Ping | Pong | Close)
//!   Message to send ──────► Fragments / Frame ──► header + payload bytes for the socket
//!   HTTP upgrade head ────► handshake::{parse_request, validate_request, accept_response}
//! ```
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use mywebsocket_proto::{Decoder, Event, Frame, Limits, Message, OpCode, Role};
//!
//! // A client masks what it sends (the key would come from a random source).
//! let frame = Frame::single(OpCode::Text, Bytes::from_static(b"hello"), Some([1, 2, 3, 4]));
//!
//! // The server decodes it from its read buffer.
//! let mut server = Decoder::new(Role::Server, Limits::default());
//! let mut read_buf = BytesMut::from(&frame.to_bytes()[..]);
//! let event = server.feed(&mut read_buf)?;
//! assert_eq!(event, Some(Event::Message(Message::text("hello"))));
//! # Ok::<(), mywebsocket_proto::ProtocolError>(())
//! ```
//!
//! What it covers:
//! - frame headers ([`FrameHeader`]) and masking ([`apply_mask`]), word at a time;
//! - the opening handshake for both ends ([`handshake`]);
//! - close codes and close frames ([`CloseCode`], [`CloseFrame`]);
//! - message reassembly with UTF-8 validated as bytes arrive ([`Decoder`], [`Utf8Validator`]);
//! - limits checked before memory is reserved ([`Limits`]);
//! - permessage-deflate negotiation and compression ([`deflate`], RFC 7692).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod close;
mod connection;
mod decoder;
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
mod limits;
mod mask;
mod message;
mod role;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{
    Connection, ConnectionConfig, ConnectionError, Control, Expired, Initiator, ReplyBudget,
    SendError, State, TimerConfig, Timers, Transmit,
};
pub use decoder::{Decoder, Event};
pub use error::{HandshakeError, ProtocolError};
pub use frame::{Fragments, Frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use limits::Limits;
pub use mask::apply_mask;
pub use message::{Message, Utf8Bytes};
pub use role::Role;
pub use utf8::{InvalidUtf8, Utf8Validator};

pub use bytes;
pub use http;
