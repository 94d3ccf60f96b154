//! The `axum` feature's `WebSocketUpgrade` extractor in an axum 0.8 app served by `axum::serve`
//! on a real listener, driven by real clients (tokio-tungstenite and ours): the echo, the
//! subprotocol, the `Config` (message limit, permessage-deflate), `on_failed_upgrade`, the
//! rejections as responses, and the end of a connection.

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use mywebsocket::axum::{WebSocketUpgrade, WebSocketUpgradeRejection};
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, WebSocket};
use mywebsocket_tests::{
    bounded, connect_client, listen, raw_http, tungstenite_connect, upgrade_request, Task,
    SAMPLE_KEY,
};
use tokio::sync::mpsc;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message as TMessage;

/// What a handler saw of its connection, sent to the test.
#[derive(Debug)]
struct Seen {
    selected: Option<String>,
    protocol: Option<String>,
    compressed: bool,
    /// The error that ended the echo.
    end: Error,
}

/// Serves `app` with `axum::serve` on `127.0.0.1:0`; the task is stopped when dropped.
async fn serve(app: Router) -> (SocketAddr, Task<()>) {
    let (listener, addr) = listen().await;
    let server = Task::spawn(async move {
        axum::serve(listener, app).await.expect("axum::serve");
    });
    (addr, server)
}

/// Echoes every message, then reports what it saw.
async fn echo(mut ws: WebSocket, selected: Option<String>, seen: mpsc::UnboundedSender<Seen>) {
    let end = loop {
        match ws.read_msg().await {
            Ok(msg) => {
                if let Err(e) = ws.write_message(msg).await {
                    break e;
                }
            }
            Err(e) => break e,
        }
    };
    let _ = seen.send(Seen {
        selected,
        protocol: ws.protocol().map(str::to_owned),
        compressed: ws.is_compressed(),
        end,
    });
}

/// An app on `/` and `/chat` (any method, so that the extractor itself answers a POST) whose upgrades
/// `configure` sets up, echoing and reporting to the returned receiver.
fn echo_app(
    configure: fn(WebSocketUpgrade) -> WebSocketUpgrade,
) -> (Router, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |State(tx): State<mpsc::UnboundedSender<Seen>>,
                        ws: WebSocketUpgrade|
          -> std::future::Ready<Response> {
        let ws = configure(ws);
        let selected = ws.selected_protocol().map(str::to_owned);
        std::future::ready(ws.on_upgrade(move |socket| echo(socket, selected, tx)))
    };
    // `upgrade_request` asks for `/chat`, the clients for `/`.
    let app = Router::new()
        .route("/", any(handler))
        .route("/chat", any(handler))
        .with_state(tx);
    (app, rx)
}

#[tokio::test]
async fn echoes_for_tungstenite_and_ends_gracefully() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws);
        let (addr, _server) = serve(app).await;
        let mut client = tungstenite_connect(addr).await;
        client.send(TMessage::text("via axum")).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::text("via axum")
        );
        client
            .send(TMessage::binary(vec![7u8; 100_000]))
            .await
            .unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::binary(vec![7u8; 100_000])
        );
        client.close(None).await.unwrap();
        while let Some(msg) = client.next().await {
            msg.unwrap();
        }
        let seen = seen.recv().await.expect("the handler ran");
        match seen.end {
            Error::Closed {
                initiator: Initiator::Remote,
                ..
            } => {}
            other => panic!("expected the client's close, got {other:?}"),
        }
        assert_eq!(seen.protocol, None);
    })
    .await;
}

#[tokio::test]
async fn echoes_for_our_client_with_deflate_negotiated() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws);
        let (addr, _server) = serve(app).await;
        // Our client offers permessage-deflate by default; the extractor's default config
        // accepts it.
        let mut client = connect_client(addr, Config::default()).await;
        assert!(client.is_compressed());
        let text = "compress me ".repeat(100);
        client.write_string(text.as_str()).await.unwrap();
        assert_eq!(client.read_msg().await.unwrap(), Message::text(text));
        client.close(CloseCode::NORMAL, "bye").await.unwrap();
        let seen = seen.recv().await.expect("the handler ran");
        assert!(seen.compressed);
        assert!(seen.end.is_closed(), "{:?}", seen.end);
    })
    .await;
}

#[tokio::test]
async fn deflate_off_in_the_config_is_not_negotiated() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws.config(Config::default().deflate(None)));
        let (addr, _server) = serve(app).await;
        let mut client = connect_client(addr, Config::default()).await;
        assert!(!client.is_compressed());
        client.write_string("plain").await.unwrap();
        assert_eq!(client.read_msg().await.unwrap(), Message::text("plain"));
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(!seen.recv().await.expect("the handler ran").compressed);
    })
    .await;
}

