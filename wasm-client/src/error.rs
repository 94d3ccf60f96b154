//! The one error type of the browser client.

use std::fmt;
use std::time::Duration;

use mywebsocket_proto::CloseCode;
use wasm_bindgen::{JsCast, JsValue};

use crate::close::CloseInfo;

/// Everything that can go wrong with a browser WebSocket. Exceptions thrown by the browser
/// become variants of this type; no `JsValue` reaches the caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The browser refused to create the connection: the URL is not `ws:`, `wss:`, `http:` or
    /// `https:`, has a fragment, or a subprotocol is empty, repeated or not a token. Carries
    /// the browser's message.
    InvalidRequest(String),
    /// The connection could not be opened: nothing listens there, the network failed, or the
    /// server refused the upgrade (for example with 403 for an origin it does not allow).
    /// Browsers do not tell a page which (so that pages cannot probe the network), only that
    /// the connection closed with `code`, which is 1006.
    ConnectFailed {
        /// The code of the `CloseEvent` that ended the attempt.
        code: CloseCode,
    },
    /// The connection is closed; how, and by whom.
    Closed(CloseInfo),
    /// Nothing arrived from the server within the keep-alive timeout, so the connection was
    /// dropped as dead; see [`KeepAlive`](crate::KeepAlive).
    KeepAliveTimeout {
        /// How long the server had been silent.
        silent_for: Duration,
    },
    /// Automatic reconnection gave up after this many failed attempts in a row; see
    /// [`Reconnect::max_attempts`](crate::Reconnect::max_attempts).
    ReconnectFailed {
        /// The attempts made.
        attempts: u32,
    },
    /// A write while no connection is open: it is closing or closed, or being re-established.
    /// [`WebSocket::read_msg`](crate::WebSocket::read_msg) says how it ended.
    NotOpen,
    /// The server did not answer our close frame within
    /// [`Options::close_timeout`](crate::Options::close_timeout); the connection is dropped.
    CloseTimeout,
    /// A close code a page may not send: browsers allow 1000 and 3000-4999 only.
    InvalidCloseCode(CloseCode),
    /// A close reason longer than a close frame can carry.
    CloseReasonTooLong {
        /// The reason's length in bytes (UTF-8).
        len: usize,
        /// The most allowed: 123 bytes (RFC 6455 §5.5).
        max: usize,
    },
    /// The value given to `write_json` could not be serialized.
    Json(serde_json::Error),
    /// Another exception from the browser, by its name (`InvalidStateError`, ...) and message.
    Browser {
        /// The exception's `name`.
        name: String,
        /// The exception's `message`.
        message: String,
    },
}

impl Error {
    /// Whether this is the normal end of a connection: it was closed, by either end, with a
    /// completed closing handshake.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(info) if info.was_clean)
    }

    /// Converts an exception thrown by a browser API.
    pub(crate) fn from_js(value: &JsValue) -> Self {
        if let Some(e) = value.dyn_ref::<web_sys::DomException>() {
            return Self::Browser {
                name: e.name(),
                message: e.message(),
            };
        }
        if let Some(e) = value.dyn_ref::<js_sys::Error>() {
            return Self::Browser {
                name: e.name().into(),
                message: e.message().into(),
            };
        }
        Self::Browser {
            name: "unknown".into(),
            message: value.as_string().unwrap_or_else(|| format!("{value:?}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest(why) => write!(f, "invalid websocket request: {why}"),
            Self::ConnectFailed { code } => write!(
                f,
                "connection failed (code {code}): refused, unreachable, or the upgrade was rejected"
            ),
            Self::Closed(info) => write!(f, "connection {info}"),
            Self::KeepAliveTimeout { silent_for } => write!(
                f,
                "no message from the server for {} ms: connection presumed dead",
                silent_for.as_millis()
            ),
            Self::ReconnectFailed { attempts } => {
                write!(f, "reconnection gave up after {attempts} attempts")
            }
            Self::NotOpen => f.write_str("connection not open"),
            Self::CloseTimeout => f.write_str("the server did not finish the closing handshake"),
            Self::InvalidCloseCode(code) => write!(
                f,
                "close code {code} may not be sent by a page (only 1000 and 3000-4999)"
            ),
            Self::CloseReasonTooLong { len, max } => {
                write!(f, "close reason of {len} bytes exceeds {max} bytes")
            }
            Self::Json(e) => write!(f, "json serialization failed: {e}"),
            Self::Browser { name, message } => write!(f, "browser error {name}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::Initiator;

    #[test]
    fn only_a_clean_close_is_a_normal_end() {
        let info = CloseInfo {
            code: CloseCode::NORMAL,
            reason: String::new(),
            was_clean: true,
            initiator: Initiator::Local,
        };
        assert!(Error::Closed(info.clone()).is_closed());
        let lost = CloseInfo {
            code: CloseCode::ABNORMAL,
            was_clean: false,
            ..info
        };
        assert!(!Error::Closed(lost).is_closed());
        assert!(!Error::NotOpen.is_closed());
    }

    #[test]
    fn display_carries_the_numbers() {
        let e = Error::KeepAliveTimeout {
            silent_for: Duration::from_millis(3200),
        };
        assert_eq!(
            e.to_string(),
            "no message from the server for 3200 ms: connection presumed dead"
        );
        assert!(Error::InvalidCloseCode(CloseCode::new(1001))
            .to_string()
            .contains("1001"));
    }
}
