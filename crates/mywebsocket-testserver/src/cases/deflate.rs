//! permessage-deflate (RFC 7692) with the browser: what it offers, what the server answers,
//! and 1 MiB payloads both ways, counted on the wire.
//!
//! These cases accept with [`Config::default`], in which the server accepts permessage-deflate
//! ([`mywebsocket::DeflateConfig::default`]). The connection goes through a [`counting`]
//! stream, so a report says how many bytes each direction really took on the socket, frame
//! headers included, next to how many bytes of messages they carried, and what the server's
//! `101` response head said, as it was written.

use std::sync::Arc;
use std::time::Instant;

use http::header::SEC_WEBSOCKET_EXTENSIONS;
use mywebsocket::proto::deflate::DeflateParams;
use mywebsocket::proto::handshake::parse_response;
use mywebsocket::{Config, Upgrader, WebSocket};
use serde_json::{json, Value};

use super::{describe_end, read_until_end, summary, upgrade, CaseResult, Conn, Done};
use crate::counting::{counting, Counters};
use crate::observed::{duration_ms, Recorder};
use crate::payload::{self, DeflateKind, Split, FROM_BROWSER, FROM_SERVER};
use crate::request::{query_param, Rewind};

/// Accepts `conn` with the default configuration through a [`counting`] stream, and records
/// the negotiation under `deflate`:
///
/// - `offer`: the request's `Sec-WebSocket-Extensions` values, joined with `, `;
/// - `response_header`: the `Sec-WebSocket-Extensions` of the `101` response as written on
///   the socket (`null` if absent), and `status`, its status code;
/// - `agreed`: the parameters and response value the upgrader chose for this request
///   ([`Upgrader::check_request`], the function `accept` itself uses), or `null`;
/// - `compressed`: [`WebSocket::is_compressed`] of the connection.
async fn accept_counted(
    conn: Conn,
    rec: &Recorder,
) -> Result<(WebSocket, Arc<Counters>), mywebsocket::Error> {
    let (head, tcp) = conn.stream.into_parts();
    let counters = Arc::new(Counters::default());
    // The request head was read before routing and is replayed from `head`; everything
    // after it goes through the counter.
    let stream = Rewind::new(head, counting(tcp, Arc::clone(&counters)));
    let upgrader = Upgrader::new(Config::default());
    let (request, ws) = upgrader.accept_with_request(stream).await?;
    upgrade::record_request(rec, &request);
    let offer: Vec<&str> = request
        .headers()
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let agreed = upgrader
        .check_request(&request)
        .ok()
        .and_then(|accept| accept.deflate);
    let head = counters.response_head();
    let response = parse_response(&head).ok().flatten().map(|(_, r)| r);
    let response_header = response.as_ref().and_then(|r| {
        let values: Vec<&str> = r
            .headers()
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    });
    rec.set(
        "deflate",
        json!({
            "offer": offer.join(", "),
            "status": response.as_ref().map(|r| r.status().as_u16()),
            "response_header": response_header,
            "agreed": agreed.as_ref().map(|agreed| json!({
                "params": params_json(&agreed.params),
                "response": agreed.response_header,
            })),
            "compressed": ws.is_compressed(),
        }),
    );
    rec.set("protocol", ws.protocol());
    Ok((ws, counters))
}

/// The negotiated parameters as a report shows them.
fn params_json(params: &DeflateParams) -> Value {
    json!({
        "server_no_context_takeover": params.server_no_context_takeover,
        "client_no_context_takeover": params.client_no_context_takeover,
        "server_max_window_bits": params.server_max_window_bits,
        "client_max_window_bits": params.client_max_window_bits,
        "level": params.level,
        "threshold": params.threshold,
    })
}

/// `/deflate-echo`: records the negotiation, then echoes every message, recording each with
/// the bytes it took on the wire in each direction (`messages`), until the connection ends.
pub(super) async fn echo(conn: Conn, rec: &Recorder) -> CaseResult {
    let (mut ws, counters) = accept_counted(conn, rec).await?;
    loop {
        let read_before = counters.read();
        match ws.read_msg().await {
            Ok(message) => {
                let wire_in = counters.read() - read_before;
                let mut entry = summary(&message);
                let written_before = counters.written();
                ws.write_message(message).await?;
                ws.flush().await?;
                entry["wire_in"] = wire_in.into();
                entry["wire_out"] = (counters.written() - written_before).into();
                rec.push("messages", entry);
            }
            Err(e) => {
                rec.set("end", describe_end(&e));
                return Ok(Done::Complete);
            }
        }
    }
}

/// `/deflate?kind=json|random&split=one|many`: reads the browser's 1 MiB payload of `kind`
/// (as one message, or as 256 of 4 KiB) and checks every message, in order, byte for byte
/// against what the browser must have generated; then sends its own payload of the same kind
/// the same way, and waits for the browser to close.
///
/// Reports `from_browser` and `to_browser`: `messages`, `payload_bytes` (the messages'
/// lengths added up), `wire_bytes` (what that took on the socket: the browser sends nothing
/// else meanwhile, and the server's count is taken around its writes and a flush) and `ms`;
/// `from_browser` also has `exact` (messages equal to the expected one at their position),
/// `first_mismatch` and, for JSON, `json_valid` (the messages joined parse as JSON).
pub(super) async fn exchange(conn: Conn, rec: &Recorder) -> CaseResult {
    let kind = query_param(&conn.request, "kind")
        .and_then(DeflateKind::from_name)
        .ok_or("the kind query parameter must be json or random")?;
    let split = query_param(&conn.request, "split")
        .and_then(Split::from_name)
        .ok_or("the split query parameter must be one or many")?;
    rec.set("kind", kind.name());
    rec.set("split", split.name());
    let (mut ws, counters) = accept_counted(conn, rec).await?;

    let expected = payload::deflate_messages(kind, split, FROM_BROWSER);
    let (read_before, started) = (counters.read(), Instant::now());
    let (mut exact, mut first_mismatch, mut payload_bytes) = (0usize, None, 0usize);
    let mut joined = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        let got = match ws.read_msg().await {
            Ok(message) => message,
            Err(e) => {
                rec.set("end", describe_end(&e));
                return Ok(Done::Complete);
            }
        };
        if got == *want {
            exact += 1;
        } else if first_mismatch.is_none() {
            first_mismatch = Some(i);
            rec.set("mismatch", summary(&got));
        }
        payload_bytes += got.len();
        if kind == DeflateKind::Json {
            joined.extend_from_slice(got.as_bytes());
        }
    }
    let mut from_browser = json!({
        "messages": expected.len(),
        "exact": exact,
        "first_mismatch": first_mismatch,
        "payload_bytes": payload_bytes,
        "wire_bytes": counters.read() - read_before,
        "ms": duration_ms(started.elapsed()),
    });
    if kind == DeflateKind::Json {
        from_browser["json_valid"] = serde_json::from_slice::<Value>(&joined).is_ok().into();
    }
    rec.set("from_browser", from_browser);

    let messages = payload::deflate_messages(kind, split, FROM_SERVER);
    let (count, payload_bytes) = (
        messages.len(),
        messages.iter().map(|m| m.len()).sum::<usize>(),
    );
    let (written_before, started) = (counters.written(), Instant::now());
    for message in messages {
        ws.write_message(message).await?;
    }
    ws.flush().await?;
    rec.set(
        "to_browser",
        json!({
            "messages": count,
            "payload_bytes": payload_bytes,
            "wire_bytes": counters.written() - written_before,
            "ms": duration_ms(started.elapsed()),
        }),
    );
    read_until_end(&mut ws, rec).await;
    Ok(Done::Complete)
}
