//! The closing handshake, started by either end.

use mywebsocket::{CloseCode, Config};
use serde_json::json;

use super::{accept, describe_end, read_until_end, CaseResult, Conn, Done};
use crate::observed::Recorder;

/// The code `/server-close` closes with.
const SERVER_CODE: CloseCode = CloseCode::new(4001);
/// The reason `/server-close` gives; not ASCII, to check it arrives as UTF-8.
const SERVER_REASON: &str = "server says bye ☃";

/// Sends one message, then closes with 4001 and a reason and waits for the browser's answer.
pub(super) async fn server_closes(conn: Conn, rec: &Recorder) -> CaseResult {
    let mut ws = accept(conn, Config::default(), rec).await?;
    ws.write_string("last words").await?;
    let result = ws.close(SERVER_CODE, SERVER_REASON).await;
    rec.set(
        "close",
        json!({
            "code": SERVER_CODE.as_u16(),
            "reason": SERVER_REASON,
            // `close` returns Ok once the browser answered with its close frame.
            "answered": result.is_ok(),
            "error": result.err().map(|e| describe_end(&e)),
        }),
    );
    Ok(Done::Complete)
}

/// Waits for the browser to close, recording the code and reason it sent.
pub(super) async fn client_closes(conn: Conn, rec: &Recorder) -> CaseResult {
    let mut ws = accept(conn, Config::default(), rec).await?;
    read_until_end(&mut ws, rec).await;
    Ok(Done::Complete)
}
