//! The messages of MyWebsocket's file-transfer protocol (`docs/file-transfer.md` in the
//! repository), without I/O: transfer ids, reason codes, the JSON control messages that begin
//! `{"ft":`, and binary chunks that begin `F7 46 54 01`. The tokio implementation
//! (`mywebsocket-files`) and the browser client (`mywebsocket-wasm`) both speak through these
//! types, so the two cannot drift apart; the crate builds for `wasm32-unknown-unknown`.
//!
//! They also make the same decisions: [`Connection`] is the protocol for one connection as a
//! sans-IO state machine (messages and the time in; control messages to send, events and a
//! deadline out), in the manner of quinn-proto. It checks offers and chunks, keeps windows
//! and acks, allows each answer only where §4.2 does, and gives up on a silent receiver after
//! [`Config::answer_timeout`]; the drivers only read and write files and sockets.
//!
//! ```text
//!  peer's messages ──handle_text / handle_binary──►┌────────────┐──poll_transmit──► to the peer
//!  the time ─────────────────handle_timeout───────►│ Connection │──poll_event─────► driver, app
//!  app, driver: offer, accept, confirmed, ... ────►└────────────┘──poll_timeout────► a timer
//! ```
//!
//! ```
//! use mywebsocket_files_proto::{chunk_buffer, is_control, Chunk, Control, TransferId};
//!
//! let id = TransferId([0xab; 16]);
//! let ack = Control::Ack { id, offset: 5 };
//! let text = ack.to_text();
//! assert!(is_control(&text));
//! assert_eq!(Control::parse(&text), Ok(ack));
//!
//! let mut message = chunk_buffer(id, 1 << 20, 3);
//! message.extend_from_slice(b"abc");
//! let chunk = Chunk::parse(message.freeze()).unwrap();
//! assert_eq!((chunk.id, chunk.offset, &chunk.data[..]), (id, 1 << 20, &b"abc"[..]));
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ack;
mod chunk;
mod control;
mod id;
mod machine;
mod malformed;
mod name;
mod offer_check;
mod parse;
mod reason;
mod side;
mod used_ids;

pub use ack::AckSchedule;
pub use chunk::{
    chunk_buffer, chunk_header, is_chunk, BadChunk, Chunk, CHUNK_HEADER_LEN, CHUNK_MAGIC,
};
pub use control::{is_control, truncate_message, Control, CONTROL_PREFIX, MAX_MESSAGE_LEN};
pub use id::{InvalidTransferId, TransferId};
pub use machine::{
    CommandError, Config, Connection, Direction, End, Event, OfferInfo, DEFAULT_ANSWER_TIMEOUT,
    DEFAULT_MAX_CHUNK, DEFAULT_WINDOW,
};
pub use malformed::{Answer, Kind, Malformed, WireId, MAX_ECHOED_ID_LEN};
pub use name::{is_format_char, sanitize_name, MAX_NAME_LEN};
pub use offer_check::{check_offer, Refusal};
pub use parse::MAX_CONTROL_LEN;
pub use reason::Reason;
pub use side::Side;
pub use used_ids::{UsedIds, REMEMBERED};

/// Offsets and sizes stay below 2^53 so that JavaScript numbers hold them exactly.
pub const MAX_SAFE_SIZE: u64 = (1 << 53) - 1;
