//! `WebSocketUpgrade::upgrader`: an axum route whose connections count against a shared
//! `Upgrader` (its limit and its graceful shutdown), over HTTP/1.1 and HTTP/2.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use mywebsocket::axum::WebSocketUpgrade;
use mywebsocket::h2::Http2Connection;
use mywebsocket::{Config, Error, HandshakeError, Initiator, Message, Upgrader};
use mywebsocket_tests::{assert_closed, bounded, connect_client, echo, listen, Task};

async fn handler(State(upgrader): State<Upgrader>, ws: WebSocketUpgrade) -> Response {
    ws.upgrader(upgrader).on_upgrade(|ws| async move {
        echo(ws).await;
    })
}

#[tokio::test]
async fn a_shared_upgrader_limits_the_route_and_shuts_it_down() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().max_connections(2));
        let app = Router::new()
            .route("/", any(handler))
            .with_state(upgrader.clone());
        let (listener, addr) = listen().await;
        let _server = Task::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });

        // One over HTTP/1.1, one over HTTP/2: the limit counts both.
        let mut h1 = connect_client(addr, Config::default()).await;
        let connection = Http2Connection::connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        let (mut h2, _) = connection
            .websocket(&format!("ws://{addr}/"), Config::default())
            .await
            .unwrap();
        for ws in [&mut h1, &mut h2] {
            ws.write_string("in").await.unwrap();
            assert_eq!(ws.read_msg().await.unwrap(), Message::text("in"));
        }
        assert_eq!(upgrader.live_connections(), 2);
        let third = connection
            .websocket(&format!("ws://{addr}/"), Config::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                third,
                Error::Handshake(HandshakeError::UnexpectedStatus(503))
            ),
            "{third:?}"
        );

        // The upgrader's shutdown reaches the route's connections.
        let read_close = |mut ws: mywebsocket::WebSocket| async move {
            let err = ws.read_msg().await.unwrap_err();
            assert_closed(&err, 1001, "server shutting down", Initiator::Remote);
        };
        let (report, (), ()) = tokio::join!(
            upgrader.shutdown(Duration::from_secs(5)),
            read_close(h1),
            read_close(h2)
        );
        assert_eq!((report.connections, report.forced), (2, 0));
    })
    .await;
}
