//! WebSockets over HTTP/2 (RFC 8441) by hand, for the tests that run the HTTP/1.1 case tables
//! over an HTTP/2 stream: the h2 crate's client and server, independent of our `h2` module,
//! sending and answering extended CONNECTs, with each stream as a byte stream ([`H2Io`]) and
//! as a peer that speaks frames by hand ([`H2Peer`], the HTTP/2 [`RawPeer`]). An [`H2Io`] also
//! carries tokio-tungstenite (`WebSocketStream::from_raw_socket`), for a differential
//! comparison over HTTP/2. [`spawn_our_h2_server`] is our side: `h2::serve_connection`
//! handing each WebSocket to the test.
//!
//! [`RawPeer`]: crate::RawPeer

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use h2::client::SendRequest;
use h2::ext::Protocol;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{Request, Response, StatusCode};
use mywebsocket::{Upgrader, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::protocol::frame::Frame;

use crate::{encode_frame, listen, take_frame, RawFrame, Task};

/// Our server: [`mywebsocket::h2::serve_connection`] on every connection to a free port,
/// with `upgrader`; each WebSocket it accepts comes out of the receiver, in the order the
/// streams were accepted.
pub async fn spawn_our_h2_server(
    upgrader: Upgrader,
) -> (SocketAddr, Task<()>, mpsc::UnboundedReceiver<WebSocket>) {
    let (listener, addr) = listen().await;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = Task::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("nodelay");
            let tx = tx.clone();
            tokio::spawn(mywebsocket::h2::serve_connection(
                tcp,
                upgrader.clone(),
                move |ws| {
                    let _ = tx.send(ws);
                    async {}
                },
            ));
        }
    });
    (addr, task, rx)
}

/// One HTTP/2 stream as a byte stream. Reading gives the peer's window back as bytes are
/// taken; the end of the peer's side (END_STREAM) reads as the end of the stream, and a reset
/// as an error whose source is the [`h2::Error`] (see [`reset_reason`]). Shutting down ends
/// our side with END_STREAM; dropping it before then resets the stream (`CANCEL`, h2's way).
#[derive(Debug)]
pub struct H2Io {
    send: SendStream<Bytes>,
    recv: RecvStream,
    unread: Bytes,
}

impl H2Io {
    fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            unread: Bytes::new(),
        }
    }

    /// Resets the stream with `reason`.
    pub fn reset(&mut self, reason: Reason) {
        self.send.send_reset(reason);
    }
}

/// The HTTP/2 reset reason behind an I/O error from an [`H2Io`], if it was a reset.
pub fn reset_reason(e: &io::Error) -> Option<Reason> {
    e.get_ref()?.downcast_ref::<h2::Error>()?.reason()
}

fn io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().expect("is_io");
    }
    io::Error::other(e)
}

impl AsyncRead for H2Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.unread.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.unread = data,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..n]);
        this.unread.advance(n);
        this.recv
            .flow_control()
            .release_capacity(n)
            .map_err(io_error)?;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        this.send.reserve_capacity(buf.len());
        loop {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(granted)) => {
                    let n = granted.min(buf.len());
                    this.send
                        .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                        .map_err(io_error)?;
                    return Poll::Ready(Ok(n));
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "HTTP/2 stream closed",
                    )))
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ending a stream the peer already reset is no error: the stream is over either way.
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

/// The h2 crate's client on one TCP connection to a server that enabled extended CONNECT;
/// [`H2Client::open`] opens a WebSocket stream on it by hand.
#[derive(Debug)]
pub struct H2Client {
    send: SendRequest<Bytes>,
    _connection: Task<()>,
}

