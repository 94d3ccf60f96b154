//! `ConnectionInfo`: what the stream told when the connection was made, on every entry point
//! (`accept` over TCP and TLS, `connect`, `connect_tls`, the hyper upgrade).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mywebsocket::tls::rustls::RootCertStore;
use mywebsocket::tls::tokio_rustls::TlsAcceptor;
use mywebsocket::tls::{client_config, connect_tls, server_config_from_pem};
use mywebsocket::{
    connect_with, CloseCode, Config, ConnectionInfo, Message, UpgradeFuture, Upgrader, WebSocket,
};
use mywebsocket_tests::{bounded, connect_client, listen, Task};

#[tokio::test]
async fn accept_and_connect_over_tcp_know_both_addresses() {
    bounded(async {
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let (tcp, peer) = listener.accept().await.unwrap();
            let ws = Upgrader::default().accept(tcp).await.unwrap();
            (ws, peer)
        });
        let client = connect_client(addr, Config::default()).await;
        let (server, peer) = server.join().await;
        assert_eq!(server.peer_addr(), Some(peer));
        assert_eq!(server.local_addr(), Some(addr));
        assert_eq!(client.peer_addr(), Some(addr));
        assert_eq!(client.local_addr(), Some(peer));
        assert_eq!(server.connection_info().tls, None);
        // Both halves keep it.
        let (reader, writer) = server.split();
        assert_eq!(reader.connection_info().peer_addr, Some(peer));
        assert_eq!(writer.clone().connection_info().peer_addr, Some(peer));
    })
    .await;
}

#[tokio::test]
async fn an_in_memory_stream_tells_nothing() {
    bounded(async {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let server = Task::spawn(async move { Upgrader::default().accept(server_io).await });
        let request = http::Request::get("ws://example.com/").body(()).unwrap();
        let (client, _) = connect_with(client_io, request, Config::default())
            .await
            .unwrap();
        let server = server.join().await.unwrap();
        assert_eq!(server.connection_info(), &ConnectionInfo::new());
        assert_eq!(client.peer_addr(), None);
    })
    .await;
}

#[tokio::test]
async fn tls_connections_know_the_session_on_both_ends() {
    bounded(async {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = made.cert.der().clone();
        let config = server_config_from_pem(
            made.cert.pem().as_bytes(),
            made.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(config);
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let (tcp, peer) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let mut ws = Upgrader::default().accept(tls).await.unwrap();
            let info = ws.connection_info().clone();
            // Answer the client's close.
            while ws.read_msg().await.is_ok() {}
            (info, peer)
        });
        let mut roots = RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        let url = format!("wss://localhost:{}/", addr.port());
        let (mut client, _) = connect_tls(&url, Config::default(), client_config(roots))
            .await
            .unwrap();

        let theirs = client.connection_info().tls.clone().expect("a TLS session");
        assert_eq!(client.peer_addr(), Some(addr));
        assert_eq!(theirs.peer_certificates, [Bytes::copy_from_slice(&der)]);
        assert!(theirs
            .protocol_version
            .is_some_and(|v| v.starts_with("TLS")));
        client.close(CloseCode::NORMAL, "").await.unwrap();

        let (info, peer) = server.join().await;
        let ours = info.tls.expect("a TLS session");
        assert_eq!(info.peer_addr, Some(peer));
        assert_eq!(ours.server_name.as_deref(), Some("localhost"));
        assert_eq!(ours.protocol_version, theirs.protocol_version);
        assert!(
            ours.peer_certificates.is_empty(),
            "no client authentication"
        );
    })
    .await;
}

/// Serves one hyper connection over `io`, upgrading it with `prepare` applied to the upgrade
/// future; returns the connection.
async fn hyper_upgrade<I>(io: I, prepare: fn(UpgradeFuture) -> UpgradeFuture) -> WebSocket
where
    I: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<UpgradeFuture>();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let tx = tx.clone();
        async move {
            let (response, upgrade) = Upgrader::default()
                .upgrade::<_, Empty<Bytes>>(&mut req)
                .expect("a valid upgrade");
            let _ = tx.send(prepare(upgrade));
            Ok::<_, Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::spawn(conn);
    let upgrade = rx.recv().await.expect("an upgrade request");
    upgrade.await.expect("hyper upgrade")
}

#[tokio::test]
async fn the_hyper_upgrade_knows_the_addresses_of_a_tcp_stream() {
    bounded(async {
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let (tcp, peer) = listener.accept().await.unwrap();
            let mut ws = hyper_upgrade(TokioIo::new(tcp), |upgrade| upgrade).await;
            let info = ws.connection_info().clone();
            let echoed = ws.read_msg().await.unwrap();
            ws.write_message(echoed).await.unwrap();
            ws.flush().await.unwrap();
            (info, peer)
        });
        let mut client = connect_client(addr, Config::default()).await;
        client.write_string("still works").await.unwrap();
        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::text("still works")
        );
        let (info, peer) = server.join().await;
        assert_eq!(info.peer_addr, Some(peer));
        assert_eq!(info.local_addr, Some(addr));
    })
    .await;
}

#[tokio::test]
async fn with_connection_info_fills_in_what_hyper_cannot_tell() {
    bounded(async {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let server = Task::spawn(hyper_upgrade(TokioIo::new(server_io), |upgrade| {
            let peer: SocketAddr = "192.0.2.7:50000".parse().unwrap();
            upgrade.with_connection_info(ConnectionInfo::new().peer_addr(peer))
        }));
        let request = http::Request::get("ws://example.com/").body(()).unwrap();
        let (_client, _) = connect_with(client_io, request, Config::default())
            .await
            .unwrap();
        let server = server.join().await;
        assert_eq!(server.peer_addr(), Some("192.0.2.7:50000".parse().unwrap()));
        assert_eq!(server.local_addr(), None);
    })
    .await;
}
