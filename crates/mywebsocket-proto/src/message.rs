//! Messages: what the application sends and receives.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::close::{CloseCode, CloseFrame};

/// Bytes known to be valid UTF-8: validated once, when they arrive, then shared without copying.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A string from a `'static` str, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps bytes that the caller has already validated as UTF-8.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // Validated when constructed; checking again keeps this crate free of `unsafe` until a
        // benchmark shows the check matters.
        std::str::from_utf8(&self.0).expect("Utf8Bytes holds valid UTF-8 by construction")
    }

    /// The raw bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying shared bytes.
    #[inline]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        s.as_str().into()
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete message: text or binary data, or the peer's close frame.
///
/// # The close frame
/// Like tokio-tungstenite's and axum's `Message::Close(Option<CloseFrame>)`, so that a
/// `Stream` loop written for them keeps working:
///
/// - **Received**: only the `Stream` interface of a connection yields `Close`, once, when the
///   closing handshake is done, carrying the peer's close frame (`None` when it had no status
///   code); the stream then ends. `read_msg` returns an error (`Error::Closed`) instead and
///   never yields `Close`.
/// - **Sent**: writing `Close` starts the closing handshake with that code and reason, as the
///   connection's `close` does.
///
/// Pings and pongs stay inside the connection: it answers pings itself, and its heartbeat
/// and ping/pong handlers cover the rest, so they never appear here.
///
/// `#[non_exhaustive]`: match with a wildcard arm, so that a kind added later does not break
/// the match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message, valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The close frame: the peer's when received, ours when sent; `None` for a close frame
    /// without a status code (RFC 6455 §5.5.1, reported as 1005 by most peers).
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// A close with `code` and `reason` (cut to [`CloseFrame::MAX_REASON_LEN`] bytes, as
    /// [`CloseFrame::new`] does).
    pub fn close(code: CloseCode, reason: &str) -> Self {
        Self::Close(Some(CloseFrame::new(code, reason)))
    }

    /// Whether this is a text message.
    pub const fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Whether this is a binary message.
    pub const fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// Whether this is a close, with or without a close frame.
    pub const fn is_close(&self) -> bool {
        matches!(self, Self::Close(_))
    }

    /// The data bytes, text or binary; empty for a close (its code and reason are in
    /// [`Message::as_close_frame`]).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) => b,
            Self::Close(_) => &[],
        }
    }

    /// The data as shared bytes, text or binary; empty for a close, as in
    /// [`Message::as_bytes`].
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) => b,
            Self::Close(_) => Bytes::new(),
        }
    }

    /// The text, if this is a text message (`None` for a close: its reason is not a message).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t.as_str()),
            Self::Binary(_) | Self::Close(_) => None,
        }
    }

    /// The close frame, if this is a close that carries one.
    pub fn as_close_frame(&self) -> Option<&CloseFrame> {
        match self {
            Self::Close(frame) => frame.as_ref(),
            Self::Text(_) | Self::Binary(_) => None,
        }
    }

    /// The data length in bytes, as [`Message::as_bytes`] counts it (0 for a close).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether [`Message::len`] is 0 (always for a close).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Self::text(s)
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Self::binary(v)
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bytes_rejects_invalid_input() {
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(
            Utf8Bytes::try_from(Bytes::from_static(b"hi")).unwrap(),
            "hi"
        );
    }

    #[test]
    fn message_accessors() {
        let m = Message::text("héllo");
        assert!(m.is_text());
        assert_eq!(m.as_text(), Some("héllo"));
        assert_eq!(m.len(), 6);
        let b = Message::binary(vec![1, 2]);
        assert!(b.is_binary() && b.as_text().is_none());
        assert!(b.as_close_frame().is_none() && !b.is_close());
        assert_eq!(&b.into_bytes()[..], &[1, 2]);
    }

    #[test]
    fn close_has_no_data_and_keeps_its_frame() {
        let m = Message::close(CloseCode::GOING_AWAY, "bye");
        assert!(m.is_close() && !m.is_text() && !m.is_binary());
        assert_eq!(
            m.as_close_frame(),
            Some(&CloseFrame::new(CloseCode::GOING_AWAY, "bye"))
        );
        assert_eq!(m.as_text(), None);
        assert_eq!((m.len(), m.is_empty(), m.as_bytes()), (0, true, &[][..]));
        assert!(m.into_bytes().is_empty());
        let bare = Message::Close(None);
        assert!(bare.is_close() && bare.as_close_frame().is_none() && bare.is_empty());
    }

    mod prop {
        use proptest::prelude::*;

        use super::*;

        fn message() -> impl Strategy<Value = Message> {
            prop_oneof![
                any::<String>().prop_map(Message::text),
                proptest::collection::vec(any::<u8>(), 0..64).prop_map(Message::binary),
                (any::<u16>(), any::<String>())
                    .prop_map(|(code, reason)| Message::close(CloseCode::new(code), &reason)),
                Just(Message::Close(None)),
            ]
        }

        proptest! {
            /// Exactly one kind predicate holds, and the accessors agree with it.
            #[test]
            fn helpers_agree_with_the_kind(m in message()) {
                let kinds = [m.is_text(), m.is_binary(), m.is_close()];
                prop_assert_eq!(kinds.iter().filter(|k| **k).count(), 1);
                prop_assert_eq!(m.as_text().is_some(), m.is_text());
                if m.as_close_frame().is_some() {
                    prop_assert!(m.is_close());
                }
                prop_assert_eq!(m.len(), m.as_bytes().len());
                prop_assert_eq!(m.is_empty(), m.as_bytes().is_empty());
                if m.is_close() {
                    prop_assert!(m.is_empty());
                }
                if let Some(text) = m.as_text() {
                    prop_assert_eq!(text.as_bytes(), m.as_bytes());
                }
                if let Some(frame) = m.as_close_frame() {
                    prop_assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
                }
                let bytes = m.as_bytes().to_vec();
                prop_assert_eq!(&m.clone().into_bytes()[..], &bytes[..]);
            }
        }
    }
}
