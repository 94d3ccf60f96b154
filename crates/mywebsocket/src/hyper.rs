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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use http::{Request, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use mywebsocket_proto::deflate::DeflateParams;
use mywebsocket_proto::handshake;
use mywebsocket_proto::{HandshakeError, Role};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::tracker::ConnectionGuard;
use crate::{Upgrader, WebSocket};

impl Upgrader {
    /// Validates `request` as a WebSocket upgrade and returns the `101` response to send back
    /// (with any body type that has a `Default`, such as `http_body_util::Empty` or axum's
    /// `Body`) and a future that resolves to the connection once hyper has sent the response
    /// and handed over the socket.
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
        let accept = self.check_request(request)?;
        let guard = self.admit()?;
        let on_upgrade = hyper::upgrade::on(request);
        let response = handshake::accept_response(&accept).map(|()| R::default());
        Ok((
            response,
            UpgradeFuture {
                on_upgrade,
                config: Arc::new(self.config().clone()),
                protocol: accept.protocol,
                deflate: accept.deflate.map(|(params, _)| params),
                admitted: Some((self.clone(), guard)),
            },
        ))
    }
}

/// Resolves to the [`WebSocket`] once hyper upgrades the connection; from
/// [`Upgrader::upgrade`].
#[derive(Debug)]
#[must_use = "the connection is only available by awaiting this future"]
pub struct UpgradeFuture {
    on_upgrade: OnUpgrade,
    config: Arc<Config>,
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    /// The connection's slot, held from the `101` answer on and handed to the connection.
    admitted: Option<(Upgrader, ConnectionGuard)>,
}

impl Future for UpgradeFuture {
    type Output = Result<WebSocket>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx))
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let ws = WebSocket::from_parts(
            TokioIo::new(upgraded),
            Role::Server,
            Arc::clone(&self.config),
            BytesMut::new(),
            self.protocol.take(),
            self.deflate,
        );
        if let Some((upgrader, guard)) = self.admitted.take() {
            upgrader.register(guard, &ws);
        }
        Poll::Ready(Ok(ws))
    }
}
