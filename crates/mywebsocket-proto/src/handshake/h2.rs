//! The opening handshake over HTTP/2 (RFC 8441): an extended CONNECT.
//!
//! The client sends `CONNECT` with the pseudo-header `:protocol: websocket` on a new stream of
//! an HTTP/2 connection whose server enabled `SETTINGS_ENABLE_CONNECT_PROTOCOL`; the server
//! answers `200`, and the stream carries the WebSocket's frames, masked as over HTTP/1.1.
//! There is no `Upgrade`, `Connection`, `Sec-WebSocket-Key` or `Sec-WebSocket-Accept` (RFC 8441
//! §5); `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` keep
//! their RFC 6455 meaning.
//!
//! The `:protocol` pseudo-header has no place in an [`http::Request`]: HTTP/2 libraries carry
//! it beside the request (hyper in `hyper::ext::Protocol`), so these functions take it as an
//! argument.
//!
//! ```
//! use mywebsocket_proto::handshake::h2;
//!
//! // Client: the request (the caller sends it with `:protocol: websocket`).
//! let mut request = http::Request::get("ws://example.com/chat").body(()).unwrap();
//! h2::prepare_request(&mut request).unwrap();
//! assert_eq!(request.method(), http::Method::CONNECT);
//! assert_eq!(request.uri(), "http://example.com/chat");
//!
//! // Server: validate it and answer.
//! let accept = h2::validate_request(&request, Some("websocket"), &["chat"]).unwrap();
//! let response = h2::accept_response(&accept);
//! assert_eq!(response.status(), 200);
//!
//! // Client: check the answer.
//! assert_eq!(h2::verify_response(&response, request.headers()), Ok(None));
//! ```

use http::header::{HOST, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use http::uri::{Parts, Scheme};
use http::{HeaderValue, Method, Request, Response, Uri, Version};

use super::client::chosen_protocol;
use super::{header_has_token, select_protocol, Accept};
use crate::error::HandshakeError;

/// The `:protocol` value that opens a WebSocket (RFC 8441 §4).
pub const PROTOCOL: &str = "websocket";

/// Checks an extended CONNECT (RFC 8441 §4 and §5) whose `:protocol` pseudo-header is
/// `protocol`, and chooses the first of `protocols` the client offered as its subprotocol.
///
/// The returned [`Accept`] has an empty `accept_key`: HTTP/2 has no key to answer.
/// Permessage-deflate is negotiated by the caller from `Sec-WebSocket-Extensions`, as over
/// HTTP/1.1.
///
/// # Errors
/// [`HandshakeError::MethodNotConnect`] (405) for another method,
/// [`HandshakeError::NotWebSocketProtocol`] (400) for a `:protocol` other than `websocket`
/// (compared ignoring ASCII case) or none, [`HandshakeError::HttpVersion`] (400) below
/// HTTP/2, [`HandshakeError::MissingHost`] (400) without `:authority`, and
/// [`HandshakeError::UnsupportedVersion`] (426) for a `Sec-WebSocket-Version` other than 13.
pub fn validate_request<B, S: AsRef<str>>(
    req: &Request<B>,
    protocol: Option<&str>,
    protocols: &[S],
) -> Result<Accept, HandshakeError> {
    if req.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotConnect);
    }
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case(PROTOCOL)) {
        return Err(HandshakeError::NotWebSocketProtocol);
    }
    if req.version() < Version::HTTP_2 {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = req.headers();
    if req.uri().authority().is_none() && !headers.contains_key(HOST) {
        return Err(HandshakeError::MissingHost);
    }
    if !header_has_token(headers, SEC_WEBSOCKET_VERSION, "13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    Ok(Accept {
        accept_key: String::new(),
        protocol: select_protocol(headers, protocols).map(str::to_owned),
        deflate: None,
    })
}

