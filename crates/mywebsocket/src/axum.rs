//! An axum 0.8 extractor that upgrades to a MyWebsocket [`WebSocket`], shaped like
//! `axum::extract::ws::WebSocketUpgrade` so that switching is one `use` line:
//!
//! ```no_run
//! // Before: use axum::extract::ws::{WebSocket, WebSocketUpgrade};
//! use mywebsocket::axum::WebSocketUpgrade;
//! use mywebsocket::{Config, WebSocket};
//! use axum::response::Response;
//!
//! async fn handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat"])
//!         .config(Config::default().max_message_size(1 << 20))
//!         .on_upgrade(|mut socket: WebSocket| async move {
//!             while let Ok(msg) = socket.read_msg().await {
//!                 if socket.write_message(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! // `any`: GET for HTTP/1.1 upgrades, CONNECT for HTTP/2 (RFC 8441).
//! let app = axum::Router::new().route("/ws", axum::routing::any(handler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The request is checked by the same code as [`Upgrader::upgrade`] (RFC 6455 §4.2.1, in
//! [`mywebsocket_proto::handshake`]); a request that is not a valid upgrade is refused with a
//! [`WebSocketUpgradeRejection`] whose status is that of [`HandshakeError::status`]. The
//! connection gets a [`Config`] of its own: the heartbeat, the limits and permessage-deflate
//! (on by default) all apply.
//!
//! It takes HTTP/1.1 upgrades (`GET`, answered `101`) and WebSockets over HTTP/2 (RFC 8441:
//! an extended `CONNECT` with `:protocol websocket`, answered `200`; `axum::serve` enables
//! extended CONNECT on its HTTP/2 connections). Route it with `any(..)` (or `get(..)` and
//! `connect(..)`) to accept both: axum's router sends a `CONNECT` only to a route that
//! accepts that method.
//!
//! The differences from axum's `WebSocket` that a handler sees: read with
//! [`WebSocket::read_msg`] (a `Result`, not an `Option<Result>`; the peer's close arrives as
//! [`Error::Closed`]) or as a `Stream`, write with
//! [`WebSocket::write_message`] (or `write_string`, `write_binary`) or as a `Sink`; pings and
//! pongs are answered inside and never reach the handler. `docs/migrating.md` has the table.

use std::fmt;
use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version};
use hyper::ext::Protocol;
use hyper::upgrade::OnUpgrade;
use mywebsocket_proto::handshake;
use mywebsocket_proto::HandshakeError;

use crate::config::Config;
use crate::error::Error;
use crate::{Upgrader, WebSocket};

/// Extracts a WebSocket upgrade request in an axum handler; [`WebSocketUpgrade::on_upgrade`]
/// then answers `101 Switching Protocols` (`200` to an HTTP/2 extended CONNECT) and runs a
/// callback with the [`WebSocket`].
///
/// `F` is what runs when hyper fails to hand the connection over after the `101`; see
/// [`WebSocketUpgrade::on_failed_upgrade`].
///
/// Extraction checks the request (method, `Upgrade`, `Connection`, `Sec-WebSocket-Version`,
/// `Sec-WebSocket-Key`) and fails with a [`WebSocketUpgradeRejection`]. The subprotocol, the
/// origin check, permessage-deflate and the connection limit depend on the [`Config`], so they
/// are settled in [`WebSocketUpgrade::on_upgrade`].
#[must_use = "the upgrade only happens when `on_upgrade` builds the response"]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    /// The request head, for the handshake in `on_upgrade`.
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    on_upgrade: OnUpgrade,
    /// The `:protocol` of an HTTP/2 extended CONNECT, given back to the request in
    /// `on_upgrade`.
    extended_connect: Option<Protocol>,
    /// Set by `protocols`: takes the place of the config's list.
    protocols: Option<Vec<String>>,
    config: Option<Config>,
    /// Set by `upgrader`: the shared connection count and shutdown.
    upgrader: Option<Upgrader>,
    on_failed_upgrade: F,
}

