//! Text, binary and JSON messages both ways at 0 B, 125 B, 126 B, 64 KiB and 16 MiB, checked
//! byte for byte at both ends. "JSON at N bytes" is a document whose `data` string has N bytes.

use mywebsocket_wasm::{connect, CloseCode, Message};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::payload::{self, JsonPayload, Kind, FROM_BROWSER, FROM_SERVER, SIZES};
use crate::support::{num, observed, session, ws_url};

#[wasm_bindgen_test]
async fn text_both_ways_byte_exact() {
    exchange(Kind::Text).await;
}

#[wasm_bindgen_test]
async fn binary_both_ways_byte_exact() {
    exchange(Kind::Binary).await;
}

#[wasm_bindgen_test]
async fn json_both_ways_byte_exact() {
    exchange(Kind::Json).await;
}

/// For each size: sends the browser's message, reads the server's and compares it with what
/// the server must have generated; then checks the server's verdict on each of ours.
async fn exchange(kind: Kind) {
    let id = session(&format!("data-{}", kind.name()));
    let url = ws_url("data", &id, &format!("&kind={}", kind.name()));
    let mut ws = connect(&url).await.expect("connects");
    for len in SIZES {
        match kind {
            Kind::Text => ws.write_string(payload::text(len, FROM_BROWSER)).await,
            Kind::Binary => ws.write_binary(payload::binary(len, FROM_BROWSER)).await,
            Kind::Json => {
                ws.write_json(&payload::json_payload(len, FROM_BROWSER))
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("writing {} of {len} bytes: {e}", kind.name()));
        let got = ws
            .read_msg()
            .await
            .unwrap_or_else(|e| panic!("reading {} of {len} bytes: {e}", kind.name()));
        // Not assert_eq: a failure would print 16 MiB.
        assert!(
            got == payload::message(kind, len, FROM_SERVER),
            "{} of {len} bytes from the server differs: got {} of {} bytes",
            kind.name(),
            if got.is_text() { "text" } else { "binary" },
            got.len()
        );
        if kind == Kind::Json {
            let parsed: JsonPayload =
                serde_json::from_str(got.as_text().unwrap_or_default()).expect("valid JSON");
            assert!(parsed == payload::json_payload(len, FROM_SERVER));
        }
        assert_eq!(matches!(got, Message::Text(_)), kind != Kind::Binary);
    }
    ws.close(CloseCode::NORMAL, "data done")
        .await
        .expect("closes");

    let seen = observed(&id).await;
    let received = seen["received"].as_array().expect("a list");
    assert_eq!(received.len(), SIZES.len(), "{seen}");
    for (entry, len) in received.iter().zip(SIZES) {
        assert_eq!(entry["kind"], kind.name());
        assert_eq!(
            entry["exact"], true,
            "the server found our message differs: {entry}"
        );
        assert_eq!(entry["is_text"], kind != Kind::Binary, "{entry}");
        let wire_len = num(&entry["len"]);
        if kind == Kind::Json {
            assert!(wire_len > len as u64, "{entry}");
        } else {
            assert_eq!(wire_len, len as u64, "{entry}");
        }
    }
    assert_eq!(seen["end"]["code"], 1000);
    assert_eq!(seen["end"]["reason"], "data done");
}
