//! Agreeing on permessage-deflate parameters (RFC 7692 §7.1).

use std::fmt::Write;

use super::{parse_extensions, DeflateConfig, DeflateParams, ExtensionOffer, EXTENSION_NAME};
use crate::error::HandshakeError;

/// What a server agreed to in [`negotiate`]: the parameters, and the
/// `Sec-WebSocket-Extensions` value that tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The agreed parameters.
    pub params: DeflateParams,
    /// The response's `Sec-WebSocket-Extensions` value, such as
    /// `permessage-deflate; client_max_window_bits=15`.
    pub response_header: String,
}

/// Server: picks the first `permessage-deflate` offer in `header_values` (the request's
/// `Sec-WebSocket-Extensions` values) that it can accept, and returns the agreed parameters with
/// the response header value. Offers with unknown, repeated or invalid parameters are declined
/// (RFC 7692 §5); `None` when nothing is acceptable, and the connection goes on uncompressed.
pub fn negotiate<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<Negotiated> {
    parse_extensions(header_values)?
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .find_map(|offer| accept_offer(offer, config))
}

/// The parameters of one offer or response, each present at most once.
#[derive(Default)]
struct Seen {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Reads an offer's or a response's parameters; `None` for an unknown, repeated or invalid
/// one.
fn read_params(ext: &ExtensionOffer) -> Option<Seen> {
    let mut seen = Seen::default();
    for (key, value) in &ext.params {
        match key.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if !seen.server_no_context_takeover && value.is_none() => {
                seen.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if !seen.client_no_context_takeover && value.is_none() => {
                seen.client_no_context_takeover = true;
            }
            "server_max_window_bits" if seen.server_max_window_bits.is_none() => {
                seen.server_max_window_bits = Some(window_bits(value.as_deref()?)?);
            }
            "client_max_window_bits" if seen.client_max_window_bits.is_none() => {
                seen.client_max_window_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(seen)
}

/// A window size: a decimal 8..=15 without leading zeros (RFC 7692 §7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" => Some(8),
        "9" => Some(9),
        "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

fn accept_offer(offer: &ExtensionOffer, config: &DeflateConfig) -> Option<Negotiated> {
    let seen = read_params(offer)?;
    let server_bits = seen
        .server_max_window_bits
        .map_or(config.server_max_window_bits, |b| {
            b.min(config.server_max_window_bits)
        });
    let client_bits = match seen.client_max_window_bits {
        Some(offered) => offered.unwrap_or(15).min(config.client_max_window_bits),
        // The client did not say it can limit its window, so it uses up to 15.
        None => 15,
    };
    let params = DeflateParams {
        server_no_context_takeover: seen.server_no_context_takeover
            || config.server_no_context_takeover,
        client_no_context_takeover: seen.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        level: config.level,
        threshold: config.threshold,
        retained_window: config.retained_window,
    };
    let mut response = String::from(EXTENSION_NAME);
    if params.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if seen.server_max_window_bits.is_some() || server_bits < 15 {
        let _ = write!(response, "; server_max_window_bits={server_bits}");
    }
    if seen.client_max_window_bits.is_some() && client_bits < 15 {
        let _ = write!(response, "; client_max_window_bits={client_bits}");
    }
    Some(Negotiated {
        params,
        response_header: response,
    })
}

/// Client: the `Sec-WebSocket-Extensions` value offering permessage-deflate with `config`.
/// It always offers `client_max_window_bits`, so a server may ask for a smaller window.
pub fn offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if config.server_max_window_bits < 15 {
        let _ = write!(
            offer,
            "; server_max_window_bits={}",
            config.server_max_window_bits
        );
    }
    if config.client_max_window_bits < 15 {
        let _ = write!(
            offer,
            "; client_max_window_bits={}",
            config.client_max_window_bits
        );
    } else {
        offer.push_str("; client_max_window_bits");
    }
    offer
}

/// Client: checks the server's `Sec-WebSocket-Extensions` response to an [`offer`] made with
/// `config`, and returns the agreed parameters.
///
/// # Errors
/// [`HandshakeError::UnexpectedExtension`] if the server accepted anything other than exactly
/// one permessage-deflate, or with parameters we did not allow (RFC 7692 §7.1: the client then
/// fails the connection).
pub fn accept_response<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<DeflateParams, HandshakeError> {
    let extensions = parse_extensions(header_values).ok_or(HandshakeError::UnexpectedExtension)?;
    let [ext] = extensions.as_slice() else {
        return Err(HandshakeError::UnexpectedExtension);
    };
    if !ext.name.eq_ignore_ascii_case(EXTENSION_NAME) {
        return Err(HandshakeError::UnexpectedExtension);
    }
    let seen = read_params(ext).ok_or(HandshakeError::UnexpectedExtension)?;
    let server_bits = seen.server_max_window_bits.unwrap_or(15);
    if server_bits > config.server_max_window_bits {
        return Err(HandshakeError::UnexpectedExtension);
    }
    let client_bits = match seen.client_max_window_bits {
        // The server caps our window; a cap above what we offered (a server may treat our
        // value as the hint RFC 7692 §7.1.2.2 calls it) still lets us use the window we chose.
        Some(Some(bits)) => bits.min(config.client_max_window_bits),
        // A response must give a value.
        Some(None) => return Err(HandshakeError::UnexpectedExtension),
        None => config.client_max_window_bits,
    };
    Ok(DeflateParams {
        server_no_context_takeover: seen.server_no_context_takeover,
        // We promised it in the offer if configured, whatever the server answered.
        client_no_context_takeover: seen.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        level: config.level,
        threshold: config.threshold,
        retained_window: config.retained_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(offer: &str) -> Option<String> {
        negotiate([offer], &DeflateConfig::default()).map(|n| n.response_header)
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("permessage-deflate", Some("permessage-deflate")),
            // Browsers' offer: the client's window is capped, so what we keep of it is.
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; client_max_window_bits=13"),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate; client_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                Some("permessage-deflate; server_max_window_bits=8"),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            // Declined offers: unknown, repeated, valued flags, bad window values.
            ("permessage-deflate; foo", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            ("permessage-deflate; server_no_context_takeover=1", None),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; server_max_window_bits=7", None),
            ("permessage-deflate; server_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits=010", None),
            ("permessage-deflate; client_max_window_bits=abc", None),
            ("x-webkit-deflate-frame", None),
            // The first acceptable offer wins.
            (
                "permessage-deflate; foo, permessage-deflate; server_max_window_bits=12",
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"9\"",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
        ];
        for (offer, expected) in cases {
            assert_eq!(server(offer).as_deref(), *expected, "offer {offer:?}");
        }
    }

    #[test]
    fn server_config_limits_and_requests() {
        let config = DeflateConfig::default()
            .server_max_window_bits(10)
            .client_max_window_bits(12)
            .client_no_context_takeover(true);
        let Negotiated {
            params,
            response_header: response,
        } = negotiate(["permessage-deflate; client_max_window_bits"], &config).unwrap();
        assert_eq!(
            response,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
        );
        assert_eq!(
            (params.server_max_window_bits, params.client_max_window_bits),
            (10, 12)
        );
        assert!(params.client_no_context_takeover && !params.server_no_context_takeover);
    }

    #[test]
    fn client_offer_round_trips_through_a_server() {
        for config in [
            DeflateConfig::default(),
            DeflateConfig::default()
                .server_max_window_bits(9)
                .client_no_context_takeover(true),
            DeflateConfig::default()
                .client_max_window_bits(8)
                .server_no_context_takeover(true),
        ] {
            let offer = offer(&config);
            let Negotiated {
                params: server_params,
                response_header: response,
            } = negotiate([offer.as_str()], &DeflateConfig::default()).unwrap();
            let client_params = accept_response([response.as_str()], &config).unwrap();
            assert_eq!(
                server_params.server_max_window_bits,
                client_params.server_max_window_bits
            );
            assert_eq!(
                server_params.client_max_window_bits,
                client_params.client_max_window_bits
            );
            assert_eq!(
                server_params.server_no_context_takeover,
                client_params.server_no_context_takeover
            );
            assert_eq!(
                server_params.client_no_context_takeover,
                client_params.client_no_context_takeover
            );
        }
    }

    /// Autobahn's server, for one, ignores the value of our offer and may allow a larger
    /// window than we asked for: we keep to ours (using less than allowed is always valid).
    #[test]
    fn client_keeps_its_window_when_the_server_allows_more() {
        let config = DeflateConfig::default();
        assert!(offer(&config).ends_with("client_max_window_bits=13"));
        let params =
            accept_response(["permessage-deflate; client_max_window_bits=15"], &config).unwrap();
        assert_eq!(params.client_max_window_bits, 13);
        let params =
            accept_response(["permessage-deflate; client_max_window_bits=9"], &config).unwrap();
        assert_eq!(params.client_max_window_bits, 9);
    }

    #[test]
    fn client_rejects_bad_responses() {
        let config = DeflateConfig::default().server_max_window_bits(10);
        for bad in [
            "x-other",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; bogus",
        ] {
            assert_eq!(
                accept_response([bad], &config),
                Err(HandshakeError::UnexpectedExtension),
                "{bad}"
            );
        }
    }
}
