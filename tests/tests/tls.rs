//! `wss://`: our client and server over rustls, with certificates made in the test.

use std::sync::Arc;

use mywebsocket::tls::rustls::pki_types::CertificateDer;
use mywebsocket::tls::rustls::RootCertStore;
use mywebsocket::tls::tokio_rustls::TlsAcceptor;
use mywebsocket::tls::{client_config, connect_tls, server_config_from_pem};
use mywebsocket::{connect, CloseCode, Config, Error, Message, Upgrader};
use mywebsocket_tests::{bounded, listen, Task};

/// A self-signed certificate for `names`, as PEM (certificate, key) and DER.
fn certificate(names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("rcgen makes a certificate");
    (
        made.cert.pem(),
        made.signing_key.serialize_pem(),
        made.cert.der().clone(),
    )
}

/// A client configuration that trusts exactly `cert`.
fn trusting(cert: CertificateDer<'static>) -> Arc<mywebsocket::tls::rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid root");
    client_config(roots)
}

/// A TLS server on 127.0.0.1, with a self-signed certificate for `names`, that greets each
/// client, then echoes until the close; the result of its first connection comes back
/// through the task. Also returns the certificate, for a client to trust.
async fn spawn_wss_echo(
    names: &[&str],
) -> (
    u16,
    Task<Result<Vec<Message>, String>>,
    CertificateDer<'static>,
) {
    let (cert_pem, key_pem, der) = certificate(names);
    let config = server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let acceptor = TlsAcceptor::from(config);
    let (listener, addr) = listen().await;
    let port = addr.port();
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let mut ws = Upgrader::default()
            .accept(tls)
            .await
            .map_err(|e| e.to_string())?;
        ws.write_string("welcome")
            .await
            .map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        loop {
            match ws.read_msg().await {
                Ok(msg) => {
                    seen.push(msg.clone());
                    ws.write_message(msg).await.map_err(|e| e.to_string())?;
                }
                Err(e) if e.is_closed() => return Ok(seen),
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    (port, task, der)
}

#[tokio::test]
async fn echo_over_wss_both_directions() {
    bounded(async {
        let (port, server, der) = spawn_wss_echo(&["localhost"]).await;
        let url = format!("wss://localhost:{port}/echo");
        let (mut ws, response) = connect_tls(&url, Config::default(), trusting(der))
            .await
            .expect("wss connect");
        assert_eq!(response.status(), 101);
        // Server to client first, then client to server and back.
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("welcome"));
        let big = vec![7u8; 200_000];
        ws.write_string("hello over tls").await.unwrap();
        ws.write_binary(big.clone()).await.unwrap();
        assert_eq!(
            ws.read_msg().await.unwrap(),
            Message::text("hello over tls")
        );
        assert_eq!(ws.read_msg().await.unwrap(), Message::binary(big.clone()));
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        let seen = server.join().await.expect("server side");
        assert_eq!(
            seen,
            vec![Message::text("hello over tls"), Message::binary(big)]
        );
    })
    .await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_rejected_with_a_clear_error() {
    bounded(async {
        let (port, _server, der) = spawn_wss_echo(&["other.example"]).await;
        let url = format!("wss://localhost:{port}/");
        let err = connect_tls(&url, Config::default(), trusting(der))
            .await
            .expect_err("the name does not match");
        let text = err.to_string();
        let Error::Tls(tls) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tls.what(), "tls handshake with localhost failed");
        // The rustls error is kept, as the source, not flattened into a string.
        let cause = std::error::Error::source(&err).and_then(std::error::Error::source);
        assert!(cause.is_some_and(|c| c.is::<mywebsocket::tls::rustls::Error>()));
        assert!(matches!(
            tls.rustls_error(),
            Some(mywebsocket::tls::rustls::Error::InvalidCertificate(_))
        ));
        assert!(
            text.contains("tls handshake with localhost failed")
                && text.contains("not valid for name"),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn connect_checks_wss_against_the_public_roots() {
    bounded(async {
        // A self-signed certificate chains to none of Mozilla's roots.
        let (port, _server, _) = spawn_wss_echo(&["localhost"]).await;
        let err = connect(&format!("wss://localhost:{port}/"))
            .await
            .expect_err("untrusted issuer");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_plain_ws_client_against_a_tls_server_fails_cleanly() {
    bounded(async {
        let (port, server, _) = spawn_wss_echo(&["localhost"]).await;
        let err = connect(&format!("ws://127.0.0.1:{port}/"))
            .await
            .expect_err("a TLS server does not speak plain HTTP");
        // The server answers the HTTP request with a TLS alert, which is no HTTP response.
        assert!(matches!(err, Error::Handshake(_) | Error::Io(_)), "{err:?}");
        let server_err = server.join().await.expect_err("no TLS client");
        assert!(!server_err.is_empty());
    })
    .await;
}

#[tokio::test]
async fn server_config_rejects_bad_pem() {
    let (cert_pem, key_pem, _) = certificate(&["localhost"]);
    let (_, other_key, _) = certificate(&["localhost"]);
    assert!(server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).is_ok());
    for (cert, key, why) in [
        (cert_pem.as_str(), other_key.as_str(), "does not fit"),
        ("", key_pem.as_str(), "no certificate"),
        (cert_pem.as_str(), "", "no private key"),
    ] {
        let err = server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        assert!(err.to_string().contains(why), "{err}");
    }
}
