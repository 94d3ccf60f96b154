//! The servers under test: an echo (and a broadcast) server per implementation, all accepting on
//! the same kind of listener and running on the same [`runtime`](crate::runtime).
//!
//! Each server uses its library the way the library's own examples do (read a message, write it
//! back), with the library's default settings except where a default would refuse the workload:
//! heartbeats off for MyWebsocket, 64 MiB limits and UTF-8 validation on for yawc (whose
//! defaults are a 1 MiB exclusive limit and no UTF-8 check). `TCP_NODELAY` is set on every
//! accepted socket.
//!
//! Two servers also speak HTTP/2 (RFC 8441, cleartext with prior knowledge) for the HTTP/2
//! workload: ours ([`Impl::MineH2`]) and axum's own extractor ([`Impl::AxumH2`]).

mod axum_h2;
mod fastws;
mod hub;
mod mine;
mod mine_h2;
mod tcp;
mod tokio_ws;
mod tungstenite;
mod yawc;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

pub use hub::{trigger_count, trigger_payload, TRIGGER_LEN};

/// A WebSocket implementation (or the TCP ceiling) that `bench-server` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impl {
    /// MyWebsocket, permessage-deflate off.
    Mine,
    /// MyWebsocket with permessage-deflate at zlib level 1, yawc's level (its default is 2).
    MineDeflate,
    /// tokio-tungstenite 0.28.
    Tungstenite,
    /// fastwebsockets with hyper upgrades and its `FragmentCollector`.
    FastWebSockets,
    /// tokio-websockets' server.
    TokioWebSockets,
    /// yawc without compression.
    Yawc,
    /// yawc with permessage-deflate (its low-latency preset: level 1).
    YawcDeflate,
    /// A plain TCP echo after a canned `101` answer: the ceiling.
    Tcp,
    /// uWebSockets (C++) through uWebSockets.js: `peers/uws/echo.js`, run by Node as a process
    /// of its own, not by `bench-server` ([`Impl::is_external`]).
    Uws,
    /// MyWebsocket taking HTTP/2 (each extended CONNECT stream a WebSocket, through
    /// `mywebsocket::h2::serve_connection`) and HTTP/1.1 on one port, as the `echo_server`
    /// example does; otherwise as [`Impl::Mine`].
    MineH2,
    /// axum 0.8's `WebSocketUpgrade` (tokio-tungstenite) under `axum::serve`, which takes
    /// HTTP/2 and HTTP/1.1; echo only.
    AxumH2,
}

impl Impl {
    /// Every implementation.
    pub const ALL: [Impl; 11] = [
        Impl::Mine,
        Impl::MineDeflate,
        Impl::Tungstenite,
        Impl::FastWebSockets,
        Impl::TokioWebSockets,
        Impl::Yawc,
        Impl::YawcDeflate,
        Impl::Tcp,
        Impl::Uws,
        Impl::MineH2,
        Impl::AxumH2,
    ];

    /// The servers of the HTTP/2 workload: ours over HTTP/2, ours over HTTP/1.1 (the same
    /// library on as many TCP connections as there are streams), and axum's over HTTP/2.
    pub const HTTP2: [Impl; 3] = [Impl::MineH2, Impl::Mine, Impl::AxumH2];

    /// The servers of the uncompressed workloads, ours first and the ceiling last.
    pub const PLAIN: [Impl; 6] = [
        Impl::Mine,
        Impl::Tungstenite,
        Impl::FastWebSockets,
        Impl::TokioWebSockets,
        Impl::Yawc,
        Impl::Tcp,
    ];

    /// The servers of the one-in-flight workload: the plain ones and uWebSockets, the
    /// reference users compare against.
    pub const ONE_IN_FLIGHT: [Impl; 7] = [
        Impl::Mine,
        Impl::Tungstenite,
        Impl::FastWebSockets,
        Impl::TokioWebSockets,
        Impl::Yawc,
        Impl::Uws,
        Impl::Tcp,
    ];

    /// The servers of the compression workload: ours and yawc compressing, ours without.
    pub const COMPRESSION: [Impl; 3] = [Impl::MineDeflate, Impl::YawcDeflate, Impl::Mine];

