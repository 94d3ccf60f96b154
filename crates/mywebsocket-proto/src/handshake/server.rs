//! The server's side of the handshake: validate the request, build the response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};

use super::{derive_accept_key, header_has_token, select_protocol};
use crate::error::HandshakeError;

/// What a valid upgrade request leads to: the accept key and the chosen subprotocol.
///
/// Made by [`validate_request`]; `#[non_exhaustive]` so that later negotiations (another
/// extension) can add fields. The fields stay public to read and to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accept {
    /// The `Sec-WebSocket-Accept` value.
    pub accept_key: String,
    /// The subprotocol chosen from the client's offer, if any.
    pub protocol: Option<String>,
    /// The agreed permessage-deflate parameters and the `Sec-WebSocket-Extensions` value that
    /// announces them; set by the caller from [`negotiate`](crate::deflate::negotiate).
    pub deflate: Option<crate::deflate::Negotiated>,
}

/// Checks an upgrade request against RFC 6455 §4.2.1 and chooses a subprotocol from
/// `protocols` (the server's list, in preference order).
///
/// The origin is not checked here: that is the server's policy, applied by the caller.
///
/// # Errors
/// The first rule the request breaks, as a [`HandshakeError`] whose
/// [`status`](HandshakeError::status) is the HTTP answer.
pub fn validate_request<B, S: AsRef<str>>(
    req: &Request<B>,
    protocols: &[S],
) -> Result<Accept, HandshakeError> {
    if req.method() != Method::GET {
        return Err(HandshakeError::MethodNotGet);
    }
    if req.version() < Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = req.headers();
    // HTTP/2 and later carry the authority in the URI rather than a Host header.
    if !headers.contains_key(HOST) && req.uri().authority().is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !header_has_token(headers, UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !header_has_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if !header_has_token(headers, SEC_WEBSOCKET_VERSION, "13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(HandshakeError::MissingKey);
    };
    let key = key.as_bytes().trim_ascii();
    match STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeError::InvalidKey),
    }
    Ok(Accept {
        accept_key: derive_accept_key(key),
        protocol: select_protocol(headers, protocols).map(str::to_owned),
        deflate: None,
    })
}

/// The `101 Switching Protocols` response for an accepted request.
pub fn accept_response(accept: &Accept) -> Response<()> {
    let mut resp = Response::new(());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept.accept_key).expect("base64 is a valid header value"),
    );
    if let Some(deflate) = &accept.deflate {
        if let Ok(value) = HeaderValue::from_str(&deflate.response_header) {
            headers.insert(http::header::SEC_WEBSOCKET_EXTENSIONS, value);
        }
    }
    if let Some(protocol) = &accept.protocol {
        if let Ok(value) = HeaderValue::from_str(protocol) {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    resp
}

/// The error response for a rejected request: the error's status, a plain-text body saying
/// why, and `Sec-WebSocket-Version: 13` on a 426 (RFC 6455 §4.4).
pub fn reject_response(err: &HandshakeError) -> Response<String> {
    let mut resp = Response::new(format!("{err}\n"));
    *resp.status_mut() = err.status();
    let headers = resp.headers_mut();
    match err {
        HandshakeError::UnsupportedVersion => {
            headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        // A 405 names the methods the resource takes (RFC 9110 §15.5.6).
        HandshakeError::MethodNotGet => {
            headers.insert(http::header::ALLOW, HeaderValue::from_static("GET"));
        }
        HandshakeError::MethodNotConnect => {
            headers.insert(http::header::ALLOW, HeaderValue::from_static("CONNECT"));
        }
        _ => {}
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Serializes a response head and `body` (with its `Content-Length`, except on a 101) as
/// HTTP/1.1.
pub fn write_response<B>(resp: &Response<B>, body: &[u8], out: &mut Vec<u8>) {
    let status = resp.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in resp.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &[(&str, &str)], skip: &[&str]) -> Request<()> {
        let mut b = Request::get("/chat");
        let base = [
            ("host", "server.example.com"),
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
        ];
        for (k, v) in base.iter().filter(|(k, _)| !skip.contains(k)).chain(extra) {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn accepts_the_rfc_sample_request() {
        let accept = validate_request::<_, &str>(&request(&[], &[]), &[]).unwrap();
        assert_eq!(accept.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let resp = accept_response(&accept);
        assert_eq!(resp.status(), 101);
        let mut out = Vec::new();
        write_response(&resp, b"", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn each_missing_piece_has_its_own_error() {
        let cases = [
            ("host", HandshakeError::MissingHost),
            ("upgrade", HandshakeError::MissingUpgrade),
            ("connection", HandshakeError::MissingConnectionUpgrade),
            ("sec-websocket-key", HandshakeError::MissingKey),
            ("sec-websocket-version", HandshakeError::UnsupportedVersion),
        ];
        for (header, expected) in cases {
            let got = validate_request::<_, &str>(&request(&[], &[header]), &[]).unwrap_err();
            assert_eq!(got, expected, "without {header}");
        }
    }

    #[test]
    fn rejects_keys_that_are_not_16_bytes_of_base64() {
        for key in [
            "",
            "abc",
            "dGhlIHNhbXBsZSBub25j",
            "dGhlIHNhbXBsZSBub25jZQ==AA",
            "!!!!",
        ] {
            let req = request(&[("sec-websocket-key", key)], &["sec-websocket-key"]);
            assert_eq!(
                validate_request::<_, &str>(&req, &[]),
                Err(HandshakeError::InvalidKey),
                "key {key:?}"
            );
        }
    }

    #[test]
    fn rejects_version_8_with_426_and_the_version_header() {
        let req = request(
            &[("sec-websocket-version", "8")],
            &["sec-websocket-version"],
        );
        let err = validate_request::<_, &str>(&req, &[]).unwrap_err();
        assert_eq!(err, HandshakeError::UnsupportedVersion);
        let resp = reject_response(&err);
        assert_eq!(resp.status(), 426);
        assert_eq!(resp.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn a_405_names_the_allowed_method() {
        let get = reject_response(&HandshakeError::MethodNotGet);
        assert_eq!(get.status(), 405);
        assert_eq!(get.headers()["allow"], "GET");
        let connect = reject_response(&HandshakeError::MethodNotConnect);
        assert_eq!(connect.status(), 405);
        assert_eq!(connect.headers()["allow"], "CONNECT");
    }

    #[test]
    fn rejects_post_and_http_1_0() {
        let mut req = request(&[], &[]);
        *req.method_mut() = Method::POST;
        assert_eq!(
            validate_request::<_, &str>(&req, &[]),
            Err(HandshakeError::MethodNotGet)
        );
        let mut req = request(&[], &[]);
        *req.version_mut() = Version::HTTP_10;
        assert_eq!(
            validate_request::<_, &str>(&req, &[]),
            Err(HandshakeError::HttpVersion)
        );
    }

    #[test]
    fn does_not_match_connection_upgrade_as_a_substring() {
        let req = request(&[("connection", "keep-alive-upgraded")], &["connection"]);
        assert_eq!(
            validate_request::<_, &str>(&req, &[]),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
    }

    #[test]
    fn chooses_a_subprotocol_and_echoes_it() {
        let req = request(&[("sec-websocket-protocol", "a, b")], &[]);
        let accept = validate_request(&req, &["b"]).unwrap();
        assert_eq!(accept.protocol.as_deref(), Some("b"));
        assert_eq!(
            accept_response(&accept).headers()["sec-websocket-protocol"],
            "b"
        );
    }
}
