//! The ceiling: a plain TCP echo. It answers the upgrade request with a canned `101` (no key
//! check, no headers parsed) and then copies bytes back, reading and writing at once through
//! a buffer that grows from 4 to 128 KiB while it fills, so the WebSocket frames come back
//! exactly as sent (still masked; the load generator accepts that).
//! Broadcast: a writer task per connection fed through an unbounded channel; the trigger is
//! read straight from the frame bytes (the load generator masks it with a zero key).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::hub::{trigger_count, Hub, Queue};
use super::{accept_loop, Mode};

/// The answer to every upgrade request.
const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// Header bytes before a small masked frame's payload: 2, plus the 4-byte key.
const SMALL_MASKED_HEADER: usize = 6;

pub(super) async fn serve(listener: TcpListener, mode: Mode) -> io::Result<()> {
    let hub = Arc::new(Hub::new());
    accept_loop(listener, move |tcp| {
        let hub = Arc::clone(&hub);
        async move {
            let _ = match mode {
                Mode::Echo => echo(tcp).await,
                Mode::Broadcast => broadcast(tcp, &hub).await,
            };
        }
    })
    .await
}

/// Reads the request head and answers it; returns the bytes that followed the head.
async fn handshake(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    loop {
        let n = tcp.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            tcp.write_all(RESPONSE).await?;
            let rest = len - (end + 4);
            buf.copy_within(end + 4..len, 0);
            return Ok(rest);
        }
        if len == buf.len() {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}

/// Echoes through one buffer used as a queue: reads into its free end and writes from its
/// filled start in the same loop, so reading goes on while a write waits and the other way
/// round (a sequential read-then-write loop would stall either side).
async fn echo(mut tcp: TcpStream) -> io::Result<()> {
    let mut buf = vec![0; HEAD_BUF];
    let (mut start, mut end) = (0, handshake(&mut tcp, &mut buf).await?);
    loop {
        let interest = match (end < buf.len(), start < end) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            _ => Interest::WRITABLE,
        };
        let ready = tcp.ready(interest).await?;
        if ready.is_readable() && end < buf.len() {
            match tcp.try_read(&mut buf[end..]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    end += n;
                    // A read that took all the room offered: more is waiting, so take larger
                    // bites (up to `ECHO_BUF`), as a server reading large frames would.
                    if end == buf.len() && buf.len() < ECHO_BUF {
                        buf.resize(buf.len() * 2, 0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if start < end {
            match tcp.try_write(&buf[start..end]) {
                Ok(n) => start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
    }
}

/// The largest echo buffer: room for many frames in flight.
const ECHO_BUF: usize = 128 << 10;

/// The buffer a connection starts with: room for the request head. Starting small keeps
/// connection setup free of large allocations.
const HEAD_BUF: usize = 4 << 10;

async fn broadcast(mut tcp: TcpStream, hub: &Hub<Queue>) -> io::Result<()> {
    let mut buf = vec![0; HEAD_BUF];
    handshake(&mut tcp, &mut buf).await?;
    let (mut read, mut write) = tcp.into_split();
    let (sender, mut queue) = mpsc::unbounded_channel::<Bytes>();
    hub.join(sender);
    tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    loop {
        let n = read.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        // A trigger is one small frame and arrives in one read.
        let frame = Bytes::copy_from_slice(&buf[..n]);
        let count = trigger_count(frame.get(SMALL_MASKED_HEADER..).unwrap_or_default());
        hub.fan_out(count, frame).await;
    }
}
