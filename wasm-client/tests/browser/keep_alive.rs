//! The client's application-level keep-alive: quiet but healthy, and dead.

use std::time::Duration;

use mywebsocket_wasm::{connect_with, CloseCode, Error, KeepAlive, Message, Options};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{now_ms, num, observed, session, sleep, ws_url};

fn keep_alive() -> Options {
    Options::default().keep_alive(Some(KeepAlive::new(
        Duration::from_millis(200),
        Duration::from_secs(1),
    )))
}

#[wasm_bindgen_test]
async fn keep_alive_answered_keeps_the_connection() {
    let id = session("keepalive-echo");
    let mut ws = connect_with(&ws_url("keepalive-echo", &id, ""), keep_alive())
        .await
        .expect("connects");
    sleep(2_000).await;
    assert_eq!(ws.close_info(), None, "closed during the quiet time");
    ws.write_string("end").await.expect("still open");
    // The server's `pong`s were taken by the keep-alive: the first message read is this.
    assert_eq!(
        ws.read_msg().await.expect("a message"),
        Message::text("end-ok")
    );
    ws.close(CloseCode::NORMAL, "").await.expect("closes");

    let seen = observed(&id).await;
    assert!(num(&seen["pings"]) >= 5, "{seen}");
    assert_eq!(seen["end"]["code"], 1000);
}

#[wasm_bindgen_test]
async fn keep_alive_unanswered_finds_the_connection_dead() {
    let id = session("keepalive-silent");
    let started = now_ms();
    let mut ws = connect_with(&ws_url("keepalive-silent", &id, ""), keep_alive())
        .await
        .expect("connects");
    match ws.read_msg().await {
        Err(Error::KeepAliveTimeout { silent_for }) => {
            assert!(silent_for >= Duration::from_secs(1), "{silent_for:?}");
        }
        other => panic!("expected a keep-alive timeout, got {other:?}"),
    }
    let took = now_ms() - started;
    assert!(took < 3_000.0, "took {took} ms to notice");
    assert!(matches!(ws.write_string("late").await, Err(Error::NotOpen)));

    let seen = observed(&id).await;
    assert!(num(&seen["pings"]) >= 3, "{seen}");
    // The page told the server why it left.
    assert_eq!(seen["end"]["code"], 1000, "{seen}");
    assert_eq!(seen["end"]["reason"], "keep-alive timeout");
}
