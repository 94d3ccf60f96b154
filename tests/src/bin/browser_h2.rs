//! WebSockets over HTTP/2 (RFC 8441) with a real browser: headless Chromium loads a page over
//! HTTPS + HTTP/2 from our server, and the page opens `wss://<same origin>/ws`, sends a message
//! and waits for the echo. The verdict comes from the server side: the `http::Version` of the
//! request that opened the WebSocket (`HTTP/2` for an extended CONNECT on the page's connection,
//! `HTTP/1.1` for an upgrade on a connection of its own), the echo our handler wrote, and the
//! page's report (`GET /result?ok=1&...`).
//!
//! One hyper service serves the page, the WebSocket and the report; each TLS connection is
//! served by what ALPN agreed on: `h2` with [`mywebsocket::h2::server_builder`] (which sends
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`), `http/1.1` with hyper's HTTP/1.1 server with
//! upgrades. The certificate is made with rcgen for `127.0.0.1`; Chromium accepts it because of
//! `--ignore-certificate-errors`.
//!
//! Usage: `browser_h2 [--no-extended-connect] [-- CHROMIUM_FLAGS...]`
//!
//! - default: the server allows extended CONNECT; the run passes when the WebSocket arrived
//!   over HTTP/2 and the echo round trip completed;
//! - `--no-extended-connect`: a control run; the server's HTTP/2 settings do not allow extended
//!   CONNECT, so Chromium must fall back to an HTTP/1.1 upgrade, and the run passes when it
//!   did (this shows that the check tells the two apart);
//! - flags after `--` are added to Chromium's command line (e.g. `--disable-features=...`).
//!
//! Environment: `CHROMIUM` (the browser to run; default `chromium` on `PATH`),
//! `BROWSER_H2_TIMEOUT` (seconds the browser may take, default 60), `BROWSER_H2_LOG` (where
//! Chromium's output goes; default `browser-h2-chromium.log` in the temporary directory; its
//! last lines are printed on failure).
//!
//! Chromium runs in a process group of its own with its profile, configuration and cache in a
//! temporary directory. When the run ends, however it ends (success, failure, panic, Ctrl-C or
//! SIGTERM), the group is killed (SIGKILL), then the crash handlers Chromium started in
//! sessions of their own (by process id, found by that directory on their command line), and
//! the directory is removed.
//!
//! Chromium 156 needs no flag for WebSockets over HTTP/2: it opens a `wss://` WebSocket as an
//! extended CONNECT on an open HTTP/2 connection to the same origin whose server sent
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (the old `--enable-websocket-over-http2` switch is
//! gone; the binary has no such switch or feature), and falls back to an HTTP/1.1 upgrade on a
//! connection of its own otherwise (`--no-extended-connect`).
//!
//! Exit status: 0 when the WebSocket arrived over the expected protocol and the echo came back,
//! 1 otherwise, 2 for a usage error.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mywebsocket::tls::rustls::ServerConfig;
use mywebsocket::tls::server_config_from_pem;
use mywebsocket::tls::tokio_rustls::TlsAcceptor;
use mywebsocket::{Error, Message, Upgrader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The message the page sends; the server echoes it and the page compares.
const GREETING: &str = "hello over a browser's WebSocket";

/// What the server saw, in order.
enum Event {
    /// A TLS connection (numbered from 1 in the order accepted) and the protocol ALPN agreed on.
    Connection { conn: usize, alpn: String },
    /// An HTTP request other than the WebSocket's.
    Request {
        conn: usize,
        version: Version,
        method: Method,
        path: String,
    },
    /// The request that opened the WebSocket, and how it was answered.
    WebSocket {
        conn: usize,
        version: Version,
        method: Method,
        protocol: Option<String>,
        answer: Result<StatusCode, String>,
    },
    /// Our handler echoed a text message on the WebSocket.
    Echoed { text: String },
    /// The WebSocket ended.
    WebSocketEnded { how: String },
    /// The page's report: the query of `GET /result?...`.
    Report { query: String },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection { conn, alpn } => write!(f, "connection {conn}: TLS, ALPN {alpn}"),
            Self::Request {
                conn,
                version,
                method,
                path,
            } => write!(f, "connection {conn}: {method} {path} over {version:?}"),
            Self::WebSocket {
                conn,
                version,
                method,
                protocol,
                answer,
            } => write!(
                f,
                "connection {conn}: WebSocket request {method} /ws over {version:?}, :protocol {protocol:?}, answered {answer:?}"
            ),
            Self::Echoed { text } => write!(f, "echoed {text:?}"),
            Self::WebSocketEnded { how } => write!(f, "WebSocket ended: {how}"),
            Self::Report { query } => write!(f, "page report: {query}"),
        }
    }
}

