//! What the hub's tests share: a connection registered with a hub, over an in-memory pipe.

use mywebsocket::{connect_with, Upgrader, WebSocket};
use mywebsocket_hub::{Hub, Registration};

/// A registered server connection (for `user`, if any) and the client end of it.
pub(crate) async fn client(hub: &Hub, user: Option<&str>) -> (Registration, WebSocket) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Upgrader::default().accept(server_io).await });
    let request = http::Request::get("ws://hub.test/").body(()).unwrap();
    let (ws, _) = connect_with(client_io, request, Default::default())
        .await
        .unwrap();
    let (reader, writer) = server.await.unwrap().unwrap().split();
    // The server's reader must outlive the test's use of the connection.
    tokio::spawn(async move {
        let mut reader = reader;
        while reader.read_msg().await.is_ok() {}
    });
    (hub.register(writer, user.map(str::to_owned)), ws)
}
