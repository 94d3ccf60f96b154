//! `--tls-cert` and `--tls-key`: the page over HTTPS and the chat over `wss://`, with a
//! certificate generated for the test and trusted by the test's clients only.

mod common;

use std::sync::Arc;

use common::{join, next_of, Node};
use mywebsocket::tls::rustls::pki_types::{CertificateDer, ServerName};
use mywebsocket::tls::rustls::RootCertStore;
use mywebsocket::tls::tokio_rustls::TlsConnector;
use mywebsocket::tls::{client_config, connect_tls};
use mywebsocket::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for `localhost`, written as PEM files into a fresh directory.
struct Certificate {
    dir: std::path::PathBuf,
    der: CertificateDer<'static>,
}

impl Certificate {
    fn generate() -> Self {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .expect("generate a certificate");
        let dir = std::env::temp_dir().join(format!("chat-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert.pem");
        std::fs::write(dir.join("key.pem"), signing_key.serialize_pem()).expect("write key.pem");
        Self {
            dir,
            der: CertificateDer::from(cert.der().to_vec()),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("UTF-8 path").to_owned()
    }

    /// Client settings trusting this certificate alone.
    fn client_config(&self) -> Arc<mywebsocket::tls::rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("trust the certificate");
        client_config(roots)
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET path` over TLS; the whole response (the server closes: `Connection: close`).
async fn https_get(port: &str, path: &str, cert: &Certificate) -> String {
    let tcp = TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = TlsConnector::from(cert.client_config())
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the chat");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    // A server may end TLS without close_notify after `Connection: close`; what came is kept.
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8(response).expect("a text response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_over_https_and_chat_over_wss() {
    let cert = Certificate::generate();
    let node = Node::start(
        "https",
        &[
            "--tls-cert",
            &cert.path("cert.pem"),
            "--tls-key",
            &cert.path("key.pem"),
        ],
    );
    let port = node.addr.rsplit_once(':').expect("ADDR:PORT").1.to_owned();

    let page = https_get(&port, "/", &cert).await;
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "page response: {page:.200}"
    );
    assert!(page.contains("text/html"), "page response: {page:.300}");
    let script = https_get(&port, "/chat.js", &cert).await;
    assert!(
        script.starts_with("HTTP/1.1 200"),
        "script response: {script:.200}"
    );
    // The page must pick wss:// when it was loaded over https://.
    assert!(
        script.contains(r#"location.protocol === "https:" ? "wss:" : "ws:""#),
        "chat.js does not follow the page's scheme"
    );

    // Plain ws:// to a TLS port must not work: the TLS is really there.
    assert!(mywebsocket::connect(&format!("ws://{}/ws", node.addr))
        .await
        .is_err());

    let url = format!("wss://localhost:{port}/ws");
    let connect = || connect_tls(&url, Config::default(), cert.client_config());
    let (mut alice, _) = connect().await.expect("alice connects over wss");
    let (mut bob, _) = connect().await.expect("bob connects over wss");
    join(&mut alice, "tls-room", "alice").await;
    join(&mut bob, "tls-room", "bob").await;
    alice
        .write_json(
            &serde_json::json!({ "type": "publish", "room": "tls-room", "text": "over tls" }),
        )
        .await
        .expect("publish");
    for ws in [&mut alice, &mut bob] {
        let msg = next_of(ws, "message").await;
        assert_eq!(msg["text"], "over tls");
        assert_eq!(msg["from"], "alice");
    }

    // A client that does not trust the certificate is refused.
    let strangers = client_config(RootCertStore::empty());
    assert!(connect_tls(&url, Config::default(), strangers)
        .await
        .is_err());
}
