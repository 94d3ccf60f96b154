//! Per-call options for writes.

/// Options for one write, overriding the connection's [`Config`](crate::Config).
///
/// ```
/// use mywebsocket::WriteOptions;
/// let opts = WriteOptions::default().fragment_size(64 * 1024);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Split this message into frames of at most this many bytes. Default: the connection's
    /// [`Config::fragment_size`](crate::Config::fragment_size).
    pub fragment_size: Option<usize>,
    /// Whether to compress this message when permessage-deflate was negotiated: `Some(false)`
    /// sends it as it is, `Some(true)` compresses it even under the threshold. Default: the
    /// connection decides by [`DeflateConfig::threshold`](crate::DeflateConfig::threshold).
    pub compress: Option<bool>,
}

impl WriteOptions {
    /// Sets [`WriteOptions::fragment_size`] (at least 1).
    #[must_use]
    pub fn fragment_size(mut self, bytes: usize) -> Self {
        self.fragment_size = Some(bytes.max(1));
        self
    }

    /// Sets [`WriteOptions::compress`].
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = Some(compress);
        self
    }
}
