//! The server side: [`Upgrader`] turns an incoming connection into a [`WebSocket`].

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{ORIGIN, SEC_WEBSOCKET_EXTENSIONS};
use http::Request;
use mywebsocket_proto::deflate;
use mywebsocket_proto::handshake::{self, Accept};
use mywebsocket_proto::{HandshakeError, Role};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::error::{Error, Result, TimeoutKind};
use crate::head_io::read_head;
use crate::tracker::{ConnectionGuard, ShutdownReport, Tracker};
use crate::WebSocket;

/// Accepts WebSocket connections with one [`Config`], set once and shared by every
/// connection (cloning an `Upgrader` is an `Arc` increment).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mywebsocket::{Config, Upgrader};
///
/// let upgrader = Upgrader::new(Config::default().protocols(["chat"]));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     tcp.set_nodelay(true)?;
///     let upgrader = upgrader.clone();
///     tokio::spawn(async move {
///         let Ok(mut ws) = upgrader.accept(tcp).await else { return };
///         while let Ok(msg) = ws.read_msg().await {
///             if ws.write_message(msg).await.is_err() {
///                 break;
///             }
///         }
///     });
/// }
/// # }
/// ```
///
/// The upgrader and its clones count their connections: past
/// [`Config::max_connections`] a request is refused with `503`, and
/// [`Upgrader::shutdown`] closes them all gracefully.
#[derive(Debug, Clone)]
pub struct Upgrader {
    config: Arc<Config>,
    tracker: Arc<Tracker>,
}

impl Default for Upgrader {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Upgrader {
    /// An upgrader with `config`.
    pub fn new(config: Config) -> Self {
        Self {
            tracker: Arc::new(Tracker::new(config.max_connections)),
            config: Arc::new(config),
        }
    }

    /// An upgrader with `config` that counts its connections with this one's (the limit and
    /// the shutdown stay this one's).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn with_config(&self, config: Config) -> Self {
        Self {
            config: Arc::new(config),
            tracker: Arc::clone(&self.tracker),
        }
    }

    /// Connections accepted by this upgrader (and its clones) that are still open.
    pub fn live_connections(&self) -> usize {
        self.tracker.live()
    }

    /// Whether [`Upgrader::shutdown`] has been called: new requests get `503`, so an accept
    /// loop may stop.
    pub fn is_shutting_down(&self) -> bool {
        self.tracker.is_shutting_down()
    }

