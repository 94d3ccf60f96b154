//! Server messages in many fragments, with pings between fragments, reassembled by the browser.

use mywebsocket_wasm::{connect, CloseCode, Message};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::payload::{self, FRAGMENTED_LEN, FRAGMENT_SIZE, FROM_SERVER};
use crate::support::{observed, session, ws_url};

#[wasm_bindgen_test]
async fn fragments_with_pings_between_are_reassembled() {
    let id = session("fragments");
    let mut ws = connect(&ws_url("fragments", &id, ""))
        .await
        .expect("connects");
    let binary = ws.read_msg().await.expect("the binary message");
    assert!(
        binary == Message::binary(payload::binary(FRAGMENTED_LEN, FROM_SERVER)),
        "binary message differs ({} bytes)",
        binary.len()
    );
    let text = ws.read_msg().await.expect("the text message");
    assert!(
        text == Message::text(payload::text(FRAGMENTED_LEN, FROM_SERVER)),
        "text message differs ({} bytes)",
        text.len()
    );
    ws.write_string("reassembled").await.expect("writes");
    ws.close(CloseCode::NORMAL, "fragments done")
        .await
        .expect("closes");

    let seen = observed(&id).await;
    let fragments_per_message = FRAGMENTED_LEN / FRAGMENT_SIZE;
    assert_eq!(seen["data_frames_sent"], 2 * fragments_per_message);
    // A ping between every two fragments: the browser answered each, in order.
    assert_eq!(seen["pings_sent"], 2 * (fragments_per_message - 1));
    assert_eq!(seen["pongs_received"], seen["pings_sent"]);
    assert_eq!(seen["pongs_in_order"], true);
    assert_eq!(
        seen["messages"],
        json!([{ "kind": "text", "len": 11, "text": "reassembled" }])
    );
    assert_eq!(
        seen["close"],
        json!({ "code": 1000, "reason": "fragments done" })
    );
}
