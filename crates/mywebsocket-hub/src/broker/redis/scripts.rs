//! The Lua scripts, and the formats of what the broker stores and publishes in Redis.
//!
//! A room message is a stream entry with the fields `e` (the excepted connection, or empty),
//! `t` (`1` text, `0` binary), `d` (the payload) and, when it was published again after an
//! uncertain failure, `r` (`1`); on the room's channel it is `M<id>\n<except>\n<flag><data>`,
//! or `R...` in the same layout when published again. A presence change on that channel is `J<member json>` or
//! `L<member json>`. A direct message, on the direct channel, is `C<conn>\n<flag><data>` or
//! `U<user>\n<flag><data>`.

use bytes::Bytes;
use mywebsocket::{Message, Utf8Bytes};

use super::conn::Conn;
use super::keys::Keys;
use super::retry;
use crate::broker::{History, RoomMessage, Target};
use crate::error::Result;
use crate::id::{ConnId, StreamId};

/// Appends to the stream (recording the newest trimmed id, for gap detection), publishes
/// (`ARGV[8]`: `PUBLISH`, or `SPUBLISH` on a cluster), and skips a publish this node already
/// made (a retry after a lost reply; it still writes, so a `WAIT` after it on a new
/// connection waits for the first attempt's write to reach the replicas). `ARGV[9]` is `1`
/// for a retry: if the script runs, the first attempt left no trace here, yet it may have
/// been delivered before a failover lost it, so the message is marked (`R`, field `r`) for
/// the hub to announce a gap first.
pub(super) const PUBLISH_LUA: &str = r"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if tonumber(ARGV[3]) <= last then
  redis.call('HSET', KEYS[2], ARGV[2], last)
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local maxlen = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
if len >= maxlen then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - maxlen + 1)
  redis.call('SET', KEYS[3], old[#old][1])
end
local id
local kind = 'M'
if ARGV[9] == '1' then
  kind = 'R'
  id = redis.call('XADD', KEYS[1], 'MAXLEN', maxlen, '*', 'e', ARGV[4], 't', ARGV[5], 'd', ARGV[6], 'r', '1')
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', maxlen, '*', 'e', ARGV[4], 't', ARGV[5], 'd', ARGV[6])
end
redis.call(ARGV[8], ARGV[7], kind .. id .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. ARGV[6])
return 1
";

/// Whether the stream exists, the newest trimmed id, and the entries after `since` (or the
/// latest ones, newest first).
const HISTORY_LUA: &str = r"
local exists = redis.call('EXISTS', KEYS[1])
local trimmed = redis.call('GET', KEYS[2]) or ''
if ARGV[1] == '' then
  return {exists, trimmed, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
end
return {exists, trimmed, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
";

/// A stream entry: its id and its fields, name then value.
type Entry = (String, Vec<Vec<u8>>);

/// The `t` field: `1` for text, `0` for binary.
pub(super) fn flag(msg: &Message) -> &'static str {
    if msg.as_text().is_some() {
        "1"
    } else {
        "0"
    }
}

fn message_from(flag: u8, data: Bytes) -> Option<Message> {
    if flag == b'1' {
        Utf8Bytes::try_from(data).ok().map(Message::Text)
    } else {
        Some(Message::Binary(data))
    }
}

/// The `d` field.
pub(super) fn payload(msg: &Message) -> &[u8] {
    // Text or binary: the hub refuses a close before it reaches a broker.
    msg.as_bytes()
}

/// Parses a pubsub room message: `M<id>\n<except>\n<flag><data>` (or `R...`, published again).
pub(super) fn parse_room_message(body: &[u8]) -> Option<RoomMessage> {
    let (&kind, body) = body.split_first()?;
    if kind != b'M' && kind != b'R' {
        return None;
    }
    let nl = body.iter().position(|&b| b == b'\n')?;
    let id = std::str::from_utf8(&body[..nl]).ok()?.parse().ok()?;
    let rest = &body[nl + 1..];
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let except = std::str::from_utf8(&rest[..nl]).ok()?;
    let rest = &rest[nl + 1..];
    let (&flag, data) = rest.split_first()?;
    let mut message = RoomMessage::new(
        id,
        (!except.is_empty()).then(|| ConnId::from(except)),
        message_from(flag, Bytes::copy_from_slice(data))?,
    );
    message.retried = kind == b'R';
    Some(message)
}

fn parse_entry((id, fields): Entry) -> Option<RoomMessage> {
    let mut except = None;
    let mut flag = b'1';
    let mut data = None;
    let mut retried = false;
    for pair in fields.chunks_exact(2) {
        match pair[0].as_slice() {
            b"e" if !pair[1].is_empty() => {
                except = Some(ConnId::from(std::str::from_utf8(&pair[1]).ok()?));
            }
            b"t" => flag = *pair[1].first()?,
            b"d" => data = Some(Bytes::copy_from_slice(&pair[1])),
            b"r" => retried = pair[1] == b"1",
            _ => {}
        }
    }
    let mut message = RoomMessage::new(id.parse().ok()?, except, message_from(flag, data?)?);
    message.retried = retried;
    Some(message)
}

/// A direct message as published: `C<conn>\n` or `U<user>\n`, then `<flag><data>`.
pub(super) fn direct_body(target: &Target, msg: &Message) -> Vec<u8> {
    let mut body = match target {
        Target::Connection(c) => format!("C{c}\n").into_bytes(),
        Target::User(u) => format!("U{u}\n").into_bytes(),
    };
    body.extend_from_slice(flag(msg).as_bytes());
    body.extend_from_slice(payload(msg));
    body
}

/// Parses a direct message written by [`direct_body`].
pub(super) fn parse_direct(body: &[u8]) -> Option<(Target, Message)> {
    let (&kind, rest) = body.split_first()?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let name = std::str::from_utf8(&rest[..nl]).ok()?;
    let (&flag, data) = rest[nl + 1..].split_first()?;
    let msg = message_from(flag, Bytes::copy_from_slice(data))?;
    let target = match kind {
        b'C' => Target::Connection(ConnId::from(name)),
        b'U' => Target::User(name.to_owned()),
        _ => return None,
    };
    Some((target, msg))
}

/// `room`'s messages after `since` (at most `history_len`), or its latest `latest` messages.
pub(super) async fn history(
    conn: &Conn,
    keys: &Keys,
    history_len: usize,
    room: &str,
    since: Option<StreamId>,
    latest: usize,
) -> Result<History> {
    let count = if since.is_some() { history_len } else { latest };
    if count == 0 {
        return Ok(History::default());
    }
    let script = redis::Script::new(HISTORY_LUA);
    let since_arg = since.map(|s| s.to_string()).unwrap_or_default();
    let (exists, trimmed, entries): (i64, String, Vec<Entry>) = retry(|| {
        let mut conn = conn.clone();
        let mut invocation = script.key(keys.stream(room));
        invocation
            .key(keys.trimmed(room))
            .arg(&since_arg)
            .arg(count);
        async move { invocation.invoke_async(&mut conn).await }
    })
    .await?;
    let mut messages: Vec<RoomMessage> = entries.into_iter().filter_map(parse_entry).collect();
    if since.is_none() {
        messages.reverse();
    }
    let gap = match since {
        None => false,
        Some(since) => {
            let trimmed: Option<StreamId> = trimmed.parse().ok();
            // A stream that is gone (Redis lost its data) cannot vouch for anything.
            let gap = (exists == 0 && since > StreamId::ZERO) || trimmed.is_some_and(|t| t > since);
            if gap {
                tracing::debug!(%room, %since, exists, ?trimmed, "history gap");
            }
            gap
        }
    };
    Ok(History { messages, gap })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_published_room_messages() {
        let m = parse_room_message(b"M17-3\nn.4\n1hello\nworld").unwrap();
        assert_eq!(m.id, StreamId { ms: 17, seq: 3 });
        assert_eq!(m.except, Some(ConnId::from("n.4")));
        assert_eq!(m.msg, Message::text("hello\nworld"));
        assert!(!m.retried);
        assert!(parse_room_message(b"R17-3\n\n1x").unwrap().retried);
        let m = parse_room_message(b"M1-0\n\n0\x00\xff").unwrap();
        assert_eq!(m.except, None);
        assert_eq!(m.msg, Message::binary(vec![0u8, 0xff]));
        assert!(
            parse_room_message(b"M1-0\n\n1\xff").is_none(),
            "bad UTF-8 in a text message"
        );
        assert!(parse_room_message(b"Mx\n").is_none());
    }

    #[test]
    fn direct_messages_round_trip() {
        for (target, msg) in [
            (
                Target::Connection(ConnId::from("n.4")),
                Message::text("hi\nthere"),
            ),
            (Target::User("ann".into()), Message::binary(vec![0u8, 0xff])),
        ] {
            let body = direct_body(&target, &msg);
            assert_eq!(parse_direct(&body), Some((target, msg)));
        }
        assert_eq!(parse_direct(b"X1\n1a"), None, "unknown kind");
        assert_eq!(parse_direct(b"Cn.1"), None, "no newline");
    }
}