impl H2Client {
    /// Connects to `addr` (cleartext HTTP/2 with prior knowledge) and waits for the server's
    /// SETTINGS (the answer to a PING comes after them).
    ///
    /// # Panics
    /// If the connection fails or the server does not enable extended CONNECT.
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (send, mut connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        let mut ping_pong = connection.ping_pong().expect("the ping handle");
        let connection = Task::spawn(async move {
            let _ = connection.await;
        });
        ping_pong
            .ping(h2::Ping::opaque())
            .await
            .expect("the server answers a PING");
        assert!(
            send.is_extended_connect_protocol_enabled(),
            "the server does not enable extended CONNECT"
        );
        Self {
            send,
            _connection: connection,
        }
    }

    /// Sends an extended CONNECT for `path` with `:protocol websocket`,
    /// `Sec-WebSocket-Version: 13` and `headers`, and returns the response and, when it is a
    /// 2xx, the stream.
    ///
    /// # Panics
    /// If the connection fails.
    pub async fn open(&self, path: &str, headers: &[(&str, &str)]) -> (Response<()>, Option<H2Io>) {
        let mut request = Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://localhost{path}"))
            .header("sec-websocket-version", "13");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).expect("a valid request");
        self.send(request, Some("websocket")).await
    }

    /// Sends `request` as it is, with `:protocol` set to `protocol` if given (an extended
    /// CONNECT), and returns the response and, when it is a 2xx, the stream.
    ///
    /// # Panics
    /// If the connection fails or the server resets the stream instead of answering.
    pub async fn send(
        &self,
        request: Request<()>,
        protocol: Option<&str>,
    ) -> (Response<()>, Option<H2Io>) {
        self.send_pipelined(request, protocol, &[]).await
    }

    /// [`H2Client::open`] with `after_request` (frames, say) sent on the stream right after
    /// the request, before the server has answered; returns the peer once the answer is
    /// `200`.
    ///
    /// # Panics
    /// If the connection fails or the server does not answer `200`.
    pub async fn websocket_pipelined(&self, path: &str, after_request: &[u8]) -> H2Peer {
        let request = Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://localhost{path}"))
            .header("sec-websocket-version", "13")
            .body(())
            .expect("a valid request");
        let (response, io) = self
            .send_pipelined(request, Some("websocket"), after_request)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{response:?}");
        H2Peer::new(io.expect("a 200 has a stream"))
    }

    async fn send_pipelined(
        &self,
        mut request: Request<()>,
        protocol: Option<&str>,
        after_request: &[u8],
    ) -> (Response<()>, Option<H2Io>) {
        if let Some(protocol) = protocol {
            request.extensions_mut().insert(Protocol::from(protocol));
        }
        let mut send = self.send.clone().ready().await.expect("h2 ready");
        let (response, mut stream) = send.send_request(request, false).expect("send CONNECT");
        if !after_request.is_empty() {
            stream
                .send_data(Bytes::copy_from_slice(after_request), false)
                .expect("send DATA after the request");
        }
        let response = response.await.expect("a response");
        let (head, recv) = response.into_parts();
        let head = Response::from_parts(head, ());
        let io = head.status().is_success().then(|| H2Io::new(stream, recv));
        (head, io)
    }

    /// [`H2Client::open`] for a WebSocket that must be accepted: an [`H2Peer`].
    ///
    /// # Panics
    /// If the server does not answer `200`.
    pub async fn websocket(&self, path: &str) -> H2Peer {
        let (response, io) = self.open(path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{response:?}");
        assert!(
            !response.headers().contains_key("sec-websocket-accept"),
            "no accept key over HTTP/2: {response:?}"
        );
        H2Peer::new(io.expect("a 200 has a stream"))
    }
}

type Incoming = (Request<RecvStream>, SendResponse<Bytes>);

/// The h2 crate's server, with extended CONNECT enabled, on one TCP connection; each
/// [`H2Server::websocket`] answers the next stream the client opens.
#[derive(Debug)]
pub struct H2Server {
    requests: mpsc::UnboundedReceiver<Incoming>,
    _connection: Task<()>,
}

