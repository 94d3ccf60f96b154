//! A node server: the [wire protocol](crate::protocol) over MyWebsocket connections.

use mywebsocket::{Message, Upgrader, WebSocket};
use tokio::net::TcpListener;

use mywebsocket_hub::{Hub, JoinOptions, Registration};

use crate::protocol::{
    ChatPayload, ClientMessage, ServerMessage, MAX_NICK_LEN, MAX_ROOM_LEN, MAX_TEXT_LEN,
};

/// How long a connection closed by the hub (a slow consumer) keeps its socket so the peer can
/// read up to the close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts WebSocket connections on `listener` (any path) and serves the protocol on each
/// until the listener fails.
///
/// The hub should use [`ProtocolEncoder`](crate::protocol::ProtocolEncoder).
///
/// # Errors
/// The listener's accept error.
///
/// # Cancel safety
/// Dropping it stops accepting (the listener is dropped with it); each connection already
/// accepted runs on a task of its own and is served to its end.
pub async fn serve(listener: TcpListener, hub: Hub) -> std::io::Result<()> {
    let upgrader = Upgrader::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let hub = hub.clone();
        let upgrader = upgrader.clone();
        tokio::spawn(async move {
            match upgrader.accept(stream).await {
                Ok(ws) => handle(ws, hub).await,
                Err(e) => tracing::debug!(error = %e, "handshake failed"),
            }
        });
    }
}

/// Serves the protocol on one connection until it closes.
///
/// # Cancel safety
/// Dropping it drops the connection's reader and its registration, which leaves every room
/// on a task of its own and has the connection closed with 1001 Going Away.
pub async fn handle(ws: WebSocket, hub: Hub) {
    let (mut reader, writer) = ws.split();
    let registration = hub.register(writer, None);
    let hello = ServerMessage::Hello {
        conn: registration.id().to_string(),
        node: hub.node_id().to_string(),
    };
    reply(&hub, &registration, &hello).await;
    let mut nick = String::new();
    loop {
        let msg = tokio::select! {
            msg = reader.read_msg() => msg,
            code = registration.closed() => {
                tracing::debug!(conn = %registration.id(), code = u16::from(code), "closed by the hub");
                // The close frame waits behind what the peer has not read yet: give a slow
                // peer a bounded time to get to it before the socket is dropped.
                let drain = async { while reader.read_msg().await.is_ok() {} };
                let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
                break;
            }
        };
        let msg = match msg {
            Ok(msg) => msg,
            Err(_) => break,
        };
        let Some(text) = msg.as_text() else {
            reply(
                &hub,
                &registration,
                &error("binary messages are not part of the protocol"),
            )
            .await;
            continue;
        };
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(request) => handle_request(&hub, &registration, &mut nick, request).await,
            Err(e) => reply(&hub, &registration, &error(&format!("bad request: {e}"))).await,
        }
    }
    registration.unregister().await;
}

async fn handle_request(hub: &Hub, reg: &Registration, nick: &mut String, request: ClientMessage) {
    let conn = reg.id();
    let answer = match request {
        ClientMessage::Join {
            room,
            nick: name,
            since,
        } => {
            if room.is_empty() || room.len() > MAX_ROOM_LEN || name.len() > MAX_NICK_LEN {
                error("room must be 1 to 128 bytes, nick at most 64")
            } else {
                let since = match since.as_deref().map(str::parse) {
                    None => Ok(None),
                    Some(Ok(id)) => Ok(Some(id)),
                    Some(Err(e)) => Err(e),
                };
                match since {
                    Err(e) => error(&format!("bad since: {e}")),
                    Ok(since) => {
                        *nick = name;
                        let opts = JoinOptions::default()
                            .since(since)
                            .meta(serde_json::json!({ "nick": nick }));
                        match hub.join(conn, &room, opts).await {
                            Ok(joined) => ServerMessage::Joined {
                                room,
                                replayed: joined.replayed,
                                gap: joined.gap,
                                count: joined.presence.count,
                                members: joined.presence.members,
                            },
                            Err(e) => error(&format!("join failed: {e}")),
                        }
                    }
                }
            }
        }
        ClientMessage::Leave { room } => match hub.leave(conn, &room).await {
            Ok(()) => ServerMessage::Left { room },
            Err(e) => error(&format!("leave failed: {e}")),
        },
        ClientMessage::Publish { room, text } => {
            if text.len() > MAX_TEXT_LEN {
                error("text over 16 KiB")
            } else if !hub.rooms_of(conn).contains(&room) {
                error("join the room before publishing to it")
            } else {
                let payload = ChatPayload {
                    from: nick.clone(),
                    conn: conn.to_string(),
                    text,
                };
                let body = serde_json::to_string(&payload).expect("payloads serialize");
                match hub.broadcast(&room, Message::text(body)).await {
                    Ok(()) => return,
                    Err(e) => error(&format!("not delivered: {e}")),
                }
            }
        }
        ClientMessage::Presence { room } => match hub.presence(&room).await {
            Ok(presence) => ServerMessage::Presence {
                room,
                count: presence.count,
                members: presence.members,
            },
            Err(e) => error(&format!("presence failed: {e}")),
        },
    };
    reply(hub, reg, &answer).await;
}

fn error(message: &str) -> ServerMessage {
    ServerMessage::Error {
        message: message.to_owned(),
    }
}

/// Replies go through the hub's queue, so they keep their place among room messages.
async fn reply(hub: &Hub, reg: &Registration, msg: &ServerMessage) {
    let _ = hub.send_to_connection(reg.id(), msg.to_message()).await;
}