/// The `200` that accepts an extended CONNECT, with the subprotocol and the permessage-deflate
/// parameters agreed. Rejections use [`super::reject_response`], as over HTTP/1.1 (HTTP/2
/// drops its `Connection` header).
pub fn accept_response(accept: &Accept) -> Response<()> {
    let mut resp = Response::new(());
    let headers = resp.headers_mut();
    if let Some(deflate) = &accept.deflate {
        if let Ok(value) = HeaderValue::from_str(&deflate.response_header) {
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
        }
    }
    if let Some(protocol) = &accept.protocol {
        if let Ok(value) = HeaderValue::from_str(protocol) {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    resp
}

/// The refusal of an extended CONNECT: [`super::reject_response`] without the headers that
/// are HTTP/1.1's alone (`Connection`, `Upgrade`; RFC 9113 §8.2.2), which an HTTP/2 server
/// must not send.
pub fn reject_response(err: &HandshakeError) -> Response<String> {
    let mut response = super::reject_response(err);
    let headers = response.headers_mut();
    headers.remove(http::header::CONNECTION);
    headers.remove(http::header::UPGRADE);
    response
}

/// Turns `req` into an extended CONNECT: method `CONNECT`, version HTTP/2, a `ws://` or
/// `wss://` URI rewritten to the `http://` or `https://` that `:scheme` carries (RFC 8441 §5),
/// and `Sec-WebSocket-Version: 13`. Headers the caller set (`Sec-WebSocket-Protocol`,
/// `Origin`, cookies) are kept. The caller sends it with `:protocol` set to [`PROTOCOL`].
///
/// # Errors
/// [`HandshakeError::Malformed`] when the URI has no authority.
pub fn prepare_request<B>(req: &mut Request<B>) -> Result<(), HandshakeError> {
    let mut parts = Parts::from(std::mem::take(req.uri_mut()));
    if parts.authority.is_none() {
        return Err(HandshakeError::Malformed("request URI has no host"));
    }
    parts.scheme = Some(match parts.scheme.as_ref().map(Scheme::as_str) {
        Some("wss" | "https") => Scheme::HTTPS,
        _ => Scheme::HTTP,
    });
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *req.uri_mut() =
        Uri::from_parts(parts).map_err(|_| HandshakeError::Malformed("invalid request URI"))?;
    *req.method_mut() = Method::CONNECT;
    *req.version_mut() = Version::HTTP_2;
    req.headers_mut()
        .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    Ok(())
}

/// Checks the server's answer to an extended CONNECT sent with `request_headers`, and returns
/// the subprotocol the server chose. Permessage-deflate is checked by the caller from
/// `Sec-WebSocket-Extensions`, as over HTTP/1.1.
///
/// # Errors
/// [`HandshakeError::UnexpectedStatus`] for a status outside 2xx (RFC 8441 §5),
/// [`HandshakeError::UnexpectedProtocol`] for a subprotocol that was not offered.
pub fn verify_response<B>(
    resp: &Response<B>,
    request_headers: &http::HeaderMap,
) -> Result<Option<String>, HandshakeError> {
    if !resp.status().is_success() {
        return Err(HandshakeError::UnexpectedStatus(resp.status().as_u16()));
    }
    chosen_protocol(resp.headers(), request_headers)
}

/// Whether `req` should be checked as an extended CONNECT rather than an HTTP/1.1 upgrade:
/// it came over HTTP/2 or later.
pub fn is_h2_request<B>(req: &Request<B>) -> bool {
    req.version() >= Version::HTTP_2
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn request(method: Method, extra: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder()
            .method(method)
            .uri("https://server.example.com/chat")
            .version(Version::HTTP_2)
            .header("sec-websocket-version", "13");
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn accepts_an_extended_connect_with_200_and_no_accept_key() {
        let req = request(Method::CONNECT, &[("sec-websocket-protocol", "a, chat")]);
        let accept = validate_request(&req, Some("websocket"), &["chat"]).unwrap();
        assert_eq!(accept.accept_key, "");
        assert_eq!(accept.protocol.as_deref(), Some("chat"));
        let resp = accept_response(&accept);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
        assert!(!resp.headers().contains_key("sec-websocket-accept"));
        assert!(!resp.headers().contains_key("upgrade"));
    }

    #[test]
    fn each_wrong_piece_has_its_error_and_status() {
        let get = request(Method::GET, &[]);
        let err = validate_request::<_, &str>(&get, Some("websocket"), &[]).unwrap_err();
        assert_eq!(
            (err.clone(), err.status().as_u16()),
            (HandshakeError::MethodNotConnect, 405)
        );

        let connect = request(Method::CONNECT, &[]);
        for protocol in [None, Some("webtransport"), Some("")] {
            let err = validate_request::<_, &str>(&connect, protocol, &[]).unwrap_err();
            assert_eq!(err, HandshakeError::NotWebSocketProtocol, "{protocol:?}");
            assert_eq!(err.status(), 400);
        }
        assert!(validate_request::<_, &str>(&connect, Some("WebSocket"), &[]).is_ok());

        let mut old = request(Method::CONNECT, &[]);
        *old.version_mut() = Version::HTTP_11;
        let err = validate_request::<_, &str>(&old, Some("websocket"), &[]).unwrap_err();
        assert_eq!(err, HandshakeError::HttpVersion);

        let mut v8 = request(Method::CONNECT, &[]);
        v8.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        let err = validate_request::<_, &str>(&v8, Some("websocket"), &[]).unwrap_err();
        assert_eq!(
            (err.clone(), err.status().as_u16()),
            (HandshakeError::UnsupportedVersion, 426)
        );

        let mut no_authority = request(Method::CONNECT, &[]);
        *no_authority.uri_mut() = Uri::from_static("/chat");
        let err = validate_request::<_, &str>(&no_authority, Some("websocket"), &[]).unwrap_err();
        assert_eq!(err, HandshakeError::MissingHost);
    }

    #[test]
    fn the_client_request_maps_ws_schemes_and_passes_validation() {
        for (url, uri) in [
            ("ws://h:9/p?q=1", "http://h:9/p?q=1"),
            ("wss://h/", "https://h/"),
            ("wss://h", "https://h/"),
        ] {
            let mut req = Request::get(url).body(()).unwrap();
            prepare_request(&mut req).unwrap();
            assert_eq!(req.uri(), uri);
            assert_eq!(req.version(), Version::HTTP_2);
            assert!(validate_request::<_, &str>(&req, Some(PROTOCOL), &[]).is_ok());
        }
        let mut relative = Request::get("/p").body(()).unwrap();
        assert!(matches!(
            prepare_request(&mut relative),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn the_client_accepts_any_2xx_and_only_an_offered_subprotocol() {
        let mut req = Request::get("ws://h/")
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        prepare_request(&mut req).unwrap();
        let mut resp = Response::new(());
        assert_eq!(verify_response(&resp, req.headers()), Ok(None));
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat"));
        assert_eq!(
            verify_response(&resp, req.headers()),
            Ok(Some("chat".into()))
        );
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("other"));
        assert_eq!(
            verify_response(&resp, req.headers()),
            Err(HandshakeError::UnexpectedProtocol)
        );
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        assert_eq!(
            verify_response(&resp, req.headers()),
            Err(HandshakeError::UnexpectedStatus(101))
        );
        *resp.status_mut() = StatusCode::FORBIDDEN;
        assert_eq!(
            verify_response(&resp, req.headers()),
            Err(HandshakeError::UnexpectedStatus(403))
        );
    }
}
