//! tokio-tungstenite as the peer, the independent implementation the differential tests
//! compare ours with: a server for one connection, an echo server, and a client.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tungstenite::protocol::WebSocketConfig;

use crate::{listen, ws_url, Task};

/// A tokio-tungstenite connection on the server side.
pub type TungsteniteServer = WebSocketStream<TcpStream>;

/// A tokio-tungstenite connection on the client side.
pub type TungsteniteClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The transport under either kind of tokio-tungstenite connection ([`TungsteniteServer`],
/// [`TungsteniteClient`]), so that one generic test body serves both roles.
pub trait TungsteniteIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> TungsteniteIo for T {}

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
