//! Reading an HTTP head off a stream, for both ends of the opening handshake.

use bytes::BytesMut;
use mywebsocket_proto::HandshakeError;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};

/// Reads until `parse` finds a complete head; returns the parsed head, with `buf` left holding
/// the bytes after it (the start of the WebSocket stream).
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`] past `max_len` bytes, the parser's error, or an I/O error
/// (an unexpected EOF if the peer closes mid-head).
pub(crate) async fn read_head<S, T>(
    stream: &mut S,
    buf: &mut BytesMut,
    max_len: usize,
    parse: impl Fn(&[u8]) -> Result<Option<(usize, T)>, HandshakeError>,
) -> Result<T>
where
    S: AsyncRead + Unpin,
{
    loop {
        if let Some((len, head)) = parse(buf)? {
            let _ = buf.split_to(len);
            return Ok(head);
        }
        if buf.len() >= max_len {
            return Err(HandshakeError::HeadTooLarge { limit: max_len }.into());
        }
        // Never read past the limit: a peer cannot make us buffer more than `max_len`.
        let room = (max_len - buf.len()).min(4096);
        buf.reserve(room);
        let n = stream.take(room as u64).read_buf(buf).await?;
        if n == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the opening handshake",
            )));
        }
    }
}
