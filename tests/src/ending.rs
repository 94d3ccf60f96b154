//! How a connection ends: assertions on the error our reads end with, and reading a
//! tokio-tungstenite peer to its end.

use futures_util::StreamExt;
use mywebsocket::{Error, Initiator};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use crate::TungsteniteIo;

/// Asserts that `err` is [`Error::Closed`] with the closing handshake started by `initiator`.
///
/// # Panics
/// If it is not.
pub fn assert_closed_by(err: &Error, initiator: Initiator) {
    assert!(
        matches!(err, Error::Closed { initiator: got, .. } if *got == initiator),
        "expected Closed by {initiator:?}, got {err:?}"
    );
}

/// Asserts that `err` is [`Error::Closed`] by `initiator` with no close frame (none was
/// received, or one without a code).
///
/// # Panics
/// If it is not.
pub fn assert_closed_without_frame(err: &Error, initiator: Initiator) {
    assert!(
        matches!(err, Error::Closed { frame: None, initiator: got } if *got == initiator),
        "expected Closed by {initiator:?} without a frame, got {err:?}"
    );
}

/// Asserts that `err` is [`Error::Closed`] by `initiator` with a close frame of `code` and
/// `reason`.
///
/// # Panics
/// If it is not.
pub fn assert_closed(err: &Error, code: u16, reason: &str, initiator: Initiator) {
    match err {
        Error::Closed {
            frame: Some(frame),
            initiator: got,
        } => {
            assert_eq!(frame.code.as_u16(), code, "{err:?}");
            assert_eq!(frame.reason.as_str(), reason, "{err:?}");
            assert_eq!(*got, initiator, "{err:?}");
        }
        other => panic!("expected Closed with {code}, got {other:?}"),
    }
}

/// Asserts that a tokio-tungstenite peer received a close frame with `code` and `reason`.
///
/// # Panics
/// If `close` is `None` or differs.
pub fn assert_close_frame(close: Option<CloseFrame>, code: u16, reason: &str) {
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), code, "{close:?}");
    assert_eq!(close.reason.as_str(), reason, "{close:?}");
}

/// Reads a tokio-tungstenite connection to its end (which also answers the closing
/// handshake); returns the data messages and the close frame it received (`None` if it
/// received none, or one without a code).
///
/// # Panics
/// On a read error.
pub async fn drain(
    mut ws: WebSocketStream<impl TungsteniteIo>,
) -> (Vec<Message>, Option<CloseFrame>) {
    let mut messages = Vec::new();
    let mut close = None;
    while let Some(msg) = ws.next().await {
        match msg.expect("tungstenite read") {
            Message::Close(frame) => close = frame,
            msg @ (Message::Text(_) | Message::Binary(_)) => messages.push(msg),
            _ => {}
        }
    }
    (messages, close)
}

/// Reads a tokio-tungstenite connection up to its close frame and returns the code, skipping
/// pings and pongs.
///
/// # Panics
/// On a read error, the end of the stream, a data message, or a close frame without a code.
pub async fn read_close_code(ws: &mut WebSocketStream<impl TungsteniteIo>) -> u16 {
    loop {
        match ws.next().await.expect("a close frame").expect("read") {
            Message::Close(frame) => return u16::from(frame.expect("a close code").code),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
