//! The browser tests of `mywebsocket-wasm`: headless Chromium against the real server.
//!
//! Run them with `just browser` (`scripts/browser.sh`), which installs what is missing, starts
//! `mywebsocket-testserver` on a free loopback port, builds these tests with its address in
//! `MYWEBSOCKET_TESTSERVER` (read at compile time) and runs
//! `wasm-pack test --headless --chrome wasm-client`. Every case checks what the browser saw
//! and then fetches what the server observed (`GET /observed?id=...`) and checks that too.

#![cfg(target_arch = "wasm32")]

mod backpressure;
mod close;
mod data;
mod deflate;
mod files;
mod files_resume;
mod fragments;
mod heartbeat;
mod keep_alive;
#[path = "../../../crates/mywebsocket-testserver/src/payload.rs"]
mod payload;
mod reconnect;
mod support;
mod upgrade;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
