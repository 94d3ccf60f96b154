//! Subprotocol negotiation (`Sec-WebSocket-Protocol`, RFC 6455 §4.2.2 and §11.3.4).

use http::header::SEC_WEBSOCKET_PROTOCOL;
use http::HeaderMap;

/// The subprotocols offered in `headers`, in the client's order, across repeated headers.
pub fn offered_protocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The server's choice: the first of `supported` (the server's preference order) that the
/// client offered, compared exactly (subprotocol names are case-sensitive).
pub fn select_protocol<'a, S: AsRef<str>>(
    headers: &HeaderMap,
    supported: &'a [S],
) -> Option<&'a str> {
    supported
        .iter()
        .map(AsRef::as_ref)
        .find(|want| offered_protocols(headers).any(|offered| offered == *want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SEC_WEBSOCKET_PROTOCOL, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn picks_the_servers_first_supported_offer() {
        let h = headers(&["chat, superchat", "v2.json"]);
        assert_eq!(select_protocol(&h, &["v2.json", "chat"]), Some("v2.json"));
        assert_eq!(select_protocol(&h, &["superchat"]), Some("superchat"));
        assert_eq!(select_protocol(&h, &["Chat"]), None, "case-sensitive");
        assert_eq!(select_protocol::<&str>(&h, &[]), None);
    }
}