    /// The name used on the command line and in the report.
    pub const fn name(self) -> &'static str {
        match self {
            Impl::Mine => "mywebsocket",
            Impl::MineDeflate => "mywebsocket-deflate",
            Impl::Tungstenite => "tokio-tungstenite",
            Impl::FastWebSockets => "fastwebsockets",
            Impl::TokioWebSockets => "tokio-websockets",
            Impl::Yawc => "yawc",
            Impl::YawcDeflate => "yawc-deflate",
            Impl::Tcp => "tcp",
            Impl::Uws => "uws",
            Impl::MineH2 => "mywebsocket-h2",
            Impl::AxumH2 => "axum-h2",
        }
    }

    /// The implementation called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether this is one of ours.
    pub const fn is_ours(self) -> bool {
        matches!(self, Impl::Mine | Impl::MineDeflate | Impl::MineH2)
    }

    /// Whether the load generator reaches it over HTTP/2 (one connection, a stream per
    /// WebSocket) rather than over HTTP/1.1 (a TCP connection per WebSocket).
    pub const fn speaks_h2(self) -> bool {
        matches!(self, Impl::MineH2 | Impl::AxumH2)
    }

    /// Whether this is a Rust WebSocket library other than ours (not the TCP ceiling, not
    /// uWebSockets): the peers of "ours ÷ best Rust peer".
    pub const fn is_rust_peer(self) -> bool {
        !self.is_ours() && !matches!(self, Impl::Tcp | Impl::Uws)
    }

    /// Whether the server runs outside `bench-server` (uWebSockets, under Node).
    pub const fn is_external(self) -> bool {
        matches!(self, Impl::Uws)
    }
}

/// What the server does with the messages it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send every text and binary message back to its sender.
    Echo,
    /// Treat every message as a trigger ([`trigger_payload`]): wait until the number of
    /// connections it names have joined, then send it to all of them.
    Broadcast,
}

/// Binds a listener on `addr`, which must be a loopback address, with a backlog long enough
/// for thousands of simultaneous connects. Call it inside the runtime.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a non-loopback address; the bind error otherwise.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the benchmark servers listen on loopback addresses only",
        ));
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Runs `which` on `listener` until the process ends.
///
/// # Errors
/// Only listener errors that are not about a single connection.
pub async fn serve(which: Impl, listener: TcpListener, mode: Mode) -> io::Result<()> {
    match which {
        Impl::Mine => mine::serve(listener, mode, false).await,
        Impl::MineDeflate => mine::serve(listener, mode, true).await,
        Impl::Tungstenite => tungstenite::serve(listener, mode).await,
        Impl::FastWebSockets => fastws::serve(listener, mode).await,
        Impl::TokioWebSockets => tokio_ws::serve(listener, mode).await,
        Impl::Yawc => yawc::serve(listener, mode, false).await,
        Impl::YawcDeflate => yawc::serve(listener, mode, true).await,
        Impl::Tcp => tcp::serve(listener, mode).await,
        Impl::MineH2 => mine_h2::serve(listener, mode).await,
        Impl::AxumH2 => axum_h2::serve(listener, mode).await,
        Impl::Uws => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "uws runs under Node (peers/uws/echo.js), not in bench-server",
        )),
    }
}

/// Accepts connections for ever, sets `TCP_NODELAY` and spawns `handle` for each.
async fn accept_loop<F, Fut>(listener: TcpListener, mut handle: F) -> io::Result<()>
where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                // A socket that cannot take the option still gets served.
                let _ = tcp.set_nodelay(true);
                tokio::spawn(handle(tcp));
            }
            // Out of descriptors or a connection reset before accept: not the listener's fault.
            Err(e) if is_per_connection(&e) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => return Err(e),
        }
    }
}

/// [`accept_loop`] for the libraries whose upgrade goes through hyper: serves each connection
/// with hyper's HTTP/1, upgrades enabled, and answers every request with `on_request`.
async fn hyper_accept_loop<F, Fut, E>(listener: TcpListener, on_request: F) -> io::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Empty<hyper::body::Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    accept_loop(listener, move |tcp| {
        let service = service_fn(on_request.clone());
        async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        }
    })
    .await
}

/// Whether an accept error concerns one connection or a passing shortage, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for which in Impl::ALL {
            assert_eq!(Impl::from_name(which.name()), Some(which));
        }
        assert_eq!(Impl::from_name("nope"), None);
    }

    #[tokio::test]
    async fn refuses_to_listen_beyond_loopback() {
        let err = bind("0.0.0.0:0".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(bind("127.0.0.1:0".parse().unwrap()).is_ok());
    }
}
