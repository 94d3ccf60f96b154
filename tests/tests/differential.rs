//! Differential tests: the same frames, written by hand on a raw socket, are read by our
//! library and by tungstenite in the same role and with the same size limit; both must deliver
//! the same messages and agree on whether (and after which message) the peer broke the rules.
//!
//! tungstenite does not send a close code when it fails a connection (its user does), so only
//! what each side reads is compared here; the codes we send are checked in `violations.rs`.
//! One known difference is left out: a close frame with a code not allowed on the wire, which
//! tungstenite answers as a normal close with 1002 and we treat as a violation.
//!
//! The scripts are `mywebsocket_tests::cases::exchange_cases`, which `h2_conformance.rs` runs
//! over an HTTP/2 stream too.

use std::future::Future;

use mywebsocket::{Config, Upgrader};
use mywebsocket_tests::cases::{
    exchange_cases, read_ours, read_tungstenite, tungstenite_config, Keys, Outcome, LIMIT,
};
use mywebsocket_tests::{bounded, listen, our_server_and_raw_client, ws_url, RawPeer, Task};
use tungstenite::protocol::frame::coding::{Control, OpCode};

/// Both servers read `frames` from a raw client.
async fn as_servers(frames: &[Vec<u8>]) -> (Outcome, Outcome) {
    let bytes = frames.concat();

    let config = Config::default().max_message_size(LIMIT);
    let (mut ours, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;
    peer.send_bytes(&bytes).await;
    let ours = read_ours(&mut ours).await;

    let (listener, addr) = listen().await;
    let server = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(tungstenite_config()))
            .await
            .unwrap();
        read_tungstenite(&mut ws).await
    });
    let mut peer = RawPeer::connect(addr).await;
    peer.send_bytes(&bytes).await;
    let theirs = server.join().await;
    (ours, theirs)
}

/// Both clients read `frames` from a raw server.
async fn as_clients(frames: &[Vec<u8>]) -> (Outcome, Outcome) {
    let bytes = frames.concat();

    let (listener, addr) = listen().await;
    let sent = bytes.clone();
    let server = Task::spawn(async move {
        let mut peer = RawPeer::accept_pipelined(&listener, &sent).await;
        // Wait for the client's close (answer or failure), then end TCP first as a server.
        while let Ok(Some(frame)) = peer.read_frame().await {
            if frame.header.opcode == OpCode::Control(Control::Close) {
                break;
            }
        }
    });
    let config = Config::default().max_message_size(LIMIT);
    let (mut ws, _) = mywebsocket::connect_config(&ws_url(addr), config)
        .await
        .unwrap();
    let ours = read_ours(&mut ws).await;
    server.join().await;

    let (listener, addr) = listen().await;
    let server = Task::spawn(async move {
        let mut peer = RawPeer::accept_pipelined(&listener, &bytes).await;
        while let Ok(Some(_)) = peer.read_frame().await {}
    });
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
        ws_url(addr),
        Some(tungstenite_config()),
        true,
    )
    .await
    .unwrap();
    let theirs = read_tungstenite(&mut ws).await;
    drop(ws);
    server.join().await;
    (ours, theirs)
}

/// Runs every case through `run`, which gives our outcome and tungstenite's for the same
/// bytes in the same role, and asserts that they agree on each.
async fn reads_like_tungstenite<F, Fut>(keys: Keys, run: F)
where
    F: Fn(Vec<Vec<u8>>) -> Fut,
    Fut: Future<Output = (Outcome, Outcome)>,
{
    let mut disagreements = Vec::new();
    for (name, frames) in exchange_cases(&keys) {
        let (ours, theirs) = run(frames).await;
        if ours != theirs {
            disagreements.push(format!("{name}:\n  ours   {ours:?}\n  theirs {theirs:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[tokio::test]
async fn our_server_reads_like_tungstenite_server() {
    bounded(reads_like_tungstenite(Keys::CLIENT, |frames| async move {
        as_servers(&frames).await
    }))
    .await;
}

#[tokio::test]
async fn our_client_reads_like_tungstenite_client() {
    bounded(reads_like_tungstenite(Keys::SERVER, |frames| async move {
        as_clients(&frames).await
    }))
    .await;
}
