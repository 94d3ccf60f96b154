//! Automatic reconnection: when to try again, and how long to wait first.

use std::time::Duration;

use mywebsocket_proto::CloseCode;

use crate::close::{CloseInfo, Initiator};

/// Reconnection with exponential backoff, set with
/// [`Options::reconnect`](crate::Options::reconnect).
///
/// When a connection ends without this page closing it, [`WebSocket::read_msg`] waits and
/// opens a new one to the same URL with the same options, then carries on returning its
/// messages. The `n`-th attempt in a row (from 0) waits `initial_delay × multiplierⁿ`, at most
/// `max_delay`; with `jitter`, each wait is scaled by a random factor in [0.5, 1) so that many
/// clients cut off together do not all return at the same instant.
///
/// It reconnects after connections that were lost (1006, no close frame), dropped by the
/// keep-alive, or closed by the server with a code that says "come back later": 1001 (going
/// away), 1011 (internal error), 1012 (service restart), 1013 (try again later) and 1014 (bad
/// gateway). Other codes are the server's decision about this client (1000 done, 1002 and 1007
/// protocol errors, 1008 policy, 1009 too big, 3000-4999 the application's own) and end the
/// connection for good, as does [`WebSocket::close`].
///
/// Messages are never carried over: a write while the connection is down fails with
/// [`Error::NotOpen`](crate::Error::NotOpen), and [`WebSocket::reconnects`] tells the
/// application that it is talking to a new connection (to subscribe again, say). Reconnection
/// happens while a [`WebSocket::read_msg`] is waiting, so keep one pending.
///
/// ```
/// use std::time::Duration;
/// use mywebsocket_wasm::Reconnect;
///
/// let policy = Reconnect::default()
///     .initial_delay(Duration::from_millis(250))
///     .max_delay(Duration::from_secs(10))
///     .max_attempts(Some(20));
/// assert_eq!(policy.delay(0, 0.0), Duration::from_millis(125)); // jitter's low end: half
/// ```
///
/// [`WebSocket::read_msg`]: crate::WebSocket::read_msg
/// [`WebSocket::close`]: crate::WebSocket::close
/// [`WebSocket::reconnects`]: crate::WebSocket::reconnects
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reconnect {
    /// The wait before the first attempt. Default: 500 ms.
    pub initial_delay: Duration,
    /// The longest wait between attempts. Default: 30 s.
    pub max_delay: Duration,
    /// How much each wait grows over the previous one. Default: 2.
    pub multiplier: u32,
    /// How many failed attempts in a row before giving up with
    /// [`Error::ReconnectFailed`](crate::Error::ReconnectFailed); `None` never gives up.
    /// Default: `None`.
    pub max_attempts: Option<u32>,
    /// Whether to scale each wait by a random factor in [0.5, 1). Default: `true`.
    pub jitter: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2,
            max_attempts: None,
            jitter: true,
        }
    }
}

impl Reconnect {
    /// Sets [`Reconnect::initial_delay`].
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets [`Reconnect::max_delay`].
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`Reconnect::multiplier`] (at least 1).
    #[must_use]
    pub fn multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier.max(1);
        self
    }

    /// Sets [`Reconnect::max_attempts`].
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets [`Reconnect::jitter`].
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait before attempt number `attempt` (0 for the first after a connection ended).
    /// `random` is a number in [0, 1), used only with jitter.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let growth = self.multiplier.max(1).saturating_pow(attempt);
        let delay = self
            .initial_delay
            .checked_mul(growth)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        if self.jitter {
            delay.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
        } else {
            delay
        }
    }

    /// Whether a connection that ended this way is one to re-establish; see the type's docs.
    pub(crate) fn applies_to(info: &CloseInfo) -> bool {
        if info.initiator == Initiator::Local {
            return false;
        }
        matches!(
            info.code,
            CloseCode::ABNORMAL
                | CloseCode::GOING_AWAY
                | CloseCode::INTERNAL_ERROR
                | CloseCode::SERVICE_RESTART
                | CloseCode::TRY_AGAIN_LATER
                | CloseCode::BAD_GATEWAY
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: u16, initiator: Initiator) -> CloseInfo {
        CloseInfo {
            code: CloseCode::new(code),
            reason: String::new(),
            was_clean: code != 1006,
            initiator,
        }
    }

    #[test]
    fn delays_grow_geometrically_up_to_the_cap() {
        let policy = Reconnect::default()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(1000))
            .jitter(false);
        let delays: Vec<_> = (0..6).map(|n| policy.delay(n, 0.7).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX, 0.0), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_scales_into_the_upper_half() {
        let policy = Reconnect::default().initial_delay(Duration::from_millis(1000));
        assert_eq!(policy.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(0, 0.5), Duration::from_millis(750));
        assert!(policy.delay(0, 0.999_999) < Duration::from_millis(1000));
        assert_eq!(policy.delay(0, 7.0), Duration::from_millis(1000), "clamped");
    }

    #[test]
    fn reconnects_after_loss_and_server_restarts_only() {
        for code in [1006, 1001, 1011, 1012, 1013, 1014] {
            assert!(
                Reconnect::applies_to(&ended(code, Initiator::Remote)),
                "{code}"
            );
        }
        for code in [
            1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 3000, 4000, 4999,
        ] {
            assert!(
                !Reconnect::applies_to(&ended(code, Initiator::Remote)),
                "{code}"
            );
        }
    }

    #[test]
    fn never_reconnects_after_our_own_close() {
        assert!(!Reconnect::applies_to(&ended(1000, Initiator::Local)));
        assert!(!Reconnect::applies_to(&ended(1001, Initiator::Local)));
        assert!(!Reconnect::applies_to(&ended(1006, Initiator::Local)));
    }
}
