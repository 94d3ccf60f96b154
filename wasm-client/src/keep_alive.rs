//! Detecting a dead connection from the page, with application-level messages.

use std::rc::Weak;
use std::time::Duration;

use mywebsocket_proto::Message;

use crate::socket::Socket;
use crate::timer::{elapsed, now_ms, sleep};

/// An application-level keep-alive, set with
/// [`Options::keep_alive`](crate::Options::keep_alive).
///
/// Browsers answer the server's pings by themselves, but they give a page no way to send a
/// ping or to see a pong. A connection whose network path died silently (a laptop that slept,
/// a NAT that forgot the mapping) can therefore look open for minutes. The keep-alive is what a
/// page can do instead: every `interval` it sends `message`, an ordinary data message, and if
/// *nothing at all* arrives from the server for `timeout`, it declares the connection dead:
/// [`WebSocket::read_msg`](crate::WebSocket::read_msg) returns
/// [`Error::KeepAliveTimeout`](crate::Error::KeepAliveTimeout) (or, with
/// [`Reconnect`](crate::Reconnect), a new connection is opened) and the old one is closed
/// with 1000 and the reason `keep-alive timeout`.
///
/// The server has to cooperate: it must answer `message` (a mywebsocket server just writes
/// `reply` back when it reads `message`), or send something else at least every `timeout`.
/// Any message counts as a sign of life; received messages equal to `reply` are taken by the
/// keep-alive and not returned by `read_msg`. The server's own pings do not count, as the page
/// never sees them: the two heartbeats are independent.
///
/// ```
/// use std::time::Duration;
/// use mywebsocket_wasm::{KeepAlive, Message};
///
/// let keep_alive = KeepAlive::new(Duration::from_secs(15), Duration::from_secs(40))
///     .message(Message::text(r#"{"type":"ping"}"#))
///     .reply(Some(Message::text(r#"{"type":"pong"}"#)));
/// # let _ = keep_alive;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepAlive {
    /// How often to send `message`.
    pub interval: Duration,
    /// How long the server may stay silent (no message of any kind) before the connection is
    /// declared dead. Give it a few intervals, so that one slow answer is not fatal.
    pub timeout: Duration,
    /// What to send. Default: the text `ping`.
    pub message: Message,
    /// The server's answer, kept from [`WebSocket::read_msg`](crate::WebSocket::read_msg);
    /// `None` delivers every message. Default: the text `pong`.
    pub reply: Option<Message>,
}

impl KeepAlive {
    /// Sends `ping` every `interval` and expects something from the server within `timeout`.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            message: Message::text("ping"),
            reply: Some(Message::text("pong")),
        }
    }

    /// Sets [`KeepAlive::message`].
    #[must_use]
    pub fn message(mut self, message: impl Into<Message>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets [`KeepAlive::reply`].
    #[must_use]
    pub fn reply(mut self, reply: Option<Message>) -> Self {
        self.reply = reply;
        self
    }
}

/// Runs the keep-alive of one connection until it ends or is dropped.
pub(crate) fn spawn(socket: Weak<Socket>, config: KeepAlive) {
    wasm_bindgen_futures::spawn_local(async move {
        let mut next_send = now_ms() + as_ms(config.interval);
        loop {
            let wait = {
                let Some(socket) = socket.upgrade() else {
                    return;
                };
                if socket.end().is_some() {
                    return;
                }
                let now = now_ms();
                let silent_for = elapsed(socket.last_rx_ms(), now);
                if silent_for >= config.timeout {
                    socket.declare_dead(silent_for);
                    return;
                }
                if now >= next_send {
                    // A failure here means the connection is going; the close event says so.
                    let _ = socket.send(&config.message);
                    next_send = now + as_ms(config.interval);
                }
                let until_send = elapsed(now, next_send);
                until_send.min(config.timeout - silent_for)
            };
            sleep(wait.max(Duration::from_millis(1))).await;
        }
    });
}

fn as_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
