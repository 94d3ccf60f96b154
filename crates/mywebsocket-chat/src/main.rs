//! The MyWebsocket chat: a web page at `/` and the hub's JSON protocol at `/ws`.
//!
//! ```text
//! mywebsocket-chat [--listen ADDR] [--redis URL] [--presence-ttl-ms MS] [--history N]
//!                  [--queue MESSAGES,BYTES] [--prefix REDIS_KEY_PREFIX]
//!                  [--slow-consumer close-1008|close-1013|drop-oldest]
//! ```
//! Without `--redis` it is a single node with everything in memory; with it, one node of
//! many sharing the Redis (see `mywebsocket_hub`). It logs to stderr with `tracing`; set
//! `RUST_LOG`. Its first line on stdout is `listening on http://ADDR node ID`.

#![forbid(unsafe_code)]

mod page;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mywebsocket::{CloseCode, Upgrader};
use mywebsocket_hub::protocol::ProtocolEncoder;
use mywebsocket_hub::{Hub, HubConfig, RedisBroker, SlowConsumerPolicy};
use tokio::net::TcpListener;

/// Command-line options.
#[derive(Debug)]
struct Options {
    listen: SocketAddr,
    redis: Option<String>,
    config: HubConfig,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        redis: None,
        config: HubConfig::default(),
    };
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
            "-h" | "--help" => {
                println!("usage: mywebsocket-chat [--listen ADDR] [--redis URL] [--presence-ttl-ms MS] [--history N] [--queue MESSAGES,BYTES] [--prefix REDIS_KEY_PREFIX] [--slow-consumer close-1008|close-1013|drop-oldest]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
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
    if let Some(url) = &options.redis {
        match RedisBroker::new(url, &options.config) {
            Ok(broker) => builder = builder.broker(broker),
            Err(e) => {
                eprintln!("mywebsocket-chat: --redis {url}: {e}");
                std::process::exit(2);
            }
        }
    }
    let hub = match builder.build().await {
        Ok(hub) => hub,
        Err(e) => {
            eprintln!("mywebsocket-chat: {e}");
            std::process::exit(1);
        }
    };
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
    // Tests and scripts read this line to find the port.
    println!("listening on http://{addr} node {}", hub.node_id());
    tracing::info!(%addr, node = %hub.node_id(), redis = options.redis.is_some(), "chat node up");
    let upgrader = Upgrader::default();
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let hub = hub.clone();
        let upgrader = upgrader.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| route(req, hub.clone(), upgrader.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn route(
    mut req: Request<Incoming>,
    hub: Hub,
    upgrader: Upgrader,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match req.uri().path() {
        "/ws" => match upgrader.upgrade(&mut req) {
            Ok((response, upgrade)) => {
                tokio::spawn(async move {
                    if let Ok(ws) = upgrade.await {
                        mywebsocket_hub::server::handle(ws, hub).await;
                    }
                });
                response
            }
            Err(e) => text(e.status(), e.to_string()),
        },
        path => match page::asset(path) {
            Some(asset) => Response::builder()
                .header("content-type", asset.content_type)
                .body(Full::new(Bytes::from_static(asset.body.as_bytes())))
                .expect("static response"),
            None => text(StatusCode::NOT_FOUND, "not found".into()),
        },
    };
    Ok(response)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}
