//! What an endpoint wants from permessage-deflate, and what both ends agreed.

/// permessage-deflate settings for one end (RFC 7692 §7.1).
///
/// On a server these bound what it accepts; on a client they shape its offer. Window bits are
/// 8..=15 (the LZ77 window is `2^bits` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (smallest). Default: 2. Measured on this
    /// project's machine with zlib-rs: level 1 is about 20% faster but compresses 64 KiB of
    /// JSON 7.5× instead of 10.4×, and it never falls back to stored blocks, so incompressible
    /// data grows by 5.5% (level 2: under 0.1%).
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed: below it deflate's framing
    /// costs more than it saves. Default: 64.
    pub threshold: usize,
    /// Ask (client) or decide (server) that the server resets its compressor after every
    /// message: less memory kept between messages, worse compression. Default: false.
    pub server_no_context_takeover: bool,
    /// Ask (server) or promise (client) that the client resets its compressor after every
    /// message. Default: false.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with. Default: 15.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with. A server asks a client that offers to
    /// limit its window (Chromium and Safari do; Firefox does not, and then uses 15) for this one, and keeps that much of what the
    /// client sent between messages, with context takeover: 8 KiB per connection at 13 bits,
    /// 32 KiB at 15. Measured on 64 KiB JSON documents, 13 bits costs 7% in compressed size
    /// against 15 and 12 bits 15% (`deflate_tradeoffs` in `mywebsocket-bench`); chat-sized
    /// messages do not notice. Default: 13.
    pub client_max_window_bits: u8,
    /// With context takeover, how many of the most recent bytes it sent a connection keeps
    /// between messages for later messages to refer back to (capped by the window). Within a
    /// message the whole window is used; only this much survives the message, and it is what
    /// an idle compressing connection costs on the sending side. Default: 4096.
    pub retained_window: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            level: 2,
            threshold: 64,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 13,
            retained_window: 4096,
        }
    }
}

impl DeflateConfig {
    /// Sets [`DeflateConfig::level`] (capped at 9).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets [`DeflateConfig::threshold`].
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`DeflateConfig::server_no_context_takeover`].
    #[must_use]
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Sets [`DeflateConfig::client_no_context_takeover`].
    #[must_use]
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Sets [`DeflateConfig::server_max_window_bits`] (clamped to 8..=15).
    #[must_use]
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// Sets [`DeflateConfig::retained_window`] (at most 32 KiB are ever used).
    #[must_use]
    pub fn retained_window(mut self, bytes: usize) -> Self {
        self.retained_window = bytes;
        self
    }

    /// Sets [`DeflateConfig::client_max_window_bits`] (clamped to 8..=15).
    #[must_use]
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(8, 15);
        self
    }
}

/// The parameters both ends agreed on in the handshake.
///
/// Made by [`negotiate`](crate::deflate::negotiate) (server) and
/// [`accept_response`](crate::deflate::accept_response) (client); `#[non_exhaustive]` so that
/// a new local setting can be added without breaking callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    pub client_max_window_bits: u8,
    /// Our compression level (not negotiated; local choice).
    pub level: u32,
    /// Our threshold for compressing a message (not negotiated; local choice).
    pub threshold: usize,
    /// How much of what we sent we keep for the next message (not negotiated; local choice,
    /// see [`DeflateConfig::retained_window`]).
    pub retained_window: usize,
}
