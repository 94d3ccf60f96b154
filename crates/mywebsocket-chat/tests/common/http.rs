//! A bare HTTP/1.1 GET against a node, for the pages and files it serves.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` from `addr` over plain HTTP: the response head (status line and headers) and
/// the body, read until the node closes (`Connection: close`).
pub(crate) async fn http_get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect to the node");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    (head, response.split_off(split + 4))
}
