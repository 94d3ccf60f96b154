//! The opening handshake (RFC 6455 §4): bad requests to `Upgrader::accept` are answered with
//! their HTTP status and `accept` returns `Error::Handshake`; our client refuses bad answers.

use std::time::Duration;

use futures_util::StreamExt;
use mywebsocket::{Config, Error, HandshakeError, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    bounded, listen, raw_http, spawn_accept, upgrade_request, ws_url, HttpReply, Task, SAMPLE_KEY,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` over raw TCP to `Upgrader::accept` with `config`; returns the HTTP answer
/// and the error `accept` returned.
async fn refused(config: Config, request: &str) -> (HttpReply, HandshakeError) {
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let reply = raw_http(addr, request).await;
    match accept.join().await {
        Err(Error::Handshake(e)) => (reply, e),
        Err(other) => panic!("expected a handshake error, got {other:?}"),
        Ok(_) => panic!("the request was accepted"),
    }
}

#[tokio::test]
async fn key_that_is_not_16_bytes_of_base64_is_refused_with_400() {
    bounded(async {
        // Not base64; base64 of 15 bytes; base64 of 17 bytes; empty.
        for key in [
            "not base64!",
            "AAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "",
        ] {
            let (reply, err) =
                refused(Config::default(), &upgrade_request(Some(key), "13", "")).await;
            assert_eq!(reply.status, 400, "key {key:?}");
            assert_eq!(err, HandshakeError::InvalidKey, "key {key:?}");
            assert_eq!(err.status(), 400);
            assert!(!reply.body.is_empty(), "the body says why");
        }
    })
    .await;
}

#[tokio::test]
async fn missing_key_is_refused_with_400() {
    bounded(async {
        let (reply, err) = refused(Config::default(), &upgrade_request(None, "13", "")).await;
        assert_eq!(reply.status, 400);
        assert_eq!(err, HandshakeError::MissingKey);
    })
    .await;
}

#[tokio::test]
async fn version_8_is_refused_with_426_naming_version_13() {
    bounded(async {
        let (reply, err) = refused(
            Config::default(),
            &upgrade_request(Some(SAMPLE_KEY), "8", ""),
        )
        .await;
        assert_eq!(reply.status, 426);
        assert_eq!(reply.header("Sec-WebSocket-Version"), Some("13"));
        assert_eq!(err, HandshakeError::UnsupportedVersion);
    })
    .await;
}

fn only_good_origin() -> Config {
    Config::default().origin_check(|origin| origin == Some("https://good.example"))
}

#[tokio::test]
async fn origin_refused_by_origin_check_gets_403() {
    bounded(async {
        for extra in ["Origin: https://evil.example\r\n", ""] {
            let (reply, err) = refused(
                only_good_origin(),
                &upgrade_request(Some(SAMPLE_KEY), "13", extra),
            )
            .await;
            assert_eq!(reply.status, 403, "{extra:?}");
            assert_eq!(err, HandshakeError::OriginRejected);
        }
    })
    .await;
}

#[tokio::test]
async fn origin_check_against_tungstenite_client() {
    bounded(async {
        use tungstenite::client::IntoClientRequest;

        // Refused: tungstenite reports the 403.
        let (addr, accept) = spawn_accept(Upgrader::new(only_good_origin())).await;
        let mut request = ws_url(addr).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", "https://evil.example".parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("expected a 403, got {other:?}"),
        }
        assert!(matches!(
            accept.join().await,
            Err(Error::Handshake(HandshakeError::OriginRejected))
        ));

        // Allowed.
        let (addr, accept) = spawn_accept(Upgrader::new(only_good_origin())).await;
        let mut request = ws_url(addr).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", "https://good.example".parse().unwrap());
        let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.status(), 101);
        let server = accept.join().await.unwrap();
        drop(server);
        // The server went away without a close frame; tungstenite sees the end.
        while let Some(Ok(_)) = client.next().await {}
    })
    .await;
}

#[tokio::test]
async fn other_bad_requests_get_their_status() {
    bounded(async {
        let cases: Vec<(String, u16, HandshakeError)> = vec![
            (
                upgrade_request(Some(SAMPLE_KEY), "13", "").replacen("GET", "POST", 1),
                405,
                HandshakeError::MethodNotGet,
            ),
            (
                upgrade_request(Some(SAMPLE_KEY), "13", "").replace("Upgrade: websocket\r\n", ""),
                400,
                HandshakeError::MissingUpgrade,
            ),
            (
                upgrade_request(Some(SAMPLE_KEY), "13", "")
                    .replace("Connection: Upgrade", "Connection: keep-alive"),
                400,
                HandshakeError::MissingConnectionUpgrade,
            ),
        ];
        for (request, status, expected) in cases {
            let (reply, err) = refused(Config::default(), &request).await;
            assert_eq!(reply.status, status, "{expected:?}");
            assert_eq!(err, expected);
        }
        // A head over the limit: 431.
        let big = format!("X-Filler: {}\r\n", "a".repeat(2000));
        let (reply, err) = refused(
            Config::default().max_head_size(1024),
            &upgrade_request(Some(SAMPLE_KEY), "13", &big),
        )
        .await;
        assert_eq!(reply.status, 431);
        assert!(
            matches!(err, HandshakeError::HeadTooLarge { limit: 1024 }),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn silent_client_hits_the_server_handshake_timeout() {
    bounded(async {
        let config = Config::default().handshake_timeout(Duration::from_millis(200));
        let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
        let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(matches!(
            accept.join().await,
            Err(Error::Timeout(TimeoutKind::Handshake))
        ));
    })
    .await;
}

#[tokio::test]
async fn our_client_reports_a_refusal_by_tungstenite_server() {
    bounded(async {
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // The signature is tungstenite's `Callback`; its error type is not ours to box.
            #[allow(clippy::result_large_err)]
            let refuse = |_: &tungstenite::handshake::server::Request,
                          _: tungstenite::handshake::server::Response| {
                Err(http::Response::builder()
                    .status(403)
                    .body(Some("go away".to_owned()))
                    .unwrap())
            };
            tokio_tungstenite::accept_hdr_async(tcp, refuse)
                .await
                .is_err()
        });
        let err = mywebsocket::connect(&ws_url(addr)).await.unwrap_err();
        assert!(
            matches!(err, Error::Handshake(HandshakeError::UnexpectedStatus(403))),
            "{err:?}"
        );
        assert!(server.join().await, "tungstenite refused");
    })
    .await;
}

/// A server that reads the request head and answers with `response`, then waits for the
/// client to leave.
async fn spawn_raw_answer(response: &'static str) -> (std::net::SocketAddr, Task<()>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if tcp.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        if !response.is_empty() {
            tcp.write_all(response.as_bytes()).await.unwrap();
        }
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
    });
    (addr, task)
}

#[tokio::test]
async fn our_client_refuses_a_wrong_accept_key() {
    bounded(async {
        let (addr, server) = spawn_raw_answer(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        )
        .await;
        let err = mywebsocket::connect(&ws_url(addr)).await.unwrap_err();
        assert!(
            matches!(err, Error::Handshake(HandshakeError::InvalidAccept)),
            "{err:?}"
        );
        server.join().await;
    })
    .await;
}

#[tokio::test]
async fn our_client_hits_the_handshake_timeout_on_a_silent_server() {
    bounded(async {
        let (addr, _server) = spawn_raw_answer("").await;
        let config = Config::default().handshake_timeout(Duration::from_millis(200));
        let err = mywebsocket::connect_config(&ws_url(addr), config)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Handshake)),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn connect_refuses_urls_it_cannot_reach() {
    bounded(async {
        for url in ["http://127.0.0.1:1/", "not a url"] {
            assert!(
                matches!(mywebsocket::connect(url).await, Err(Error::InvalidUrl(_))),
                "{url}"
            );
        }
        // This crate builds mywebsocket with `tls`: `wss://` is a URL it can use, and port 1
        // refuses the connection.
        assert!(matches!(
            mywebsocket::connect("wss://127.0.0.1:1/").await,
            Err(Error::Io(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn browser_style_request_is_accepted() {
    bounded(async {
        // Lower-case names, a token list in Connection, mixed-case Upgrade value, sent a few
        // bytes at a time.
        let request = format!(
            "GET /chat HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive, Upgrade\r\n\
             upgrade: WebSocket\r\nsec-websocket-key: {SAMPLE_KEY}\r\nsec-websocket-version: 13\r\n\
             user-agent: test\r\n\r\n"
        );
        let (addr, accept) = spawn_accept(Upgrader::default()).await;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        for chunk in request.as_bytes().chunks(7) {
            tcp.write_all(chunk).await.unwrap();
            tcp.flush().await.unwrap();
        }
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "connection closed");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let expected = tungstenite::handshake::derive_accept_key(SAMPLE_KEY.as_bytes());
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "sec-websocket-accept: {}",
                expected.to_ascii_lowercase()
            )),
            "{head}"
        );
        accept.join().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn our_client_sends_path_query_host_and_custom_headers() {
    bounded(async {
        use tungstenite::handshake::server::{Request, Response};

        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut seen = None;
            // The signature is tungstenite's `Callback`; its error type is not ours to box.
            #[allow(clippy::result_large_err)]
            let record = |req: &Request, resp: Response| {
                seen = Some((req.uri().to_string(), req.headers().clone()));
                Ok(resp)
            };
            let _ws = tokio_tungstenite::accept_hdr_async(tcp, record)
                .await
                .unwrap();
            seen.unwrap()
        });
        let request = http::Request::get(format!("ws://{addr}/rooms/1?user=ann"))
            .header("Origin", "https://app.example")
            .header("Cookie", "session=abc")
            .body(())
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_ws, response) = mywebsocket::connect_with(tcp, request, Config::default())
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        let (uri, headers) = server.join().await;
        assert_eq!(uri, "/rooms/1?user=ann");
        assert_eq!(headers["host"], addr.to_string());
        assert_eq!(headers["origin"], "https://app.example");
        assert_eq!(headers["cookie"], "session=abc");
        assert_eq!(headers["sec-websocket-version"], "13");
    })
    .await;
}