impl H2Server {
    /// Accepts one TCP connection on `listener` and serves HTTP/2 on it.
    ///
    /// # Panics
    /// If the HTTP/2 handshake fails.
    pub async fn accept(listener: &TcpListener) -> Self {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let (tx, requests) = mpsc::unbounded_channel();
        let connection = Task::spawn(async move {
            let Ok(mut connection) = h2::server::Builder::new()
                .enable_connect_protocol()
                .handshake::<_, Bytes>(tcp)
                .await
            else {
                return;
            };
            // Accepting drives the connection: keep at it until the client leaves.
            while let Some(Ok(incoming)) = connection.accept().await {
                let _ = tx.send(incoming);
            }
        });
        Self {
            requests,
            _connection: connection,
        }
    }

    /// Takes the next stream, checks that it is an extended CONNECT for a WebSocket (version
    /// 13, `:protocol websocket`), and answers `200` with `headers`, then `after_response`
    /// (frames, say) on the stream at once. Returns the stream and the request's head.
    ///
    /// # Panics
    /// If the connection ends first or the request is not such a CONNECT.
    pub async fn websocket_with(
        &mut self,
        headers: &[(&str, &str)],
        after_response: &[u8],
    ) -> (H2Io, Request<()>) {
        let (request, mut respond) = self.requests.recv().await.expect("an extended CONNECT");
        let (head, recv) = request.into_parts();
        let head = Request::from_parts(head, ());
        assert_eq!(head.method(), http::Method::CONNECT, "{head:?}");
        assert_eq!(
            head.extensions().get::<Protocol>().map(Protocol::as_str),
            Some("websocket"),
            "{head:?}"
        );
        assert_eq!(head.headers()["sec-websocket-version"], "13", "{head:?}");
        let mut response = Response::builder().status(StatusCode::OK);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        let response = response.body(()).expect("a valid response");
        let send = respond.send_response(response, false).expect("send 200");
        let mut io = H2Io::new(send, recv);
        if !after_response.is_empty() {
            tokio::io::AsyncWriteExt::write_all(&mut io, after_response)
                .await
                .expect("write after the 200");
        }
        (io, head)
    }

    /// Takes the next stream and answers it with `status` and `headers` (ending the stream
    /// unless the status is a 2xx), or resets it with `reset` instead of answering; returns
    /// the request's head.
    ///
    /// # Panics
    /// If the connection ends first.
    pub async fn answer(
        &mut self,
        status: StatusCode,
        headers: &[(&str, &str)],
        reset: Option<Reason>,
    ) -> Request<()> {
        let (request, mut respond) = self.requests.recv().await.expect("a request");
        if let Some(reason) = reset {
            respond.send_reset(reason);
        } else {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            let response = response.body(()).expect("a valid response");
            let _ = respond.send_response(response, !status.is_success());
        }
        let (head, _) = request.into_parts();
        Request::from_parts(head, ())
    }

    /// [`H2Server::websocket_with`] as an [`H2Peer`], with no extra headers.
    ///
    /// # Panics
    /// As [`H2Server::websocket_with`].
    pub async fn websocket(&mut self, after_response: &[u8]) -> H2Peer {
        H2Peer::new(self.websocket_with(&[], after_response).await.0)
    }
}

/// One end of a WebSocket over an HTTP/2 stream driven by hand, as [`crate::RawPeer`] is over
/// TCP: frames are encoded and parsed with tungstenite's frame code.
#[derive(Debug)]
pub struct H2Peer {
    io: H2Io,
    buf: BytesMut,
}

impl H2Peer {
    /// A peer on `io`, with nothing read yet.
    pub fn new(io: H2Io) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// The stream, to hand it to another implementation.
    ///
    /// # Panics
    /// If bytes were read and not taken as frames.
    pub fn into_io(self) -> H2Io {
        assert!(self.buf.is_empty(), "unread bytes");
        self.io
    }

