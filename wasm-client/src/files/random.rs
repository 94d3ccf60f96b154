//! Random bytes from the browser's cryptographic generator, for transfer ids.

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
