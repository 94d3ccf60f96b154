//! Automatic reconnection with backoff.

use std::time::Duration;

use mywebsocket_wasm::{connect_with, CloseCode, Error, Message, Options, Reconnect};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{num, observed, session, ws_url};

/// When the server recorded event `n` in `list` (`attempts` or `ends`).
fn at(seen: &Value, list: &str, n: u64) -> u64 {
    let entry = seen[list]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["n"] == n))
        .unwrap_or_else(|| panic!("no {list} entry {n}: {seen}"));
    num(&entry["at_ms"])
}

#[wasm_bindgen_test]
async fn reconnects_with_growing_backoff() {
    let id = session("reconnect");
    let policy = Reconnect::default()
        .initial_delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(2))
        .jitter(false);
    let options = Options::default().reconnect(Some(policy));
    let mut ws = connect_with(&ws_url("reconnect", &id, ""), options)
        .await
        .expect("connects");
    // Connection 1 is closed with 1012, attempts 2 and 3 are refused, connection 4 is
    // dropped without a close frame; read_msg carries on through all of it.
    assert_eq!(
        ws.read_msg().await.expect("a message"),
        Message::text("welcome 5")
    );
    assert_eq!(ws.reconnects(), 2);
    ws.close(CloseCode::NORMAL, "").await.expect("closes");

    let seen = observed(&id).await;
    assert_eq!(seen["connections"], 5, "{seen}");
    // The waits, measured by the server from the end of one attempt to the next: 100 ms after
    // the restart, then 200 and 400 ms after each refusal, and 100 ms again after connection 4
    // (it had opened, so the backoff started over).
    for (after, wait) in [(1, 100), (2, 200), (3, 400), (4, 100)] {
        let gap = at(&seen, "attempts", after + 1) - at(&seen, "ends", after);
        assert!(
            gap + 10 >= wait && gap < wait + 1_000,
            "after attempt {after}: waited {gap} ms, expected {wait}: {seen}"
        );
    }
}

#[wasm_bindgen_test]
async fn reconnection_gives_up_after_max_attempts() {
    let id = session("reconnect-never");
    let policy = Reconnect::default()
        .initial_delay(Duration::from_millis(50))
        .jitter(false)
        .max_attempts(Some(2));
    let options = Options::default().reconnect(Some(policy));
    let url = ws_url("reconnect-never", &id, "&complete_after=3");
    let mut ws = connect_with(&url, options).await.expect("connects");
    assert!(matches!(
        ws.read_msg().await,
        Err(Error::ReconnectFailed { attempts: 2 })
    ));
    assert!(matches!(
        ws.read_msg().await,
        Err(Error::ReconnectFailed { attempts: 2 })
    ));

    let seen = observed(&id).await;
    assert_eq!(seen["connections"], 3, "{seen}");
}