impl<F> fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("protocols", &self.protocols)
            .field("config", &self.config)
            .field("upgrader", &self.upgrader)
            .finish_non_exhaustive()
    }
}

impl<F> WebSocketUpgrade<F> {
    /// The subprotocols this handler speaks, in order of preference: the first one the client
    /// offered in `Sec-WebSocket-Protocol` is chosen and answered (exact, case-sensitive
    /// match); none offered, or none in common, and the upgrade goes on without one (see
    /// [`WebSocket::protocol`]). Takes the place of [`Config::protocols`], whether
    /// [`WebSocketUpgrade::config`] is called before or after.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = Some(protocols.into_iter().map(Into::into).collect());
        self
    }

    /// The connection's settings: heartbeat, limits, timeouts, permessage-deflate, origin
    /// check. Default: [`Config::default`]. Its subprotocols are used unless
    /// [`WebSocketUpgrade::protocols`] is called.
    ///
    /// Without [`WebSocketUpgrade::upgrader`], each upgrade counts against an [`Upgrader`] of
    /// its own, so [`Config::max_connections`] does not bound the connections of a route and
    /// [`Upgrader::shutdown`] does not reach them: give a shared upgrader (axum `State`) for
    /// those.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The subprotocol [`WebSocketUpgrade::on_upgrade`] will agree on, from the client's offer
    /// and the list set so far ([`WebSocketUpgrade::protocols`], else the config's).
    ///
    /// Unlike axum's, this returns a `&str`, not a `&HeaderValue`.
    pub fn selected_protocol(&self) -> Option<&str> {
        handshake::select_protocol(&self.headers, self.supported_protocols())
    }

    fn supported_protocols(&self) -> &[String] {
        match (&self.protocols, &self.config, &self.upgrader) {
            (Some(protocols), _, _) => protocols,
            (None, Some(config), _) => &config.protocols,
            (None, None, Some(upgrader)) => &upgrader.config().protocols,
            (None, None, None) => &[],
        }
    }

    /// Counts this route's connections with `upgrader` (and every clone of it): past its
    /// [`Config::max_connections`] a request is refused with `503`, and
    /// [`Upgrader::shutdown`] closes them with the others. Its config is the connection's,
    /// unless [`WebSocketUpgrade::config`] gives another (whose `max_connections` is then not
    /// used: the upgrader's limit counts).
    ///
    /// ```no_run
    /// # use mywebsocket::axum::WebSocketUpgrade;
    /// use axum::extract::State;
    /// use mywebsocket::Upgrader;
    ///
    /// async fn handler(State(upgrader): State<Upgrader>, ws: WebSocketUpgrade) -> axum::response::Response {
    ///     ws.upgrader(upgrader).on_upgrade(|_socket| async {})
    /// }
    /// # let upgrader = Upgrader::new(mywebsocket::Config::default().max_connections(10_000));
    /// # let _app: axum::Router = axum::Router::new()
    /// #     .route("/ws", axum::routing::any(handler))
    /// #     .with_state(upgrader);
    /// ```
    pub fn upgrader(mut self, upgrader: Upgrader) -> Self {
        self.upgrader = Some(upgrader);
        self
    }

    /// Sets what runs with the error when hyper fails to hand the connection over after the
    /// `101` answer (the client went away, or the server was not serving with upgrades). The
    /// default does nothing.
    ///
    /// ```no_run
    /// # use mywebsocket::axum::WebSocketUpgrade;
    /// # fn handler(ws: WebSocketUpgrade) -> axum::response::Response {
    /// ws.on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
    ///     .on_upgrade(|_socket| async {})
    /// # }
    /// ```
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            method: self.method,
            uri: self.uri,
            version: self.version,
            headers: self.headers,
            on_upgrade: self.on_upgrade,
            extended_connect: self.extended_connect,
            protocols: self.protocols,
            config: self.config,
            upgrader: self.upgrader,
            on_failed_upgrade: callback,
        }
    }

    /// Answers the request and, once hyper hands the connection over, runs `callback` with the
    /// [`WebSocket`] on a task of its own. The response is the `101` (`200` over HTTP/2; with
    /// the subprotocol and the permessage-deflate parameters agreed), or the refusal of a
    /// request the
    /// [`Config`] does not admit: 403 for an origin its check refuses, 503 past its connection
    /// limit ([`WebSocketUpgradeRejection`] as a response).
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        F: OnFailedUpgrade,
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let upgrader = match (self.upgrader, self.config, self.protocols) {
            (Some(upgrader), None, None) => upgrader,
            (upgrader, config, protocols) => {
                let mut config = config
                    .or_else(|| upgrader.as_ref().map(|u| u.config().clone()))
                    .unwrap_or_default();
                if let Some(protocols) = protocols {
                    config.protocols = protocols;
                }
                match upgrader {
                    Some(upgrader) => upgrader.with_config(config),
                    None => Upgrader::new(config),
                }
            }
        };
        let mut request = Request::new(());
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        request.extensions_mut().insert(self.on_upgrade);
        if let Some(protocol) = self.extended_connect {
            request.extensions_mut().insert(protocol);
        }
        let (response, upgrade) = match upgrader.upgrade::<_, Body>(&mut request) {
            Ok(answer) => answer,
            Err(e) => return WebSocketUpgradeRejection::from(e).into_response(),
        };
        let on_failed_upgrade = self.on_failed_upgrade;
        tokio::spawn(async move {
            match upgrade.await {
                Ok(ws) => callback(ws).await,
                Err(e) => on_failed_upgrade.call(e),
            }
        });
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    /// Checks the request as [`Upgrader::check_request`] does (without the config-dependent
    /// parts) and takes hyper's upgrade handle from the request's extensions.
    ///
    /// # Cancel safety
    /// It finishes at its first poll; there is nothing to lose by dropping it.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.version_mut() = parts.version;
        *head.uri_mut() = parts.uri.clone();
        *head.headers_mut() = parts.headers.clone();
        let extended_connect = parts.extensions.get::<Protocol>().cloned();
        if handshake::h2::is_h2_request(&head) {
            let protocol = extended_connect.as_ref().map(Protocol::as_str);
            handshake::h2::validate_request::<_, &str>(&head, protocol, &[])?;
        } else {
            handshake::validate_request::<_, &str>(&head, &[])?;
        }
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(WebSocketUpgradeRejection::ConnectionNotUpgradable)?;
        let (head, ()) = head.into_parts();
        Ok(Self {
            method: head.method,
            uri: head.uri,
            version: head.version,
            headers: head.headers,
            on_upgrade,
            extended_connect,
            protocols: None,
            config: None,
            upgrader: None,
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

/// What runs when hyper fails to hand over a connection answered `101`; see
/// [`WebSocketUpgrade::on_failed_upgrade`]. Implemented for every `FnOnce(Error)` that is
/// `Send + 'static`.
pub trait OnFailedUpgrade: Send + 'static {
    /// Runs with the error.
    fn call(self, error: Error);
}

impl<F: FnOnce(Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: Error) {
        self(error);
    }
}

