//! The conformance adapter of the browser engine (`mywebsocket_wasm::files::Files`): the
//! testee loop of docs/file-transfer-conformance.md, in headless Chromium.
//!
//! It runs only when built with `FT_CONFORMANCE_RUNNER` set to the URL of a listening
//! `ft-conformance run --listen` (scripts/files-conformance.sh does that); built without it,
//! as by `just browser`, the test returns at once. For each connection the runner serves, it
//! reads the instructions, sets up `Files` with the receiver settings they give, accepts
//! every offer, offers the files they list, and routes every message until the runner closes.

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Uint8Array};
use mywebsocket_wasm::files::{Files, FilesOptions, TransferOptions};
use mywebsocket_wasm::{connect, Message};
use serde_json::Value;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Blob, BlobPropertyBag};

wasm_bindgen_test_configure!(run_in_browser);

/// The conformance files' bytes: the byte at offset `i` is `(i * 31 + 7) mod 251`.
fn conformance_blob(size: u64, media_type: &str) -> Blob {
    let parts = Array::new();
    let mut offset = 0;
    while offset < size {
        let n = (size - offset).min(1 << 20);
        let piece: Vec<u8> = (offset..offset + n)
            .map(|i| ((i * 31 + 7) % 251) as u8)
            .collect();
        parts.push(&Uint8Array::from(piece.as_slice()));
        offset += n;
    }
    let bag = BlobPropertyBag::new();
    bag.set_type(media_type);
    Blob::new_with_u8_array_sequence_and_options(&parts, &bag).expect("a blob")
}

fn options(receiver: &Value) -> FilesOptions {
    let mut options = FilesOptions::default();
    if let Some(bytes) = receiver["max_file_size"].as_u64() {
        options = options.max_file_size(bytes);
    }
    if let Some(n) = receiver["max_concurrent"].as_u64() {
        options = options.max_incoming(n as usize);
    }
    if let Some(bytes) = receiver["window"].as_u64() {
        options = options.window(bytes);
    }
    if let Some(bytes) = receiver["max_chunk"].as_u64() {
        options = options.max_chunk(bytes);
    }
    options
}

#[wasm_bindgen_test]
async fn files_conformance_testee() {
    let Some(url) = option_env!("FT_CONFORMANCE_RUNNER") else {
        return;
    };
    loop {
        let mut ws = connect(url).await.expect("connects to the runner");
        let first = ws.read_msg().await.expect("the instructions");
        let Message::Text(text) = first else {
            panic!("the instructions are text")
        };
        let instructions: Value = serde_json::from_str(&text).expect("JSON instructions");
        if instructions["conformance"] == "end" {
            return;
        }
        let files = Files::new(ws.writer(), options(&instructions["receiver"]));
        let accepting = files.clone();
        spawn_local(async move {
            while let Some(offer) = accepting.next_offer().await {
                spawn_local(async move {
                    let _ = offer.accept(&TransferOptions::default()).await;
                });
            }
        });
        for file in instructions["send"].as_array().into_iter().flatten() {
            let name = file["name"].as_str().unwrap_or_default().to_owned();
            let size = file["size"].as_u64().unwrap_or_default();
            let blob = conformance_blob(size, file["type"].as_str().unwrap_or_default());
            let sending = files.clone();
            spawn_local(async move {
                let _ = sending
                    .send_blob(&blob, &name, &TransferOptions::default())
                    .await;
            });
        }
        while let Ok(message) = ws.read_msg().await {
            files.route(message).await;
        }
        files.connection_lost();
    }
}
