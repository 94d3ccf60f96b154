//! The server's heartbeat against the browser's automatic pongs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::Config;
use serde_json::json;

use super::{accept, describe_end, summary, CaseResult, Conn, Done};
use crate::observed::{duration_ms, Recorder};

/// The ping interval.
const INTERVAL: Duration = Duration::from_secs(1);
/// The silence after which the server gives up on the browser.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Pings every second and ends the connection after 3 s without a frame from the browser,
/// counting the pongs; records when each message came and how the connection ended.
pub(super) async fn run(conn: Conn, rec: &Recorder) -> CaseResult {
    let pongs = Arc::new(AtomicU32::new(0));
    let config = Config::default()
        .heartbeat(Some(INTERVAL), TIMEOUT)
        .on_pong({
            let pongs = Arc::clone(&pongs);
            move |_| {
                pongs.fetch_add(1, Ordering::Relaxed);
            }
        });
    let mut ws = accept(conn, config, rec).await?;
    let started = Instant::now();
    let end = loop {
        match ws.read_msg().await {
            Ok(message) => rec.push(
                "messages",
                json!({
                    "at_ms": duration_ms(started.elapsed()),
                    "message": summary(&message),
                    "pongs_so_far": pongs.load(Ordering::Relaxed),
                }),
            ),
            Err(e) => break e,
        }
    };
    rec.set("end", describe_end(&end));
    rec.set("duration_ms", duration_ms(started.elapsed()));
    rec.set("pongs", pongs.load(Ordering::Relaxed));
    rec.set("interval_ms", duration_ms(INTERVAL));
    rec.set("timeout_ms", duration_ms(TIMEOUT));
    Ok(Done::Complete)
}
