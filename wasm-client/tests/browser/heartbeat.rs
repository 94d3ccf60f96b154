//! The server's heartbeat: the browser's automatic pongs keep a quiet connection open.

use mywebsocket_wasm::{connect, CloseCode};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{num, observed, session, sleep, ws_url};

#[wasm_bindgen_test]
async fn automatic_pongs_keep_a_quiet_connection_open() {
    let id = session("heartbeat");
    // The server pings every 1 s and gives up after 3 s of silence; the page sends nothing
    // for 10 s, so only the browser's pongs can keep the connection alive.
    let mut ws = connect(&ws_url("heartbeat", &id, ""))
        .await
        .expect("connects");
    sleep(10_000).await;
    assert_eq!(
        ws.close_info(),
        None,
        "the connection closed during the quiet time"
    );
    ws.write_string("still here").await.expect("still open");
    ws.close(CloseCode::NORMAL, "heartbeat done")
        .await
        .expect("closes");

    let seen = observed(&id).await;
    let message = &seen["messages"][0];
    assert_eq!(message["message"]["text"], "still here", "{seen}");
    assert!(num(&message["at_ms"]) >= 10_000, "{seen}");
    // About one pong per second of the 10 s; the pong handler counted them.
    assert!(num(&message["pongs_so_far"]) >= 8, "{seen}");
    assert!(num(&seen["pongs"]) >= 8, "{seen}");
    assert_eq!(seen["end"]["kind"], "closed", "{seen}");
    assert_eq!(seen["end"]["code"], 1000);
    assert_eq!(seen["end"]["initiator"], "remote");
}
