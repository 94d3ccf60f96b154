//! The client side: [`connect`] and [`connect_with`].

use std::sync::Arc;

use bytes::BytesMut;
use http::header::SEC_WEBSOCKET_EXTENSIONS;
use http::{Request, Response, Uri};
use mywebsocket_proto::deflate::{self, DeflateConfig, DeflateParams};
use mywebsocket_proto::handshake;
use mywebsocket_proto::HandshakeError;
use mywebsocket_proto::Role;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::error::{Error, Result, TimeoutKind, UrlError};
use crate::head_io::read_head;
use crate::WebSocket;

/// Connects to a `ws://` or `wss://` URL with the default [`Config`] and performs the opening
/// handshake. Returns the connection and the server's response head.
///
/// `wss://` needs the `tls` feature and trusts Mozilla's root certificates; use
/// `tls::connect_tls` for other roots or TLS settings.
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL that is not `ws[s]://host[:port][/path]` (and for `wss://`
/// without the `tls` feature), [`Error::Io`] when TCP or TLS fails, then as [`connect_with`].
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, the future closes the connection it was
/// opening (TCP, TLS and the opening handshake are given up); nothing is left running.
pub async fn connect(url: &str) -> Result<(WebSocket, Response<()>)> {
    connect_config(url, Config::default()).await
}

/// [`connect`] with a [`Config`] (subprotocols to offer, limits, heartbeat, timeouts).
///
/// # Errors
/// As [`connect`].
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, the future closes the connection it was
/// opening (TCP, TLS and the opening handshake are given up); nothing is left running.
pub async fn connect_config(url: &str, config: Config) -> Result<(WebSocket, Response<()>)> {
    let target = Target::parse(url)?;
    if target.tls {
        #[cfg(feature = "tls")]
        return crate::tls::connect_tls(url, config, crate::tls::default_client_config()).await;
        #[cfg(not(feature = "tls"))]
        return Err(Error::InvalidUrl(UrlError::new(
            "wss:// needs mywebsocket's `tls` feature",
            None,
        )));
    }
    let tcp = open_tcp(&target, &config).await?;
    let request = request_for(url, target.uri)?;
    connect_with(tcp, request, config).await
}

/// The GET request for `uri`, parsed from `url`.
pub(crate) fn request_for(url: &str, uri: Uri) -> Result<Request<()>> {
    Request::get(uri).body(()).map_err(|e| {
        Error::InvalidUrl(UrlError::new(
            format!("cannot request {url:?}"),
            Some(e.into()),
        ))
    })
}

/// Where a `ws://` or `wss://` URL points.
pub(crate) struct Target {
    pub(crate) uri: Uri,
    /// The host without the brackets of an IPv6 literal.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
            Error::InvalidUrl(UrlError::new(
                format!("cannot parse {url:?}"),
                Some(e.into()),
            ))
        })?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (false, 80),
            Some("wss") => (true, 443),
            _ => {
                return Err(Error::InvalidUrl(UrlError::new(
                    format!("{url:?} is not a ws:// or wss:// URL"),
                    None,
                )))
            }
        };
        let host = uri.host().ok_or_else(|| {
            Error::InvalidUrl(UrlError::new(format!("{url:?} has no host"), None))
        })?;
        // Brackets belong to the URL syntax of an IPv6 literal, not to the address.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            port: uri.port_u16().unwrap_or(default_port),
            uri,
            host,
            tls,
        })
    }
}