    /// Shuts down gracefully: refuses new requests with `503`, sends 1001 Going Away to every
    /// open connection behind the messages already queued on it (so they are all delivered),
    /// and waits up to `grace` for each connection's closing handshake to finish and its
    /// socket to close. Connections still open then are cut off at once: what is still queued
    /// is dropped, a write blocked on a peer that does not read is given up, and the socket is
    /// shut down.
    ///
    /// Stop accepting first (drop the listener), and keep each connection's reader running:
    /// the reader is what sees the peer's answer and ends the connection.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use mywebsocket::Upgrader;
    ///
    /// let upgrader = Upgrader::default();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
    /// loop {
    ///     tokio::select! {
    ///         accepted = listener.accept() => {
    ///             let (tcp, _) = accepted?;
    ///             let upgrader = upgrader.clone();
    ///             tokio::spawn(async move {
    ///                 let Ok(mut ws) = upgrader.accept(tcp).await else { return };
    ///                 while let Ok(msg) = ws.read_msg().await {
    ///                     let _ = ws.write_message(msg).await;
    ///                 }
    ///             });
    ///         }
    ///         _ = tokio::signal::ctrl_c() => break,
    ///     }
    /// }
    /// drop(listener);
    /// let report = upgrader.shutdown(Duration::from_secs(10)).await;
    /// println!("closed {} connections, {} forced", report.connections, report.forced);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// The first poll refuses new requests and queues 1001 on every open connection; after
    /// that the future only waits. Dropped then, the connections still close gracefully on
    /// their own, but none is cut off at the deadline: call `shutdown` again to wait (and
    /// then force) again.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.tracker.shutdown(grace).await
    }

    /// Resolves once [`Upgrader::shutdown`] has started (at once if it already has): the
    /// moment to stop accepting, or to send an HTTP/2 connection's GOAWAY.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub async fn shutdown_started(&self) {
        self.tracker.shutdown_started().await;
    }

    /// Takes a slot for a connection about to be answered `101`.
    pub(crate) fn admit(&self) -> Result<ConnectionGuard, HandshakeError> {
        self.tracker.admit()
    }

    /// Counts `ws` against the limit and includes it in a shutdown until it is dropped.
    pub(crate) fn register(&self, guard: ConnectionGuard, ws: &WebSocket) {
        self.tracker.register(guard, ws.shared());
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads the HTTP upgrade request from `stream`, validates it, answers `101 Switching
    /// Protocols` and returns the connection. A bad request is answered with its HTTP status
    /// (400, 403, 405, 426 or 431; 503 past the connection limit or during a shutdown) and a
    /// text body saying why.
    ///
    /// The connection's [`ConnectionInfo`](crate::ConnectionInfo) (peer address, TLS
    /// session) is read from `stream` first, for the stream types it lists.
    ///
    /// # Errors
    /// [`Error::Handshake`] for a rejected request, [`Error::Timeout`] with
    /// [`TimeoutKind::Handshake`] past the handshake timeout, [`Error::Io`].
    ///
    /// # Cancel safety
    /// Not cancel-safe: the future owns `stream`. Dropped before it completes, it closes the
    /// stream, whether or not the `101` had been sent, and gives back the connection slot it
    /// took; nothing is left running.
    pub async fn accept<S>(&self, stream: S) -> Result<WebSocket>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.accept_with_request(stream).await.map(|(_, ws)| ws)
    }

    /// [`Upgrader::accept`], also returning the request (path, query, headers, cookies) for
    /// routing or authentication.
    ///
    /// # Errors
    /// As [`Upgrader::accept`].
    ///
    /// # Cancel safety
    /// Not cancel-safe: the future owns `stream`. Dropped before it completes, it closes the
    /// stream, whether or not the `101` had been sent, and gives back the connection slot it
    /// took; nothing is left running.
    pub async fn accept_with_request<S>(&self, mut stream: S) -> Result<(Request<()>, WebSocket)>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let handshake = async {
            let mut buf = BytesMut::with_capacity(1024);
            let request = match read_head(
                &mut stream,
                &mut buf,
                self.config.max_head_size,
                handshake::parse_request,
            )
            .await
            {
                Ok(request) => request,
                Err(Error::Handshake(e)) => return Err(reject(&mut stream, e).await),
                Err(e) => return Err(e),
            };
            let checked = self
                .check_request(&request)
                .and_then(|accept| Ok((accept, self.admit()?)));
            let (accept, guard) = match checked {
                Ok(checked) => checked,
                Err(e) => return Err(reject(&mut stream, e).await),
            };
            let mut out = Vec::with_capacity(256);
            handshake::write_response(&handshake::accept_response(&accept), b"", &mut out);
            stream.write_all(&out).await?;
            stream.flush().await?;
            Ok((request, buf, accept, guard))
        };
        let (request, buf, accept, guard) =
            tokio::time::timeout(self.config.handshake_timeout, handshake)
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Handshake))??;
        let ws = WebSocket::from_parts(
            stream,
            Role::Server,
            Arc::clone(&self.config),
            buf,
            accept.protocol,
            accept.deflate.map(|agreed| agreed.params),
        );
        self.register(guard, &ws);
        Ok((request, ws))
    }

    /// Validates an upgrade request (RFC 6455 §4.2.1) and applies the origin check; chooses
    /// the subprotocol. Used by [`Upgrader::accept`] and the hyper integration.
    ///
    /// # Errors
    /// The [`HandshakeError`] to answer with.
    pub fn check_request<B>(&self, request: &Request<B>) -> Result<Accept, HandshakeError> {
        let accept = handshake::validate_request(request, &self.config.protocols)?;
        self.negotiate(accept, request)
    }

    /// Validates an HTTP/2 extended CONNECT (RFC 8441 §4 and §5) whose `:protocol`
    /// pseudo-header is `protocol` (hyper carries it in `hyper::ext::Protocol`), then applies
    /// the origin check and chooses the subprotocol and permessage-deflate as
    /// [`Upgrader::check_request`] does. The returned [`Accept`] has no accept key: it is
    /// answered with `200` ([`mywebsocket_proto::handshake::h2::accept_response`]).
    ///
    /// # Errors
    /// The [`HandshakeError`] to answer with: 405 for a method other than CONNECT, 400 for a
    /// `:protocol` other than `websocket`, 426 for a `Sec-WebSocket-Version` other than 13.
    pub fn check_extended_connect<B>(
        &self,
        request: &Request<B>,
        protocol: Option<&str>,
    ) -> Result<Accept, HandshakeError> {
        let accept = handshake::h2::validate_request(request, protocol, &self.config.protocols)?;
        self.negotiate(accept, request)
    }

    /// What depends on the config once the request is a valid handshake: the origin check and
    /// permessage-deflate.
    fn negotiate<B>(
        &self,
        mut accept: Accept,
        request: &Request<B>,
    ) -> Result<Accept, HandshakeError> {
        if let Some(check) = &self.config.origin_check {
            let origin = request.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
            if !check(origin) {
                return Err(HandshakeError::OriginRejected);
            }
        }
        if let Some(config) = &self.config.deflate {
            let offers = request
                .headers()
                .get_all(SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .filter_map(|v| v.to_str().ok());
            accept.deflate = deflate::negotiate(offers, config);
        }
        Ok(accept)
    }
}

/// Answers a rejected handshake with its status and reason, then closes the stream.
async fn reject<S: AsyncWrite + Unpin>(stream: &mut S, err: HandshakeError) -> Error {
    let response = handshake::reject_response(&err);
    let mut out = Vec::with_capacity(256);
    handshake::write_response(&response, response.body().as_bytes(), &mut out);
    // The client may already be gone; the handshake error is what matters.
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
    Error::Handshake(err)
}