#[tokio::test]
async fn protocols_choose_the_servers_preference() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws.protocols(["v2", "v1"]));
        let (addr, _server) = serve(app).await;

        // tokio-tungstenite offers v1 then v2: the server prefers v2.
        let mut request = format!("ws://{addr}/").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "v1, v2".parse().unwrap());
        let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            response.headers().get("sec-websocket-protocol").unwrap(),
            "v2"
        );
        client.close(None).await.unwrap();
        while client.next().await.is_some() {}
        let first = seen.recv().await.expect("the handler ran");
        assert_eq!(first.selected.as_deref(), Some("v2"));
        assert_eq!(first.protocol.as_deref(), Some("v2"));

        // Ours offers only v1; `.protocols` takes the place of the config's (empty) list.
        let mut client = connect_client(addr, Config::default().protocols(["v1", "v3"])).await;
        assert_eq!(client.protocol(), Some("v1"));
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(
            seen.recv()
                .await
                .expect("the handler ran")
                .protocol
                .as_deref(),
            Some("v1")
        );

        // Nothing in common: upgraded without a subprotocol.
        let mut client = connect_client(addr, Config::default().protocols(["v9"])).await;
        assert_eq!(client.protocol(), None);
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(seen.recv().await.expect("the handler ran").protocol, None);
    })
    .await;
}

