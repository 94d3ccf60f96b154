//! Settings for a connection.

use std::time::Duration;

use crate::keep_alive::KeepAlive;
use crate::reconnect::Reconnect;

/// Settings for [`connect_with`](crate::connect_with). Each field gives its default and unit;
/// set them with the builder methods:
///
/// ```
/// use std::time::Duration;
/// use mywebsocket_wasm::{KeepAlive, Options, Reconnect};
///
/// let options = Options::default()
///     .protocols(["chat.v2", "chat.v1"])
///     .keep_alive(Some(KeepAlive::new(Duration::from_secs(15), Duration::from_secs(40))))
///     .reconnect(Some(Reconnect::default()))
///     .max_buffered(4 << 20);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference; the
    /// server's choice is [`WebSocket::protocol`](crate::WebSocket::protocol). Default: none.
    pub protocols: Vec<String>,
    /// The application-level keep-alive that detects a dead connection. Default: none.
    pub keep_alive: Option<KeepAlive>,
    /// Automatic reconnection. Default: none (a lost connection stays lost).
    pub reconnect: Option<Reconnect>,
    /// Writes wait while the browser holds more than this many bytes not yet sent
    /// (`bufferedAmount`), so a page that sends faster than the network carries does not
    /// grow without bound (backpressure). Default: 1 MiB.
    pub max_buffered: usize,
    /// How often a waiting write looks at `bufferedAmount` again: browsers give no event when
    /// it drains. Default: 5 ms.
    pub drain_poll_interval: Duration,
    /// How long [`WebSocket::close`](crate::WebSocket::close) waits for the server's close
    /// frame. Default: 5 s.
    pub close_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            protocols: Vec::new(),
            keep_alive: None,
            reconnect: None,
            max_buffered: 1 << 20,
            drain_poll_interval: Duration::from_millis(5),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Options {
    /// Sets [`Options::protocols`].
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`Options::keep_alive`].
    #[must_use]
    pub fn keep_alive(mut self, keep_alive: Option<KeepAlive>) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Sets [`Options::reconnect`].
    #[must_use]
    pub fn reconnect(mut self, reconnect: Option<Reconnect>) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets [`Options::max_buffered`].
    #[must_use]
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Sets [`Options::drain_poll_interval`] (at least 1 ms).
    #[must_use]
    pub fn drain_poll_interval(mut self, interval: Duration) -> Self {
        self.drain_poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets [`Options::close_timeout`].
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}
