//! TLS (`wss://`) with rustls: the client side of [`connect`](crate::connect) and
//! [`connect_tls`], and helpers for servers. Needs the `tls` feature.
//!
//! A client trusts Mozilla's root certificates ([`default_client_config`], from the
//! `webpki-roots` crate) unless given its own [`rustls::ClientConfig`] (private roots, client
//! certificates, ALPN) through [`connect_tls`].
//!
//! A server needs nothing special: [`Upgrader::accept`](crate::Upgrader::accept) takes any
//! stream, so accept TLS first with [`tokio_rustls::TlsAcceptor`] and hand the result over.
//! [`server_config_from_pem`] builds the [`rustls::ServerConfig`] from PEM files:
//!
//! ```no_run
//! use mywebsocket::tls::{server_config_from_pem, tokio_rustls::TlsAcceptor};
//! use mywebsocket::Upgrader;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let config = server_config_from_pem(
//!     &std::fs::read("cert.pem")?,
//!     &std::fs::read("key.pem")?,
//! )?;
//! let acceptor = TlsAcceptor::from(config);
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let acceptor = acceptor.clone();
//!     tokio::spawn(async move {
//!         // Both steps run in the connection's task, so a slow client delays nobody else.
//!         let Ok(tls) = acceptor.accept(tcp).await else { return };
//!         let Ok(mut ws) = Upgrader::default().accept(tls).await else { return };
//!         while let Ok(msg) = ws.read_msg().await {
//!             if ws.write_message(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```

use std::io;
use std::sync::{Arc, OnceLock};

use http::{Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub use rustls;
pub use tokio_rustls;

use crate::config::Config;
use crate::connect::{connect_with, open_tcp, Target};
use crate::error::{Error, Result, TimeoutKind, TlsError, UrlError};
use crate::WebSocket;

/// The crypto provider: ring, named explicitly so that a program that also links rustls's
/// other provider does not make the choice ambiguous.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `roots`, with rustls's safe defaults (TLS 1.2 and 1.3).
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The configuration `connect` uses for `wss://`: Mozilla's root certificates (the
/// `webpki-roots` crate), built once and shared.
pub fn default_client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            client_config(roots)
        })
        .clone()
}

/// `config` offering `protocols` in ALPN (RFC 7301), such as `h2` for an HTTP/2 connection.
#[cfg(feature = "http2")]
pub(crate) fn with_alpn(config: &Arc<ClientConfig>, protocols: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(config);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connects to a `wss://` URL with the TLS settings `tls` (for example [`client_config`] with
/// your own roots) and performs the opening handshake. The URL's host is the name the server's
/// certificate must be valid for.
///
/// # Errors
/// [`Error::InvalidUrl`] for a URL that is not `wss://host[:port][/path]`, [`Error::Io`] when
/// TCP fails, [`Error::Tls`] when the TLS handshake fails (its source is the
/// [`rustls::Error`], such as a certificate not valid for the host, or the I/O error that
/// broke the handshake), then as [`connect_with`].
///
/// # Cancel safety
/// Not cancel-safe: dropped before it completes, the future closes the connection it was
/// opening (TCP, TLS and the opening handshake are given up); nothing is left running.
pub async fn connect_tls(
    url: &str,
    config: Config,
    tls: Arc<ClientConfig>,
) -> Result<(WebSocket, Response<()>)> {
    let target = Target::parse(url)?;
    if !target.tls {
        return Err(Error::InvalidUrl(UrlError::new(
            format!("{url:?} is not a wss:// URL"),
            None,
        )));
    }
    let tcp = open_tcp(&target, &config).await?;
    let stream = handshake(tcp, &target.host, tls, &config).await?;
    let request = Request::get(target.uri).body(()).map_err(|e| {
        Error::InvalidUrl(UrlError::new(
            format!("cannot request {url:?}"),
            Some(e.into()),
        ))
    })?;
    connect_with(stream, request, config).await
}

/// The TLS handshake, within the handshake timeout.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    tls: Arc<ClientConfig>,
    config: &Config,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        Error::InvalidUrl(UrlError::new(
            format!("{host:?} is not a valid TLS server name"),
            Some(e.into()),
        ))
    })?;
    let connecting = TlsConnector::from(tls).connect(name, tcp);
    let stream = tokio::time::timeout(config.handshake_timeout, connecting)
        .await
        .map_err(|_| Error::Timeout(TimeoutKind::Handshake))?
        .map_err(|e| handshake_error(host, e))?;
    Ok(stream)
}

/// A failed TLS handshake as [`Error::Tls`], whose source is the [`rustls::Error`] that
/// tokio-rustls wrapped in an I/O error, or the I/O error itself when the connection failed.
fn handshake_error(host: &str, e: io::Error) -> Error {
    let what = format!("tls handshake with {host} failed");
    let rustls_decided = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    let source: Box<dyn std::error::Error + Send + Sync> = if rustls_decided {
        e.into_inner().expect("checked: it wraps a rustls error")
    } else {
        Box::new(e)
    };
    Error::Tls(TlsError::new(what, Some(source)))
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1), as written by certbot or `openssl`, with rustls's safe defaults
/// and no client authentication. Serve `http/1.1` over it: ALPN is set to that.
///
/// # Errors
/// [`Error::Tls`] when the PEM holds no certificate or no key, or rustls rejects the pair (for
/// example a key that does not match the certificate); its source is the PEM parser's or
/// rustls's error.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    let tls_error = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| {
        Error::Tls(TlsError::new(what, Some(e)))
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error("certificate PEM is malformed", Box::new(e)))?;
    if chain.is_empty() {
        return Err(Error::Tls(TlsError::new(
            "certificate PEM holds no certificate",
            None,
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| tls_error("key PEM holds no private key", Box::new(e)))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("the private key does not fit the certificate", Box::new(e)))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
