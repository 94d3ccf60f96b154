//! The opening handshake: with and without a subprotocol, and a refused origin.

use http::header::{ORIGIN, SEC_WEBSOCKET_VERSION, USER_AGENT};
use http::Request;
use mywebsocket::{Config, Error, Upgrader};
use mywebsocket_proto::handshake::offered_protocols;
use serde_json::json;

use super::{accept, describe_end, summary, CaseResult, Conn, Done};
use crate::observed::Recorder;

/// The subprotocol `/subprotocol` supports.
pub(crate) const SUBPROTOCOL: &str = "chat.v2";

/// The only origin `/refuse-origin` allows: no test page has it.
const ALLOWED_ORIGIN: &str = "https://allowed.example";

/// Records what the browser put in its upgrade request.
pub(super) fn record_request(rec: &Recorder, request: &Request<()>) {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    rec.set(
        "request",
        json!({
            "path": request.uri().path(),
            "origin": header(ORIGIN),
            "version": header(SEC_WEBSOCKET_VERSION),
            "user_agent": header(USER_AGENT),
            "offered_protocols": offered_protocols(request.headers()).collect::<Vec<_>>(),
        }),
    );
}

/// Accepts with `config` and echoes every message until the connection ends.
pub(super) async fn echo(conn: Conn, config: Config, rec: &Recorder) -> CaseResult {
    let mut ws = accept(conn, config, rec).await?;
    loop {
        match ws.read_msg().await {
            Ok(message) => {
                rec.push("messages", summary(&message));
                ws.write_message(message).await?;
            }
            Err(e) => {
                rec.set("end", describe_end(&e));
                return Ok(Done::Complete);
            }
        }
    }
}

/// Refuses the upgrade with the origin check, recording the error it answered with.
pub(super) async fn refuse_origin(conn: Conn, rec: &Recorder) -> CaseResult {
    record_request(rec, &conn.request);
    let upgrader =
        Upgrader::new(Config::default().origin_check(|origin| origin == Some(ALLOWED_ORIGIN)));
    match upgrader.accept_with_request(conn.stream).await {
        Ok(_) => rec.set("accepted", true),
        Err(Error::Handshake(e)) => {
            rec.set("accepted", false);
            rec.set("handshake_error", e.to_string());
            rec.set("status", e.status().as_u16());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Done::Complete)
}
