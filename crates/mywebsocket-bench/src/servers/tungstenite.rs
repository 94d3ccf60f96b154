//! tokio-tungstenite: `accept_async`, then the `Stream` / `Sink` of messages. Broadcast: each
//! connection's sink is owned by a writer task fed through an unbounded channel (tungstenite has
//! no cloneable writer; this is the usual pattern).

use std::io;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::hub::{trigger_count, Hub, Queue};
use super::{accept_loop, Mode};

pub(super) async fn serve(listener: TcpListener, mode: Mode) -> io::Result<()> {
    let hub = Arc::new(Hub::new());
    accept_loop(listener, move |tcp| {
        let hub = Arc::clone(&hub);
        async move {
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
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

async fn echo(mut ws: WebSocketStream<TcpStream>) {
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

async fn broadcast(ws: WebSocketStream<TcpStream>, hub: &Hub<Queue>) {
    let (sink, mut stream) = ws.split();
    hub.join_sink(sink, Message::Binary);
    while let Some(Ok(msg)) = stream.next().await {
        if let Message::Binary(payload) = msg {
            hub.fan_out(trigger_count(&payload), payload).await;
        }
    }
}
