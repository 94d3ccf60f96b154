//! The settings of a [`Connection`](super::Connection).

use super::timers::TimerConfig;
use crate::limits::Limits;

/// The settings of a [`Connection`](super::Connection).
///
/// `#[non_exhaustive]`: build it with [`ConnectionConfig::default`] and the setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Limits on what the peer may send. Default: [`Limits::default`].
    pub limits: Limits,
    /// The deadlines. Default: [`TimerConfig::default`].
    pub timers: TimerConfig,
    /// How many bytes of frames may wait in [`Connection::poll_transmit`](super::Connection::poll_transmit)'s queue before a
    /// pong has to wait for room (and reading pauses, see [`Connection::wants_read`](super::Connection::wants_read)).
    /// Default: 1 MiB.
    pub write_budget: usize,
    /// The largest payload of one outgoing frame; longer messages are fragmented. Default:
    /// 1 MiB.
    pub fragment_size: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            timers: TimerConfig::default(),
            write_budget: 1 << 20,
            fragment_size: 1 << 20,
        }
    }
}

impl ConnectionConfig {
    /// Sets [`ConnectionConfig::limits`].
    #[must_use]
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`ConnectionConfig::timers`].
    #[must_use]
    pub const fn timers(mut self, timers: TimerConfig) -> Self {
        self.timers = timers;
        self
    }

    /// Sets [`ConnectionConfig::write_budget`] (at least 1).
    #[must_use]
    pub const fn write_budget(mut self, bytes: usize) -> Self {
        self.write_budget = if bytes == 0 { 1 } else { bytes };
        self
    }

    /// Sets [`ConnectionConfig::fragment_size`] (at least 1).
    #[must_use]
    pub const fn fragment_size(mut self, bytes: usize) -> Self {
        self.fragment_size = if bytes == 0 { 1 } else { bytes };
        self
    }
}
