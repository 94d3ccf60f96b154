//! The opening handshake (RFC 6455 §4) as pure functions over parsed HTTP heads.
//!
//! Server: [`parse_request`] → [`validate_request`] → [`accept_response`] (or
//! [`reject_response`]) → [`write_response`]. Client: [`generate_key`] → [`prepare_request`] →
//! [`write_request`] → [`parse_response`] → [`verify_response`]. The async `accept`, the hyper
//! integration and `connect` in the `mywebsocket` crate all go through these.
//!
//! Over HTTP/2 (RFC 8441) the handshake is an extended CONNECT instead, with functions of the
//! same names in [`h2`].

mod accept;
mod client;
pub mod h2;
mod head;
mod server;
mod subprotocol;

pub use accept::derive_accept_key;
pub use client::{generate_key, prepare_request, verify_response, write_request};
pub use head::{parse_request, parse_response, MAX_HEADERS};
pub use server::{accept_response, reject_response, validate_request, write_response, Accept};
pub use subprotocol::{offered_protocols, select_protocol};

use http::HeaderMap;

/// Whether any `name` header holds `token` in its comma-separated list, ignoring ASCII case
/// and surrounding whitespace (RFC 7230 §7). A substring match would accept `Connection:
/// keep-alive-upgraded`.
pub(crate) fn header_has_token(
    headers: &HeaderMap,
    name: http::header::HeaderName,
    token: &str,
) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
