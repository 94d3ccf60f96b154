//! The bytes on the wire under a library that hides its frames: [`Recorder`] keeps a copy of
//! what goes through a stream, and [`split_recording`] / [`group_messages`] turn the copy
//! into frames and messages.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::handshake::owned_headers;
use crate::{take_frame, RawFrame};

/// Splits a recorded byte stream that starts with an HTTP head into the head's headers and
/// the frames after it (a trailing partial frame is ignored).
///
/// # Panics
/// If there is no whole head, or a frame header is invalid.
pub fn split_recording(bytes: &[u8]) -> (Vec<(String, String)>, Vec<RawFrame>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole HTTP head")
        + 4;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    // The first line is a request or a status line; parse the header lines after it.
    let first_line = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a first line")
        + 2;
    let parsed = match httparse::parse_headers(&bytes[first_line..end], &mut headers)
        .expect("valid header lines")
    {
        httparse::Status::Complete((_, parsed)) => owned_headers(parsed),
        httparse::Status::Partial => unreachable!("the head ends with an empty line"),
    };
    let mut rest = BytesMut::from(&bytes[end..]);
    let mut frames = Vec::new();
    while let Some(frame) = take_frame(&mut rest) {
        frames.push(frame);
    }
    (parsed, frames)
}

/// The data messages in `frames`, each as its frames (control frames left out).
///
/// # Panics
/// If the frames do not form whole messages in order.
pub fn group_messages(frames: &[RawFrame]) -> Vec<Vec<RawFrame>> {
    let mut messages = Vec::new();
    let mut current: Vec<RawFrame> = Vec::new();
    for frame in frames {
        match frame.header.opcode {
            OpCode::Control(_) => continue,
            OpCode::Data(Data::Continue) => {
                assert!(!current.is_empty(), "continuation without a first frame");
            }
            OpCode::Data(_) => assert!(current.is_empty(), "new message inside a message"),
        }
        current.push(frame.clone());
        if frame.header.is_final {
            messages.push(std::mem::take(&mut current));
        }
    }
    messages
}

/// The bytes a [`Recorder`] saw in each direction.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    read: Arc<Mutex<Vec<u8>>>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Recording {
    /// Everything read from the stream so far.
    pub fn read(&self) -> Vec<u8> {
        self.read.lock().expect("recording lock").clone()
    }

    /// Everything written to the stream so far.
    pub fn written(&self) -> Vec<u8> {
        self.written.lock().expect("recording lock").clone()
    }
}

/// A stream that passes everything through and keeps a copy of the bytes in each direction,
/// so a test can check on the wire what a library that hides its frames sent and received.
#[derive(Debug)]
pub struct Recorder<S> {
    inner: S,
    recording: Recording,
}

impl<S> Recorder<S> {
    /// Wraps `inner`; the returned [`Recording`] fills as bytes go through.
    pub fn new(inner: S) -> (Self, Recording) {
        let recording = Recording::default();
        (
            Self {
                inner,
                recording: recording.clone(),
            },
            recording,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            self.recording
                .read
                .lock()
                .expect("recording lock")
                .extend_from_slice(&buf.filled()[before..]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            self.recording
                .written
                .lock()
                .expect("recording lock")
                .extend_from_slice(&data[..n]);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
