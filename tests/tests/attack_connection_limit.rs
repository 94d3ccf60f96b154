//! A flood of connections past `Config::max_connections`: the excess is refused with 503
//! before any upgrade, the connections already open keep working, and closing one frees its
//! slot.

use std::time::Duration;

use mywebsocket::{CloseCode, Config, Message, Upgrader, WebSocket};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{
    bounded, connect_client, raw_http, spawn_hyper_server, upgrade_request, SAMPLE_KEY,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: usize = 50;
const FLOOD: usize = 200;

/// Waits until the upgrader counts `n` open connections: a closed connection leaves the count
/// when its server task has dropped it, just after the client saw the close.
async fn wait_for_live(upgrader: &Upgrader, n: usize) {
    while upgrader.live_connections() != n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that `ws`, connected to an echo server, gets `text` back.
async fn assert_echoes(ws: &mut WebSocket, text: String) {
    ws.write_string(text.clone()).await.unwrap();
    assert_eq!(ws.read_msg().await.unwrap(), Message::text(text));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_get_503_and_closing_one_frees_a_slot() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().max_connections(LIMIT));
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;

        let mut held = Vec::new();
        for _ in 0..LIMIT {
            held.push(connect_client(addr, Config::default()).await);
        }
        // The server counts a connection once its task has registered it, just after writing
        // the 101 the client has already read.
        wait_for_live(&upgrader, LIMIT).await;

        // The flood, all at once: every request is read and refused, none upgraded.
        let request = upgrade_request(Some(SAMPLE_KEY), "13", "");
        let flood: Vec<_> = (0..FLOOD)
            .map(|_| {
                let request = request.clone();
                tokio::spawn(async move { raw_http(addr, &request).await })
            })
            .collect();
        for reply in flood {
            let reply = reply.await.expect("flood task");
            assert_eq!(reply.status, 503, "body: {:?}", reply.body);
            let body = String::from_utf8_lossy(&reply.body);
            assert!(
                body.contains(&format!("limit of {LIMIT} connections")),
                "{body}"
            );
        }
        assert_eq!(upgrader.live_connections(), LIMIT);

        // The connections held through the flood still echo.
        for (i, ws) in held.iter_mut().enumerate() {
            assert_echoes(ws, format!("still here {i}")).await;
        }

        // Closing one frees exactly one slot.
        let mut first = held.remove(0);
        first.close(CloseCode::NORMAL, "").await.unwrap();
        drop(first);
        wait_for_live(&upgrader, LIMIT - 1).await;
        let mut again = connect_client(addr, Config::default()).await;
        assert_echoes(&mut again, "in".to_owned()).await;
        let reply = raw_http(addr, &request).await;
        assert_eq!(reply.status, 503);
    })
    .await;
}

#[tokio::test]
async fn a_dropped_connection_without_close_frees_its_slot() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().max_connections(1));
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let client = connect_client(addr, Config::default()).await;
        let request = upgrade_request(Some(SAMPLE_KEY), "13", "");
        assert_eq!(raw_http(addr, &request).await.status, 503);
        // Vanishing without a close frame ends the server's read with an error; the slot must
        // come back all the same.
        drop(client);
        wait_for_live(&upgrader, 0).await;
        let mut ws = connect_client(addr, Config::default()).await;
        assert_echoes(&mut ws, "ok".to_owned()).await;
    })
    .await;
}

#[tokio::test]
async fn the_hyper_path_shares_the_limit_and_answers_503() {
    bounded(async {
        // Clones share one count: a connection held through `accept` fills the hyper path too.
        let upgrader = Upgrader::new(Config::default().max_connections(1));
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let _held = connect_client(addr, Config::default()).await;
        wait_for_live(&upgrader, 1).await;

        let (hyper_addr, hyper_server) = spawn_hyper_server(upgrader.clone()).await;
        let request = upgrade_request(Some(SAMPLE_KEY), "13", "");
        assert_eq!(status_only(hyper_addr, &request).await, 503);
        drop(hyper_server);
    })
    .await;
}

/// Sends `request` and returns the response's status without waiting for the end of the
/// connection (hyper keeps it open after refusing an upgrade).
async fn status_only(addr: std::net::SocketAddr, request: &str) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut raw = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.expect("response");
        assert!(n > 0, "connection closed before a response head");
        raw.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if response.parse(&raw).expect("HTTP response").is_complete() {
            return response.code.expect("status");
        }
    }
}