/// The default [`OnFailedUpgrade`]: does nothing.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}

/// Why a request could not be upgraded: the rejection of [`WebSocketUpgrade`] and the answer
/// of [`WebSocketUpgrade::on_upgrade`] to a request its [`Config`] does not admit.
///
/// As a response it carries the status of [`HandshakeError::status`] (the status
/// [`Upgrader::accept`] answers with), a plain-text body saying why, and on a 426 the
/// `Sec-WebSocket-Version: 13` that RFC 6455 §4.4 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSocketUpgradeRejection {
    /// An HTTP/1.1 request whose method is not GET: 405.
    MethodNotGet,
    /// An HTTP/2 request whose method is not CONNECT: 405.
    MethodNotConnect,
    /// An HTTP/2 extended CONNECT whose `:protocol` is not `websocket`: 400.
    InvalidProtocolPseudoheader,
    /// No `Connection: upgrade` header: 400.
    InvalidConnectionHeader,
    /// No `Upgrade: websocket` header: 400.
    InvalidUpgradeHeader,
    /// A `Sec-WebSocket-Version` other than 13: 426.
    InvalidWebSocketVersionHeader,
    /// No `Sec-WebSocket-Key` (or more than one): 400.
    WebSocketKeyHeaderMissing,
    /// A `Sec-WebSocket-Key` that is not 16 bytes in base64: 400.
    InvalidWebSocketKeyHeader,
    /// hyper left no upgrade handle on the request (not served by hyper, or the request was
    /// already upgraded): 426.
    ConnectionNotUpgradable,
    /// Any other refusal, with its status: an HTTP version older than 1.1 or no `Host` (400),
    /// an origin the check refused (403), the connection limit (503).
    Handshake(HandshakeError),
}

