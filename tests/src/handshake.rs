//! Opening handshakes written out as text: requests that should be refused ([`raw_http`],
//! [`upgrade_request`]), an upgrade done by hand on a socket ([`upgrade_by_hand`]), and
//! header look-ups.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[cfg(doc)]
use crate::RawPeer;

/// The `Sec-WebSocket-Key` sample from RFC 6455 §1.3, used by [`RawPeer::connect`].
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An HTTP response read by [`raw_http`].
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the head.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Sends `request` as it is to `addr` and reads the response until the server closes the
/// connection.
///
/// # Panics
/// If the socket fails or the response is not HTTP.
pub async fn raw_http(addr: SocketAddr, request: &str) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(&raw).expect("valid response head") {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => panic!("incomplete response: {raw:?}"),
    };
    HttpReply {
        status: response.code.expect("status code"),
        headers: owned_headers(response.headers),
        body: raw[len..].to_vec(),
    }
}

/// An upgrade request as a client would send it, with `extra` header lines (each ending in
/// `\r\n`) and the key and version given.
pub fn upgrade_request(key: Option<&str>, version: &str, extra: &str) -> String {
    let key = key
        .map(|k| format!("Sec-WebSocket-Key: {k}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         {key}Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

/// Completes the opening handshake by hand on a connected `tcp`: sends an upgrade request with
/// `extra` header lines, reads the response head byte by byte (nothing after it is consumed)
/// and checks it is a `101`. Returns the head.
pub async fn upgrade_by_hand(tcp: &mut TcpStream, extra: &str) -> String {
    tcp.write_all(upgrade_request(Some(SAMPLE_KEY), "13", extra).as_bytes())
        .await
        .expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("response"));
    }
    let head = String::from_utf8(head).expect("ASCII response head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    head
}

/// Headers parsed by httparse, as owned pairs.
pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// The value of the first header called `name` (any case) in `headers`.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
