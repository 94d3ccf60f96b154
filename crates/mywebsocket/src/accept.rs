//! The server side: [`Upgrader`] turns an incoming connection into a [`WebSocket`].

use std::sync::Arc;

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
#[derive(Debug, Clone, Default)]
pub struct Upgrader {
    config: Arc<Config>,
}

impl Upgrader {
    /// An upgrader with `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads the HTTP upgrade request from `stream`, validates it, answers `101 Switching
    /// Protocols` and returns the connection. A bad request is answered with its HTTP status
    /// (400, 403, 405, 426 or 431) and a text body saying why.
    ///
    /// # Errors
    /// [`Error::Handshake`] for a rejected request, [`Error::Timeout`] with
    /// [`TimeoutKind::Handshake`] past the handshake timeout, [`Error::Io`].
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
            let accept = match self.check_request(&request) {
                Ok(accept) => accept,
                Err(e) => return Err(reject(&mut stream, e).await),
            };
            let mut out = Vec::with_capacity(256);
            handshake::write_response(&handshake::accept_response(&accept), b"", &mut out);
            stream.write_all(&out).await?;
            stream.flush().await?;
            Ok((request, buf, accept))
        };
        let (request, buf, accept) = tokio::time::timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout(TimeoutKind::Handshake))??;
        let ws = WebSocket::from_parts(
            stream,
            Role::Server,
            Arc::clone(&self.config),
            buf,
            accept.protocol,
            accept.deflate.map(|(params, _)| params),
        );
        Ok((request, ws))
    }

    /// Validates an upgrade request (RFC 6455 §4.2.1) and applies the origin check; chooses
    /// the subprotocol. Used by [`Upgrader::accept`] and the hyper integration.
    ///
    /// # Errors
    /// The [`HandshakeError`] to answer with.
    pub fn check_request<B>(&self, request: &Request<B>) -> Result<Accept, HandshakeError> {
        let mut accept = handshake::validate_request(request, &self.config.protocols)?;
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
