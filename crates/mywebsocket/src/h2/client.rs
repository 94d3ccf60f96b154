//! The client side of WebSockets over HTTP/2: an [`Http2Connection`] on which WebSockets open
//! as extended CONNECT streams (RFC 8441).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::ext::Protocol;
use http::{Request, Response};
use mywebsocket_proto::handshake::h2 as h2_handshake;
use mywebsocket_proto::{HandshakeError, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use super::stream::H2Stream;
use super::{MAX_STREAMS, STREAM_WINDOW};
use crate::config::Config;
use crate::connect::{add_offers, agreed_deflate, open_tcp, request_for, Target};
use crate::error::{Error, Result, TimeoutKind};
use crate::WebSocket;

/// An HTTP/2 connection to a server that enabled extended CONNECT; each
/// [`Http2Connection::websocket`] opens one WebSocket as a stream of it. Clones share the
/// connection, which lives until every clone and every WebSocket on it are dropped.
///
/// ```no_run
/// # async fn run() -> mywebsocket::Result<()> {
/// use mywebsocket::h2::Http2Connection;
/// use mywebsocket::Config;
///
/// let connection = Http2Connection::connect("ws://127.0.0.1:9001").await?;
/// let (mut a, _) = connection.websocket("ws://127.0.0.1:9001/a", Config::default()).await?;
/// let (mut b, _) = connection.websocket("ws://127.0.0.1:9001/b", Config::default()).await?;
/// a.write_string("over one TCP connection").await?;
/// b.write_string("two WebSockets").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Http2Connection {
    send: SendRequest<Bytes>,
    /// At most [`MAX_STREAMS`] WebSockets at once: the connection's window is sized for
    /// that many stalled streams, whatever the server allows.
    slots: Arc<Semaphore>,
}

impl Http2Connection {
    /// Opens an HTTP/2 connection to a `ws://` URL's host (cleartext HTTP/2 with prior
    /// knowledge, "h2c") or, with the `tls` feature, a `wss://` URL's host (TLS with ALPN `h2`,
    /// trusting Mozilla's roots), and waits for the server's SETTINGS; the URL's path is not
    /// used. The TCP connection, the TLS handshake and the HTTP/2 handshake are each bounded
    /// by the default [`Config::handshake_timeout`].
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Io`] and [`Error::Tls`] as for [`crate::connect`];
    /// [`Error::Handshake`] with [`HandshakeError::ExtendedConnectDisabled`] when the server
    /// speaks HTTP/2 but does not allow WebSockets over it; [`Error::Timeout`].
    ///
    /// # Cancel safety
    /// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_config(url, &Config::default()).await
    }

    /// [`Http2Connection::connect`] within `config`'s handshake timeout.
    ///
    /// # Errors
    /// As [`Http2Connection::connect`].
    ///
    /// # Cancel safety
    /// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
    pub async fn connect_config(url: &str, config: &Config) -> Result<Self> {
        let target = Target::parse(url)?;
        if target.tls {
            #[cfg(feature = "tls")]
            return Self::connect_tls(url, config, crate::tls::default_client_config()).await;
            #[cfg(not(feature = "tls"))]
            return Err(Error::InvalidUrl(crate::error::UrlError::new(
                "wss:// needs mywebsocket's `tls` feature",
                None,
            )));
        }
        let tcp = open_tcp(&target, config).await?;
        Self::handshake(tcp, config).await
    }

    /// [`Http2Connection::connect_config`] to a `wss://` URL with your own TLS settings (its
    /// ALPN is set to `h2`).
    ///
    /// # Errors
    /// As [`Http2Connection::connect`]; [`Error::InvalidUrl`] for a URL that is not `wss://`.
    ///
    /// # Cancel safety
    /// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn connect_tls(
        url: &str,
        config: &Config,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self> {
        let target = Target::parse(url)?;
        if !target.tls {
            return Err(Error::InvalidUrl(crate::error::UrlError::new(
                format!("{url:?} is not a wss:// URL"),
                None,
            )));
        }
        let tcp = open_tcp(&target, config).await?;
        let tls = crate::tls::with_alpn(&tls, &[b"h2"]);
        let stream = crate::tls::handshake(tcp, &target.host, tls, config).await?;
        Self::handshake(stream, config).await
    }

