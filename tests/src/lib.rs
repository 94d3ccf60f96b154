//! Shared helpers for the end-to-end tests.
//!
//! Every server here listens on `127.0.0.1:0` and serves one connection; every spawned task is
//! a [`Task`], aborted when dropped, so a failing test leaves nothing running. Wrap each test
//! body in [`bounded`] so a hang fails the test instead of blocking the run.
//!
//! Three kinds of peer:
//! - ours: [`spawn_accept`], [`spawn_echo_server`], [`spawn_hyper_server`], [`connect_client`];
//! - tokio-tungstenite: [`spawn_tungstenite_accept`], [`spawn_tungstenite_echo`],
//!   [`tungstenite_connect`];
//! - raw TCP speaking frames by hand ([`RawPeer`]), parsed and encoded with tungstenite's frame
//!   code so that what our library writes is checked by an independent implementation, and
//!   [`raw_http`] for handshakes that should be refused.
//!
//! Most tests start from a connected pair, ours against one of the others in either role
//! ([`pair`]: [`our_server_and_tungstenite_client`], [`our_client_and_raw_server`], …), so a
//! body generic over [`TungsteniteIo`] can run once per role; they end with the checks of
//! [`ending`] ([`assert_closed`], [`drain`], …).
//!
//! For permessage-deflate: [`Recorder`] keeps a copy of the bytes through a stream so a test
//! can inspect the frames a library hides ([`split_recording`], [`group_messages`]), and
//! [`deflate_message`] / [`inflate_message`] ([`deflate`]) compress with flate2 directly,
//! independently of our codec.

pub mod deflate;
pub mod ending;
pub mod pair;
pub mod server;

pub use deflate::{deflate_message, first_message_compressed, inflate_message, DEFLATE_TAIL};
pub use ending::{
    assert_close_frame, assert_closed, assert_closed_by, assert_closed_without_frame, drain,
    read_close_code,
};
pub use pair::{
    our_client_and_raw_server, our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client,
};

/// The configuration of the attack tests against peers that never read: no heartbeat, a
/// small write budget and a short write timeout, so a test sees both bounds at work.
pub fn non_reading_config(write_buffer: usize, write_timeout: std::time::Duration) -> Config {
    Config::default()
        .no_heartbeat()
        .write_buffer_size(write_buffer)
        .write_timeout(Some(write_timeout))
}

/// The README's examples, compiled and run as doctests so they cannot go stale. They live in
/// this crate because it depends on every crate the README shows.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Each published crate's own README (what crates.io shows), compiled and run as doctests.
#[cfg(doctest)]
pub mod crate_readmes {
    #[doc = include_str!("../../crates/mywebsocket/README.md")]
    pub struct Mywebsocket;
    #[doc = include_str!("../../crates/mywebsocket-proto/README.md")]
    pub struct MywebsocketProto;
    #[doc = include_str!("../../crates/mywebsocket-files-proto/README.md")]
    pub struct MywebsocketFilesProto;
    #[doc = include_str!("../../crates/mywebsocket-files/README.md")]
    pub struct MywebsocketFiles;
    #[doc = include_str!("../../crates/mywebsocket-hub/README.md")]
    pub struct MywebsocketHub;
    #[doc = include_str!("../../wasm-client/README.md")]
    pub struct MywebsocketWasm;
}

/// docs/migrating.md: tokio-tungstenite and axum code beside ours, both sides compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../../docs/migrating.md")]
pub struct MigratingDoctests;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Cursor;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mywebsocket::{Config, Error, UpgradeFuture, Upgrader, WebSocket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::WebSocketConfig;

/// The longest any one test may take before it fails as hung.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Sec-WebSocket-Key` sample from RFC 6455 §1.3, used by [`RawPeer::connect`].
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A tokio-tungstenite connection on the server side.
pub type TungsteniteServer = WebSocketStream<TcpStream>;

/// A tokio-tungstenite connection on the client side.
pub type TungsteniteClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The transport under either kind of tokio-tungstenite connection ([`TungsteniteServer`],
/// [`TungsteniteClient`]), so that one generic test body serves both roles.
pub trait TungsteniteIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> TungsteniteIo for T {}

/// Runs `fut`, failing the test if it takes longer than [`TEST_TIMEOUT`].
///
/// # Panics
/// When the time is up.
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    match tokio::time::timeout(TEST_TIMEOUT, fut).await {
        Ok(output) => output,
        Err(_) => panic!("test did not finish within {TEST_TIMEOUT:?}"),
    }
}

/// A spawned task that is aborted when dropped, so a test that fails (or times out) part way
/// stops everything it started.
#[derive(Debug)]
pub struct Task<T> {
    handle: JoinHandle<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Spawns `fut` on the current runtime.
    pub fn spawn<F>(fut: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        Self {
            handle: tokio::spawn(fut),
        }
    }

