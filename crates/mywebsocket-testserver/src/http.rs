//! Plain HTTP answers on the test server's port: the `/observed` report, and refusals.

use std::io;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How long `/observed` waits for a session to complete.
pub(crate) const OBSERVED_WAIT: Duration = Duration::from_secs(30);

/// Writes a complete response with `body` and closes the connection.
///
/// The test page is served from another port (by wasm-bindgen's test runner), so the answer
/// allows any origin to read it (CORS); a plain GET needs no preflight.
///
/// # Errors
/// The socket's error.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: StatusCode,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

/// Answers with `report` as JSON.
///
/// # Errors
/// The socket's error.
pub(crate) async fn respond_json<S: AsyncWrite + Unpin>(
    stream: &mut S,
    report: &Value,
) -> io::Result<()> {
    let body = serde_json::to_vec(report).map_err(io::Error::other)?;
    respond(stream, StatusCode::OK, "application/json", &body).await
}