    /// Performs the HTTP/2 handshake over `io` (a transport on which HTTP/2 is already agreed:
    /// TLS whose ALPN chose `h2`, or cleartext with prior knowledge) and waits, within
    /// `config`'s handshake timeout, until the server's SETTINGS have arrived; the connection
    /// then runs on a task of its own.
    ///
    /// # Errors
    /// [`Error::Handshake`] with [`HandshakeError::ExtendedConnectDisabled`] when the server's
    /// SETTINGS do not enable extended CONNECT, [`Error::Io`] when the connection fails,
    /// [`Error::Timeout`] past the handshake timeout.
    ///
    /// # Cancel safety
    /// Not cancel-safe: the future owns `io`; dropped, it closes it.
    pub async fn handshake<S>(io: S, config: &Config) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let settle = async {
            let (send, connection) = h2::client::Builder::new()
                .initial_window_size(STREAM_WINDOW)
                .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS)
                .max_concurrent_streams(0)
                .enable_push(false)
                .handshake::<_, Bytes>(io)
                .await
                .map_err(h2_error)?;
            let mut connection = connection;
            let mut ping_pong = connection
                .ping_pong()
                .expect("the first call takes the connection's ping handle");
            // The server's SETTINGS come before anything else it sends, so once our PING is
            // answered they have been applied: no guessing how long to wait for them.
            tokio::select! {
                ended = &mut connection => {
                    ended.map_err(h2_error)?;
                    return Err(closed("the server ended the HTTP/2 connection"));
                }
                pong = ping_pong.ping(h2::Ping::opaque()) => {
                    pong.map_err(h2_error)?;
                }
            }
            if !send.is_extended_connect_protocol_enabled() {
                return Err(Error::Handshake(HandshakeError::ExtendedConnectDisabled));
            }
            tokio::spawn(async move {
                // Its errors reach the streams, and through them the WebSockets.
                let _ = connection.await;
            });
            Ok(Self {
                send,
                slots: Arc::new(Semaphore::new(MAX_STREAMS as usize)),
            })
        };
        tokio::time::timeout(config.handshake_timeout, settle)
            .await
            .map_err(|_| Error::Timeout(TimeoutKind::Handshake))?
    }

    /// Opens a WebSocket to `url` as a new stream of this connection: an extended CONNECT
    /// with the subprotocols and permessage-deflate of `config`, answered `200`. The URL's
    /// scheme, host and port become the request's `:scheme` and `:authority` as they are (not
    /// checked against the connection's: a server may serve several names). At most
    /// [`MAX_STREAMS`] WebSockets are open on one connection at once; another waits for one
    /// to end, within the handshake timeout.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::InvalidSubprotocol`], then as
    /// [`Http2Connection::websocket_with`].
    ///
    /// # Cancel safety
    /// Not cancel-safe: dropped before it completes, the stream it was opening is reset; the
    /// connection and its other WebSockets go on.
    pub async fn websocket(&self, url: &str, config: Config) -> Result<(WebSocket, Response<()>)> {
        let target = Target::parse(url)?;
        let request = request_for(url, target.uri)?;
        self.websocket_with(request, config).await
    }

    /// Opens a WebSocket with `request` (whose URI gives the scheme, authority and path, and
    /// whose headers are sent as they are: `Origin`, cookies, `Sec-WebSocket-Protocol`;
    /// [`Config::protocols`] and the permessage-deflate offer are added).
    ///
    /// # Errors
    /// [`Error::Handshake`] when the server refuses (a status outside 2xx, as
    /// [`HandshakeError::UnexpectedStatus`]) or answers wrongly, [`Error::Io`] when the stream
    /// or the connection fails, [`Error::Timeout`] past the handshake timeout.
    ///
    /// # Cancel safety
    /// Not cancel-safe: dropped before it completes, the stream it was opening is reset; the
    /// connection and its other WebSockets go on.
    pub async fn websocket_with(
        &self,
        mut request: Request<()>,
        config: Config,
    ) -> Result<(WebSocket, Response<()>)> {
        add_offers(&mut request, &config)?;
        h2_handshake::prepare_request(&mut request)?;
        request
            .extensions_mut()
            .insert(Protocol::from_static(h2_handshake::PROTOCOL));
        let offered = request.headers().clone();
        let send = self.send.clone();
        let slots = Arc::clone(&self.slots);
        let exchange = async {
            // Waits (within the handshake timeout) while MAX_STREAMS WebSockets are open.
            let slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let mut send = send.ready().await.map_err(h2_error)?;
            let (response, stream) = send.send_request(request, false).map_err(h2_error)?;
            let response = response.await.map_err(h2_error)?;
            let protocol = h2_handshake::verify_response(&response, &offered)?;
            let (head, recv) = response.into_parts();
            let head = Response::from_parts(head, ());
            let deflate = agreed_deflate(&head, config.deflate.as_ref())?;
            Ok::<_, Error>((head, H2Stream::new(stream, recv, slot), protocol, deflate))
        };
        let (response, stream, protocol, deflate) =
            tokio::time::timeout(config.handshake_timeout, exchange)
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Handshake))??;
        let ws = WebSocket::from_parts(
            stream,
            Role::Client,
            Arc::new(config),
            BytesMut::new(),
            protocol,
            deflate,
        );
        Ok((ws, response))
    }
}

