//! `--tls-cert` and `--tls-key`: the page and the WebSocket over HTTPS and `wss://`.

use std::path::Path;

use mywebsocket::tls::{server_config_from_pem, tokio_rustls::TlsAcceptor};

/// The acceptor for the PEM certificate chain at `cert` and private key at `key`.
///
/// # Errors
/// A message naming the file that cannot be read, or why the pair is unusable.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let config = server_config_from_pem(&read(cert)?, &read(key)?)
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    Ok(TlsAcceptor::from(config))
}