/// The TCP connection to `target`, within the handshake timeout.
pub(crate) async fn open_tcp(target: &Target, config: &Config) -> Result<TcpStream> {
    let connecting = TcpStream::connect((target.host.as_str(), target.port));
    let tcp = tokio::time::timeout(config.handshake_timeout, connecting)
        .await
        .map_err(|_| Error::Timeout(TimeoutKind::Handshake))??;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Performs the opening handshake over `stream` with `request` (whose URI gives the path and
/// host, and whose headers are sent as they are: add `Origin`, cookies or
/// `Sec-WebSocket-Protocol` there; [`Config::protocols`] are added too). The connection's
/// [`ConnectionInfo`](crate::ConnectionInfo) is read from `stream`, for the stream types it
/// lists.
///
/// # Errors
/// [`Error::InvalidSubprotocol`] for a name in [`Config::protocols`] that is not an HTTP
/// token, [`Error::Handshake`] if the server refuses or answers wrongly (including a non-101
/// status), [`Error::Timeout`] past the handshake timeout, [`Error::Io`].
///
/// # Cancel safety
/// Not cancel-safe: the future owns `stream`. Dropped before it completes, it closes the
/// stream mid-handshake; nothing is left running.
pub async fn connect_with<S>(
    mut stream: S,
    mut request: Request<()>,
    config: Config,
) -> Result<(WebSocket, Response<()>)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let key = handshake::generate_key(rand::random());
    handshake::prepare_request(&mut request, &key)?;
    add_offers(&mut request, &config)?;
    let exchange = async {
        let mut out = Vec::with_capacity(256);
        handshake::write_request(&request, &mut out);
        stream.write_all(&out).await?;
        stream.flush().await?;
        let mut buf = BytesMut::with_capacity(1024);
        let response = read_head(
            &mut stream,
            &mut buf,
            config.max_head_size,
            handshake::parse_response,
        )
        .await?;
        let protocol = handshake::verify_response(&response, &key, request.headers())?;
        let deflate = agreed_deflate(&response, config.deflate.as_ref())?;
        Ok::<_, Error>((response, buf, protocol, deflate))
    };
    let (response, buf, protocol, deflate) =
        tokio::time::timeout(config.handshake_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(TimeoutKind::Handshake))??;
    let ws = WebSocket::from_parts(
        stream,
        Role::Client,
        Arc::new(config),
        buf,
        protocol,
        deflate,
    );
    Ok((ws, response))
}

/// Adds to `request` what `config` offers: its subprotocols (`Sec-WebSocket-Protocol`) and
/// permessage-deflate (`Sec-WebSocket-Extensions`).
pub(crate) fn add_offers(request: &mut Request<()>, config: &Config) -> Result<()> {
    if !config.protocols.is_empty() {
        if let Some(bad) = config.protocols.iter().find(|p| !is_token(p)) {
            return Err(Error::InvalidSubprotocol(bad.clone()));
        }
        let value = config
            .protocols
            .join(", ")
            .parse()
            .expect("tokens joined by \", \" are a valid header value");
        request
            .headers_mut()
            .append(http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    if let Some(deflate) = &config.deflate {
        let offer = deflate::offer(deflate)
            .parse()
            .map_err(|_| Error::InvalidInput("permessage-deflate offer is not a header value"))?;
        request
            .headers_mut()
            .append(SEC_WEBSOCKET_EXTENSIONS, offer);
    }
    Ok(())
}

/// Whether `s` is an HTTP token (RFC 7230 §3.2.6), as a subprotocol name must be (RFC 6455
/// §4.1).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The extension the server accepted: none, or permessage-deflate within what we offered.
pub(crate) fn agreed_deflate(
    response: &Response<()>,
    offered: Option<&DeflateConfig>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let mut values = response
        .headers()
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| v.to_str().map_err(|_| HandshakeError::UnexpectedExtension))
        .collect::<Result<Vec<_>, _>>()?;
    values.retain(|v| !v.trim().is_empty());
    match (values.is_empty(), offered) {
        (true, _) => Ok(None),
        (false, None) => Err(HandshakeError::UnexpectedExtension),
        (false, Some(config)) => deflate::accept_response(values, config).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subprotocol_that_is_no_token_is_refused_before_any_io() {
        for bad in ["two words", "a,b", "", "tab\there", "é"] {
            let (io, _peer) = tokio::io::duplex(64);
            let request = Request::get("ws://example.com/").body(()).unwrap();
            let config = Config::default().protocols(["chat", bad]);
            match connect_with(io, request, config).await {
                Err(Error::InvalidSubprotocol(name)) => assert_eq!(name, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_url_that_does_not_parse_keeps_the_parser_error() {
        use std::error::Error as _;
        let Err(Error::InvalidUrl(e)) = Target::parse("ws://exa mple.com/") else {
            panic!("a space is not allowed in a URL")
        };
        assert_eq!(e.what(), r#"cannot parse "ws://exa mple.com/""#);
        assert!(e.source().is_some_and(|s| s.is::<http::uri::InvalidUri>()));
        let Err(Error::InvalidUrl(e)) = Target::parse("ftp://example.com/") else {
            panic!("ftp is not a WebSocket scheme")
        };
        assert!(e.source().is_none());
        assert!(
            e.to_string().contains("is not a ws:// or wss:// URL"),
            "{e}"
        );
    }

    #[test]
    fn tokens_follow_rfc_7230() {
        assert!(is_token("chat.v2"));
        assert!(is_token("graphql-transport-ws"));
        assert!(!is_token("a/b"));
        assert!(!is_token("\"quoted\""));
    }
}