/// Opens an HTTP/2 connection to `url`'s host and one WebSocket over it; the connection ends
/// with the WebSocket. Use [`Http2Connection`] to open several on one connection.
///
/// # Errors
/// As [`Http2Connection::connect_config`] and [`Http2Connection::websocket`].
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
pub async fn connect(url: &str, config: Config) -> Result<(WebSocket, Response<()>)> {
    let connection = Http2Connection::connect_config(url, &config).await?;
    connection.websocket(url, config).await
}

/// Opens a WebSocket over HTTP/2 when the server allows it, and over HTTP/1.1 otherwise.
///
/// For `wss://` (feature `tls`), TLS offers ALPN `h2` and `http/1.1`: when the server picks
/// `h2` and enables extended CONNECT, the WebSocket is a stream of that connection, else it is
/// upgraded on the same TLS connection with HTTP/1.1. For `ws://`, HTTP/2 with prior knowledge
/// is tried first; a server that answers it with something other than HTTP/2, or whose
/// SETTINGS do not enable extended CONNECT, gets a new TCP connection and an HTTP/1.1 upgrade
/// (a server that does not answer at all costs the handshake timeout first).
///
/// # Errors
/// As [`crate::connect_config`]; an error of the HTTP/2 attempt is not reported when the
/// HTTP/1.1 one is made.
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
pub async fn connect_or_http1(url: &str, config: Config) -> Result<(WebSocket, Response<()>)> {
    let target = Target::parse(url)?;
    if target.tls {
        #[cfg(feature = "tls")]
        return connect_tls_or_http1(url, config, crate::tls::default_client_config()).await;
        #[cfg(not(feature = "tls"))]
        return crate::connect_config(url, config).await;
    }
    let tcp = open_tcp(&target, &config).await?;
    match Http2Connection::handshake(tcp, &config).await {
        Ok(connection) => connection.websocket(url, config).await,
        Err(e) if falls_back(&e) => crate::connect_config(url, config).await,
        Err(e) => Err(e),
    }
}

/// [`connect_or_http1`] to a `wss://` URL with your own TLS settings: ALPN (set to `h2` and
/// `http/1.1`) decides between HTTP/2 and HTTP/1.1 on one TLS connection.
///
/// # Errors
/// As [`crate::tls::connect_tls`].
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, it closes the connection it was opening.
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub async fn connect_tls_or_http1(
    url: &str,
    config: Config,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(WebSocket, Response<()>)> {
    let target = Target::parse(url)?;
    if !target.tls {
        return Err(Error::InvalidUrl(crate::error::UrlError::new(
            format!("{url:?} is not a wss:// URL"),
            None,
        )));
    }
    let offer = crate::tls::with_alpn(&tls, &[b"h2", b"http/1.1"]);
    let tcp = open_tcp(&target, &config).await?;
    let stream = crate::tls::handshake(tcp, &target.host, offer, &config).await?;
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        match Http2Connection::handshake(stream, &config).await {
            Ok(connection) => return connection.websocket(url, config).await,
            Err(e) if falls_back(&e) => {
                return crate::tls::connect_tls(url, config, tls_without_alpn(&tls)).await
            }
            Err(e) => return Err(e),
        }
    }
    let request = request_for(url, target.uri.clone())?;
    crate::connect_with(stream, request, config).await
}

/// `tls` offering only HTTP/1.1 in ALPN, for a second attempt after HTTP/2 failed.
#[cfg(feature = "tls")]
fn tls_without_alpn(tls: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    crate::tls::with_alpn(tls, &[b"http/1.1"])
}

/// Whether the HTTP/2 attempt failed in a way that HTTP/1.1 may fix: the server does not
/// speak HTTP/2, does not enable extended CONNECT, or did not answer in time.
fn falls_back(e: &Error) -> bool {
    matches!(
        e,
        Error::Io(_)
            | Error::Timeout(_)
            | Error::Handshake(HandshakeError::ExtendedConnectDisabled)
    )
}

/// An h2 error as ours: the I/O error when there is one.
fn h2_error(e: h2::Error) -> Error {
    if e.is_io() {
        return Error::Io(e.into_io().expect("is_io"));
    }
    Error::Io(std::io::Error::other(e))
}

fn closed(what: &'static str) -> Error {
    Error::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, what))
}
