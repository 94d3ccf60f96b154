//! File transfer from the browser, over the connection the page already has: the protocol of
//! `docs/file-transfer.md` ("ft", version 1), the same one `mywebsocket-files` speaks on the
//! server.
//!
//! - **Send** a `File` or `Blob` ([`Files::send_file`], [`Files::send_blob`]): it is read a
//!   slice at a time (`Blob.slice` and `arrayBuffer()`), once to compute the SHA-256 the offer
//!   carries and once chunk by chunk as the receiver's window allows, so it is never whole in
//!   memory, and the browser's send buffer stays bounded ([`Options::max_buffered`](crate::Options::max_buffered)).
//! - **Receive** an offered file ([`Files::next_offer`], [`IncomingOffer::accept`]) into a
//!   `Blob` built from the received chunks, its SHA-256 computed as they arrive and checked at
//!   the end; [`ReceivedFile::object_url`] makes a download link of it.
//! - Both ways: progress callbacks (bytes done, total), cancellation ([`CancelToken`]) and
//!   one error type, [`FileError`], that says why a transfer did not complete (rejected,
//!   cancelled, corrupt, connection lost).
//!
//! Every message the connection reads goes through [`Files::route`] first, which keeps the
//! file-transfer messages and gives the application's back:
//!
//! ```no_run
//! use mywebsocket_wasm::files::{Files, FilesOptions, TransferOptions};
//! use mywebsocket_wasm::{connect, Message};
//!
//! # async fn run(file: web_sys::File) -> Result<(), Box<dyn std::error::Error>> {
//! let mut ws = connect("wss://example.com/files").await?;
//! let files = Files::new(ws.writer(), FilesOptions::default().max_file_size(256 << 20));
//!
//! // The read loop: file-transfer messages are handled, the rest is the application's.
//! let routing = files.clone();
//! wasm_bindgen_futures::spawn_local(async move {
//!     while let Ok(message) = ws.read_msg().await {
//!         if let Some(Message::Text(text)) = routing.route(message).await {
//!             web_log(&text);
//!         }
//!     }
//!     routing.connection_lost();
//! });
//!
//! // Upload, with a progress bar.
//! let options = TransferOptions::default().on_progress(|done, total| show(done, total));
//! let sent = files.send_file(&file, &options).await?;
//! web_log(&format!("{} bytes confirmed, sha256 {}", sent.size, sent.sha256));
//!
//! // Download whatever the server offers next.
//! if let Some(offer) = files.next_offer().await {
//!     if offer.size() > 100 << 20 {
//!         offer.reject("too big for this page").await;
//!     } else {
//!         let received = offer.accept(&options).await?;
//!         let url = received.object_url()?; // <a href={url} download={received.name}>
//!         # let _ = url;
//!     }
//! }
//! # Ok(())
//! # }
//! # fn web_log(_: &str) {}
//! # fn show(_: u64, _: u64) {}
//! ```
//!
//! An upload resumes after a reconnect when it is sent again under the same id
//! ([`TransferOptions::id`], [`new_transfer_id`]): only the bytes the receiver does not have
//! yet are read and sent. Not done here: resuming a download (a page keeps no partial file
//! across connections; the offer is accepted at offset 0, which the protocol always allows).

mod blob;
mod cancel;
mod engine;
mod error;
mod options;
mod random;
mod receive;
mod send;

pub use cancel::CancelToken;
pub use engine::Files;
pub use error::FileError;
pub use mywebsocket_files_proto::{
    is_chunk, is_control, Reason, Side, TransferId, CHUNK_HEADER_LEN, CHUNK_MAGIC, CONTROL_PREFIX,
};
pub use options::{FilesOptions, TransferOptions};
pub use random::new_transfer_id;
pub use receive::{IncomingOffer, ReceivedFile};
pub use send::Sent;
