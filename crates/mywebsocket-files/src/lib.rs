//! Resumable, verified file transfer over ordinary WebSocket messages.
//!
//! The protocol (`docs/file-transfer.md` in the repository) uses JSON text messages that begin
//! `{"ft":` for control, and binary messages that begin `F7 46 54 01` for file data, so a
//! browser can speak it and application messages share the connection. [`Transfers`] runs it
//! for one connection, both directions: give it a clone of the connection's
//! [`mywebsocket::Writer`], pass every message you read through [`Transfers::route`], and send
//! with [`Transfers::send_path`], [`Transfers::send_file`] or [`Transfers::send_reader`].
//!
//! - Flow control: a transfer has at most the receiver's window (default 2 MiB) in flight, and
//!   all outgoing transfers of a connection together at most 4 MiB, taken in turns; so memory
//!   stays bounded whatever the file size, and application messages written on the same
//!   connection wait behind at most that much file data.
//! - Verification: the receiver writes into a hidden `.part` file and gives it its name only
//!   after the SHA-256 matches the offer.
//! - Resume: after a reconnect, offering again with the same [`TransferId`] continues from the
//!   bytes already on the receiver's disk.
//! - Safety: names are checked ([`sanitize_name`]), sizes and concurrent transfers limited
//!   ([`ReceiveOptions`]), and an application policy accepts or rejects each offer.
//!
//! ```
//! use mywebsocket::{connect_with, Config, Upgrader};
//! use mywebsocket_files::{FileMeta, Incoming, ReceiveOptions, Transfers};
//! use sha2::{Digest, Sha256};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("mywebsocket-files-doc-{}", std::process::id()));
//! tokio::fs::create_dir_all(&dir).await?;
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//!
//! // The server receives into `dir` and answers chat messages.
//! let server_dir = dir.clone();
//! let server = tokio::spawn(async move {
//!     let ws = Upgrader::default().accept(server_io).await?;
//!     let (mut reader, writer) = ws.split();
//!     let files = Transfers::new(writer.clone(), ReceiveOptions::default().dest_dir(server_dir));
//!     let routing = files.clone();
//!     tokio::spawn(async move {
//!         while let Ok(msg) = reader.read_msg().await {
//!             if let Some(app_msg) = routing.route(msg).await {
//!                 writer.write_message(app_msg).await.ok(); // the application's own message
//!             }
//!         }
//!     });
//!     let event = files.next_incoming().await;
//!     Ok::<_, mywebsocket::Error>(event)
//! });
//!
//! let request = http::Request::get("ws://example.com/").body(())?;
//! let (ws, _) = connect_with(client_io, request, Config::default()).await?;
//! let (mut reader, writer) = ws.split();
//! let files = Transfers::new(writer.clone(), ReceiveOptions::default());
//! let routing = files.clone();
//! tokio::spawn(async move {
//!     while let Ok(msg) = reader.read_msg().await {
//!         if let Some(app_msg) = routing.route(msg).await {
//!             println!("chat: {app_msg:?}");
//!         }
//!     }
//! });
//!
//! let content = b"hello, file".repeat(1000);
//! let meta = FileMeta::new("hello.txt", content.len() as u64, Sha256::digest(&content).into())
//!     .media_type("text/plain");
//! let handle = files.send_reader(std::io::Cursor::new(content.clone()), meta);
//! writer.write_string("a chat message, sent while the file goes").await?;
//! let sent = handle.finish().await?;
//! assert_eq!(sent.size, content.len() as u64);
//!
//! let Some(Incoming::Received(received)) = server.await?? else { panic!("no file") };
//! assert_eq!(tokio::fs::read(&received.path).await?, content);
//! tokio::fs::remove_dir_all(&dir).await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod driver;
mod error;
mod options;
mod part_lock;
mod place;
mod progress;
mod read_ahead;
mod receive;
mod send;
mod stage;
mod transfers;

pub use error::TransferError;
pub use mywebsocket_files_proto::{
    check_offer, chunk_buffer, chunk_header, is_chunk, is_control, sanitize_name, AckSchedule,
    Answer, BadChunk, Chunk, Control, InvalidTransferId, Malformed, Reason, Side, TransferId,
    CHUNK_HEADER_LEN, CHUNK_MAGIC, CONTROL_PREFIX, MAX_CONTROL_LEN, MAX_NAME_LEN,
};
pub use options::{Decision, FileMeta, Offer, Policy, ReceiveOptions};
pub use progress::Progress;
pub use receive::{part_file_name, Incoming, Received};
pub use send::{SendHandle, Sent};
pub use transfers::Transfers;
