//! One of our connections facing a peer, in either role, with the handshake done: the set-up
//! most tests start with. The peer is tokio-tungstenite, to compare the two implementations,
//! or a [`RawPeer`], to see and send frames by hand.

use mywebsocket::{Config, Upgrader, WebSocket};

use crate::{
    connect_client, listen, spawn_accept, spawn_tungstenite_accept, tungstenite_connect, RawPeer,
    Task, TungsteniteClient, TungsteniteServer,
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

/// Our server, accepting with `upgrader`, and a [`RawPeer`] client that completed the
/// handshake with it.
///
/// # Panics
/// If either side's handshake fails.
pub async fn our_server_and_raw_client(upgrader: Upgrader) -> (WebSocket, RawPeer) {
    let (addr, accept) = spawn_accept(upgrader).await;
    let peer = RawPeer::connect(addr).await;
    let server = accept.join().await.expect("our server's handshake");
    (server, peer)
}

/// Our client, connected with `config`, and the [`RawPeer`] server that accepted it.
///
/// # Panics
/// If either side's handshake fails.
pub async fn our_client_and_raw_server(config: Config) -> (WebSocket, RawPeer) {
    let (listener, addr) = listen().await;
    let server = Task::spawn(async move { RawPeer::accept(&listener).await });
    let client = connect_client(addr, config).await;
    let peer = server.join().await;
    (client, peer)
}
