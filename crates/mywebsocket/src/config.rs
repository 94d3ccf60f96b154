//! Connection settings, shared by servers ([`Upgrader`](crate::Upgrader)) and clients
//! ([`connect_with`](crate::connect_with)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mywebsocket_proto::deflate::DeflateConfig;
use mywebsocket_proto::Limits;

/// A callback given the payload of a received ping or pong.
pub type ControlHandler = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A callback given the request's `Origin` header (if any); `false` refuses the upgrade with
/// 403.
pub type OriginCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// Settings for a connection. Each field documents its default and its unit; set them with the
/// builder methods:
///
/// ```
/// use std::time::Duration;
/// use mywebsocket::Config;
///
/// let config = Config::default()
///     .heartbeat(Some(Duration::from_secs(10)), Duration::from_secs(25))
///     .max_message_size(1 << 20)
///     .protocols(["chat.v2"])
///     .on_pong(|payload| println!("pong: {payload:?}"));
/// # let _ = config;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// How often to ping the peer while waiting for data. Default: every 30 s. `None`
    /// disables pings (the timeout still applies).
    pub heartbeat_interval: Option<Duration>,
    /// How long the peer may stay silent (no frame of any kind) before the connection is ended
    /// with [`Error::Timeout`](crate::Error::Timeout). Default: 60 s, two ping intervals.
    /// `None` disables it.
    pub heartbeat_timeout: Option<Duration>,
    /// Called with the payload of every pong received. Default: none.
    pub pong_handler: Option<ControlHandler>,
    /// Called with the payload of every ping received; the pong is sent automatically either
    /// way (RFC 6455 §5.5.2). Default: none.
    pub ping_handler: Option<ControlHandler>,
    /// The size of each read from the socket, in bytes; the read buffer grows beyond it as
    /// large frames arrive, up to the message limit. Default: 8 KiB.
    pub read_buffer_size: usize,
    /// The bytes that may wait in a connection's write queue before writers wait
    /// (backpressure). Default: 1 MiB.
    pub write_buffer_size: usize,
    /// Messages larger than this many bytes are sent as several frames (RFC 6455 §5.4).
    /// Default: 1 MiB.
    pub fragment_size: usize,
    /// Incoming size limits. Default: 64 MiB per message and per frame; more closes the
    /// connection with 1009.
    pub limits: Limits,
    /// The longest the connection may go without delivering a message while reads are
    /// waiting, counted from the first read after the previous message (a cancelled read does
    /// not restart it). Past it, reads end with a timeout and the connection closes.
    /// Default: none.
    pub read_timeout: Option<Duration>,
    /// The longest writing one batch of frames to the socket may take before the connection is
    /// dropped (TCP closed without a close frame: a peer that reads nothing could not read one
    /// either) and writes fail with [`Error::Timeout`](crate::Error::Timeout). This is what
    /// ends a peer that stops reading while we write: the write queue is full, writers wait,
    /// and after this long the connection goes. A batch is at most the write queue's worth of
    /// frames plus one message, so the default allows a reading peer at least 35 KB/s with the
    /// default queue. Default: 30 s. `None` disables it.
    pub write_timeout: Option<Duration>,
    /// The longest the opening handshake may take, both roles. Default: 10 s.
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's part of the closing handshake, however the close was
    /// started (`WebSocket::close`, `Writer::close`, a `Message::Close`, the `Sink`'s close):
    /// counted from when our close frame is written. Default: 5 s.
    pub close_timeout: Duration,
    /// The largest HTTP head accepted in the opening handshake, in bytes. Default: 16 KiB.
    pub max_head_size: usize,
    /// Server: the subprotocols supported, in order of preference. Client: the subprotocols
    /// offered. Default: none.
    pub protocols: Vec<String>,
    /// Server only: decides whether a request's `Origin` is allowed; a refused request gets
    /// 403. Browsers send the page's origin with every WebSocket request and apply no
    /// same-origin policy to WebSockets, so a server that relies on cookies must check it
    /// against cross-site WebSocket hijacking; [`Config::allowed_origins`] is the usual check.
    /// Default: none (all origins allowed), since servers without cookie authentication or
    /// behind a proxy that checks need none.
    pub origin_check: Option<OriginCheck>,
    /// Server only: the most connections one [`Upgrader`](crate::Upgrader) (and its clones)
    /// holds at once; a request past it is refused with `503 Service Unavailable` before the
    /// upgrade. A connection counts from its `101` answer until its last reader and writer
    /// handle is dropped. It bounds sockets and, with [`Config::write_buffer_size`], memory.
    /// Default: 16,384.
    pub max_connections: usize,
    /// permessage-deflate (RFC 7692): `Some` to offer it (client) or accept it (server) with
    /// these settings, `None` to never compress. Default: enabled with
    /// [`DeflateConfig::default`] (zlib level 2, messages under 64 bytes sent as they are). It costs
    /// nothing on connections where the peer does not negotiate it; where it does (every
    /// browser), a connection holds a zlib stream only while it compresses or decompresses a
    /// message, and between messages at most the windows of context takeover (4 KiB sent and
    /// 8 KiB received with the defaults; see `DeflateConfig`).
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            heartbeat_interval: Some(Duration::from_secs(30)),
            heartbeat_timeout: Some(Duration::from_secs(60)),
            pong_handler: None,
            ping_handler: None,
            read_buffer_size: 8 << 10,
            write_buffer_size: 1 << 20,
            fragment_size: 1 << 20,
            limits: Limits::default(),
            read_timeout: None,
            write_timeout: Some(Duration::from_secs(30)),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            max_head_size: 16 << 10,
            protocols: Vec::new(),
            origin_check: None,
            max_connections: 16_384,
            deflate: Some(DeflateConfig::default()),
        }
    }
}

