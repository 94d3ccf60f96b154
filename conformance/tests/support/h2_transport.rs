//! The cross-check's HTTP/2 transport (RFC 8441): each end of an exchange on one extended
//! CONNECT stream of its own HTTP/2 connection. Ours is our `Http2Connection` or our
//! `h2::serve_connection`; tungstenite's runs over a stream the h2 crate opens or answers by
//! hand (`mywebsocket_tests::H2Client` / `H2Server`), as a raw socket.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mywebsocket::h2::{serve_connection, Http2Connection};
use mywebsocket::{Config, Upgrader, WebSocket};
use mywebsocket_tests::{H2Client, H2Io, H2Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

/// A stream on which tungstenite runs: a TCP connection, or an HTTP/2 stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Tungstenite's end, whatever the transport.
pub(crate) type Theirs = WebSocketStream<Box<dyn Io>>;

/// How long a dropped stream's connection stays up for the peer to finish reading.
const LINGER: Duration = Duration::from_secs(5);

/// An HTTP/2 stream and the connection it rides on, which must live as long as the stream.
///
/// Dropped, it does what dropping a TCP socket does: what it wrote still reaches the peer,
/// then the end of the stream (END_STREAM, as TCP's FIN); the connection stays up until the
/// peer ends its side too (or [`LINGER`] passes), instead of being cut with the data still in
/// its buffers.
struct Kept<C: Send + 'static> {
    io: Option<H2Io>,
    connection: Option<C>,
}

impl<C: Send + 'static> Kept<C> {
    fn new(io: H2Io, connection: C) -> Self {
        Self {
            io: Some(io),
            connection: Some(connection),
        }
    }

    fn io(&mut self) -> Pin<&mut H2Io> {
        Pin::new(self.io.as_mut().expect("taken only on drop"))
    }
}

impl<C: Send + 'static> Drop for Kept<C> {
    fn drop(&mut self) {
        let (Some(mut io), connection) = (self.io.take(), self.connection.take()) else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        let _ = Pin::new(&mut io).poll_shutdown(&mut cx);
        tokio::spawn(async move {
            let _connection = connection;
            let mut sink = [0; 4096];
            let drained = async { while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(LINGER, drained).await;
        });
    }
}

impl<C: Send + Unpin + 'static> AsyncRead for Kept<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io().poll_read(cx, buf)
    }
}

impl<C: Send + Unpin + 'static> AsyncWrite for Kept<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
}

/// Our client (`Http2Connection`) and tungstenite as the server, on a stream the h2 crate
/// answers with `200`.
pub(crate) async fn our_client(
    listener: TcpListener,
    url: &str,
    config: Config,
    their_config: Option<WebSocketConfig>,
) -> Result<(WebSocket, Theirs), String> {
    let server = async {
        let mut server = H2Server::accept(&listener).await;
        let (io, _request) = server.websocket_with(&[], &[]).await;
        Kept::new(io, server)
    };
    let client = async {
        let connection = Http2Connection::connect(url).await?;
        connection.websocket(url, config).await
    };
    let (ours, theirs) = tokio::join!(client, server);
    let (ours, _response) = ours.map_err(|e| format!("our h2 connect: {e}"))?;
    let theirs: Box<dyn Io> = Box::new(theirs);
    let theirs = WebSocketStream::from_raw_socket(theirs, Role::Server, their_config).await;
    Ok((ours, theirs))
}

/// Tungstenite as the client, on an extended CONNECT the h2 crate sends, and our server
/// (`h2::serve_connection` with `config`).
pub(crate) async fn our_server(
    listener: TcpListener,
    config: Config,
    their_config: Option<WebSocketConfig>,
) -> Result<(WebSocket, Theirs), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (accepted, ours) = oneshot::channel();
    let accepted = Arc::new(Mutex::new(Some(accepted)));
    // The connection's task outlives the case's WebSocket by at most its close timeout.
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let _ = serve_connection(tcp, Upgrader::new(config), move |ws| {
            let accepted = Arc::clone(&accepted);
            async move {
                if let Some(accepted) = accepted.lock().unwrap().take() {
                    let _ = accepted.send(ws);
                }
            }
        })
        .await;
    });
    let client = H2Client::connect(addr).await;
    let (response, io) = client.open("/cross-check", &[]).await;
    let io = io.ok_or_else(|| format!("our server answered {}", response.status()))?;
    let ours = ours
        .await
        .map_err(|_| "our server gave no WebSocket".to_owned())?;
    let theirs: Box<dyn Io> = Box::new(Kept::new(io, client));
    let theirs = WebSocketStream::from_raw_socket(theirs, Role::Client, their_config).await;
    Ok((ours, theirs))
}
