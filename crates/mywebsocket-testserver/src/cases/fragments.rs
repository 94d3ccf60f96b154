//! Server messages in many fragments, with pings between the fragments.
//!
//! The library queues all the frames of one message together, so it never puts a ping in the
//! middle of a message; this case does the handshake with the protocol crate's functions and
//! writes the frames itself, reading the browser's side with the protocol crate's `Decoder`.

use std::io;

use bytes::{Bytes, BytesMut};
use mywebsocket_proto::handshake;
use mywebsocket_proto::{CloseFrame, Decoder, Event, Fragments, Frame, Limits, OpCode, Role};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{leftover_after_head, summary, CaseResult, Conn, Done};
use crate::observed::Recorder;
use crate::payload::{self, FRAGMENTED_LEN, FRAGMENT_SIZE, FROM_SERVER};

/// Sends a 1 MiB binary and a 1 MiB text message in 4 KiB fragments, a ping with a numbered
/// payload after every fragment but the last, then records the pongs (in order), the
/// browser's messages and its close frame, and answers the close.
pub(super) async fn run(conn: Conn, rec: &Recorder) -> CaseResult {
    let accept = handshake::validate_request(&conn.request, &[] as &[&str])?;
    super::upgrade::record_request(rec, &conn.request);
    let (buf, tcp) = conn.stream.into_parts();
    let leftover = leftover_after_head(&buf);
    let (read, mut write) = tcp.into_split();
    let mut out = Vec::with_capacity(256);
    handshake::write_response(&handshake::accept_response(&accept), b"", &mut out);
    write.write_all(&out).await?;

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let reader = tokio::spawn(decode_events(read, leftover, events_tx));

    let mut expected_pongs = Vec::new();
    let mut frames = 0u32;
    let messages = [
        (
            "binary",
            OpCode::Binary,
            Bytes::from(payload::binary(FRAGMENTED_LEN, FROM_SERVER)),
        ),
        (
            "text",
            OpCode::Text,
            Bytes::from(payload::text(FRAGMENTED_LEN, FROM_SERVER)),
        ),
    ];
    for (name, opcode, data) in messages {
        for (i, frame) in Fragments::new(opcode, data, FRAGMENT_SIZE, false, || None).enumerate() {
            if i > 0 {
                let ping = format!("{name}-{i}");
                let frame = Frame::single(OpCode::Ping, Bytes::from(ping.clone()), None);
                write.write_all(&frame.to_bytes()).await?;
                expected_pongs.push(ping);
            }
            write.write_all(&frame.to_bytes()).await?;
            frames += 1;
        }
    }
    rec.set("data_frames_sent", frames);
    rec.set("pings_sent", expected_pongs.len());

    let mut pongs = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Pong(payload) => pongs.push(String::from_utf8_lossy(&payload).into_owned()),
            Event::Ping(payload) => {
                rec.push("pings_received", payload.len());
                let pong = Frame::single(OpCode::Pong, payload, None);
                write.write_all(&pong.to_bytes()).await?;
            }
            Event::Message(message) => rec.push("messages", summary(&message)),
            Event::Close(frame) => {
                rec.set(
                    "close",
                    json!({
                        "code": frame.as_ref().map(|f| f.code.as_u16()),
                        "reason": frame.as_ref().map(|f| f.reason.as_str()),
                    }),
                );
                // Echo the code (RFC 6455 §5.5.1), then close TCP first, as a server does.
                let echo = frame.map_or_else(Bytes::new, |f| CloseFrame::new(f.code, "").encode());
                write
                    .write_all(&Frame::single(OpCode::Close, echo, None).to_bytes())
                    .await?;
                break;
            }
            // The decoder negotiates no extension here, so it has no other events.
            _ => {}
        }
    }
    write.shutdown().await?;
    rec.set("pongs_received", pongs.len());
    rec.set("pongs_in_order", pongs == expected_pongs);
    match reader.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => rec.push("errors", format!("reading: {e}")),
        Err(e) => rec.push("errors", format!("reader task: {e}")),
    }
    Ok(Done::Complete)
}

/// Decodes what the browser sends until its close frame, forwarding every event.
async fn decode_events<R: AsyncRead + Unpin>(
    mut read: R,
    mut buf: BytesMut,
    events: mpsc::UnboundedSender<Event>,
) -> io::Result<()> {
    let mut decoder = Decoder::new(Role::Server, Limits::default());
    loop {
        while let Some(event) = decoder.feed(&mut buf).map_err(io::Error::other)? {
            let close = matches!(event, Event::Close(_));
            if events.send(event).is_err() || close {
                return Ok(());
            }
        }
        if read.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}
