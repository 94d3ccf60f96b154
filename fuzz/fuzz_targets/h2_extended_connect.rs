//! The server's handshake over HTTP/2 (RFC 8441): an extended CONNECT built from the input is
//! checked by `handshake::h2::validate_request`, permessage-deflate is negotiated, and the `200`
//! of `accept_response` is checked field by field and by the client's `verify_response`.
//!
//! Input: lines separated by `\n` (a trailing `\r` is dropped): the method, the URI, the
//! version (`HTTP/0.9`, `HTTP/1.0`, `HTTP/1.1`, `HTTP/2.0`, `HTTP/3.0`; anything else picks one
//! by its length), the `:protocol` value (a line starting with `!` means no `:protocol`), then
//! header lines `name: value`. A method, URI or header the `http` crate refuses ends the run
//! (those never reach us from hyper).
//!
//! Checked besides "no panic": an accepted request is a CONNECT with `:protocol` `websocket`
//! (ASCII case ignored), HTTP/2 or later, with an authority or a Host, and
//! `Sec-WebSocket-Version: 13`; the subprotocol chosen is the first of ours the client
//! offered (none when it offered none of ours); the `200` has no `Sec-WebSocket-Accept`,
//! `Upgrade` or `Connection`, carries exactly the subprotocol and deflate answer agreed, and
//! passes the client's check; a rejection's status is 400, 405 or 426, as documented.
#![no_main]

use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use libfuzzer_sys::fuzz_target;
use mywebsocket_proto::deflate::{negotiate, DeflateConfig};
use mywebsocket_proto::handshake::h2::{accept_response, validate_request, verify_response};
use mywebsocket_proto::handshake::{offered_protocols, select_protocol};
use mywebsocket_proto::HandshakeError;

const SUPPORTED: [&str; 3] = ["chat", "superchat", "v2.json"];

fn version(line: &[u8]) -> Version {
    match line {
        b"HTTP/0.9" => Version::HTTP_09,
        b"HTTP/1.0" => Version::HTTP_10,
        b"HTTP/1.1" => Version::HTTP_11,
        b"HTTP/2.0" | b"HTTP/2" => Version::HTTP_2,
        b"HTTP/3.0" | b"HTTP/3" => Version::HTTP_3,
        other => [
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ][other.len() % 5],
    }
}

/// Whether some `Sec-WebSocket-Version` header lists the token `13`.
fn has_version_13(request: &Request<()>) -> bool {
    request
        .headers()
        .get_all(SEC_WEBSOCKET_VERSION)
        .iter()
        .any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii() == b"13")
        })
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let (Some(method), Some(uri), Some(ver), Some(protocol_line)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(uri) else {
        return;
    };
    let protocol = if protocol_line.starts_with(b"!") {
        None
    } else {
        match std::str::from_utf8(protocol_line) {
            Ok(p) => Some(p),
            Err(_) => return,
        }
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version(ver);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            return;
        };
        request.headers_mut().append(name, value);
    }

    let mut accept = match validate_request(&request, protocol, &SUPPORTED) {
        Ok(accept) => accept,
        Err(err) => {
            let status = err.status();
            assert!(
                matches!(status.as_u16(), 400 | 405 | 426),
                "{err}: status {status}"
            );
            if request.method() != Method::CONNECT {
                assert_eq!(err, HandshakeError::MethodNotConnect);
            }
            return;
        }
    };

    // What was accepted is an extended CONNECT for a WebSocket, version 13.
    assert_eq!(request.method(), Method::CONNECT);
    assert!(
        protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")),
        "accepted :protocol {protocol:?}"
    );
    assert!(
        request.version() >= Version::HTTP_2,
        "{:?}",
        request.version()
    );
    assert!(request.uri().authority().is_some() || request.headers().contains_key(HOST));
    assert!(has_version_13(&request), "accepted without version 13");
    assert!(accept.accept_key.is_empty(), "HTTP/2 has no accept key");
    // The subprotocol: one the client offered and we support, our first such.
    match &accept.protocol {
        Some(chosen) => {
            assert!(SUPPORTED.contains(&chosen.as_str()), "{chosen} not ours");
            assert!(
                offered_protocols(request.headers()).any(|o| o == chosen),
                "{chosen} not offered"
            );
        }
        None => assert!(
            !offered_protocols(request.headers()).any(|o| SUPPORTED.contains(&o)),
            "an offered subprotocol of ours was not chosen"
        ),
    }
    assert_eq!(
        accept.protocol.as_deref(),
        select_protocol(request.headers(), &SUPPORTED)
    );

    let offers = request
        .headers()
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok());
    accept.deflate = negotiate(offers, &DeflateConfig::default());

    let response = accept_response(&accept);
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    for name in [SEC_WEBSOCKET_ACCEPT, UPGRADE, CONNECTION] {
        assert!(!headers.contains_key(&name), "{name} in an HTTP/2 answer");
    }
    for (name, value) in headers {
        assert!(
            value.to_str().is_ok(),
            "{name} is not visible ASCII: {value:?}"
        );
        assert!(
            name == SEC_WEBSOCKET_PROTOCOL || name == SEC_WEBSOCKET_EXTENSIONS,
            "unexpected header {name}"
        );
    }
    assert_eq!(
        headers
            .get(SEC_WEBSOCKET_PROTOCOL)
            .map(|v| v.to_str().unwrap()),
        accept.protocol.as_deref()
    );
    assert_eq!(
        headers
            .get(SEC_WEBSOCKET_EXTENSIONS)
            .map(|v| v.to_str().unwrap()),
        accept.deflate.as_ref().map(|d| d.response_header.as_str())
    );
    // A correct client takes our answer, with the subprotocol we chose.
    let checked = verify_response(&response, request.headers())
        .unwrap_or_else(|err| panic!("our 200 fails the client check: {err}"));
    assert_eq!(checked, accept.protocol);
});