    /// Waits for the task's output; if the join is itself cancelled (by [`bounded`]), the task
    /// is aborted.
    ///
    /// # Panics
    /// Re-raises the task's panic.
    pub async fn join(mut self) -> T {
        match (&mut self.handle).await {
            Ok(output) => output,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("task did not finish: {e}"),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// A listener on `127.0.0.1`, on a port the system chooses.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// The `ws://` URL of a server at `addr`, with path `/`.
pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Our server: accepts one TCP connection and returns the result of [`Upgrader::accept`].
pub async fn spawn_accept(
    upgrader: Upgrader,
) -> (SocketAddr, Task<mywebsocket::Result<WebSocket>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        upgrader.accept(tcp).await
    });
    (addr, task)
}

/// Echoes every message back until reading fails, and returns that error (an
/// [`Error::Closed`] after a normal close).
pub async fn echo(mut ws: WebSocket) -> Error {
    loop {
        match ws.read_msg().await {
            Ok(msg) => {
                if let Err(e) = ws.write_message(msg).await {
                    return e;
                }
            }
            Err(e) => return e,
        }
    }
}

/// Our echo server with `config`, for one connection; the task returns the error that ended
/// the connection.
///
/// # Panics
/// In the task, if the handshake fails.
pub async fn spawn_echo_server(config: Config) -> (SocketAddr, Task<Error>) {
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let task = Task::spawn(async move {
        let ws = accept.join().await.expect("server handshake");
        echo(ws).await
    });
    (addr, task)
}

/// Our client, connected to `addr` with `config`.
///
/// # Panics
/// If the connection or handshake fails.
pub async fn connect_client(addr: SocketAddr, config: Config) -> WebSocket {
    let (ws, response) = mywebsocket::connect_config(&ws_url(addr), config)
        .await
        .expect("client handshake");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// A hyper 1.x server for one connection whose service upgrades with
/// [`Upgrader::upgrade`] and echoes. The task returns `None` if no request was upgraded, or
/// the error that ended the echo.
pub async fn spawn_hyper_server(upgrader: Upgrader) -> (SocketAddr, Task<Option<Error>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<UpgradeFuture>();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let tx = tx.clone();
            let upgrader = upgrader.clone();
            async move {
                let response = match upgrader.upgrade::<_, Empty<Bytes>>(&mut req) {
                    Ok((response, upgrade)) => {
                        let _ = tx.send(upgrade);
                        response
                    }
                    Err(e) => hyper::Response::builder()
                        .status(e.status())
                        .body(Empty::new())
                        .expect("a status and an empty body make a response"),
                };
                Ok::<_, Infallible>(response)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        // The connection future ends once the socket is handed over (or the client leaves);
        // the service, and with it the sender, is dropped then, which ends `recv`.
        let session = async move {
            let upgrade = rx.recv().await?;
            let ws = upgrade.await.expect("hyper upgrade");
            Some(echo(ws).await)
        };
        let (served, outcome) = tokio::join!(conn, session);
        served.expect("hyper connection");
        outcome
    });
    (addr, task)
}

/// A tokio-tungstenite server for one connection (with `config`, or tungstenite's defaults).
pub async fn spawn_tungstenite_accept(
    config: Option<WebSocketConfig>,
) -> (SocketAddr, Task<TungsteniteServer>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        tokio_tungstenite::accept_async_with_config(tcp, config)
            .await
            .expect("tungstenite server handshake")
    });
    (addr, task)
}

/// A tokio-tungstenite echo server for one connection. The task returns the close frame the
/// client sent (`None` if it sent none, or one without a code) once the connection has ended;
/// the socket is dropped then, which is how a server ends a connection (RFC 6455 §7.1.1).
///
/// # Panics
/// In the task, on a read or write error.
pub async fn spawn_tungstenite_echo(
) -> (SocketAddr, Task<Option<tungstenite::protocol::CloseFrame>>) {
    let (addr, accept) = spawn_tungstenite_accept(None).await;
    let task = Task::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        let mut ws = accept.join().await;
        let mut close = None;
        while let Some(msg) = ws.next().await {
            match msg.expect("tungstenite server read") {
                msg @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)) => {
                    ws.send(msg).await.expect("tungstenite server write");
                }
                tungstenite::Message::Close(frame) => close = frame,
                _ => {}
            }
        }
        close
    });
    (addr, task)
}

/// A tokio-tungstenite client connected to our server at `addr`.
///
/// # Panics
/// If the connection or handshake fails.
pub async fn tungstenite_connect(addr: SocketAddr) -> TungsteniteClient {
    let (ws, response) = tokio_tungstenite::connect_async(ws_url(addr))
        .await
        .expect("tungstenite client handshake");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// `len` bytes of a pattern that depends on `seed` and on the position, with a period (251)
/// that is no power of two, so a lost, repeated or shifted chunk shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// `len` bytes of printable ASCII following a pattern like [`pattern`], for text messages.
pub fn text_pattern(len: usize, seed: u8) -> String {
    pattern(len, seed)
        .into_iter()
        .map(|b| char::from(b' ' + b % 95))
        .collect()
}

/// Asserts that `data` is `expected` without printing megabytes on failure: reports the
/// lengths and the first differing offset.
///
/// # Panics
/// When they differ.
pub fn assert_same_bytes(data: &[u8], expected: &[u8], what: &str) {
    assert_eq!(data.len(), expected.len(), "{what}: length");
    if let Some(at) = data.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {at}: got {:#04x}, expected {:#04x}",
            data[at], expected[at]
        );
    }
}

