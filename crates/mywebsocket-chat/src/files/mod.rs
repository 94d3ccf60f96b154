//! File sharing: a page uploads a file over the file-transfer protocol (`mywebsocket-files`,
//! docs/file-transfer.md) on a WebSocket at `/files`; the node keeps it in a temporary
//! directory it owns and serves it at `GET /files/ID` for the download link the page then
//! posts in the room. The spec's appendix "The chat app's /files endpoint" describes what a
//! client sees.
//!
//! An upload cut off by a lost connection keeps its part file for `partial_ttl` (see
//! [`partials`]), so offering it again on a new connection resumes it.
//!
//! Bounded: [`UPLOADS_PER_CONNECTION`] uploads at a time per connection and [`MAX_UPLOADS`]
//! connections at once, files up to `max_file_size` bytes, and at most `max_total` bytes kept,
//! partial uploads (reserved in full from their offer) and stored files together; stored files
//! go oldest first to make room. The directory is removed when the node exits; those of nodes
//! that died without exiting (`kill -9`) are removed by the next node that starts on the
//! machine.
//!
//! The parts: [`store`] keeps the files and the node's budget for them, [`upload`] serves a
//! `/files` connection, [`download`] answers `GET /files/ID`.

mod download;
mod partials;
mod store;
mod upload;

use std::time::Duration;

pub(crate) use store::FileStore;

/// Upload connections a node serves at once; more are closed with 1013 (try again later).
pub(crate) const MAX_UPLOADS: usize = 16;

/// Uploads one `/files` connection may run at once; a further offer is rejected `busy`.
pub(crate) const UPLOADS_PER_CONNECTION: usize = 4;

/// How long the part file of an upload nobody is writing is kept by default: long enough for
/// a laptop to change networks or a page to reload, short enough that abandoned uploads do not
/// hold the node's file budget for long.
pub(crate) const DEFAULT_PARTIAL_TTL: Duration = Duration::from_secs(600);
