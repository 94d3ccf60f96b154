//! Limits on what a peer may make us hold in memory.

/// Size limits for incoming data, checked when a frame header arrives, before any memory is
/// reserved for the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message, in bytes, summed over its fragments. Default: 64 MiB. A larger
    /// message fails the connection with 1009 (RFC 6455 §7.4.1).
    pub max_message_size: usize,
    /// The largest single frame payload, in bytes. Default: 64 MiB (same as the message limit,
    /// so a peer may send any allowed message unfragmented).
    pub max_frame_size: usize,
}

impl Limits {
    /// 64 MiB: the default for both limits.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

    /// Sets [`Limits::max_message_size`].
    #[must_use]
    pub const fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Limits::max_frame_size`].
    #[must_use]
    pub const fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}
