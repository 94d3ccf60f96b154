//! The opening handshake: with and without a subprotocol, and a refused origin.

use mywebsocket_wasm::{connect, connect_with, CloseCode, Error, Initiator, Message, Options};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{observed, page_origin, session, ws_url};

#[wasm_bindgen_test]
async fn upgrade_without_subprotocol() {
    let id = session("upgrade-plain");
    let mut ws = connect(&ws_url("echo", &id, "")).await.expect("connects");
    assert_eq!(ws.protocol(), None);
    ws.write_string("hello").await.expect("writes");
    assert_eq!(ws.read_msg().await.expect("echo"), Message::text("hello"));
    ws.close(CloseCode::NORMAL, "done").await.expect("closes");
    let info = ws.close_info().expect("closed");
    assert_eq!((info.code, info.was_clean), (CloseCode::NORMAL, true));
    assert_eq!(info.initiator, Initiator::Local);

    let seen = observed(&id).await;
    assert_eq!(seen["request"]["version"], "13");
    assert_eq!(seen["request"]["origin"], page_origin().as_str());
    assert_eq!(seen["request"]["offered_protocols"], json!([]));
    let agent = seen["request"]["user_agent"].as_str().unwrap_or_default();
    assert!(agent.contains("Chrome"), "user agent {agent}");
    assert_eq!(seen["protocol"], json!(null));
    assert_eq!(
        seen["messages"],
        json!([{ "kind": "text", "len": 5, "text": "hello" }])
    );
    assert_eq!(
        seen["end"],
        json!({ "kind": "closed", "code": 1000, "reason": "done", "initiator": "remote" })
    );
}

#[wasm_bindgen_test]
async fn upgrade_with_subprotocol() {
    let id = session("upgrade-subprotocol");
    let options = Options::default().protocols(["chat.v1", "chat.v2"]);
    let mut ws = connect_with(&ws_url("subprotocol", &id, ""), options)
        .await
        .expect("connects");
    assert_eq!(ws.protocol().as_deref(), Some("chat.v2"));
    ws.write_binary(vec![0, 1, 2, 255]).await.expect("writes");
    assert_eq!(
        ws.read_msg().await.expect("echo"),
        Message::binary(vec![0, 1, 2, 255])
    );
    ws.close(CloseCode::NORMAL, "").await.expect("closes");

    let seen = observed(&id).await;
    assert_eq!(
        seen["request"]["offered_protocols"],
        json!(["chat.v1", "chat.v2"])
    );
    assert_eq!(seen["protocol"], "chat.v2");
    assert_eq!(seen["messages"], json!([{ "kind": "binary", "len": 4 }]));
    assert_eq!(seen["end"]["code"], 1000);
}

#[wasm_bindgen_test]
async fn refused_origin_fails_in_the_browser() {
    let id = session("upgrade-refused-origin");
    match connect(&ws_url("refuse-origin", &id, "")).await {
        Err(Error::ConnectFailed { code }) => assert_eq!(code, CloseCode::ABNORMAL),
        Err(other) => panic!("expected ConnectFailed, got {other}"),
        Ok(_) => panic!("the upgrade was refused, yet the connection opened"),
    }

    let seen = observed(&id).await;
    assert_eq!(seen["accepted"], false);
    assert_eq!(seen["status"], 403);
    assert_eq!(seen["handshake_error"], "origin not allowed");
    assert_eq!(seen["request"]["origin"], page_origin().as_str());
}