    /// Writes raw bytes.
    ///
    /// # Panics
    /// If the stream fails.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        tokio::io::AsyncWriteExt::write_all(&mut self.io, bytes)
            .await
            .expect("write");
    }

    /// Writes `bytes` `chunk` bytes at a time, each in a DATA frame of its own, so that
    /// WebSocket frames (and their headers) are split across HTTP/2 frames.
    ///
    /// # Panics
    /// If the stream fails.
    pub async fn send_bytes_in_chunks(&mut self, bytes: &[u8], chunk: usize) {
        for part in bytes.chunks(chunk) {
            self.send_bytes(part).await;
        }
    }

    /// Resets the stream with `reason`, as a peer that leaves without the closing handshake.
    pub fn reset(&mut self, reason: Reason) {
        self.io.reset(reason);
    }

    /// Ends our side of the stream (END_STREAM) without a close frame.
    pub async fn end_stream(&mut self) {
        tokio::io::AsyncWriteExt::shutdown(&mut self.io)
            .await
            .expect("end the stream");
    }

    /// Writes one frame, encoded by tungstenite (masked if it has a mask key).
    ///
    /// # Panics
    /// If the stream fails.
    pub async fn send_frame(&mut self, frame: Frame) {
        self.send_bytes(&encode_frame(frame)).await;
    }

    /// Reads the next frame; `Ok(None)` at the end of the peer's side of the stream.
    ///
    /// # Errors
    /// The stream's error (a reset, for one: see [`reset_reason`]).
    ///
    /// # Panics
    /// If the bytes are not a valid frame header, or the stream ends mid-frame.
    pub async fn read_frame(&mut self) -> io::Result<Option<RawFrame>> {
        loop {
            if let Some(frame) = take_frame(&mut self.buf) {
                return Ok(Some(frame));
            }
            self.buf.reserve(64 << 10);
            if tokio::io::AsyncReadExt::read_buf(&mut self.io, &mut self.buf).await? == 0 {
                assert!(self.buf.is_empty(), "stream ended mid-frame");
                return Ok(None);
            }
        }
    }

    /// Reads the frames of one data message (up to the frame with FIN).
    ///
    /// # Panics
    /// On a control frame, on the end of the stream or on a stream error.
    pub async fn read_message_frames(&mut self) -> Vec<RawFrame> {
        let mut frames = Vec::new();
        loop {
            let frame = self
                .read_frame()
                .await
                .expect("read a data frame")
                .expect("a data frame before the end of the stream");
            assert!(
                !matches!(frame.header.opcode, OpCode::Control(_)),
                "unexpected control frame {:?}",
                frame.header
            );
            let fin = frame.header.is_final;
            frames.push(frame);
            if fin {
                return frames;
            }
        }
    }

    /// Reads frames, skipping pings and pongs, until a close frame; returns its code and
    /// reason.
    ///
    /// # Panics
    /// On a data frame, on the end of the stream, or on a close frame without a code.
    pub async fn read_close(&mut self) -> (u16, String) {
        loop {
            let frame = self
                .read_frame()
                .await
                .unwrap_or_else(|e| panic!("read a close frame: {e}"))
                .expect("a close frame before the end of the stream");
            match frame.header.opcode {
                OpCode::Control(Control::Ping | Control::Pong) => {}
                OpCode::Control(Control::Close) => {
                    return frame.close_code().expect("close frame with a code")
                }
                other => panic!("expected a close frame, got {other}"),
            }
        }
    }

    /// Asserts that the peer ends its side of the stream next: END_STREAM, or a reset with
    /// `NO_ERROR` or `CANCEL` (no more frames, and no error reset).
    ///
    /// # Panics
    /// If a frame or another error arrives instead.
    pub async fn expect_eof(&mut self) {
        match self.read_frame().await {
            Ok(None) => {}
            Err(e) if matches!(reset_reason(&e), Some(Reason::NO_ERROR | Reason::CANCEL)) => {}
            Ok(Some(frame)) => panic!("expected the end of the stream, got {frame:?}"),
            Err(e) => panic!("expected the end of the stream, got {e}"),
        }
    }
}
