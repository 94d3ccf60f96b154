//! The conformance table of the file-transfer protocol (`docs/file-transfer.md`), run over a
//! real WebSocket against an implementation under test, in the spirit of Autobahn|Testsuite.
//!
//! The cases live in `docs/file-transfer-conformance.json`; the format and the adapter
//! convention a testee follows are in `docs/file-transfer-conformance.md`. Two binaries:
//!
//! - `ft-conformance`, the runner: it plays the other side of every case, either as a
//!   WebSocket server the testee connects to once per connection of a case (`--listen`), or as
//!   a client of a receiver that only receives (`--connect URL`, e.g. the chat's `/files`);
//! - `ft-testee`, the adapter for `mywebsocket-files`' `Transfers`.
//!
//! ```
//! use mywebsocket_files_conformance::{content, Instructions};
//!
//! // Both sides generate a file's bytes from its offset alone.
//! assert_eq!(content::bytes(0, 3), vec![7, 38, 69]);
//! let end: Instructions = serde_json::from_str(r#"{"conformance":"end"}"#).unwrap();
//! assert!(end.is_end());
//! ```

#![forbid(unsafe_code)]

pub mod content;
mod instructions;

pub use instructions::{Instructions, ReceiverConfig, SendFile};
