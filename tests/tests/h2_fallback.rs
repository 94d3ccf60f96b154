//! `h2::connect_or_http1`: a WebSocket over HTTP/2 where the server takes one, an HTTP/1.1
//! upgrade otherwise; over cleartext (prior knowledge, then a new connection) and over TLS
//! (ALPN decides), with servers that speak each combination.

use std::sync::Arc;

use http::Version;
use mywebsocket::h2::{connect_or_http1, connect_tls_or_http1, is_preface, serve_connection};
use mywebsocket::tls::rustls::pki_types::CertificateDer;
use mywebsocket::tls::rustls::{RootCertStore, ServerConfig};
use mywebsocket::tls::tokio_rustls::TlsAcceptor;
use mywebsocket::tls::{client_config, server_config_from_pem};
use mywebsocket::{Config, Message, Upgrader, WebSocket};
use mywebsocket_tests::{bounded, echo, listen, Task};
use tokio::io::{AsyncRead, AsyncWrite};

/// What a test server does with an HTTP/2 connection.
#[derive(Clone, Copy)]
enum H2 {
    /// Serves WebSockets over it (extended CONNECT enabled).
    WebSockets,
    /// hyper's HTTP/2 server as it comes: no extended CONNECT.
    Plain,
}

/// Serves one connection: HTTP/2 as `h2` says when `is_h2`, else an HTTP/1.1 upgrade.
async fn serve<S>(io: S, is_h2: bool, h2: H2)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if !is_h2 {
        if let Ok(ws) = Upgrader::default().accept(io).await {
            echo(ws).await;
        }
        return;
    }
    match h2 {
        H2::WebSockets => {
            let _ = serve_connection(io, Upgrader::default(), |ws| async move {
                echo(ws).await;
            })
            .await;
        }
        H2::Plain => {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .await;
        }
    }
}

/// A cleartext server taking HTTP/1.1 and, when `h2` is given, HTTP/2 with prior knowledge.
async fn spawn_cleartext(h2: Option<H2>) -> (String, Task<()>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut start = [0; 3];
                let is_h2 = matches!(tcp.peek(&mut start).await, Ok(3) if is_preface(&start));
                match (is_h2, h2) {
                    (true, Some(h2)) => serve(tcp, true, h2).await,
                    // An HTTP/1.1-only server answers the preface as a bad request.
                    (_, _) => serve(tcp, false, H2::Plain).await,
                }
            });
        }
    });
    (format!("ws://{addr}/"), task)
}

/// A TLS server whose ALPN offers `alpn`; HTTP/2 connections are served as `h2` says. Returns
/// the URL and a client configuration trusting its certificate.
async fn spawn_tls(
    alpn: &[&[u8]],
    h2: H2,
) -> (
    String,
    Arc<mywebsocket::tls::rustls::ClientConfig>,
    Task<()>,
) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = server_config_from_pem(
        made.cert.pem().as_bytes(),
        made.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut config = ServerConfig::clone(&config);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(made.cert.der().to_vec()))
        .unwrap();
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                serve(tls, is_h2, h2).await;
            });
        }
    });
    (
        format!("wss://localhost:{}/", addr.port()),
        client_config(roots),
        task,
    )
}

async fn assert_echoes(ws: &mut WebSocket) {
    ws.write_string("hello").await.unwrap();
    assert_eq!(ws.read_msg().await.unwrap(), Message::text("hello"));
}

#[tokio::test]
async fn cleartext_uses_http2_where_the_server_takes_it_and_http1_otherwise() {
    bounded(async {
        let cases = [
            (Some(H2::WebSockets), Version::HTTP_2, 200),
            (Some(H2::Plain), Version::HTTP_11, 101),
            (None, Version::HTTP_11, 101),
        ];
        for (h2, version, status) in cases {
            let (url, _server) = spawn_cleartext(h2).await;
            let (mut ws, response) = connect_or_http1(&url, Config::default()).await.unwrap();
            assert_eq!(
                (response.version(), response.status().as_u16()),
                (version, status),
                "server's HTTP/2: {}",
                match h2 {
                    Some(H2::WebSockets) => "WebSockets",
                    Some(H2::Plain) => "without extended CONNECT",
                    None => "none",
                }
            );
            assert_echoes(&mut ws).await;
        }
    })
    .await;
}

#[tokio::test]
async fn over_tls_alpn_decides() {
    bounded(async {
        let cases: [(&[&[u8]], H2, Version); 3] = [
            (&[b"h2", b"http/1.1"], H2::WebSockets, Version::HTTP_2),
            (&[b"http/1.1"], H2::WebSockets, Version::HTTP_11),
            // HTTP/2 without extended CONNECT: a second TLS connection with HTTP/1.1.
            (&[b"h2", b"http/1.1"], H2::Plain, Version::HTTP_11),
        ];
        for (alpn, h2, version) in cases {
            let (url, tls, _server) = spawn_tls(alpn, h2).await;
            let (mut ws, response) = connect_tls_or_http1(&url, Config::default(), tls)
                .await
                .unwrap();
            assert_eq!(response.version(), version, "ALPN {alpn:?}");
            assert_echoes(&mut ws).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_server_that_is_not_there_is_an_error_not_a_fallback_loop() {
    bounded(async {
        // A port nobody listens on: the TCP error is reported as it is.
        let (listener, addr) = listen().await;
        drop(listener);
        let err = connect_or_http1(&format!("ws://{addr}/"), Config::default())
            .await
            .unwrap_err();
        assert!(matches!(err, mywebsocket::Error::Io(_)), "{err:?}");
    })
    .await;
}
