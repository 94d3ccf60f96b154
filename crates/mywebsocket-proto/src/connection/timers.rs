//! The deadlines of a connection, as data: the caller sleeps until
//! [`Timers::poll_timeout`] and then calls [`Timers::handle_timeout`] with the time.
//!
//! No clock is read here: every method takes `now` from the caller, so tests drive time by
//! hand and the crate runs where `Instant::now` does not (`wasm32-unknown-unknown`).

use std::time::{Duration, Instant};

/// The timeouts a connection keeps. `None` turns one off.
///
/// `#[non_exhaustive]`: build it with [`TimerConfig::default`] and the setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerConfig {
    /// How often to ping a silent peer. Default: off.
    pub heartbeat_interval: Option<Duration>,
    /// How long the peer may send nothing at all before the connection fails with 1001.
    /// Default: off.
    pub heartbeat_timeout: Option<Duration>,
    /// How long a read may wait for a message before the connection fails with 1001. Default:
    /// off.
    pub read_timeout: Option<Duration>,
    /// How long the peer has to answer our close frame once it is written, and a client to
    /// see the server end the transport after the handshake. Default: 5 s.
    pub close_timeout: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: None,
            heartbeat_timeout: None,
            read_timeout: None,
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// Sets [`TimerConfig::heartbeat_interval`].
    #[must_use]
    pub const fn heartbeat_interval(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`TimerConfig::heartbeat_timeout`].
    #[must_use]
    pub const fn heartbeat_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Sets [`TimerConfig::read_timeout`].
    #[must_use]
    pub const fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`TimerConfig::close_timeout`].
    #[must_use]
    pub const fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}

/// A deadline that passed, from [`Timers::handle_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expired {
    /// Time for a heartbeat ping.
    Ping,
    /// The peer sent nothing for the heartbeat timeout: fail the connection with 1001.
    Heartbeat,
    /// No message arrived within the read timeout: fail the connection with 1001.
    Read,
    /// The peer did not answer our close frame in time: close the transport.
    Close,
    /// A client waited the close timeout for the server to end the transport after the
    /// closing handshake (RFC 6455 §7.1.1): close it ourselves. (On a server, whose driver
    /// closes the transport as soon as the handshake completes, only if it did not.)
    Eof,
}

impl Expired {
    /// Whether this ends the connection (everything but a heartbeat ping).
    pub const fn is_fatal(self) -> bool {
        !matches!(self, Self::Ping)
    }
}

/// The deadlines of one connection.
#[derive(Debug, Clone)]
pub struct Timers {
    config: TimerConfig,
    last_rx: Instant,
    next_ping: Option<Instant>,
    read_started: Option<Instant>,
    close_deadline: Option<Instant>,
    eof_deadline: Option<Instant>,
}

impl Timers {
    /// The timers of a connection established at `now`.
    pub fn new(config: TimerConfig, now: Instant) -> Self {
        Self {
            next_ping: config.heartbeat_interval.map(|i| now + i),
            config,
            last_rx: now,
            read_started: None,
            close_deadline: None,
            eof_deadline: None,
        }
    }

    /// The configuration in force.
    pub const fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Bytes arrived from the peer at `now`: any frame, a pong included, proves it alive.
    pub fn on_receive(&mut self, now: Instant) {
        self.last_rx = now;
    }

    /// The application started waiting for a message at `now` (the read timeout runs from
    /// the first wait until a message is delivered; waiting again does not restart it).
    pub fn on_read_start(&mut self, now: Instant) {
        if self.config.read_timeout.is_some() {
            self.read_started.get_or_insert(now);
        }
    }

    /// A message was delivered: the read timeout stops until the next wait.
    pub fn on_message(&mut self) {
        self.read_started = None;
    }

    /// Our close frame was written at `now`: the peer must answer within the close timeout.
    /// Counted from the write, not from when the close was queued behind data the peer is
    /// still reading.
    pub fn on_close_sent(&mut self, now: Instant) {
        self.close_deadline
            .get_or_insert(now + self.config.close_timeout);
    }

    /// Whether the close timeout is running.
    pub const fn awaits_close(&self) -> bool {
        self.close_deadline.is_some()
    }

    /// The closing handshake completed at `now`: only the wait for the transport's end is
    /// left. A client waits for the server to end it first (RFC 6455 §7.1.1), and after the
    /// close timeout ends it itself; a server ends it at once, this deadline only a backstop.
    pub fn on_close_acknowledged(&mut self, now: Instant) {
        self.close_deadline = None;
        self.next_ping = None;
        self.read_started = None;
        self.eof_deadline
            .get_or_insert(now + self.config.close_timeout);
    }

    fn silence_deadline(&self) -> Option<Instant> {
        self.config.heartbeat_timeout.map(|t| self.last_rx + t)
    }

    fn read_deadline(&self) -> Option<Instant> {
        self.config
            .read_timeout
            .zip(self.read_started)
            .map(|(t, s)| s + t)
    }

    /// The earliest deadline: call [`Timers::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.eof_deadline.is_some() {
            // After the handshake only the wait for the transport's end is left.
            return self.eof_deadline;
        }
        [
            self.silence_deadline(),
            self.read_deadline(),
            self.next_ping,
            self.close_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What passed by `now`, the most serious first; `None` if nothing did. A heartbeat
    /// ping's deadline moves on by the interval when it is reported.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Expired> {
        if let Some(eof) = self.eof_deadline {
            return (now >= eof).then_some(Expired::Eof);
        }
        if self.silence_deadline().is_some_and(|d| now >= d) {
            return Some(Expired::Heartbeat);
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            return Some(Expired::Close);
        }
        if self.read_deadline().is_some_and(|d| now >= d) {
            return Some(Expired::Read);
        }
        if let (Some(at), Some(interval)) = (self.next_ping, self.config.heartbeat_interval) {
            if now >= at {
                self.next_ping = Some(now + interval);
                return Some(Expired::Ping);
            }
        }
        None
    }
}