#[tokio::test]
async fn config_limits_apply_with_1009() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws.config(Config::default().max_message_size(1000)));
        let (addr, _server) = serve(app).await;
        let mut client = connect_client(addr, Config::default().deflate(None)).await;
        client.write_binary(vec![1u8; 1000]).await.unwrap();
        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::binary(vec![1u8; 1000])
        );
        client.write_binary(vec![2u8; 1001]).await.unwrap();
        match client.read_msg().await {
            Err(Error::Closed {
                frame: Some(frame),
                initiator: Initiator::Remote,
            }) => assert_eq!(frame.code, CloseCode::from(1009)),
            other => panic!("expected the server's 1009, got {other:?}"),
        }
        let end = seen.recv().await.expect("the handler ran").end;
        assert!(
            matches!(end, Error::MessageTooBig { limit: 1000, .. }),
            "{end:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn rejections_answer_with_the_handshake_status() {
    bounded(async {
        let (app, _seen) = echo_app(|ws| ws);
        let (addr, _server) = serve(app).await;

        let reply = raw_http(addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert_eq!(reply.status, 400, "not an upgrade");

        let reply = raw_http(addr, &upgrade_request(Some(SAMPLE_KEY), "8", "")).await;
        assert_eq!(reply.status, 426, "wrong version");
        assert_eq!(reply.header("sec-websocket-version"), Some("13"));

        let reply = raw_http(addr, &upgrade_request(None, "13", "")).await;
        assert_eq!(reply.status, 400, "no key");

        let post = upgrade_request(Some(SAMPLE_KEY), "13", "").replacen("GET", "POST", 1);
        let reply = raw_http(addr, &post).await;
        assert_eq!(reply.status, 405, "POST");
        let body = String::from_utf8(reply.body).unwrap();
        assert!(body.contains("GET"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn config_refusals_come_from_on_upgrade() {
    bounded(async {
        let (app, _seen) =
            echo_app(|ws| ws.config(Config::default().allowed_origins(["https://good.example"])));
        let (addr, _server) = serve(app).await;
        let bad = upgrade_request(Some(SAMPLE_KEY), "13", "Origin: https://evil.example\r\n");
        assert_eq!(raw_http(addr, &bad).await.status, 403);
    })
    .await;
}

#[test]
fn rejection_types_map_to_statuses_and_keep_their_source() {
    use mywebsocket::HandshakeError;
    use std::error::Error as _;

    let cases = [
        (HandshakeError::MethodNotGet, 405),
        (HandshakeError::MissingConnectionUpgrade, 400),
        (HandshakeError::MissingUpgrade, 400),
        (HandshakeError::UnsupportedVersion, 426),
        (HandshakeError::MissingKey, 400),
        (HandshakeError::InvalidKey, 400),
        (HandshakeError::OriginRejected, 403),
        (HandshakeError::ShuttingDown, 503),
    ];
    for (error, status) in cases {
        let rejection = WebSocketUpgradeRejection::from(error.clone());
        assert_eq!(rejection.status(), status, "{error:?}");
        assert_eq!(rejection.handshake_error(), Some(error.clone()));
        assert_eq!(rejection.to_string(), error.to_string());
        let response = axum::response::IntoResponse::into_response(rejection);
        assert_eq!(response.status(), status, "{error:?}");
    }
    let other = WebSocketUpgradeRejection::from(HandshakeError::ShuttingDown);
    assert!(other.source().is_some());
    assert_eq!(
        WebSocketUpgradeRejection::ConnectionNotUpgradable.status(),
        426
    );
}

/// Served by hyper without `with_upgrades`, the `101` is sent but the connection is never
/// handed over: `on_failed_upgrade` gets the error. A request without hyper's upgrade handle
/// at all is refused as not upgradable.
#[tokio::test]
async fn on_failed_upgrade_is_called() {
    bounded(async {
        let (listener, addr) = listen().await;
        let (failed_tx, mut failed) = mpsc::unbounded_channel::<String>();
        let server = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let failed_tx = failed_tx.clone();
                async move {
                    let (mut parts, _body) = req.into_parts();
                    let response = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await
                    {
                        Ok(ws) => ws
                            .on_failed_upgrade(move |e: Error| {
                                let _ = failed_tx.send(e.to_string());
                            })
                            .on_upgrade(|_| async { panic!("upgraded without `with_upgrades`") }),
                        Err(rejection) => axum::response::IntoResponse::into_response(rejection),
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
        let request = format!("ws://{addr}/").into_client_request().unwrap();
        // The client may or may not see the 101 before the connection ends.
        let _ = tokio_tungstenite::connect_async(request).await;
        let error = failed.recv().await.expect("on_failed_upgrade ran");
        assert!(!error.is_empty());
        drop(server);

        let mut parts = http::Request::get("/")
            .header("host", "localhost")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", SAMPLE_KEY)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let rejection = WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(
            rejection,
            WebSocketUpgradeRejection::ConnectionNotUpgradable
        );
    })
    .await;
}

/// Sends one request over a new cleartext HTTP/2 connection to `addr` with hyper's client, with
/// `:protocol` set to `protocol` when given, and returns the response's status and headers.
async fn h2_request(
    addr: SocketAddr,
    method: http::Method,
    protocol: Option<&'static str>,
    version: &str,
) -> http::response::Parts {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) =
        hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .unwrap();
    let _connection = Task::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}/"))
        .header("sec-websocket-version", version)
        .body(http_body_util::Empty::new())
        .unwrap();
    if let Some(protocol) = protocol {
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static(protocol));
    }
    send.send_request(request).await.unwrap().into_parts().0
}

#[tokio::test]
async fn over_http2_our_client_gets_the_echo_subprotocol_and_deflate() {
    bounded(async {
        let (app, mut seen) = echo_app(|ws| ws.protocols(["v2", "v1"]));
        let (addr, _server) = serve(app).await;
        let connection = mywebsocket::h2::Http2Connection::connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        let offer = Config::default().protocols(["v1", "v2"]);
        let (mut a, response) = connection
            .websocket(&format!("ws://{addr}/"), offer.clone())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (mut b, _) = connection
            .websocket(&format!("ws://{addr}/chat"), offer)
            .await
            .unwrap();
        assert_eq!(a.protocol(), Some("v2"));
        assert!(a.is_compressed() && b.is_compressed());
        let text = "over h2 ".repeat(500);
        a.write_string(text.as_str()).await.unwrap();
        b.write_string("b").await.unwrap();
        assert_eq!(b.read_msg().await.unwrap(), Message::text("b"));
        assert_eq!(a.read_msg().await.unwrap(), Message::text(text));
        for ws in [&mut a, &mut b] {
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            assert!(ws.read_msg().await.unwrap_err().is_closed());
        }
        for _ in 0..2 {
            let seen = seen.recv().await.expect("the handler ran");
            assert_eq!(seen.protocol.as_deref(), Some("v2"));
            assert!(seen.compressed);
            assert!(seen.end.is_closed(), "{:?}", seen.end);
        }
    })
    .await;
}

#[tokio::test]
async fn over_http2_rejections_answer_with_their_status() {
    bounded(async {
        let (app, _seen) = echo_app(|ws| ws);
        let (addr, _server) = serve(app).await;
        // A GET over HTTP/2 is no WebSocket: RFC 8441 opens one with CONNECT.
        let get = h2_request(addr, http::Method::GET, None, "13").await;
        assert_eq!(get.status, 405);
        // An extended CONNECT for another protocol.
        let other = h2_request(addr, http::Method::CONNECT, Some("webtransport"), "13").await;
        assert_eq!(other.status, 400);
        // The wrong WebSocket version: 426 with the version we speak.
        let v8 = h2_request(addr, http::Method::CONNECT, Some("websocket"), "8").await;
        assert_eq!(v8.status, 426);
        assert_eq!(v8.headers["sec-websocket-version"], "13");
        // And the right one is answered 200.
        let ok = h2_request(addr, http::Method::CONNECT, Some("websocket"), "13").await;
        assert_eq!(ok.status, 200);
    })
    .await;
}
