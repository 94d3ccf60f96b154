//! What a connection's stream could tell when the connection was made: addresses and TLS.

use std::any::Any;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::net::TcpStream;

/// What the stream under a connection told when the connection was made: the addresses of
/// both ends and, over TLS, the negotiated session. From
/// [`WebSocket::connection_info`](crate::WebSocket::connection_info) (also on
/// [`Reader`](crate::Reader) and [`Writer`](crate::Writer)).
///
/// # Why a snapshot, not the stream
/// tokio-tungstenite lends its stream (`get_ref`). A MyWebsocket connection cannot: its read
/// half belongs to the [`Reader`](crate::Reader) and its write half to the write task that
/// batches every writer's messages, so there is no one stream to lend, and a stream borrowed
/// while the write task writes would be a race. What is worth asking of a stream after the
/// upgrade does not change during the connection, so it is read once, at upgrade (server) or
/// connect (client) time, and kept as a value, as axum's `ConnectInfo` is.
///
/// # Which streams tell what
/// It is filled from the stream's type, with no bound added to `accept` or `connect_with`:
/// - [`tokio::net::TcpStream`]: both addresses;
/// - with the `tls` feature, `tokio_rustls`'s server and client `TlsStream<TcpStream>`: both
///   addresses and [`TlsInfo`];
/// - with the `hyper` feature, a connection hyper (or axum) upgraded, when hyper served it
///   over `TokioIo<TcpStream>` or, with `tls`, `TokioIo<TlsStream<TcpStream>>` (the types
///   `axum::serve` and hyper-util use): the same. For any other stream hyper served, give what
///   the server knows with [`UpgradeFuture::with_connection_info`](crate::UpgradeFuture).
///
/// Any other stream (an in-memory pipe, a Unix socket, your own type) leaves the fields
/// `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// Our end's address.
    pub local_addr: Option<SocketAddr>,
    /// The TLS session, when the stream was TLS.
    pub tls: Option<TlsInfo>,
}

impl ConnectionInfo {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ConnectionInfo::peer_addr`].
    #[must_use]
    pub fn peer_addr(mut self, addr: SocketAddr) -> Self {
        self.peer_addr = Some(addr);
        self
    }

    /// Sets [`ConnectionInfo::local_addr`].
    #[must_use]
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Sets [`ConnectionInfo::tls`].
    #[must_use]
    pub fn tls(mut self, tls: TlsInfo) -> Self {
        self.tls = Some(tls);
        self
    }

    /// `self`, with each field `other` has taking the place of this one's.
    pub(crate) fn overridden_by(self, other: Self) -> Self {
        Self {
            peer_addr: other.peer_addr.or(self.peer_addr),
            local_addr: other.local_addr.or(self.local_addr),
            tls: other.tls.or(self.tls),
        }
    }

    /// What `stream` tells, if it is one of the types listed in the type's docs.
    pub(crate) fn of(stream: &dyn Any) -> Self {
        if let Some(tcp) = stream.downcast_ref::<TcpStream>() {
            return Self::of_tcp(tcp);
        }
        #[cfg(feature = "tls")]
        if let Some(info) = tls::of(stream) {
            return info;
        }
        #[cfg(feature = "hyper")]
        if let Some(io) = stream.downcast_ref::<hyper_util::rt::TokioIo<TcpStream>>() {
            return Self::of_tcp(io.inner());
        }
        Self::default()
    }

    fn of_tcp(tcp: &TcpStream) -> Self {
        Self {
            peer_addr: tcp.peer_addr().ok(),
            local_addr: tcp.local_addr().ok(),
            tls: None,
        }
    }
}

/// The TLS session of a connection: what rustls negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The ALPN protocol agreed on, such as `b"http/1.1"`.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The TLS version, as rustls names it: `"TLSv1_3"` or `"TLSv1_2"`.
    pub protocol_version: Option<&'static str>,
    /// The peer's certificate chain, DER-encoded, its own certificate first: the server's on a
    /// client; on a server, the client's when client authentication asked for one.
    pub peer_certificates: Vec<Bytes>,
    /// Server side: the host name the client asked for (SNI), if it sent one.
    pub server_name: Option<String>,
}

impl TlsInfo {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`TlsInfo::alpn_protocol`].
    #[must_use]
    pub fn alpn_protocol(mut self, protocol: impl Into<Vec<u8>>) -> Self {
        self.alpn_protocol = Some(protocol.into());
        self
    }

    /// Sets [`TlsInfo::protocol_version`].
    #[must_use]
    pub fn protocol_version(mut self, version: &'static str) -> Self {
        self.protocol_version = Some(version);
        self
    }

    /// Sets [`TlsInfo::peer_certificates`].
    #[must_use]
    pub fn peer_certificates(mut self, chain: impl IntoIterator<Item = Bytes>) -> Self {
        self.peer_certificates = chain.into_iter().collect();
        self
    }

    /// Sets [`TlsInfo::server_name`].
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

#[cfg(feature = "tls")]
mod tls {
    use std::any::Any;

    use bytes::Bytes;
    use rustls::CommonState;
    use tokio::net::TcpStream;
    use tokio_rustls::{client, server};

    use super::{ConnectionInfo, TlsInfo};

    /// What a TLS stream over TCP tells, bare or as hyper serves it.
    pub(super) fn of(stream: &dyn Any) -> Option<ConnectionInfo> {
        if let Some(tls) = stream.downcast_ref::<server::TlsStream<TcpStream>>() {
            return Some(of_server(tls));
        }
        if let Some(tls) = stream.downcast_ref::<client::TlsStream<TcpStream>>() {
            let (tcp, conn) = tls.get_ref();
            return Some(ConnectionInfo::of_tcp(tcp).tls(session(conn)));
        }
        #[cfg(feature = "hyper")]
        if let Some(io) =
            stream.downcast_ref::<hyper_util::rt::TokioIo<server::TlsStream<TcpStream>>>()
        {
            return Some(of_server(io.inner()));
        }
        None
    }

    fn of_server(tls: &server::TlsStream<TcpStream>) -> ConnectionInfo {
        let (tcp, conn) = tls.get_ref();
        let mut session = session(conn);
        session.server_name = conn.server_name().map(str::to_owned);
        ConnectionInfo::of_tcp(tcp).tls(session)
    }

    fn session(state: &CommonState) -> TlsInfo {
        TlsInfo {
            alpn_protocol: state.alpn_protocol().map(<[u8]>::to_vec),
            protocol_version: state.protocol_version().and_then(|v| v.as_str()),
            peer_certificates: state
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|cert| Bytes::copy_from_slice(cert))
                .collect(),
            server_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tcp_stream_tells_both_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let info = ConnectionInfo::of(&server);
        assert_eq!(info.peer_addr, Some(peer));
        assert_eq!(info.local_addr, Some(listener.local_addr().unwrap()));
        assert_eq!(info.tls, None);
        assert_eq!(
            ConnectionInfo::of(&client).peer_addr,
            Some(listener.local_addr().unwrap())
        );
    }

    #[test]
    fn other_streams_tell_nothing_and_explicit_fields_win() {
        let (a, _b) = tokio::io::duplex(8);
        assert_eq!(ConnectionInfo::of(&a), ConnectionInfo::new());
        let addr: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let other: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let captured = ConnectionInfo::new().local_addr(other);
        let merged = captured.overridden_by(ConnectionInfo::new().peer_addr(addr));
        assert_eq!(merged.peer_addr, Some(addr));
        assert_eq!(merged.local_addr, Some(other));
    }
}
