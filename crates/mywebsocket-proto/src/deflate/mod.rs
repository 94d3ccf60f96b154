//! permessage-deflate (RFC 7692): negotiation in the handshake and per-message compression.
//!
//! [`negotiate`] (server) and [`offer`] / [`accept_response`] (client) agree on
//! [`DeflateParams`]; each end then compresses with a [`Deflater`] and decompresses with an
//! [`Inflater`] built from them. Compression state exists only on connections that negotiated
//! the extension.
//!
//! Memory per connection: no zlib stream. A connection borrows its thread's stream for the
//! length of one message (`pool`) and keeps between messages only the window that later
//! messages may refer to (`history`): with context takeover, the last
//! [`DeflateConfig::retained_window`] bytes it sent (default 4 KiB) and the last
//! `2^client_max_window_bits` bytes it received (8 KiB with the default 13 bits a server asks
//! browsers for), and never more than it has actually seen; without context takeover,
//! nothing. A stream is about 260 KiB to compress and 40 KiB to decompress, once per thread.

mod codec;
mod config;
mod header;
mod history;
mod negotiate;
mod pool;

pub use codec::{Deflater, Inflater};
pub use config::{DeflateConfig, DeflateParams};
pub use header::{parse_extensions, ExtensionOffer};
pub use negotiate::{accept_response, negotiate, offer, Negotiated};

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";
