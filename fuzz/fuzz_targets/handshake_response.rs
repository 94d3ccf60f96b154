//! The client's handshake: parse an arbitrary response head and verify it against a fixed
//! request, including the permessage-deflate parameters the server claims.
#![no_main]

use http::header::{SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::deflate::{accept_response, DeflateConfig};
use mywebsocket_proto::handshake::{parse_response, verify_response};

/// The key of RFC 6455 §1.3's sample; its accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let Ok(Some((len, response))) = parse_response(data) else {
        return;
    };
    assert!(len <= data.len());
    let mut request_headers = http::HeaderMap::new();
    request_headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("chat, superchat"),
    );
    if let Ok(chosen) = verify_response(&response, KEY, &request_headers) {
        assert!(matches!(
            chosen.as_deref(),
            None | Some("chat" | "superchat")
        ));
    }
    let values = response.headers().get_all(SEC_WEBSOCKET_EXTENSIONS);
    if values.iter().next().is_some() {
        let config = DeflateConfig::default();
        let values = values.iter().filter_map(|v| v.to_str().ok());
        if let Ok(params) = accept_response(values, &config) {
            assert!((8..=15).contains(&params.server_max_window_bits));
            assert!((8..=15).contains(&params.client_max_window_bits));
        }
    }
});