impl Config {
    /// Sets the ping interval and the silence timeout; see [`Config::heartbeat_interval`].
    #[must_use]
    pub fn heartbeat(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// Turns the heartbeat off: no pings, no silence timeout.
    #[must_use]
    pub fn no_heartbeat(mut self) -> Self {
        self.heartbeat_interval = None;
        self.heartbeat_timeout = None;
        self
    }

    /// Sets [`Config::pong_handler`].
    #[must_use]
    pub fn on_pong(mut self, handler: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.pong_handler = Some(Arc::new(handler));
        self
    }

    /// Sets [`Config::ping_handler`].
    #[must_use]
    pub fn on_ping(mut self, handler: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.ping_handler = Some(Arc::new(handler));
        self
    }

    /// Sets [`Config::read_buffer_size`] (at least 1).
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(1);
        self
    }

    /// Sets [`Config::write_buffer_size`] (at least 1).
    #[must_use]
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes.max(1);
        self
    }

    /// Sets [`Config::fragment_size`] (at least 1).
    #[must_use]
    pub fn fragment_size(mut self, bytes: usize) -> Self {
        self.fragment_size = bytes.max(1);
        self
    }

    /// Sets the largest incoming message; frames are capped at the same size.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits = self.limits.max_message_size(bytes).max_frame_size(bytes);
        self
    }

    /// Sets [`Config::limits`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Config::read_timeout`].
    #[must_use]
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`Config::write_timeout`].
    #[must_use]
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`Config::handshake_timeout`].
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Config::close_timeout`].
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Config::max_head_size`].
    #[must_use]
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets [`Config::protocols`].
    #[must_use]
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`Config::deflate`]; `None` turns compression off.
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`Config::origin_check`].
    #[must_use]
    pub fn origin_check(
        mut self,
        check: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origin_check = Some(Arc::new(check));
        self
    }

    /// Allows only requests whose `Origin` is one of `origins` (compared without regard to
    /// ASCII case, as `scheme://host[:port]` with no trailing slash), or that carry no `Origin`
    /// at all: browsers always send one, so a request without it is not a cross-site page.
    ///
    /// ```
    /// use mywebsocket::Config;
    ///
    /// let config = Config::default().allowed_origins(["https://chat.example.com"]);
    /// let check = config.origin_check.as_ref().unwrap();
    /// assert!(check(Some("https://chat.example.com")));
    /// assert!(!check(Some("https://evil.example")));
    /// assert!(check(None));
    /// ```
    #[must_use]
    pub fn allowed_origins<I, S>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let allowed: Vec<String> = origins.into_iter().map(Into::into).collect();
        self.origin_check(move |origin| {
            origin.is_none_or(|origin| allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)))
        })
    }

    /// Sets [`Config::max_connections`] (at least 1).
    #[must_use]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("pong_handler", &self.pong_handler.is_some())
            .field("ping_handler", &self.ping_handler.is_some())
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("fragment_size", &self.fragment_size)
            .field("limits", &self.limits)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("max_head_size", &self.max_head_size)
            .field("protocols", &self.protocols)
            .field("origin_check", &self.origin_check.is_some())
            .field("max_connections", &self.max_connections)
            .field("deflate", &self.deflate)
            .finish()
    }
}
