//! The server's handshake: parse an arbitrary request head, validate it, negotiate
//! permessage-deflate, and check that an accepted request's response satisfies a client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::deflate::{negotiate, DeflateConfig};
use mywebsocket_proto::handshake::{
    accept_response, parse_request, parse_response, reject_response, validate_request,
    verify_response, write_response,
};

fuzz_target!(|data: &[u8]| {
    let request = match parse_request(data) {
        Ok(Some((len, request))) => {
            assert!(len <= data.len(), "head length {len} of {}", data.len());
            request
        }
        Ok(None) => return,
        Err(err) => {
            // Every rejection must make a well-formed HTTP answer.
            let mut out = Vec::new();
            write_response(&reject_response(&err), b"", &mut out);
            assert!(parse_response(&out)
                .expect("our rejection parses")
                .is_some());
            return;
        }
    };
    let mut accept = match validate_request(&request, &["chat", "superchat"]) {
        Ok(accept) => accept,
        Err(err) => {
            assert!(err.status().is_client_error(), "{err}: {}", err.status());
            return;
        }
    };
    let offers = request
        .headers()
        .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok());
    accept.deflate = negotiate(offers, &DeflateConfig::default());
    // What we answer an accepted request must satisfy a correct client.
    let mut out = Vec::new();
    write_response(&accept_response(&accept), b"", &mut out);
    let (len, response) = parse_response(&out)
        .expect("our response parses")
        .expect("our response is complete");
    assert_eq!(len, out.len());
    let key = request.headers()[http::header::SEC_WEBSOCKET_KEY]
        .to_str()
        .expect("validated key is base64")
        .trim();
    let protocol = verify_response(&response, key, request.headers())
        .unwrap_or_else(|err| panic!("our response fails the client check: {err}"));
    assert_eq!(protocol, accept.protocol);
});