impl WebSocketUpgradeRejection {
    /// The response's status.
    pub fn status(&self) -> StatusCode {
        match self.handshake_error() {
            Some(e) => e.status(),
            None => StatusCode::UPGRADE_REQUIRED,
        }
    }

    /// The handshake error this rejection stands for; `None` for
    /// [`WebSocketUpgradeRejection::ConnectionNotUpgradable`], which is not one.
    pub fn handshake_error(&self) -> Option<HandshakeError> {
        Some(match self {
            Self::MethodNotGet => HandshakeError::MethodNotGet,
            Self::MethodNotConnect => HandshakeError::MethodNotConnect,
            Self::InvalidProtocolPseudoheader => HandshakeError::NotWebSocketProtocol,
            Self::InvalidConnectionHeader => HandshakeError::MissingConnectionUpgrade,
            Self::InvalidUpgradeHeader => HandshakeError::MissingUpgrade,
            Self::InvalidWebSocketVersionHeader => HandshakeError::UnsupportedVersion,
            Self::WebSocketKeyHeaderMissing => HandshakeError::MissingKey,
            Self::InvalidWebSocketKeyHeader => HandshakeError::InvalidKey,
            Self::Handshake(e) => e.clone(),
            Self::ConnectionNotUpgradable => return None,
        })
    }
}

impl From<HandshakeError> for WebSocketUpgradeRejection {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::MethodNotGet => Self::MethodNotGet,
            HandshakeError::MethodNotConnect => Self::MethodNotConnect,
            HandshakeError::NotWebSocketProtocol => Self::InvalidProtocolPseudoheader,
            HandshakeError::MissingConnectionUpgrade => Self::InvalidConnectionHeader,
            HandshakeError::MissingUpgrade => Self::InvalidUpgradeHeader,
            HandshakeError::UnsupportedVersion => Self::InvalidWebSocketVersionHeader,
            HandshakeError::MissingKey => Self::WebSocketKeyHeaderMissing,
            HandshakeError::InvalidKey => Self::InvalidWebSocketKeyHeader,
            e => Self::Handshake(e),
        }
    }
}

impl fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.handshake_error() {
            Some(e) => fmt::Display::fmt(&e, f),
            None => {
                f.write_str("connection cannot be upgraded (not served by hyper with upgrades)")
            }
        }
    }
}

impl std::error::Error for WebSocketUpgradeRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        let Some(e) = self.handshake_error() else {
            let mut response = (self.status(), format!("{self}\n")).into_response();
            response
                .headers_mut()
                .insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
            return response;
        };
        let (parts, body) = handshake::reject_response(&e).into_parts();
        Response::from_parts(parts, Body::from(body))
    }
}
