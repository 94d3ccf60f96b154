//! How a connection ended, and which close codes a page may send.

use std::fmt;

use mywebsocket_proto::{CloseCode, CloseFrame};

use crate::error::Error;

/// Which end started the closing of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// This page did: a call to [`WebSocket::close`](crate::WebSocket::close), or the
    /// keep-alive gave up on the connection.
    Local,
    /// The server did, or the network: the browser does not tell a lost connection apart from
    /// a server that vanished.
    Remote,
}

/// How a connection ended, as the browser's `CloseEvent` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The code of the close frame that ended the connection. Two codes never travel on the
    /// wire and are reported by the browser itself (RFC 6455 §7.4.1):
    /// [`CloseCode::NO_STATUS`] (1005) when the close frame had no code, and
    /// [`CloseCode::ABNORMAL`] (1006) when the connection ended without a close frame.
    pub code: CloseCode,
    /// The reason from the close frame; empty when there was none.
    pub reason: String,
    /// Whether the closing handshake completed (both close frames exchanged, then TCP closed).
    pub was_clean: bool,
    /// Who started the close.
    pub initiator: Initiator,
}

impl CloseInfo {
    /// The close frame as the protocol crate's type, or `None` for the browser-reported codes
    /// 1005 and 1006, which mean there was no code on the wire.
    pub fn frame(&self) -> Option<CloseFrame> {
        match self.code {
            CloseCode::NO_STATUS | CloseCode::ABNORMAL => None,
            code => Some(CloseFrame::new(code, &self.reason)),
        }
    }
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = match self.initiator {
            Initiator::Local => "us",
            Initiator::Remote => "the server",
        };
        write!(f, "closed by {by} with code {}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " ({:?})", self.reason)?;
        }
        if !self.was_clean {
            f.write_str(", not cleanly")?;
        }
        Ok(())
    }
}

/// Whether a page may send `code`: `WebSocket.close()` accepts 1000 and 3000-4999 only
/// (the WebSockets Standard, "close()"), and throws `InvalidAccessError` for anything else.
pub(crate) fn page_may_send(code: CloseCode) -> bool {
    matches!(code.as_u16(), 1000 | 3000..=4999)
}

/// Checks the arguments of a close before they reach the browser, so that a bad code or
/// reason is a typed error rather than an exception.
pub(crate) fn check_close(code: CloseCode, reason: &str) -> Result<(), Error> {
    if !page_may_send(code) {
        return Err(Error::InvalidCloseCode(code));
    }
    // The reason must fit in a control frame after the 2-byte code (RFC 6455 §5.5); the
    // browser throws `SyntaxError` past that.
    if reason.len() > CloseFrame::MAX_REASON_LEN {
        return Err(Error::CloseReasonTooLong {
            len: reason.len(),
            max: CloseFrame::MAX_REASON_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_may_send_only_normal_and_application_codes() {
        for code in 0..=u16::MAX {
            let expected = code == 1000 || (3000..=4999).contains(&code);
            assert_eq!(page_may_send(CloseCode::new(code)), expected, "{code}");
        }
    }

    #[test]
    fn rejects_going_away_which_only_the_browser_may_send() {
        assert!(matches!(
            check_close(CloseCode::GOING_AWAY, ""),
            Err(Error::InvalidCloseCode(code)) if code == CloseCode::GOING_AWAY
        ));
    }

    #[test]
    fn rejects_reason_over_123_bytes() {
        assert!(check_close(CloseCode::NORMAL, &"x".repeat(123)).is_ok());
        assert!(matches!(
            check_close(CloseCode::NORMAL, &"é".repeat(62)),
            Err(Error::CloseReasonTooLong { len: 124, max: 123 })
        ));
    }

    #[test]
    fn browser_reported_codes_have_no_frame() {
        let mut info = CloseInfo {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            was_clean: false,
            initiator: Initiator::Remote,
        };
        assert_eq!(info.frame(), None);
        info.code = CloseCode::new(4001);
        info.reason = "bye".into();
        assert_eq!(
            info.frame(),
            Some(CloseFrame::new(CloseCode::new(4001), "bye"))
        );
        assert_eq!(
            info.to_string(),
            "closed by the server with code 4001 (\"bye\"), not cleanly"
        );
    }
}
