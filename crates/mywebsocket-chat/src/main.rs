//! The MyWebsocket chat: a web page at `/` and the chat's JSON protocol
//! ([`mywebsocket_chat::protocol`]) at `/ws`.
//!
//! ```text
//! mywebsocket-chat [--listen ADDR] [--redis URL | --redis-cluster URL,URL,...]
//!                  [--redis-replica-acks N] [--presence-ttl-ms MS] [--history N]
//!                  [--queue MESSAGES,BYTES] [--prefix REDIS_KEY_PREFIX]
//!                  [--slow-consumer close-1008|close-1013|drop-oldest]
//!                  [--tls-cert PEM --tls-key PEM] [--shutdown-grace-ms MS]
//!                  [--max-file-bytes N] [--files-total-bytes N] [--files-partial-ttl-secs S]
//! ```
//! Without `--redis` it is a single node with everything in memory; with it, one node of
//! many sharing the Redis (see `mywebsocket_hub`); with `--redis-cluster` (seed nodes of a
//! Redis Cluster, comma-separated), one node of many sharing the cluster, rooms spread over
//! its shards. It logs to stderr with `tracing`; set
//! `RUST_LOG`. Its first line on stdout is `listening on http://ADDR node ID` (`https://`
//! with TLS).
//!
//! With `--tls-cert` and `--tls-key` (a PEM certificate chain, leaf first, and its private
//! key) it serves the page over HTTPS and the WebSocket as `wss://`; the page connects with
//! the scheme it was loaded with.
//!
//! On Ctrl-C or SIGTERM it stops accepting, lets what is already queued reach each client,
//! closes every connection with 1001 Going Away, waits for the closing handshakes up to
//! `--shutdown-grace-ms` (default 10 000), and exits 0.
//!
//! Pages share files through the node (see [`files`]): uploads over the file-transfer
//! protocol at `/files` (at most `--max-file-bytes`, default 64 MiB, each, and
//! `--files-total-bytes`, default 1 GiB, kept in all, oldest evicted first, in a temporary
//! directory removed at exit), downloads at `GET /files/ID`. An upload cut off by a lost
//! connection resumes when offered again within `--files-partial-ttl-secs` (default 600).

#![forbid(unsafe_code)]

mod files;
mod page;
mod shutdown;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mywebsocket::tls::tokio_rustls::TlsAcceptor;
use mywebsocket::{CloseCode, Upgrader};
use mywebsocket_chat::protocol::ProtocolEncoder;
use mywebsocket_hub::{Hub, HubConfig, RedisBroker, SlowConsumerPolicy, Traffic};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

const USAGE: &str =
    "usage: mywebsocket-chat [--listen ADDR] [--redis URL | --redis-cluster URL,URL,...] \
[--redis-replica-acks N] [--presence-ttl-ms MS] \
[--history N] [--queue MESSAGES,BYTES] [--prefix REDIS_KEY_PREFIX] \
[--slow-consumer close-1008|close-1013|drop-oldest] [--tls-cert PEM --tls-key PEM] \
[--shutdown-grace-ms MS] [--presence-limit N] [--max-file-bytes N] [--files-total-bytes N] \
[--files-partial-ttl-secs S]

  --redis-cluster URL,URL,...    share a Redis Cluster (seed nodes) with other nodes
  --redis-replica-acks N         on a cluster, replicas that must hold each batch of broadcasts
                                 before the next (default 1; 0 for a cluster without replicas)
  --tls-cert PEM, --tls-key PEM  serve HTTPS and wss:// with this certificate chain and key
  --shutdown-grace-ms MS         on Ctrl-C/SIGTERM, how long closing handshakes may take
                                 (default 10000); then it exits 0
  --presence-limit N             rooms larger than N on a node get no join/leave events there,
                                 and member lists are cut to N plus the count (default 100)
  --max-file-bytes N             largest file a page may share (default 67108864, 64 MiB)
  --files-total-bytes N          shared files kept in all, oldest dropped first, uploads in
                                 progress included (default 1073741824, 1 GiB)
  --files-partial-ttl-secs S     how long an upload cut off by a lost connection waits to be
                                 resumed before its partial file is deleted (default 600)";

/// Command-line options.
#[derive(Debug)]
struct Options {
    listen: SocketAddr,
    redis: Option<String>,
    /// Seed nodes of a Redis Cluster.
    redis_cluster: Option<Vec<String>>,
    config: HubConfig,
    /// Certificate chain and private key, both PEM.
    tls: Option<(PathBuf, PathBuf)>,
    shutdown_grace: Duration,
    max_file_bytes: u64,
    files_total_bytes: u64,
    files_partial_ttl: Duration,
}

