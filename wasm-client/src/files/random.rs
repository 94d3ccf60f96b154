//! Random bytes from the browser's cryptographic generator, for transfer ids.

use mywebsocket_files_proto::TransferId;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    // The global `crypto`, bound directly so that it also works in a worker (no `window`).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Fills `buf` with `crypto.getRandomValues`.
///
/// # Errors
/// The browser's exception, or none where `crypto` is missing.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), JsValue> {
    get_random_values(buf).map(drop)
}

/// A fresh transfer id from `crypto.getRandomValues`, falling back to `Math.random` where
/// there is no `crypto` (an id only has to be unique on its connection). Give it to
/// [`TransferOptions::id`](super::TransferOptions::id) to be able to resume an upload.
pub fn new_transfer_id() -> TransferId {
    let mut bytes = [0u8; 16];
    if fill(&mut bytes).is_err() {
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    TransferId(bytes)
}