/// Chromium as a child process in a process group of its own, its profile, configuration and
/// cache in a temporary directory; dropping it kills the group, and the crash handlers Chromium
/// starts in sessions of their own (found by that directory on their command line), and removes
/// the directory.
struct Chromium {
    child: Child,
    pgid: i32,
    dir: PathBuf,
}

impl Chromium {
    fn launch(program: &str, flags: &[String], url: &str, log: &Path) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("browser-h2-{}", std::process::id()));
        // A leftover of an earlier run with the same pid would only be stale state.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let log_file = std::fs::File::create(log)?;
        let child = Command::new(program)
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(flags)
            .arg(url)
            // Chromium's crash handler keeps its database under the configuration directory,
            // which would otherwise be the user's ~/.config/chromium.
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .expect("a child just spawned has a pid");
        Ok(Self { child, pgid, dir })
    }

    /// The processes, outside Chromium's group, whose command line names our directory:
    /// the crash handlers (`chrome_crashpad_handler --database=<dir>/config/...`).
    fn stragglers(&self) -> Vec<i32> {
        let needle = self.dir.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != self.pgid && pid != std::process::id() as i32)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
            })
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for
        // Chromium (its pid is the group id, from `process_group(0)`); no memory is involved.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let _ = self.child.start_kill();
        for pid in self.stragglers() {
            // SAFETY: kill(2) on one process id read from /proc just now, whose command line
            // names our temporary directory; no memory is involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // Wait (briefly) for the leader so that nothing writes to the directory any more.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The page: opens the WebSocket on its own origin, sends [`GREETING`], and reports the echo
/// (and how the page itself was fetched) with `GET /result`.
fn page() -> String {
    format!(
        r#"<!doctype html>
<meta charset="utf-8">
<title>browser-h2</title>
<p id="status">running</p>
<script>
"use strict";
const greeting = {greeting:?};
let reported = false;
function report(fields) {{
  if (reported) return;
  reported = true;
  const nav = performance.getEntriesByType("navigation")[0];
  fields.page = nav ? nav.nextHopProtocol : "unknown";
  document.getElementById("status").textContent = JSON.stringify(fields);
  fetch("/result?" + new URLSearchParams(fields), {{ cache: "no-store" }});
}}
try {{
  const ws = new WebSocket("wss://" + location.host + "/ws");
  ws.onopen = () => ws.send(greeting);
  ws.onmessage = (e) => {{
    report(e.data === greeting ? {{ ok: "1" }} : {{ ok: "0", why: "echo differs", got: String(e.data) }});
    ws.close(1000, "done");
  }};
  ws.onerror = () => report({{ ok: "0", why: "error event" }});
  ws.onclose = (e) => report({{ ok: "0", why: "closed before the echo", code: String(e.code) }});
}} catch (e) {{
  report({{ ok: "0", why: "exception " + e }});
}}
</script>
"#,
        greeting = GREETING
    )
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// The service of every connection, HTTP/2 or HTTP/1.1.
fn handle(
    mut request: Request<Incoming>,
    upgrader: &Upgrader,
    events: &mpsc::UnboundedSender<Event>,
    conn: usize,
) -> Response<Full<Bytes>> {
    let version = request.version();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if path == "/ws" {
        let protocol = request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .map(|p| p.as_str().to_owned());
        return match upgrader.upgrade::<_, Full<Bytes>>(&mut request) {
            Ok((response, upgrade)) => {
                let _ = events.send(Event::WebSocket {
                    conn,
                    version,
                    method,
                    protocol,
                    answer: Ok(response.status()),
                });
                let events = events.clone();
                tokio::spawn(async move {
                    let mut ws = match upgrade.await {
                        Ok(ws) => ws,
                        Err(e) => {
                            let _ = events.send(Event::WebSocketEnded {
                                how: format!("the upgrade failed: {e}"),
                            });
                            return;
                        }
                    };
                    let how = loop {
                        match ws.read_msg().await {
                            Ok(Message::Text(text)) => {
                                let echoed = text.as_str().to_owned();
                                if let Err(e) = ws.write_message(Message::Text(text)).await {
                                    break format!("writing the echo failed: {e}");
                                }
                                let _ = events.send(Event::Echoed { text: echoed });
                            }
                            Ok(other) => {
                                if let Err(e) = ws.write_message(other).await {
                                    break format!("writing the echo failed: {e}");
                                }
                            }
                            Err(Error::Closed { frame, initiator }) => {
                                break format!("closed by {initiator:?} with {frame:?}")
                            }
                            Err(e) => break format!("error: {e}"),
                        }
                    };
                    let _ = events.send(Event::WebSocketEnded { how });
                });
                response
            }
            Err(e) => {
                let _ = events.send(Event::WebSocket {
                    conn,
                    version,
                    method,
                    protocol,
                    answer: Err(e.to_string()),
                });
                respond(e.status(), "text/plain", e.to_string())
            }
        };
    }
    let _ = events.send(Event::Request {
        conn,
        version,
        method: method.clone(),
        path: path.clone(),
    });
    match (method, path.as_str()) {
        (Method::GET, "/") => respond(StatusCode::OK, "text/html; charset=utf-8", page()),
        (Method::GET, "/result") => {
            let query = request.uri().query().unwrap_or("").to_owned();
            let _ = events.send(Event::Report { query });
            respond(StatusCode::NO_CONTENT, "text/plain", "")
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

/// Accepts TLS connections on `listener` and serves each by its ALPN protocol.
async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    extended_connect: bool,
    events: mpsc::UnboundedSender<Event>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let upgrader = Upgrader::default();
    let mut accepted = 0;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        accepted += 1;
        let conn = accepted;
        let acceptor = acceptor.clone();
        let upgrader = upgrader.clone();
        let events = events.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    let alpn = format!("none, the TLS handshake failed: {e}");
                    let _ = events.send(Event::Connection { conn, alpn });
                    return;
                }
            };
            let alpn = tls.get_ref().1.alpn_protocol().map_or_else(
                || "none".to_owned(),
                |p| String::from_utf8_lossy(p).into_owned(),
            );
            let _ = events.send(Event::Connection {
                conn,
                alpn: alpn.clone(),
            });
            let service = {
                let events = events.clone();
                service_fn(move |request| {
                    let response = handle(request, &upgrader, &events, conn);
                    async move { Ok::<_, Infallible>(response) }
                })
            };
            let io = TokioIo::new(tls);
            if alpn == "h2" {
                let builder = if extended_connect {
                    mywebsocket::h2::server_builder()
                } else {
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                };
                let _ = builder.serve_connection(io, service).await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            }
        });
    }
}