/// A frame read by [`RawPeer`]: tungstenite's parse of the header, and the payload unmasked.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The header as it was on the wire (including its mask key, if any).
    pub header: FrameHeader,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl RawFrame {
    /// The close code and reason if this is a close frame with a code.
    pub fn close_code(&self) -> Option<(u16, String)> {
        if self.header.opcode != OpCode::Control(Control::Close) || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        let reason = String::from_utf8_lossy(&self.payload[2..]).into_owned();
        Some((code, reason))
    }
}

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

/// A frame to send with [`RawPeer::send_frame`]: `opcode`, FIN as given, masked with `mask`.
pub fn raw_frame(
    fin: bool,
    opcode: OpCode,
    payload: impl Into<Bytes>,
    mask: Option<[u8; 4]>,
) -> Frame {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        mask,
        ..FrameHeader::default()
    };
    Frame::from_payload(header, payload.into())
}

/// [`raw_frame`] with RSV1 set: the first frame of a compressed message under
/// permessage-deflate (RFC 7692 §6), or a violation where it was not negotiated.
pub fn rsv1_frame(
    fin: bool,
    opcode: OpCode,
    payload: impl Into<Bytes>,
    mask: Option<[u8; 4]>,
) -> Frame {
    let mut frame = raw_frame(fin, opcode, payload, mask);
    frame.header_mut().rsv1 = true;
    frame
}

/// The wire bytes of `frame`, encoded by tungstenite (masked if it has a mask key).
pub fn encode_frame(frame: Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len());
    frame
        .format(&mut out)
        .expect("encoding into a Vec cannot fail");
    out
}

/// An HTTP response read by [`raw_http`].
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the head.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Sends `request` as it is to `addr` and reads the response until the server closes the
/// connection.
///
/// # Panics
/// If the socket fails or the response is not HTTP.
pub async fn raw_http(addr: SocketAddr, request: &str) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(&raw).expect("valid response head") {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => panic!("incomplete response: {raw:?}"),
    };
    HttpReply {
        status: response.code.expect("status code"),
        headers: owned_headers(response.headers),
        body: raw[len..].to_vec(),
    }
}

/// An upgrade request as a client would send it, with `extra` header lines (each ending in
/// `\r\n`) and the key and version given.
pub fn upgrade_request(key: Option<&str>, version: &str, extra: &str) -> String {
    let key = key
        .map(|k| format!("Sec-WebSocket-Key: {k}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         {key}Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

/// Completes the opening handshake by hand on a connected `tcp`: sends an upgrade request with
/// `extra` header lines, reads the response head byte by byte (nothing after it is consumed)
/// and checks it is a `101`. Returns the head.
pub async fn upgrade_by_hand(tcp: &mut TcpStream, extra: &str) -> String {
    tcp.write_all(upgrade_request(Some(SAMPLE_KEY), "13", extra).as_bytes())
        .await
        .expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("response"));
    }
    let head = String::from_utf8(head).expect("ASCII response head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    head
}

/// Headers parsed by httparse, as owned pairs.
fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// The value of the first header called `name` (any case) in `headers`.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Takes one whole frame from the front of `buf` (unmasking its payload), or `None` if
/// `buf` does not hold a whole frame yet.
///
/// # Panics
/// If the bytes are not a valid frame header.
pub fn take_frame(buf: &mut BytesMut) -> Option<RawFrame> {
    let mut cursor = Cursor::new(&buf[..]);
    let (header, len) = FrameHeader::parse(&mut cursor).expect("frame header")?;
    let header_len = usize::try_from(cursor.position()).expect("header length fits");
    let len = usize::try_from(len).expect("frame length fits in memory");
    if buf.len() < header_len + len {
        return None;
    }
    buf.advance(header_len);
    let mut payload = buf.split_to(len);
    if let Some(key) = header.mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some(RawFrame {
        header,
        payload: payload.freeze(),
    })
}

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

/// `len` bytes of JSON-like text (records with repeated keys and varying values), as chat
/// or API traffic looks: compressible several times. Different seeds give different text.
pub fn json_text(len: usize, seed: u32) -> String {
    let mut text = String::with_capacity(len + 128);
    let mut n = seed;
    text.push('[');
    while text.len() < len {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let _ = write!(
            text,
            r#"{{"id":{},"user":"user-{}","room":"room-{}","text":"message number {} says hello","ok":{}}},"#,
            n % 100_000,
            n % 97,
            n % 13,
            n % 1000,
            n.is_multiple_of(2)
        );
    }
    text.truncate(len);
    text
}

/// `len` pseudo-random bytes (xorshift64*, seeded): deflate cannot shrink them.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
