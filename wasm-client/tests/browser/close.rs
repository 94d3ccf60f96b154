//! The closing handshake, started by either end.

use mywebsocket_wasm::{connect, CloseCode, Error, Initiator, Message};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{observed, session, ws_url};

#[wasm_bindgen_test]
async fn server_close_reaches_the_close_event() {
    let id = session("server-close");
    let mut ws = connect(&ws_url("server-close", &id, ""))
        .await
        .expect("connects");
    // What the server sent before closing comes first.
    assert_eq!(
        ws.read_msg().await.expect("a message"),
        Message::text("last words")
    );
    let info = match ws.read_msg().await {
        Err(Error::Closed(info)) => info,
        other => panic!("expected the server's close, got {other:?}"),
    };
    assert_eq!(info.code, CloseCode::new(4001));
    assert_eq!(info.reason, "server says bye ☃");
    assert!(info.was_clean);
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(ws.close_info(), Some(info.clone()));
    // The end is reported again, and writing fails.
    assert!(matches!(ws.read_msg().await, Err(Error::Closed(again)) if again == info));
    assert!(matches!(ws.write_string("late").await, Err(Error::NotOpen)));

    let seen = observed(&id).await;
    assert_eq!(
        seen["close"],
        json!({ "code": 4001, "reason": "server says bye ☃", "answered": true, "error": null })
    );
}

#[wasm_bindgen_test]
async fn browser_close_code_reaches_the_server() {
    let id = session("client-close");
    let mut ws = connect(&ws_url("client-close", &id, ""))
        .await
        .expect("connects");
    // Codes and reasons the browser would throw on are refused before reaching it.
    assert!(matches!(
        ws.close(CloseCode::GOING_AWAY, "").await,
        Err(Error::InvalidCloseCode(code)) if code == CloseCode::GOING_AWAY
    ));
    assert!(matches!(
        ws.close(CloseCode::NORMAL, &"x".repeat(124)).await,
        Err(Error::CloseReasonTooLong { len: 124, max: 123 })
    ));
    ws.close(CloseCode::new(4002), "client says bye ✓")
        .await
        .expect("closes");
    let info = ws.close_info().expect("closed");
    // The server echoes the code (RFC 6455 §5.5.1).
    assert_eq!(info.code, CloseCode::new(4002));
    assert!(info.was_clean);
    assert_eq!(info.initiator, Initiator::Local);

    let seen = observed(&id).await;
    assert_eq!(
        seen["end"],
        json!({ "kind": "closed", "code": 4002, "reason": "client says bye ✓", "initiator": "remote" })
    );
    assert_eq!(seen.get("messages"), None);
}
