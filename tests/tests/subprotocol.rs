//! Subprotocol negotiation (RFC 6455 §4.2.2, `Sec-WebSocket-Protocol`) with
//! `Config::protocols` on either side.

use mywebsocket::{Config, Error, HandshakeError, Message, Upgrader};
use mywebsocket_tests::{bounded, connect_client, listen, spawn_accept, ws_url, Task};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::server::{Request, Response};

/// A tokio-tungstenite client offering `offer` (one header value) to our server with
/// `protocols`; returns the protocol named in the response and the one our server agreed.
async fn our_server_chooses(
    protocols: &[&str],
    offer: Option<&str>,
) -> (Option<String>, Option<String>) {
    let config = Config::default().protocols(protocols.iter().copied());
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let mut request = ws_url(addr).into_client_request().unwrap();
    if let Some(offer) = offer {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
    }
    let answered = match tokio_tungstenite::connect_async(request).await {
        Ok((_client, response)) => response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_owned()),
        // tungstenite fails a handshake in which it offered protocols and the answer names
        // none (RFC 6455 lets the server do that; tungstenite is stricter). That error is
        // how it tells us the header was absent.
        Err(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(
                tungstenite::error::SubProtocolError::NoSubProtocol,
            ),
        )) if offer.is_some() => None,
        Err(e) => panic!("tungstenite refused the answer: {e}"),
    };
    let server = accept.join().await.unwrap();
    (answered, server.protocol().map(str::to_owned))
}

#[tokio::test]
async fn our_server_picks_its_preferred_protocol_among_the_offered() {
    bounded(async {
        let chosen = Some("chat.v2".to_owned());
        // The server's order wins over the client's.
        assert_eq!(
            our_server_chooses(&["chat.v2", "chat.v1"], Some("chat.v1, chat.v2")).await,
            (chosen.clone(), chosen.clone())
        );
        assert_eq!(
            our_server_chooses(&["other", "chat.v2"], Some("chat.v1, chat.v2")).await,
            (chosen.clone(), chosen)
        );
        // Names are case-sensitive.
        assert_eq!(
            our_server_chooses(&["Chat"], Some("chat")).await,
            (None, None)
        );
    })
    .await;
}

#[tokio::test]
async fn our_server_answers_without_a_protocol_when_none_matches() {
    bounded(async {
        assert_eq!(
            our_server_chooses(&["chat.v2"], Some("mqtt")).await,
            (None, None)
        );
        assert_eq!(our_server_chooses(&["chat.v2"], None).await, (None, None));
        assert_eq!(our_server_chooses(&[], Some("chat")).await, (None, None));
    })
    .await;
}

/// A tokio-tungstenite server that answers with `choose(offered header)`; the task returns
/// what was offered.
async fn spawn_tungstenite_choosing(
    choose: fn(Option<&str>) -> Option<&'static str>,
) -> (std::net::SocketAddr, Task<Option<String>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut offered = None;
        // The signature is tungstenite's `Callback`; its error type is not ours to box.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, mut resp: Response| {
            offered = req
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            if let Some(chosen) = choose(offered.as_deref()) {
                resp.headers_mut()
                    .insert("Sec-WebSocket-Protocol", chosen.parse().unwrap());
            }
            Ok(resp)
        };
        // The handshake may fail on the client's side; that is for the test to check.
        let _ = tokio_tungstenite::accept_hdr_async(tcp, callback).await;
        offered
    });
    (addr, task)
}

#[tokio::test]
async fn our_client_offers_its_protocols_and_learns_the_choice() {
    bounded(async {
        let (addr, server) = spawn_tungstenite_choosing(|offered| {
            offered
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .find(|p| *p == "chat")
                .map(|_| "chat")
        })
        .await;
        let config = Config::default().protocols(["superchat", "chat"]);
        let client = connect_client(addr, config).await;
        assert_eq!(client.protocol(), Some("chat"));
        assert_eq!(server.join().await.as_deref(), Some("superchat, chat"));
    })
    .await;
}

#[tokio::test]
async fn our_client_accepts_an_answer_without_protocol() {
    bounded(async {
        let (addr, server) = spawn_tungstenite_choosing(|_| None).await;
        let client = connect_client(addr, Config::default().protocols(["chat"])).await;
        assert_eq!(client.protocol(), None);
        assert_eq!(server.join().await.as_deref(), Some("chat"));
    })
    .await;
}

#[tokio::test]
async fn our_client_refuses_a_protocol_it_did_not_offer() {
    bounded(async {
        let (addr, server) = spawn_tungstenite_choosing(|_| Some("mqtt")).await;
        let config = Config::default().protocols(["chat"]);
        let err = mywebsocket::connect_config(&ws_url(addr), config)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Handshake(HandshakeError::UnexpectedProtocol)),
            "{err:?}"
        );
        server.join().await;

        // Nor when it offered none.
        let (addr, server) = spawn_tungstenite_choosing(|_| Some("chat")).await;
        let err = mywebsocket::connect(&ws_url(addr)).await.unwrap_err();
        assert!(
            matches!(err, Error::Handshake(HandshakeError::UnexpectedProtocol)),
            "{err:?}"
        );
        assert_eq!(server.join().await, None);
    })
    .await;
}

#[tokio::test]
async fn our_client_and_our_server_agree() {
    bounded(async {
        let server_config = Config::default().protocols(["v3", "v2"]);
        let (addr, accept) = spawn_accept(Upgrader::new(server_config)).await;
        let client = connect_client(addr, Config::default().protocols(["v1", "v2", "v3"])).await;
        let mut server = accept.join().await.unwrap();
        assert_eq!(client.protocol(), Some("v3"));
        assert_eq!(server.protocol(), Some("v3"));
        client.write_string("over v3").await.unwrap();
        assert_eq!(server.read_msg().await.unwrap(), Message::text("over v3"));
    })
    .await;
}
