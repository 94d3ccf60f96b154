//! Text, binary or JSON messages both ways at every size of [`payload::SIZES`].

use mywebsocket::Config;
use serde_json::json;

use super::{accept, describe_end, read_until_end, CaseResult, Conn, Done};
use crate::observed::Recorder;
use crate::payload::{self, JsonPayload, Kind, FROM_BROWSER, FROM_SERVER};
use crate::request::query_param;

/// For each size, for the kind named by the `kind` query parameter: reads the browser's
/// message and checks it byte for byte against what the browser must have generated, then
/// sends the server's own message of the same kind and size with `write_string`,
/// `write_binary` or `write_json`.
pub(super) async fn exchange(conn: Conn, rec: &Recorder) -> CaseResult {
    let kind = query_param(&conn.request, "kind")
        .and_then(Kind::from_name)
        .ok_or("the kind query parameter must be text, binary or json")?;
    let mut ws = accept(conn, Config::default(), rec).await?;
    for (step, len) in payload::SIZES.into_iter().enumerate() {
        let received = match ws.read_msg().await {
            Ok(message) => message,
            Err(e) => {
                rec.set("end", describe_end(&e));
                return Ok(Done::Complete);
            }
        };
        let mut exact = received == payload::message(kind, len, FROM_BROWSER);
        if kind == Kind::Json {
            let parsed = received
                .as_text()
                .and_then(|text| serde_json::from_str::<JsonPayload>(text).ok());
            exact &= parsed == Some(payload::json_payload(len, FROM_BROWSER));
        }
        rec.push(
            "received",
            json!({
                "step": step,
                "kind": kind.name(),
                "size": len,
                "len": received.len(),
                "is_text": received.is_text(),
                "exact": exact,
            }),
        );
        match kind {
            Kind::Text => ws.write_string(payload::text(len, FROM_SERVER)).await?,
            Kind::Binary => ws.write_binary(payload::binary(len, FROM_SERVER)).await?,
            Kind::Json => {
                ws.write_json(&payload::json_payload(len, FROM_SERVER))
                    .await?;
            }
        }
    }
    read_until_end(&mut ws, rec).await;
    Ok(Done::Complete)
}
