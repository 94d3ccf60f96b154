//! The client's side of the handshake: build the request, verify the response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Request, Response, StatusCode};

use super::{derive_accept_key, header_has_token, offered_protocols};
use crate::error::HandshakeError;

/// A `Sec-WebSocket-Key` from 16 random bytes (RFC 6455 §4.1). The caller supplies the
/// randomness: this crate has no RNG.
pub fn generate_key(random: [u8; 16]) -> String {
    STANDARD.encode(random)
}

/// Adds the headers an upgrade request needs and that `req` lacks: `Host` (from the URI),
/// `Upgrade`, `Connection`, `Sec-WebSocket-Version` and `Sec-WebSocket-Key` (set to `key`).
/// Headers the caller set, such as `Sec-WebSocket-Protocol` or `Origin`, are kept.
///
/// # Errors
/// [`HandshakeError::Malformed`] when there is no `Host` and the URI has no authority.
pub fn prepare_request<B>(req: &mut Request<B>, key: &str) -> Result<(), HandshakeError> {
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    let headers = req.headers_mut();
    if !headers.contains_key(HOST) {
        let host = authority.ok_or(HandshakeError::Malformed("request URI has no host"))?;
        let value =
            HeaderValue::from_str(&host).map_err(|_| HandshakeError::Malformed("invalid host"))?;
        headers.insert(HOST, value);
    }
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    headers.insert(
        SEC_WEBSOCKET_KEY,
        HeaderValue::from_str(key).map_err(|_| HandshakeError::InvalidKey)?,
    );
    Ok(())
}

/// Serializes a request head as HTTP/1.1, with the path and query of its URI as the target.
pub fn write_request<B>(req: &Request<B>, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() { "/" } else { target }.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Checks the server's response to a request sent with `key` and the subprotocols in
/// `request_headers`, and returns the subprotocol the server chose.
///
/// # Errors
/// [`HandshakeError::UnexpectedStatus`] for a status other than 101, the missing-header errors
/// for a 101 without `Upgrade: websocket` or `Connection: Upgrade`,
/// [`HandshakeError::InvalidAccept`] and [`HandshakeError::UnexpectedProtocol`].
pub fn verify_response<B>(
    resp: &Response<B>,
    key: &str,
    request_headers: &http::HeaderMap,
) -> Result<Option<String>, HandshakeError> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(HandshakeError::UnexpectedStatus(resp.status().as_u16()));
    }
    let headers = resp.headers();
    if !header_has_token(headers, UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !header_has_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let expected = derive_accept_key(key.as_bytes());
    match headers.get(SEC_WEBSOCKET_ACCEPT) {
        Some(v) if v.as_bytes().trim_ascii() == expected.as_bytes() => {}
        _ => return Err(HandshakeError::InvalidAccept),
    }
    chosen_protocol(headers, request_headers)
}

/// The subprotocol a server's response chose (RFC 6455 §4.1: one of those offered, or none).
pub(crate) fn chosen_protocol(
    response_headers: &http::HeaderMap,
    request_headers: &http::HeaderMap,
) -> Result<Option<String>, HandshakeError> {
    match response_headers.get(SEC_WEBSOCKET_PROTOCOL) {
        None => Ok(None),
        Some(chosen) => {
            let chosen = chosen
                .to_str()
                .map_err(|_| HandshakeError::UnexpectedProtocol)?
                .trim();
            if offered_protocols(request_headers).any(|p| p == chosen) {
                Ok(Some(chosen.to_owned()))
            } else {
                Err(HandshakeError::UnexpectedProtocol)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{accept_response, parse_request, validate_request};

    #[test]
    fn client_request_passes_server_validation_and_response_verifies() {
        let key = generate_key([7; 16]);
        let mut req = Request::get("ws://example.com:9001/path?x=1")
            .header(SEC_WEBSOCKET_PROTOCOL, "chat")
            .body(())
            .unwrap();
        prepare_request(&mut req, &key).unwrap();
        let mut out = Vec::new();
        write_request(&req, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("GET /path?x=1 HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("host: example.com:9001\r\n"));

        let (_, parsed) = parse_request(&out).unwrap().unwrap();
        let accept = validate_request(&parsed, &["chat"]).unwrap();
        let resp = accept_response(&accept);
        assert_eq!(
            verify_response(&resp, &key, req.headers()),
            Ok(Some("chat".into()))
        );
    }

    #[test]
    fn rejects_wrong_accept_status_and_protocol() {
        let key = generate_key([1; 16]);
        let headers = http::HeaderMap::new();
        let mut resp = Response::new(());
        assert_eq!(
            verify_response(&resp, &key, &headers),
            Err(HandshakeError::UnexpectedStatus(200))
        );
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static("bogus"));
        assert_eq!(
            verify_response(&resp, &key, &headers),
            Err(HandshakeError::InvalidAccept)
        );
        let good = derive_accept_key(key.as_bytes());
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_ACCEPT, good.parse().unwrap());
        assert_eq!(verify_response(&resp, &key, &headers), Ok(None));
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("x"));
        assert_eq!(
            verify_response(&resp, &key, &headers),
            Err(HandshakeError::UnexpectedProtocol)
        );
    }
}
