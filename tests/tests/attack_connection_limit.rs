//! A flood of connections past `Config::max_connections`: the excess is refused with 503
//! before any upgrade, the connections already open keep working, and closing one frees its
//! slot.

use std::time::Duration;

use mywebsocket::{CloseCode, Config, Message, Upgrader};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{bounded, connect_client, raw_http, upgrade_request, SAMPLE_KEY};

const LIMIT: usize = 50;
const FLOOD: usize = 200;

/// Waits until the upgrader counts `n` open connections: a closed connection leaves the count
/// when its server task has dropped it, just after the client saw the close.
async fn wait_for_live(upgrader: &Upgrader, n: usize) {
    while upgrader.live_connections() != n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
        assert_eq!(upgrader.live_connections(), LIMIT);

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
            ws.write_string(format!("still here {i}")).await.unwrap();
            assert_eq!(
                ws.read_msg().await.unwrap(),
                Message::text(format!("still here {i}"))
            );
        }

        // Closing one frees exactly one slot.
        let mut first = held.remove(0);
        first.close(CloseCode::NORMAL, "").await.unwrap();
        drop(first);
        wait_for_live(&upgrader, LIMIT - 1).await;
        let mut again = connect_client(addr, Config::default()).await;
        again.write_string("in").await.unwrap();
        assert_eq!(again.read_msg().await.unwrap(), Message::text("in"));
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
        ws.write_string("ok").await.unwrap();
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("ok"));
    })
    .await;
}
