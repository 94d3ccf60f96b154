//! A browser that sends faster than the server reads: nothing lost, memory bounded at both ends.

use std::time::Duration;

use mywebsocket_wasm::{connect_with, CloseCode, Options};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::payload::{self, BACKPRESSURE_MESSAGES, BACKPRESSURE_MESSAGE_LEN};
use crate::support::{num, observed, session, ws_url};

/// What the page lets the browser hold unsent.
const MAX_BUFFERED: usize = 1 << 20;

#[wasm_bindgen_test]
async fn writes_wait_for_a_slow_server_and_nothing_is_lost() {
    let id = session("backpressure");
    let options = Options::default()
        .max_buffered(MAX_BUFFERED)
        // The server is still reading its backlog when the close is sent.
        .close_timeout(Duration::from_secs(30));
    let mut ws = connect_with(&ws_url("backpressure", &id, ""), options)
        .await
        .expect("connects");
    let (mut peak, mut waits) = (0, 0);
    for seq in 0..BACKPRESSURE_MESSAGES {
        if ws.buffered_amount() > MAX_BUFFERED {
            waits += 1;
        }
        ws.write_binary(payload::numbered(seq))
            .await
            .expect("writes");
        peak = peak.max(ws.buffered_amount());
    }
    ws.write_string(format!(
        "end: peak bufferedAmount {peak}, {waits} writes waited"
    ))
    .await
    .expect("writes");
    // The browser never held more than the limit plus the message just handed over.
    assert!(
        peak <= MAX_BUFFERED + BACKPRESSURE_MESSAGE_LEN,
        "bufferedAmount reached {peak}"
    );
    // And the limit was reached: the server's slowness did hold the page back.
    assert!(
        waits > 0,
        "no write ever waited (peak bufferedAmount {peak})"
    );
    ws.close(CloseCode::NORMAL, "backpressure done")
        .await
        .expect("closes");

    let seen = observed(&id).await;
    let read = &seen["read"];
    assert_eq!(read["messages"], BACKPRESSURE_MESSAGES, "{seen}");
    assert_eq!(read["in_order"], true, "{seen}");
    assert_eq!(read["exact"], true, "{seen}");
    let sent = u64::from(BACKPRESSURE_MESSAGES) * BACKPRESSURE_MESSAGE_LEN as u64;
    assert_eq!(num(&read["bytes"]), sent);
    // The server's heap grew by far less than what was sent: it did not buffer the backlog.
    let growth = num(&read["heap_growth_bytes"]);
    assert!(
        growth < sent / 4,
        "server heap grew by {growth} bytes of {sent} sent"
    );
    assert_eq!(seen["end"]["code"], 1000);
}
