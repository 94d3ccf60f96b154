//! One of our connections facing a tokio-tungstenite one, in either role: the set-up most
//! tests that compare the two implementations start with.

use mywebsocket::{Config, Upgrader, WebSocket};

use crate::{
    connect_client, spawn_accept, spawn_tungstenite_accept, tungstenite_connect, TungsteniteClient,
    TungsteniteServer,
};

/// Our server, accepting with `upgrader`, and a tokio-tungstenite client connected to it.
///
/// # Panics
/// If either side's handshake fails.
pub async fn our_server_and_tungstenite_client(
    upgrader: Upgrader,
) -> (WebSocket, TungsteniteClient) {
    let (addr, accept) = spawn_accept(upgrader).await;
    let client = tungstenite_connect(addr).await;
    let server = accept.join().await.expect("our server's handshake");
    (server, client)
}

/// Our client, connected with `config`, and the tokio-tungstenite server it connected to.
///
/// # Panics
/// If either side's handshake fails.
pub async fn our_client_and_tungstenite_server(config: Config) -> (WebSocket, TungsteniteServer) {
    let (addr, accept) = spawn_tungstenite_accept(None).await;
    let client = connect_client(addr, config).await;
    let server = accept.join().await;
    (client, server)
}