/// The body of every HTTP response: a static page, a short text, or a file streamed from disk.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        redis: None,
        redis_cluster: None,
        config: HubConfig::default(),
        tls: None,
        shutdown_grace: Duration::from_secs(10),
        max_file_bytes: 64 << 20,
        files_total_bytes: 1 << 30,
        files_partial_ttl: files::DEFAULT_PARTIAL_TTL,
    };
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                options.listen = value("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?;
            }
            "--redis" => options.redis = Some(value("--redis")?),
            "--redis-cluster" => {
                let seeds: Vec<String> = value("--redis-cluster")?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if seeds.is_empty() {
                    return Err("--redis-cluster needs at least one URL".into());
                }
                options.redis_cluster = Some(seeds);
            }
            "--redis-replica-acks" => {
                let n: usize = value("--redis-replica-acks")?
                    .parse()
                    .map_err(|e| format!("--redis-replica-acks: {e}"))?;
                options.config = options.config.redis_replica_acks(n);
            }
            "--presence-ttl-ms" => {
                let ms: u64 = value("--presence-ttl-ms")?
                    .parse()
                    .map_err(|e| format!("--presence-ttl-ms: {e}"))?;
                options.config = options.config.presence_ttl(Duration::from_millis(ms));
            }
            "--slow-consumer" => {
                let policy = match value("--slow-consumer")?.as_str() {
                    "close-1008" => SlowConsumerPolicy::Close(CloseCode::POLICY_VIOLATION),
                    "close-1013" => SlowConsumerPolicy::Close(CloseCode::TRY_AGAIN_LATER),
                    "drop-oldest" => SlowConsumerPolicy::DropOldest,
                    other => return Err(format!("--slow-consumer: unknown policy {other}")),
                };
                options.config = options.config.slow_consumer(policy);
            }
            "--prefix" => {
                options.config = options.config.redis_prefix(value("--prefix")?);
            }
            "--history" => {
                let n: usize = value("--history")?
                    .parse()
                    .map_err(|e| format!("--history: {e}"))?;
                options.config = options.config.history_len(n);
            }
            "--queue" => {
                let spec = value("--queue")?;
                let (msgs, bytes) = spec.split_once(',').ok_or("--queue takes MESSAGES,BYTES")?;
                options.config = options.config.queue_limits(
                    msgs.parse().map_err(|e| format!("--queue: {e}"))?,
                    bytes.parse().map_err(|e| format!("--queue: {e}"))?,
                );
            }
            "--presence-limit" => {
                let n: usize = value("--presence-limit")?
                    .parse()
                    .map_err(|e| format!("--presence-limit: {e}"))?;
                options.config = options.config.presence_limit(n);
            }
            "--tls-cert" => cert = Some(PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => key = Some(PathBuf::from(value("--tls-key")?)),
            "--shutdown-grace-ms" => {
                let ms: u64 = value("--shutdown-grace-ms")?
                    .parse()
                    .map_err(|e| format!("--shutdown-grace-ms: {e}"))?;
                options.shutdown_grace = Duration::from_millis(ms);
            }
            "--max-file-bytes" => {
                options.max_file_bytes = value("--max-file-bytes")?
                    .parse()
                    .map_err(|e| format!("--max-file-bytes: {e}"))?;
            }
            "--files-total-bytes" => {
                options.files_total_bytes = value("--files-total-bytes")?
                    .parse()
                    .map_err(|e| format!("--files-total-bytes: {e}"))?;
            }
            "--files-partial-ttl-secs" => {
                let secs: u64 = value("--files-partial-ttl-secs")?
                    .parse()
                    .map_err(|e| format!("--files-partial-ttl-secs: {e}"))?;
                options.files_partial_ttl = Duration::from_secs(secs);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    options.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(options)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mywebsocket-chat: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = Hub::builder(options.config.clone()).encoder(ProtocolEncoder);
    let mut traffic = None;
    let broker = match (&options.redis, &options.redis_cluster) {
        (Some(_), Some(_)) => {
            eprintln!("mywebsocket-chat: --redis and --redis-cluster exclude each other");
            std::process::exit(2);
        }
        (Some(url), None) => {
            Some(RedisBroker::new(url, &options.config).map_err(|e| format!("--redis {url}: {e}")))
        }
        (None, Some(seeds)) => Some(
            RedisBroker::cluster(seeds, &options.config)
                .map_err(|e| format!("--redis-cluster {}: {e}", seeds.join(","))),
        ),
        (None, None) => None,
    };
    match broker {
        Some(Ok(broker)) => {
            traffic = Some(broker.traffic());
            builder = builder.broker(broker);
        }
        Some(Err(e)) => {
            eprintln!("mywebsocket-chat: {e}");
            std::process::exit(2);
        }
        None => {}
    }
    let hub = match builder.build().await {
        Ok(hub) => hub,
        Err(e) => {
            eprintln!("mywebsocket-chat: {e}");
            std::process::exit(1);
        }
    };
    let acceptor = match &options.tls {
        Some((cert, key)) => match tls::acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(e) => {
                eprintln!("mywebsocket-chat: {e}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let file_store = match files::FileStore::new(
        options.max_file_bytes,
        options.files_total_bytes,
        options.files_partial_ttl,
    ) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("mywebsocket-chat: cannot create the shared files' directory: {e}");
            std::process::exit(1);
        }
    };
    let _expiry = file_store.spawn_expiry(options.files_partial_ttl);
    let listener = match TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mywebsocket-chat: cannot listen on {}: {e}", options.listen);
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    // Before the line below, which tells scripts they may now send signals.
    let signal = shutdown::signal();
    tokio::pin!(signal);
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // Tests and scripts read this line to find the port.
    println!("listening on {scheme}://{addr} node {}", hub.node_id());
    tracing::info!(%addr, node = %hub.node_id(), redis = options.redis.is_some() || options.redis_cluster.is_some(), tls = acceptor.is_some(), "chat node up");
    let upgrader = Upgrader::default();
    let handlers = TaskTracker::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let site = Site {
            hub: hub.clone(),
            upgrader: upgrader.clone(),
            handlers: handlers.clone(),
            files: file_store.clone(),
            traffic: traffic.clone(),
        };
        tokio::spawn(connection(tcp, acceptor.clone(), site));
    }
    tracing::info!(connections = upgrader.live_connections(), "shutting down");
    drop(listener);
    shutdown::close_all(&hub, &upgrader, &handlers, options.shutdown_grace).await;
    // Last: the directory goes with the last handle, once no upload handler holds one.
    drop(file_store);
}

