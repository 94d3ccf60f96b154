//! Opening connections: TCP connect and the client's side of the opening handshake
//! (RFC 6455 §4.1), with an optional permessage-deflate offer (RFC 7692).

use std::io;
use std::net::SocketAddr;

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::STALL_TIMEOUT;

/// The permessage-deflate offer: no context takeover either way, so every message is
/// compressed on its own and the load generator can send one pre-compressed frame over and
/// over (and servers do not profit from identical messages).
pub const DEFLATE_OFFER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// How many connects and handshakes [`connect_many`] keeps going at once.
pub const PARALLEL_CONNECTS: usize = 128;

/// The largest response head accepted.
const MAX_HEAD: usize = 8 << 10;

/// An open WebSocket connection, just past the handshake.
#[derive(Debug)]
pub struct Conn {
    /// The socket (`TCP_NODELAY` on, zero linger so closing it leaves no `TIME_WAIT`).
    pub stream: TcpStream,
    /// Whether the server accepted permessage-deflate.
    pub deflate: bool,
    /// Bytes that followed the response head (frames the server sent at once).
    pub leftover: Vec<u8>,
}

/// The upgrade request sent to `addr`.
pub fn request(addr: SocketAddr, offer_deflate: bool) -> Vec<u8> {
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if offer_deflate {
        req.push_str("Sec-WebSocket-Extensions: ");
        req.push_str(DEFLATE_OFFER);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// What the response head says: whether it is a `101` and whether it accepted
/// permessage-deflate.
fn read_response(head: &[u8]) -> io::Result<bool> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("handshake refused: {status}")));
    }
    Ok(lines.any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("sec-websocket-extensions:") && lower.contains("permessage-deflate")
    }))
}

/// Connects to `addr` and completes the handshake.
///
/// # Errors
/// Socket errors, or [`io::ErrorKind::Other`] when the server does not answer `101`.
pub async fn connect(addr: SocketAddr, offer_deflate: bool) -> io::Result<Conn> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.set_zero_linger()?;
    stream.write_all(&request(addr, offer_deflate)).await?;
    let mut buf = vec![0; 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err(io::Error::other("response head too long"));
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            let deflate = read_response(&buf[..end])?;
            return Ok(Conn {
                stream,
                deflate,
                leftover: buf[end + 4..len].to_vec(),
            });
        }
    }
}

/// Opens `count` connections, [`PARALLEL_CONNECTS`] at a time.
///
/// # Errors
/// The first connection's error, or a timeout after [`STALL_TIMEOUT`].
pub async fn connect_many(
    addr: SocketAddr,
    count: usize,
    offer_deflate: bool,
) -> Result<Vec<Conn>, String> {
    let all = futures_util::stream::iter(0..count)
        .map(|_| connect(addr, offer_deflate))
        .buffer_unordered(PARALLEL_CONNECTS)
        .try_collect::<Vec<_>>();
    match tokio::time::timeout(STALL_TIMEOUT * 3, all).await {
        Ok(Ok(conns)) => Ok(conns),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err(format!("opening {count} connections timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_a_valid_upgrade() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let raw = request(addr, true);
        let (_, req) = mywebsocket_proto::handshake::parse_request(&raw)
            .unwrap()
            .unwrap();
        assert!(mywebsocket_proto::handshake::validate_request::<_, &str>(&req, &[]).is_ok());
        assert!(String::from_utf8(raw).unwrap().contains(DEFLATE_OFFER));
    }

    #[test]
    fn reads_status_and_extension() {
        assert!(read_response(
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate"
        )
        .unwrap());
        assert!(!read_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket").unwrap());
        assert!(read_response(b"HTTP/1.1 400 Bad Request").is_err());
    }
}
