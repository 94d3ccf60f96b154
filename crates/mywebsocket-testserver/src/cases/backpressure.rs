//! A browser that sends faster than the server reads.

use std::time::{Duration, Instant};

use mywebsocket::{Config, Message};
use serde_json::json;

use super::{accept, describe_end, read_until_end, summary, CaseResult, Conn, Done};
use crate::memory;
use crate::observed::{duration_ms, Recorder};
use crate::payload::{self, BACKPRESSURE_MESSAGES};

/// How long the server pauses after each message: 512 messages take at least 1.5 s to read,
/// far slower than the browser can send 32 MiB over loopback.
const READ_PAUSE: Duration = Duration::from_millis(3);

/// Reads the browser's numbered messages with a pause after each, checking that every one
/// arrives, in order and byte for byte, and measuring how far the process's live heap grows
/// above where it was when the connection opened. Stops at a text starting with `end`.
pub(super) async fn run(conn: Conn, rec: &Recorder) -> CaseResult {
    let mut ws = accept(conn, Config::default(), rec).await?;
    let baseline = memory::allocated();
    let mut peak = baseline;
    let started = Instant::now();
    let (mut received, mut bytes, mut in_order, mut exact) = (0u32, 0usize, true, true);
    loop {
        match ws.read_msg().await {
            Ok(Message::Binary(data)) => {
                peak = peak.max(memory::allocated());
                let seq = data
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes);
                in_order &= seq == Some(received);
                exact &= data == payload::numbered(received);
                received += 1;
                bytes += data.len();
                drop(data);
                tokio::time::sleep(READ_PAUSE).await;
            }
            Ok(Message::Text(text)) if text.starts_with("end") => {
                // The browser's own numbers ride along, for the log.
                rec.set("end_message", text.as_str());
                break;
            }
            Ok(other) => rec.push("unexpected", summary(&other)),
            Err(e) => {
                rec.set("end", describe_end(&e));
                break;
            }
        }
    }
    rec.set(
        "read",
        json!({
            "messages": received,
            "expected": BACKPRESSURE_MESSAGES,
            "bytes": bytes,
            "in_order": in_order,
            "exact": exact,
            "read_ms": duration_ms(started.elapsed()),
            "pause_ms": duration_ms(READ_PAUSE),
            "heap_growth_bytes": peak.saturating_sub(baseline),
        }),
    );
    read_until_end(&mut ws, rec).await;
    Ok(Done::Complete)
}
