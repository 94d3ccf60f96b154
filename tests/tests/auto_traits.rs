//! Pins which public types and futures are `Send`, `Sync` and `Unpin`: losing one of these
//! breaks users (a connection handed to `tokio::spawn`, a writer shared through an `Arc`, a
//! future boxed as `Pin<Box<dyn Future + Send>>`), so it must be a decision, not an accident.
//!
//! The checks are type checks: the functions below are compiled, never run. Each future is
//! made and dropped without being polled.

#![allow(dead_code, clippy::let_underscore_future)]

use std::time::Duration;

use mywebsocket::{
    CloseCode, Config, ConnectionInfo, Error, Message, PreparedMessage, Reader, ShutdownReport,
    TlsError, TlsInfo, UpgradeFuture, Upgrader, UrlError, WebSocket, WriteOptions, Writer,
};
use mywebsocket_hub::{
    ConnId, Hub, HubBuilder, HubConfig, HubError, JoinOptions, QueueStats, Registration,
};
use mywebsocket_proto::{CloseFrame, Decoder, Event, HandshakeError, ProtocolError};

fn send<T: Send>(_: &T) {}
fn sync<T: Sync>(_: &T) {}
fn unpin<T: Unpin>(_: &T) {}
/// `Send`, `Sync` and `Unpin`.
fn all<T: Send + Sync + Unpin>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}

/// The connection's handles move between tasks and are shared by reference across `.await`s.
fn handles(
    ws: WebSocket,
    reader: Reader,
    writer: Writer,
    upgrader: Upgrader,
    upgrade: UpgradeFuture,
) {
    all(&ws);
    all(&reader);
    all(&writer);
    all(&upgrader);
    // Awaited in place (`upgrade.await`) or polled through `Pin::new`.
    send(&upgrade);
    unpin(&upgrade);
}

/// Values users keep, clone and send.
fn values(tls_error: TlsError, url_error: UrlError, report: ShutdownReport) {
    all(&Config::default());
    // `Send + Sync + 'static`, so it converts into `Box<dyn Error + Send + Sync>` (anyhow).
    all(&Error::AlreadyClosed);
    all(&tls_error);
    all(&url_error);
    all(&PreparedMessage::new(Message::text("all")));
    all(&ConnectionInfo::new());
    all(&TlsInfo::new());
    all(&WriteOptions::default());
    all(&report);
}

/// Protocol values, for users of the sans-IO crate.
fn protocol(
    decoder: Decoder,
    message: Message,
    event: Event,
    frame: CloseFrame,
    protocol: ProtocolError,
    handshake: HandshakeError,
) {
    all(&decoder);
    all(&message);
    all(&event);
    all(&frame);
    all(&protocol);
    all(&handshake);
}

/// Every future of a connection is `Send` (so a task that awaits one can be spawned) and
/// `Sync` (so it can be boxed as `Pin<Box<dyn Future + Send + Sync>>` or kept in a struct that
/// must be `Sync`).
fn connection_futures(ws: &mut WebSocket, writer: &Writer, reader: &mut Reader) {
    let opts = WriteOptions::default();
    let json = serde_json::json!({ "n": 1 });
    let prepared = PreparedMessage::new(Message::text("all"));
    send_sync(&reader.read_msg());
    send_sync(&writer.write_string("a"));
    send_sync(&writer.write_binary(vec![1]));
    send_sync(&writer.write_json(&json));
    send_sync(&writer.write_message(Message::text("a")));
    send_sync(&writer.write_string_with("a", &opts));
    send_sync(&writer.write_binary_with(vec![1], &opts));
    send_sync(&writer.write_json_with(&json, &opts));
    send_sync(&writer.write_message_with(Message::text("a"), &opts));
    send_sync(&writer.write_prepared(&prepared));
    send_sync(&writer.ping(vec![]));
    send_sync(&writer.flush());
    send_sync(&writer.close(CloseCode::NORMAL, ""));
    send_sync(&ws.write_string("a"));
    send_sync(&ws.write_binary(vec![1]));
    send_sync(&ws.write_json(&json));
    send_sync(&ws.write_message(Message::text("a")));
    send_sync(&ws.write_string_with("a", &opts));
    send_sync(&ws.write_binary_with(vec![1], &opts));
    send_sync(&ws.write_json_with(&json, &opts));
    send_sync(&ws.ping(vec![]));
    send_sync(&ws.flush());
    send_sync(&ws.read_msg());
    send_sync(&ws.close(CloseCode::NORMAL, ""));
}

/// The futures that make connections are `Send`, so accept loops can spawn them.
fn making_futures(upgrader: &Upgrader, tcp: tokio::net::TcpStream, io: tokio::io::DuplexStream) {
    send(&upgrader.accept(tcp));
    send(&upgrader.accept_with_request(io));
    send_sync(&upgrader.shutdown(Duration::from_secs(1)));
    send(&mywebsocket::connect("ws://example.com/"));
    send(&mywebsocket::connect_config(
        "ws://example.com/",
        Config::default(),
    ));
    let (io, _) = tokio::io::duplex(1);
    let request = http::Request::get("ws://example.com/").body(()).unwrap();
    send(&mywebsocket::connect_with(io, request, Config::default()));
    send(&mywebsocket::tls::connect_tls(
        "wss://example.com/",
        Config::default(),
        mywebsocket::tls::default_client_config(),
    ));
}

/// The hub and its futures: handlers run them on spawned tasks.
fn hub(
    hub: &Hub,
    builder: HubBuilder,
    registration: Registration,
    config: HubConfig,
    error: HubError,
    stats: QueueStats,
    conn: &ConnId,
) {
    all(hub);
    all(&registration);
    all(&config);
    all(&error);
    all(&stats);
    all(&builder);
    // The hub's futures await its broker's `BoxFuture`s, which are `Send` only.
    send(&builder.build());
    send(&hub.join(conn, "room", JoinOptions::default()));
    send(&hub.leave(conn, "room"));
    send(&hub.broadcast("room", Message::text("a")));
    send(&hub.broadcast_except("room", conn, Message::text("a")));
    send(&hub.send_to_connection(conn, Message::text("a")));
    send(&hub.send_to_user("ann", Message::text("a")));
    send(&hub.presence("room"));
    send(&registration.closed());
    send(&registration.unregister());
}
