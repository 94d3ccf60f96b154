//! Upgrading requests served by hyper 1.x (and so by axum) to MyWebsocket connections.
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use mywebsocket::Upgrader;
//!
//! async fn handle(mut req: Request<Incoming>, upgrader: Upgrader) -> Response<Empty<Bytes>> {
//!     match upgrader.upgrade(&mut req) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let Ok(mut ws) = upgrade.await else { return };
//!                 while let Ok(msg) = ws.read_msg().await {
//!                     let _ = ws.write_message(msg).await;
//!                 }
//!             });
//!             response
//!         }
//!         Err(e) => Response::builder().status(e.status()).body(Empty::new()).unwrap(),
//!     }
//! }
//! # fn main() {}
//! ```
//! Serve it with `hyper::server::conn::http1::Builder::new().serve_connection(io,
//! service).with_upgrades()`; without `with_upgrades` hyper never hands the connection over.
//! Over HTTP/2, serve with `hyper::server::conn::http2::Builder` after
//! `enable_connect_protocol()` (or use [`crate::h2::serve_connection`]): the same `upgrade`
//! answers an extended CONNECT with `200` (RFC 8441).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use mywebsocket_proto::deflate::DeflateParams;
use mywebsocket_proto::handshake;
use mywebsocket_proto::{HandshakeError, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::info::ConnectionInfo;
use crate::tracker::ConnectionGuard;
use crate::{Upgrader, WebSocket};

impl Upgrader {
    /// Validates `request` as a WebSocket upgrade and returns the `101` response to send back
    /// (with any body type that has a `Default`, such as `http_body_util::Empty` or axum's
    /// `Body`) and a future that resolves to the connection once hyper has sent the response
    /// and handed over the socket.
    ///
    /// A request that came over HTTP/2 is checked as an extended CONNECT (RFC 8441, with the
    /// `http2` feature; hyper's HTTP/2 server needs `enable_connect_protocol()`) and answered
    /// `200`; the WebSocket then runs over that one HTTP/2 stream.
    ///
    /// # Errors
    /// The [`HandshakeError`] to answer with (503 past
    /// [`Config::max_connections`](crate::Config::max_connections) or during a shutdown): use
    /// [`HandshakeError::status`] for the response
    /// status, or [`mywebsocket_proto::handshake::reject_response`] for a full response.
    pub fn upgrade<B, R: Default>(
        &self,
        request: &mut Request<B>,
    ) -> Result<(Response<R>, UpgradeFuture), HandshakeError> {
        let over_h2 = handshake::h2::is_h2_request(request);
        let accept = if over_h2 {
            self.check_extended_connect(request, extended_connect_protocol(request))?
        } else {
            self.check_request(request)?
        };
        let guard = self.admit()?;
        let on_upgrade = hyper::upgrade::on(request);
        let response = if over_h2 {
            handshake::h2::accept_response(&accept)
        } else {
            handshake::accept_response(&accept)
        };
        let response = response.map(|()| R::default());
        Ok((
            response,
            UpgradeFuture {
                on_upgrade,
                config: Arc::new(self.config().clone()),
                protocol: accept.protocol,
                deflate: accept.deflate.map(|agreed| agreed.params),
                admitted: Some((self.clone(), guard)),
                info: ConnectionInfo::default(),
            },
        ))
    }
}

/// The `:protocol` of an HTTP/2 extended CONNECT, which hyper keeps in the request's
/// extensions.
fn extended_connect_protocol<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "http2")]
    return request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(hyper::ext::Protocol::as_str);
    #[cfg(not(feature = "http2"))]
    {
        let _ = request;
        None
    }
}

/// Resolves to the [`WebSocket`] once hyper upgrades the connection; from
/// [`Upgrader::upgrade`].
///
/// # Cancel safety
/// Dropped before it resolves, it gives back the connection slot, and the connection hyper
/// hands over is closed: the client, which already has its `101`, sees the connection end.
#[derive(Debug)]
#[must_use = "the connection is only available by awaiting this future"]
pub struct UpgradeFuture {
    on_upgrade: OnUpgrade,
    config: Arc<Config>,
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    /// The connection's slot, held from the `101` answer on and handed to the connection.
    admitted: Option<(Upgrader, ConnectionGuard)>,
    /// Given by the caller; takes the place of what the stream tells.
    info: ConnectionInfo,
}

impl UpgradeFuture {
    /// Gives the connection what the server knows of it, such as the peer address from axum's
    /// `ConnectInfo` when hyper served a stream type that [`ConnectionInfo`] does not read
    /// from. The fields set in `info` take the place of those read from the stream.
    pub fn with_connection_info(mut self, info: ConnectionInfo) -> Self {
        self.info = info;
        self
    }

    /// The connection over the stream hyper upgraded. When hyper served a `TcpStream` (or,
    /// with `tls`, a rustls stream over one) through `TokioIo`, that stream is taken back out
    /// of hyper's wrapper, with the bytes hyper read past the request: the connection then
    /// reads its addresses (and TLS session) from it, and a `TcpStream` splits into halves
    /// that need no lock.
    fn connect(&mut self, upgraded: Upgraded) -> WebSocket {
        let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => return self.websocket(parts.io.into_inner(), parts.read_buf),
            Err(upgraded) => upgraded,
        };
        #[cfg(feature = "tls")]
        let upgraded =
            match upgraded.downcast::<TokioIo<tokio_rustls::server::TlsStream<TcpStream>>>() {
                Ok(parts) => return self.websocket(parts.io.into_inner(), parts.read_buf),
                Err(upgraded) => upgraded,
            };
        self.websocket(TokioIo::new(upgraded), Bytes::new())
    }

    fn websocket<S>(&mut self, stream: S, buffered: Bytes) -> WebSocket
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        WebSocket::from_parts_with_info(
            stream,
            Role::Server,
            Arc::clone(&self.config),
            BytesMut::from(buffered),
            self.protocol.take(),
            self.deflate,
            std::mem::take(&mut self.info),
        )
    }
}

impl Future for UpgradeFuture {
    type Output = Result<WebSocket>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx))
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let ws = self.connect(upgraded);
        if let Some((upgrader, guard)) = self.admitted.take() {
            upgrader.register(guard, &ws);
        }
        Poll::Ready(Ok(ws))
    }
}
