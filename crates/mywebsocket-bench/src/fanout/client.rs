//! The clients of a fan-out run: subscribers that join the room and time every delivery, and
//! the publisher that stamps each message with its send time.
//!
//! Times are nanoseconds since one shared [`Instant`] (the run's `base`): publisher and
//! subscribers live in the same process, so no clock synchronisation is needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::{connect, Message, WebSocket};

/// Where every published text starts; the number after it is the message's sequence number,
/// the next its send time.
pub const MARK: &str = "FANOUT ";

/// The room everybody joins.
pub const ROOM: &str = "fanout";

/// Counters shared by every subscriber.
#[derive(Debug, Default)]
pub struct Tally {
    /// Subscribers whose join was answered.
    pub joined: AtomicU64,
    /// Frames of any kind received (presence traffic included), to see when joins settle.
    pub frames: AtomicU64,
    /// Benchmark messages received.
    pub delivered: AtomicU64,
    /// Latest receipt, in nanoseconds since the base.
    pub last_delivery: AtomicU64,
    /// Subscribers whose connection failed.
    pub failed: AtomicU64,
}

/// Connects to `url` and joins [`ROOM`] as `nick`; returns once the join is answered.
///
/// # Errors
/// The connection's or the node's error.
pub async fn join(url: &str, nick: &str) -> Result<WebSocket, String> {
    join_room(url, ROOM, nick).await
}

/// Connects to `url` and joins `room` as `nick`; returns once the join is answered.
///
/// # Errors
/// The connection's or the node's error.
pub async fn join_room(url: &str, room: &str, nick: &str) -> Result<WebSocket, String> {
    let (mut ws, _) = connect(url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let join = format!(r#"{{"type":"join","room":"{room}","nick":"{nick}"}}"#);
    ws.write_string(join)
        .await
        .map_err(|e| format!("join: {e}"))?;
    loop {
        let msg = ws.read_msg().await.map_err(|e| format!("joining: {e}"))?;
        let Some(text) = msg.as_text() else { continue };
        if text.starts_with(r#"{"type":"joined""#) || text.contains(r#""type":"joined""#) {
            return Ok(ws);
        }
        if text.contains(r#""type":"error""#) {
            return Err(format!("join refused: {text}"));
        }
    }
}

/// Reads `ws` until `expected` benchmark messages arrived; returns each one's latency in
/// microseconds, and the connection when it is still open. Ends early (with what it has) if
/// the connection fails.
pub async fn subscribe(
    mut ws: WebSocket,
    expected: usize,
    base: Instant,
    tally: Arc<Tally>,
) -> (Vec<u64>, Option<WebSocket>) {
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        let msg = match ws.read_msg().await {
            Ok(m) => m,
            Err(_) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return (latencies, None);
            }
        };
        tally.frames.fetch_add(1, Ordering::Relaxed);
        let Some(sent) = sent_at(&msg) else { continue };
        let now = nanos_since(base);
        latencies.push(now.saturating_sub(sent) / 1_000);
        tally.delivered.fetch_add(1, Ordering::Relaxed);
        tally.last_delivery.fetch_max(now, Ordering::Relaxed);
    }
    (latencies, Some(ws))
}

/// The send time a benchmark message carries, if `msg` is one.
#[must_use]
pub fn sent_at(msg: &Message) -> Option<u64> {
    stamp(msg).map(|(_, sent)| sent)
}

/// The sequence number and send time a benchmark message carries, if `msg` is one.
#[must_use]
pub fn stamp(msg: &Message) -> Option<(usize, u64)> {
    let text = msg.as_text()?;
    let rest = &text[text.find(MARK)? + MARK.len()..];
    let mut words = rest.split(|c: char| !c.is_ascii_digit());
    let seq = words.next()?.parse().ok()?;
    Some((seq, words.next()?.parse().ok()?))
}

/// The publish request for message `seq` sent at `sent` nanoseconds.
#[must_use]
pub fn publish_request(seq: usize, sent: u64) -> String {
    publish_request_to(ROOM, seq, sent)
}

/// The publish request into `room` for message `seq` sent at `sent` nanoseconds.
#[must_use]
pub fn publish_request_to(room: &str, seq: usize, sent: u64) -> String {
    format!(r#"{{"type":"publish","room":"{room}","text":"{MARK}{seq} {sent}"}}"#)
}

/// Publishes `count` messages through `ws`, one every `interval`; returns when the last one
/// is written. The publisher's own copies are read and dropped meanwhile so its queue on the
/// node never fills.
///
/// # Errors
/// The connection's error.
pub async fn publish(
    ws: WebSocket,
    count: usize,
    interval: Duration,
    base: Instant,
) -> Result<(), String> {
    let (mut reader, writer) = ws.split();
    let drain = tokio::spawn(async move { while reader.read_msg().await.is_ok() {} });
    let start = tokio::time::Instant::now();
    let mut outcome = Ok(());
    for seq in 0..count {
        let due = start + interval * u32::try_from(seq).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        let request = publish_request(seq, nanos_since(base));
        if let Err(e) = writer.write_string(request).await {
            outcome = Err(format!("publishing: {e}"));
            break;
        }
    }
    // The drain task keeps the publisher's read side busy until the run ends; it is cut here
    // only when publishing failed.
    if outcome.is_err() {
        drain.abort();
    }
    outcome
}

/// Nanoseconds from `base` to now.
#[must_use]
pub fn nanos_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_time_is_read_back_from_a_delivery() {
        let request = publish_request(7, 123_456_789);
        let request: serde_json::Value = serde_json::from_str(&request).unwrap();
        let text = request["text"].as_str().unwrap();
        let delivery = format!(
            r#"{{"type":"message","room":"{ROOM}","id":"1-0","from":"p","conn":"c","text":"{text}"}}"#
        );
        assert_eq!(sent_at(&Message::text(delivery.clone())), Some(123_456_789));
        assert_eq!(stamp(&Message::text(delivery)), Some((7, 123_456_789)));
        assert_eq!(sent_at(&Message::text(r#"{"type":"presence_join"}"#)), None);
    }
}
