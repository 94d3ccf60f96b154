//! Parsing HTTP/1.1 heads with `httparse` into `http` types.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};

use crate::error::HandshakeError;

/// The most headers accepted in a handshake head.
pub const MAX_HEADERS: usize = 64;

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` until the head is complete, then the head's length in bytes (anything
/// after it already belongs to the WebSocket stream) and the request.
///
/// # Errors
/// [`HandshakeError::Malformed`] for anything that is not an HTTP/1.x request head.
pub fn parse_request(buf: &[u8]) -> Result<Option<(usize, Request<()>)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::Malformed("too many headers"))
        }
        Err(_) => return Err(HandshakeError::Malformed("invalid request head")),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| HandshakeError::Malformed("invalid method"))?;
    let mut request = Request::builder()
        .method(method)
        .uri(req.path.unwrap_or("/"))
        .version(version(req.version))
        .body(())
        .map_err(|_| HandshakeError::Malformed("invalid request target"))?;
    *request.headers_mut() = header_map(req.headers)?;
    Ok(Some((len, request)))
}

/// Parses a response head from the start of `buf`; see [`parse_request`].
///
/// # Errors
/// [`HandshakeError::Malformed`] for anything that is not an HTTP/1.x response head.
pub fn parse_response(buf: &[u8]) -> Result<Option<(usize, Response<()>)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HandshakeError::Malformed("invalid response head")),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or_default())
        .map_err(|_| HandshakeError::Malformed("invalid status code"))?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version(resp.version);
    *response.headers_mut() = header_map(resp.headers)?;
    Ok(Some((len, response)))
}

fn version(minor: Option<u8>) -> Version {
    match minor {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    }
}

fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for h in headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HandshakeError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| HandshakeError::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_head_is_not_an_error() {
        let full = b"GET /chat HTTP/1.1\r\nHost: a\r\n\r\nEXTRA";
        for cut in 0..full.len() - 5 {
            assert_eq!(
                parse_request(&full[..cut]).unwrap().map(|(n, _)| n),
                None,
                "cut {cut}"
            );
        }
        let (len, req) = parse_request(full).unwrap().unwrap();
        assert_eq!(&full[len..], b"EXTRA");
        assert_eq!(req.uri().path(), "/chat");
        assert_eq!(req.headers()["host"], "a");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_request(b"\x16\x03\x01\x02\x00\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
    }

    #[test]
    fn rejects_too_many_headers() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            head.push_str(&format!("x-{i}: y\r\n"));
        }
        head.push_str("\r\n");
        assert!(parse_request(head.as_bytes()).is_err());
    }
}