/// What every HTTP connection shares.
#[derive(Clone)]
struct Site {
    hub: Hub,
    upgrader: Upgrader,
    /// The WebSocket handlers, so a shutdown can wait for them to unregister.
    handlers: TaskTracker,
    /// Shared files.
    files: files::FileStore,
    /// What the Redis broker received, for `/stats`.
    traffic: Option<Traffic>,
}

/// Serves one accepted TCP connection, after the TLS handshake when there is an acceptor.
/// Both run in the connection's own task, so a slow client delays nobody else.
async fn connection(tcp: TcpStream, acceptor: Option<TlsAcceptor>, site: Site) {
    match acceptor {
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(tls) => serve_http(tls, site).await,
            Err(e) => tracing::debug!(error = %e, "tls handshake failed"),
        },
        None => serve_http(tcp, site).await,
    }
}

async fn serve_http<I>(io: I, site: Site)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |req| route(req, site.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

async fn route(mut req: Request<Incoming>, site: Site) -> Result<Response<Body>, Infallible> {
    let response = match req.uri().path() {
        "/files" => match site.upgrader.upgrade(&mut req) {
            Ok((response, upgrade)) => {
                let store = site.files;
                site.handlers.spawn(async move {
                    if let Ok(ws) = upgrade.await {
                        store.serve_upload(ws).await;
                    }
                });
                response.map(|()| full(Bytes::new()))
            }
            Err(e) => text(e.status(), e.to_string()),
        },
        path if path.starts_with("/files/") => site.files.download(&path["/files/".len()..]).await,
        "/stats" => stats(&site),
        "/ws" => match site.upgrader.upgrade(&mut req) {
            Ok((response, upgrade)) => {
                let hub = site.hub;
                site.handlers.spawn(async move {
                    if let Ok(ws) = upgrade.await {
                        mywebsocket_chat::server::handle(ws, hub).await;
                    }
                });
                response.map(|()| full(Bytes::new()))
            }
            Err(e) => text(e.status(), e.to_string()),
        },
        path => match page::asset(path) {
            Some(asset) => Response::builder()
                .header("content-type", asset.content_type)
                .body(full(Bytes::from_static(asset.body.as_bytes())))
                .expect("static response"),
            None => text(StatusCode::NOT_FOUND, "not found".into()),
        },
    };
    Ok(response)
}

/// The node's counters as JSON: its connections, the room broadcasts it delivered, and the
/// room messages it received from Redis (`null` without Redis), for capacity measurements
/// (`bench-fanout --rooms`).
fn stats(site: &Site) -> Response<Body> {
    let body = serde_json::json!({
        "node": site.hub.node_id().to_string(),
        "connections": site.hub.local_connections(),
        "room_deliveries": site.hub.room_deliveries(),
        "redis_room_messages": site.traffic.as_ref().map(Traffic::room_messages),
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(full(Bytes::from(body.to_string())))
        .expect("static response")
}

/// A short plain-text answer.
pub(crate) fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full(Bytes::from(body)))
        .expect("static response")
}

/// A body of bytes already in memory.
fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}
