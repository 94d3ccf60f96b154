//! MyWebsocket: `Upgrader::accept`, then `read_msg` / `write_message`. Broadcast frames the
//! message once (`PreparedMessage`, as the hub does) and writes it through the clones of each
//! connection's `Writer`.

use std::io;
use std::sync::Arc;

use mywebsocket::{Config, DeflateConfig, Message, PreparedMessage, Upgrader, WebSocket, Writer};
use tokio::net::TcpListener;

use super::hub::{trigger_count, Hub};
use super::{accept_loop, Mode};

pub(super) async fn serve(listener: TcpListener, mode: Mode, deflate: bool) -> io::Result<()> {
    let config = Config::default()
        .no_heartbeat()
        // Level 1 compares like with like: yawc's preset is level 1.
        .deflate(deflate.then(|| DeflateConfig::default().level(1)));
    let upgrader = Upgrader::new(config);
    let hub = Arc::new(Hub::new());
    accept_loop(listener, move |tcp| {
        let upgrader = upgrader.clone();
        let hub = Arc::clone(&hub);
        async move {
            let Ok(ws) = upgrader.accept(tcp).await else {
                return;
            };
            match mode {
                Mode::Echo => echo(ws).await,
                Mode::Broadcast => broadcast(ws, &hub).await,
            }
        }
    })
    .await
}

pub(super) async fn echo(mut ws: WebSocket) {
    while let Ok(msg) = ws.read_msg().await {
        if ws.write_message(msg).await.is_err() {
            break;
        }
    }
}

pub(super) async fn broadcast(ws: WebSocket, hub: &Hub<Writer>) {
    let (mut reader, writer) = ws.split();
    hub.join(writer);
    while let Ok(msg) = reader.read_msg().await {
        let Message::Binary(payload) = msg else {
            continue;
        };
        let members = hub.members_when(trigger_count(&payload)).await;
        let prepared = PreparedMessage::new(Message::Binary(payload));
        for writer in members {
            // A connection that went away does not stop the others.
            let _ = writer.write_prepared(&prepared).await;
        }
    }
}
