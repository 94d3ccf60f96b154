//! [`RawPeer`]: one end of a connection over raw TCP, speaking frames by hand.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::protocol::frame::Frame;

use crate::handshake::owned_headers;
use crate::{encode_frame, find_header, take_frame, RawFrame, SAMPLE_KEY};

/// One end of a WebSocket connection driven by hand over TCP: the handshake is written out as
/// text and frames are encoded and parsed with tungstenite's frame code, so a test can send
/// what a well-behaved peer never would, see every frame our library writes, or stay silent.
#[derive(Debug)]
pub struct RawPeer {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawPeer {
    /// Connects to our server at `addr` and completes the opening handshake as a client with
    /// [`SAMPLE_KEY`]; checks the `101` and the accept key.
    ///
    /// # Panics
    /// If the server does not accept.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_pipelined(addr, &[]).await
    }

    /// [`RawPeer::connect`], sending `after_request` (frames, say) in the same write as the
    /// request, before the server has answered.
    ///
    /// # Panics
    /// If the server does not accept.
    pub async fn connect_pipelined(addr: SocketAddr, after_request: &[u8]) -> Self {
        Self::connect_with(addr, "", after_request).await.0
    }

    /// [`RawPeer::connect_pipelined`] with `extra` header lines in the request (each ending in
    /// `\r\n`, such as a `Sec-WebSocket-Extensions` offer); also returns the response's
    /// headers.
    ///
    /// # Panics
    /// If the server does not accept.
    pub async fn connect_with(
        addr: SocketAddr,
        extra: &str,
        after_request: &[u8],
    ) -> (Self, Vec<(String, String)>) {
        let mut peer = Self::over(TcpStream::connect(addr).await.expect("connect"));
        let mut request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes();
        request.extend_from_slice(after_request);
        peer.stream
            .write_all(&request)
            .await
            .expect("write request");
        let head = peer.read_head().await;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&head).expect("valid response head") {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => unreachable!("read_head returns a whole head"),
        };
        assert_eq!(len, head.len());
        assert_eq!(response.code, Some(101), "server refused the upgrade");
        let headers = owned_headers(response.headers);
        let accept =
            find_header(&headers, "sec-websocket-accept").expect("Sec-WebSocket-Accept header");
        assert_eq!(
            accept,
            tungstenite::handshake::derive_accept_key(SAMPLE_KEY.as_bytes())
        );
        (peer, headers)
    }

    /// Accepts one connection on `listener` and completes the opening handshake as a server.
    ///
    /// # Panics
    /// If the request is not a WebSocket upgrade with a key.
    pub async fn accept(listener: &TcpListener) -> Self {
        Self::accept_pipelined(listener, &[]).await
    }

    /// [`RawPeer::accept`], sending `after_response` (frames, say) in the same write as the
    /// `101` response.
    ///
    /// # Panics
    /// If the request is not a WebSocket upgrade with a key.
    pub async fn accept_pipelined(listener: &TcpListener, after_response: &[u8]) -> Self {
        Self::accept_with(listener, "", after_response).await.0
    }

    /// [`RawPeer::accept_pipelined`] with `extra` header lines in the `101` response (each
    /// ending in `\r\n`, such as a `Sec-WebSocket-Extensions` answer); also returns the
    /// request's headers.
    ///
    /// # Panics
    /// If the request is not a WebSocket upgrade with a key.
    pub async fn accept_with(
        listener: &TcpListener,
        extra: &str,
        after_response: &[u8],
    ) -> (Self, Vec<(String, String)>) {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut peer = Self::over(stream);
        let head = peer.read_head().await;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request
            .parse(&head)
            .expect("valid request head")
            .is_complete());
        let headers = owned_headers(request.headers);
        let key = find_header(&headers, "sec-websocket-key").expect("Sec-WebSocket-Key header");
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
            tungstenite::handshake::derive_accept_key(key.as_bytes())
        )
        .into_bytes();
        response.extend_from_slice(after_response);
        peer.stream
            .write_all(&response)
            .await
            .expect("write response");
        (peer, headers)
    }

    /// A peer on `stream`, before the handshake. Frames go out as soon as they are written
    /// (no Nagle delay), as a test expects.
    ///
    /// # Panics
    /// If the socket option cannot be set.
    fn over(stream: TcpStream) -> Self {
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// The TCP stream and the bytes read past the handshake, to hand the connection to
    /// another implementation once the handshake was done by hand.
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.stream, self.buf)
    }

    /// Reads up to the end of an HTTP head and returns it; later bytes stay buffered.
    async fn read_head(&mut self) -> Vec<u8> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return self.buf.split_to(end + 4).to_vec();
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .expect("read head");
            assert!(n > 0, "connection closed during the handshake");
        }
    }

    /// Writes one frame, encoded by tungstenite (masked if it has a mask key).
    ///
    /// # Panics
    /// If the socket fails.
    pub async fn send_frame(&mut self, frame: Frame) {
        self.send_bytes(&encode_frame(frame)).await;
    }

    /// Writes raw bytes.
    ///
    /// # Panics
    /// If the socket fails.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.try_send_bytes(bytes).await.expect("write");
    }

    /// [`RawPeer::send_bytes`], returning the socket's error: for a peer that may be
    /// disconnected mid-write.
    ///
    /// # Errors
    /// The socket's error.
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads the next frame; `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    /// The socket's error (a reset, for one).
    ///
    /// # Panics
    /// If the bytes are not a valid frame header, or the stream ends mid-frame.
    pub async fn read_frame(&mut self) -> std::io::Result<Option<RawFrame>> {
        loop {
            if let Some(frame) = take_frame(&mut self.buf) {
                return Ok(Some(frame));
            }
            self.buf.reserve(64 << 10);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                assert!(self.buf.is_empty(), "stream ended mid-frame");
                return Ok(None);
            }
        }
    }

    /// Reads frames, skipping pings and pongs, until the end of a data message; returns its
    /// frames (the first one's header says whether it is compressed).
    ///
    /// # Panics
    /// On a close frame, on the end of the stream or on a socket error.
    pub async fn read_message_frames(&mut self) -> Vec<RawFrame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.read_frame_skipping_pings("a data frame").await;
            if frame.header.opcode == OpCode::Control(Control::Close) {
                panic!("expected a data frame, got close {:?}", frame.close_code());
            }
            let fin = frame.header.is_final;
            frames.push(frame);
            if fin {
                return frames;
            }
        }
    }

    /// Reads frames, skipping pings and pongs, until a close frame; returns its code and reason.
    ///
    /// # Panics
    /// On a data frame, on the end of the stream, or on a close frame without a code.
    pub async fn read_close(&mut self) -> (u16, String) {
        let frame = self.read_frame_skipping_pings("a close frame").await;
        match frame.header.opcode {
            OpCode::Control(Control::Close) => frame.close_code().expect("close frame with a code"),
            other => panic!("expected a close frame, got {other}"),
        }
    }

    /// Reads the next frame that is not a ping or a pong; `what` is the frame expected, for
    /// the panic message.
    ///
    /// # Panics
    /// On the end of the stream or on a socket error.
    async fn read_frame_skipping_pings(&mut self, what: &str) -> RawFrame {
        loop {
            let frame = self
                .read_frame()
                .await
                .unwrap_or_else(|e| panic!("read {what}: {e}"))
                .unwrap_or_else(|| panic!("{what} before the end of the stream"));
            if !matches!(
                frame.header.opcode,
                OpCode::Control(Control::Ping | Control::Pong)
            ) {
                return frame;
            }
        }
    }

    /// Asserts that the peer ends the TCP connection next (no more frames).
    ///
    /// # Panics
    /// If a frame arrives instead.
    pub async fn expect_eof(&mut self) {
        match self.read_frame().await {
            Ok(None) => {}
            // A reset is also an end; the close frame before it was already read.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(Some(frame)) => panic!("expected the end of the stream, got {frame:?}"),
            Err(e) => panic!("expected the end of the stream, got {e}"),
        }
    }
}