/// The TLS configuration: a self-signed certificate for 127.0.0.1, ALPN `h2` then `http/1.1`.
fn tls_config() -> Arc<ServerConfig> {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("rcgen makes a certificate");
    let config = server_config_from_pem(
        made.cert.pem().as_bytes(),
        made.signing_key.serialize_pem().as_bytes(),
    )
    .expect("a server configuration from rcgen's certificate");
    let mut config = ServerConfig::clone(&config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `chromium --version`, e.g. `Chromium 156.0.8078.129 built on Debian ...` → `156.0.8078.129`.
async fn chromium_version(program: &str) -> String {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await;
    match output {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            text.split_whitespace()
                .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .unwrap_or("(unknown version)")
                .to_owned()
        }
        Err(e) => format!("(cannot run {program} --version: {e})"),
    }
}

/// Resolves on Ctrl-C or SIGTERM, so that the guard still kills Chromium.
async fn interrupted() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: browser_h2 [--no-extended-connect] [-- CHROMIUM_FLAGS...]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut extended_connect = true;
    let mut extra_flags = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-extended-connect" => extended_connect = false,
            "--" => extra_flags.extend(args.by_ref()),
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let program = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let timeout = Duration::from_secs(
        std::env::var("BROWSER_H2_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let log_path = std::env::var_os("BROWSER_H2_LOG").map_or_else(
        || std::env::temp_dir().join("browser-h2-chromium.log"),
        PathBuf::from,
    );
    let version = chromium_version(&program).await;

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().expect("the listener's address");
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(listener, tls_config(), extended_connect, events_tx));

    let mut flags: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--ignore-certificate-errors",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .map(str::to_owned)
    .to_vec();
    flags.extend(extra_flags);
    let url = format!("https://{addr}/");
    eprintln!(
        "browser-h2: server on {addr} (extended CONNECT {}); chromium {version} {}",
        if extended_connect {
            "allowed"
        } else {
            "not allowed"
        },
        flags.join(" ")
    );
    let mut chromium = match Chromium::launch(&program, &flags, &url, &log_path) {
        Ok(chromium) => chromium,
        Err(e) => {
            eprintln!("browser-h2: cannot start {program}: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Gather the server's events until the page reports, Chromium exits, or time runs out.
    let started = Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let interrupt = interrupted();
    tokio::pin!(interrupt);
    let mut seen = Vec::new();
    let mut problem = None;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    problem = Some("the server stopped".to_owned());
                    break;
                };
                eprintln!("browser-h2: [{:>5} ms] {event}", started.elapsed().as_millis());
                let done = matches!(event, Event::Report { .. });
                seen.push(event);
                if done {
                    break;
                }
            }
            status = chromium.child.wait() => {
                problem = Some(format!("chromium exited early ({status:?})"));
                break;
            }
            () = &mut deadline => {
                problem = Some(format!("no report from the page within {} s", timeout.as_secs()));
                break;
            }
            why = &mut interrupt => {
                problem = Some(why.to_owned());
                break;
            }
        }
    }
    // The WebSocket's end may follow the report; take what has already arrived.
    while let Ok(event) = events.try_recv() {
        eprintln!(
            "browser-h2: [{:>5} ms] {event}",
            started.elapsed().as_millis()
        );
        seen.push(event);
    }
    drop(chromium);
    server.abort();

    let verdict = judge(&seen, extended_connect, problem);
    match verdict {
        Ok(how) => {
            println!("browser-h2: chromium {version} opened the WebSocket over {how}, echo ok");
            ExitCode::SUCCESS
        }
        Err(why) => {
            let mut message = format!("browser-h2: FAILED with chromium {version}: {why}");
            if let Ok(log) = std::fs::read_to_string(&log_path) {
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let _ = write!(message, "\nlast lines of {}:", log_path.display());
                for line in tail.into_iter().rev() {
                    let _ = write!(message, "\n  {line}");
                }
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the run did what it should: the page over HTTP/2, the WebSocket over the expected
/// protocol, our echo written and the page's `ok=1`. `Ok` holds how the WebSocket arrived.
fn judge(
    seen: &[Event],
    extended_connect: bool,
    problem: Option<String>,
) -> Result<String, String> {
    let page = seen.iter().find_map(|e| match e {
        Event::Request {
            conn,
            version,
            path,
            ..
        } if path == "/" => Some((*conn, *version)),
        _ => None,
    });
    let websocket = seen.iter().find_map(|e| match e {
        Event::WebSocket {
            conn,
            version,
            method,
            protocol,
            answer,
        } => Some((*conn, *version, method, protocol, answer)),
        _ => None,
    });
    let echoed = seen
        .iter()
        .any(|e| matches!(e, Event::Echoed { text } if text == GREETING));
    let report = seen.iter().find_map(|e| match e {
        Event::Report { query } => Some(query.as_str()),
        _ => None,
    });

    let Some((page_conn, page)) = page else {
        return Err(problem.unwrap_or_else(|| "the page was never requested".to_owned()));
    };
    if page != Version::HTTP_2 {
        return Err(format!(
            "the page was fetched over {page:?}, not HTTP/2: ALPN did not agree on h2"
        ));
    }
    let Some((ws_conn, version, method, protocol, answer)) = websocket else {
        return Err(format!(
            "the page never opened the WebSocket ({}; page report: {report:?})",
            problem.as_deref().unwrap_or("no problem seen")
        ));
    };
    if let Err(e) = answer {
        return Err(format!(
            "the WebSocket request ({method} over {version:?}, :protocol {protocol:?}) was refused: {e}"
        ));
    }
    let how = match (version, method, protocol.as_deref()) {
        (Version::HTTP_2, &Method::CONNECT, Some("websocket")) => "HTTP/2 (extended CONNECT)",
        (Version::HTTP_11, &Method::GET, None) => "HTTP/1.1 (upgrade)",
        _ => {
            return Err(format!(
                "the WebSocket arrived as {method} over {version:?} with :protocol {protocol:?}"
            ))
        }
    };
    let expected = if extended_connect {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    if version != expected {
        return Err(format!(
            "the WebSocket arrived over {how}, expected {expected:?} (the server {} extended CONNECT)",
            if extended_connect { "allowed" } else { "did not allow" }
        ));
    }
    if version == Version::HTTP_2 && ws_conn != page_conn {
        return Err(format!(
            "the WebSocket's extended CONNECT came on connection {ws_conn}, not on the page's ({page_conn})"
        ));
    }
    if !echoed {
        return Err(format!(
            "our handler never echoed {GREETING:?} ({}; page report: {report:?})",
            problem.as_deref().unwrap_or("no problem seen")
        ));
    }
    match report {
        Some(query) if query.split('&').any(|kv| kv == "ok=1") => {
            if !query.split('&').any(|kv| kv == "page=h2") {
                return Err(format!("the page says it was not fetched over h2: {query}"));
            }
            Ok(how.to_owned())
        }
        Some(query) => Err(format!("the page reported a failure: {query}")),
        None => Err(problem.unwrap_or_else(|| "the page never reported".to_owned())),
    }
}
