//! axum 0.8's own `axum::extract::ws::WebSocketUpgrade` (tokio-tungstenite underneath), served
//! by `axum::serve` with axum's `http1`, `http2` and `ws` features: `axum::serve` enables
//! extended CONNECT, so one port takes HTTP/1.1 upgrades and cleartext HTTP/2 with prior
//! knowledge, where every extended CONNECT stream is a WebSocket (RFC 8441). The route is
//! `any`, as axum's documentation asks for both (`GET` over HTTP/1.1, `CONNECT` over HTTP/2).
//! Echo only: the broadcast workload does not run against it.

use std::io;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

use super::Mode;

pub(super) async fn serve(listener: TcpListener, mode: Mode) -> io::Result<()> {
    if mode != Mode::Echo {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "axum-h2 serves the echo workload only",
        ));
    }
    let app = Router::new().route("/", any(upgrade));
    let listener = listener.tap_io(|tcp| {
        // A socket that cannot take the option still gets served.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo)
}

async fn echo(mut ws: WebSocket) {
    while let Some(Ok(msg)) = ws.recv().await {
        let data = matches!(
            msg,
            axum::extract::ws::Message::Text(_) | axum::extract::ws::Message::Binary(_)
        );
        if data && ws.send(msg).await.is_err() {
            break;
        }
    }
}
