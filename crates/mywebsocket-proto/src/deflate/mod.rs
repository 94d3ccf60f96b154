//! permessage-deflate (RFC 7692): negotiation in the handshake and per-message compression.
//!
//! [`negotiate`] (server) and [`offer`] / [`accept_response`] (client) agree on
//! [`DeflateParams`]; each end then compresses with a [`Deflater`] and decompresses with an
//! [`Inflater`] built from them. Compression state exists only on connections that negotiated
//! the extension.
//!
//! Memory per connection, from zlib's formulas (deflate:
//! `(1 << (bits + 2)) + (1 << (memLevel + 9))` with memLevel 8; inflate: `1 << bits` plus
//! about 7 KiB): at 15 window bits about
//! 256 KiB to compress and 39 KiB to decompress; at 9 bits about 130 KiB and 7.5 KiB. Ask the
//! peer for fewer window bits ([`DeflateConfig::client_max_window_bits`] on a server) to shrink
//! the decompressor; compress with fewer to shrink ours.

mod codec;
mod config;
mod header;
mod history;
mod negotiate;
mod pool;

pub use codec::{Deflater, Inflater};
pub use config::{DeflateConfig, DeflateParams};
pub use header::{parse_extensions, ExtensionOffer};
pub use negotiate::{accept_response, negotiate, offer};

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";
