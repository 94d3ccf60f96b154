//! Serving WebSockets on an HTTP/2 connection: hyper's HTTP/2 server with extended CONNECT
//! enabled, each stream upgraded by [`Upgrader::upgrade`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mywebsocket_proto::handshake;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::{MAX_STREAMS, STREAM_WINDOW};
use crate::error::{Error, Result};
use crate::{ConnectionInfo, Upgrader, WebSocket};

/// hyper's HTTP/2 server builder set up for WebSockets: extended CONNECT enabled (RFC 8441
/// §3), and flow control such that a WebSocket whose application does not read stalls only its
/// own stream. Each stream may hold [`STREAM_WINDOW`] bytes its application has not read, and
/// the connection's window is that times [`MAX_STREAMS`] (the most streams a client may open
/// at once): even with every stream stalled, the connection's window is not used up, and one
/// connection holds at most 16 MiB its applications have not read.
///
/// Use it to serve your own `hyper` service (and call [`Upgrader::upgrade`] in it). If you
/// change the stream limit or the stream window on the builder it returns, change the
/// connection window with them (at least their product), or one stalled WebSocket can stall
/// the others.
pub fn server_builder() -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .enable_connect_protocol()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS)
        .max_concurrent_streams(MAX_STREAMS);
    builder
}

/// Serves one HTTP/2 connection (TLS with ALPN `h2`, or cleartext with prior knowledge) whose
/// streams are WebSockets: every extended CONNECT is checked and admitted by `upgrader`
/// (subprotocols, origin, permessage-deflate, [`Config::max_connections`], shutdown),
/// answered `200`, and its [`WebSocket`] given to `handler` on a task of its own. A request
/// that is not a valid extended CONNECT is answered with its status (405, 400, 426; 503 past
/// the limit or during a shutdown) and a plain-text reason.
///
/// The connection is ended with GOAWAY once it has carried no open WebSocket and no request
/// for the upgrader's [`Config::handshake_timeout`] (from its start, or since its last
/// WebSocket ended), so a client that opens connections and leaves them idle does not hold
/// them; a client that does not complete the GOAWAY exchange within the
/// [`Config::close_timeout`] (or never sent its preface) has its transport closed. Each
/// WebSocket's [`ConnectionInfo`](crate::ConnectionInfo) is read from `io`: the peer address
/// of a `TcpStream`, the TLS session of a rustls stream.
///
/// When [`Upgrader::shutdown`] starts, the connection sends GOAWAY (no new streams), and the
/// WebSockets on it close with 1001 like any other; once the last has ended, the connection
/// gets the close timeout to finish, and the future resolves.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let upgrader = mywebsocket::Upgrader::default();
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let upgrader = upgrader.clone();
///     tokio::spawn(mywebsocket::h2::serve_connection(tcp, upgrader, |mut ws| async move {
///         while let Ok(msg) = ws.read_msg().await {
///             let _ = ws.write_message(msg).await;
///         }
///     }));
/// }
/// # }
/// ```
///
/// # Errors
/// [`Error::Io`] when the HTTP/2 connection fails (a protocol error by the client, or the
/// transport).
///
/// # Cancel safety
/// Not cancel-safe: dropped, it closes the connection and with it every WebSocket on it.
///
/// [`Config::max_connections`]: crate::Config::max_connections
/// [`Config::handshake_timeout`]: crate::Config::handshake_timeout
/// [`Config::close_timeout`]: crate::Config::close_timeout
pub async fn serve_connection<S, F, Fut>(io: S, upgrader: Upgrader, handler: F) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: Fn(WebSocket) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let info = ConnectionInfo::of(&io);
    let (busy, mut idle) = watch::channel(0usize);
    let service = {
        let upgrader = upgrader.clone();
        service_fn(move |mut request: Request<Incoming>| {
            let busy = Busy::new(&busy);
            let response = answer(&upgrader, &mut request, &info, busy, handler.clone());
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let connection = server_builder().serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let config = upgrader.config();
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = upgrader.shutdown_started() => {
            connection.as_mut().graceful_shutdown();
            // The WebSockets close (or are cut off at the shutdown's deadline) first, over the
            // connection, which must keep running for that.
            tokio::select! {
                served = connection.as_mut() => served,
                () = all_ended(&mut idle) => {
                    return finish(connection, config.close_timeout).await;
                }
            }
        }
        () = stays_idle(&mut idle, config.handshake_timeout) => {
            connection.as_mut().graceful_shutdown();
            return finish(connection, config.close_timeout).await;
        }
    };
    served.map_err(|e| Error::Io(std::io::Error::other(e)))
}

/// Lets a connection told to shut down finish its GOAWAY exchange, within `grace`: a client
/// that does not answer (or never sent its preface) must not hold the connection for ever,
/// so past `grace` it is dropped, closing the transport.
async fn finish<C>(connection: Pin<&mut C>, grace: Duration) -> Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    match tokio::time::timeout(grace, connection).await {
        Ok(served) => served.map_err(|e| Error::Io(std::io::Error::other(e))),
        Err(_) => Ok(()),
    }
}

/// One request or WebSocket in progress on the connection; the count goes down when it is
/// dropped.
struct Busy(watch::Sender<usize>);

impl Busy {
    fn new(count: &watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Resolves once nothing is in progress on the connection.
async fn all_ended(busy: &mut watch::Receiver<usize>) {
    let _ = busy.wait_for(|n| *n == 0).await;
}

/// Resolves once nothing has been in progress on the connection for `period`.
async fn stays_idle(busy: &mut watch::Receiver<usize>, period: Duration) {
    loop {
        if busy.wait_for(|n| *n == 0).await.is_err() {
            return;
        }
        let woken = tokio::time::timeout(period, busy.wait_for(|n| *n > 0)).await;
        if woken.is_err() {
            return;
        }
    }
}

/// The answer to one request on the connection; an accepted WebSocket goes to `handler`, and
/// the connection counts as busy until the handler returns.
fn answer<F, Fut>(
    upgrader: &Upgrader,
    request: &mut Request<Incoming>,
    info: &ConnectionInfo,
    busy: Busy,
    handler: F,
) -> Response<Full<Bytes>>
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match upgrader.upgrade::<_, Full<Bytes>>(request) {
        Ok((response, upgrade)) => {
            let upgrade = upgrade.with_connection_info(info.clone());
            tokio::spawn(async move {
                if let Ok(ws) = upgrade.await {
                    // Busy until the WebSocket ends, not the handler: a handler may hand its
                    // WebSocket to a hub or a room and return.
                    let shared = Arc::clone(ws.shared());
                    handler(ws).await;
                    shared.finished().await;
                }
                drop(busy);
            });
            response
        }
        Err(e) => handshake::h2::reject_response(&e).map(Full::from),
    }
}
