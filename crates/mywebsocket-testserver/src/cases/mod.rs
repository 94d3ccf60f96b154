//! One route per browser test case. Each connection's request head is read first, to route
//! it; the handler then gets the connection with the head still unread (for
//! [`mywebsocket::Upgrader`]) and a [`Recorder`] for the session named by its `id` parameter.
//!
//! | route | what the server does |
//! |---|---|
//! | `/echo` | accepts, echoes every message |
//! | `/subprotocol` | as `/echo`, supporting the subprotocol `chat.v2` |
//! | `/refuse-origin` | refuses the upgrade: only the origin `https://allowed.example` is allowed |
//! | `/data` | one kind (`kind=text`, `binary`, `json`) both ways at every size, checked byte for byte |
//! | `/fragments` | raw frames: 1 MiB messages in 4 KiB fragments with a ping between fragments |
//! | `/heartbeat` | pings every 1 s, times out after 3 s of silence, counts pongs |
//! | `/server-close` | sends one message, then closes with 4001 and a reason |
//! | `/client-close` | waits for the browser to close |
//! | `/backpressure` | reads numbered messages slowly, checking order, content and heap growth |
//! | `/keepalive-echo`, `/keepalive-silent` | answers (or ignores) the keep-alive `ping` |
//! | `/reconnect` | connection 1 closed with 1012, 2 and 3 refused, 4 dropped, 5 welcomed |
//! | `/reconnect-never` | connection 1 closed with 1012, every later one refused |
//! | `/deflate-echo` | accepts permessage-deflate, reports the negotiation, echoes, counts wire bytes |
//! | `/files` | file transfer (`mywebsocket-files`): receives the browser's uploads, then offers a corrupt file and a 64 MiB one |
//! | `/files-resume` | connection 1 closed with 1012 halfway through a 16 MiB upload, connection 2 receives the rest of it |
//! | `/deflate` | 1 MiB (`kind=json` or `random`) both ways as `split=one` message or `many`, compressed, counted on the wire |

mod backpressure;
mod close;
mod data;
mod deflate;
mod files;
mod files_resume;
mod fragments;
mod heartbeat;
mod keep_alive;
mod reconnect;
mod upgrade;

use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use http::{Request, StatusCode};
use mywebsocket::{Error, Initiator, Message, WebSocket};
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::http::{respond, respond_json, OBSERVED_WAIT};
use crate::observed::{Observations, Recorder};
use crate::request::{query_param, read_head, Rewind};

/// A connection routed to a case: the stream (with the request head still to be read from
/// it) and the parsed request.
pub(crate) struct Conn {
    stream: Rewind<TcpStream>,
    request: Request<()>,
}

/// Whether the session is over when a handler returns.
pub(crate) enum Done {
    /// The session is over: `/observed` answers.
    Complete,
    /// More connections belong to this session.
    Continues,
}

type CaseResult = Result<Done, Box<dyn StdError + Send + Sync>>;

/// Serves one TCP connection.
pub(crate) async fn serve(mut tcp: TcpStream, observations: Arc<Observations>) {
    let _ = tcp.set_nodelay(true);
    let (request, buf) = match read_head(&mut tcp).await {
        Ok(head) => head,
        Err(e) => {
            eprintln!("mywebsocket-testserver: bad request head: {e}");
            return;
        }
    };
    let path = request.uri().path().to_owned();
    let Some(id) = query_param(&request, "id").map(str::to_owned) else {
        let _ = respond(
            &mut tcp,
            StatusCode::BAD_REQUEST,
            "text/plain",
            b"an id query parameter names the test session\n",
        )
        .await;
        return;
    };
    if path == "/observed" {
        let report = observations.wait(&id, OBSERVED_WAIT).await;
        let _ = respond_json(&mut tcp, &report).await;
        return;
    }
    let rec = observations.recorder(&id);
    let conn = Conn {
        stream: Rewind::new(buf, tcp),
        request,
    };
    let result = match path.as_str() {
        "/echo" => upgrade::echo(conn, mywebsocket::Config::default(), &rec).await,
        "/subprotocol" => {
            let config = mywebsocket::Config::default().protocols([upgrade::SUBPROTOCOL]);
            upgrade::echo(conn, config, &rec).await
        }
        "/refuse-origin" => upgrade::refuse_origin(conn, &rec).await,
        "/data" => data::exchange(conn, &rec).await,
        "/fragments" => fragments::run(conn, &rec).await,
        "/heartbeat" => heartbeat::run(conn, &rec).await,
        "/server-close" => close::server_closes(conn, &rec).await,
        "/client-close" => close::client_closes(conn, &rec).await,
        "/backpressure" => backpressure::run(conn, &rec).await,
        "/keepalive-echo" => keep_alive::echo(conn, &rec).await,
        "/keepalive-silent" => keep_alive::silent(conn, &rec).await,
        "/reconnect" => reconnect::flaky(conn, &rec).await,
        "/reconnect-never" => reconnect::never(conn, &rec).await,
        "/deflate-echo" => deflate::echo(conn, &rec).await,
        "/deflate" => deflate::exchange(conn, &rec).await,
        "/files" => files::run(conn, &rec).await,
        "/files-resume" => files_resume::run(conn, &rec).await,
        _ => {
            let mut stream = conn.stream;
            let _ = respond(
                &mut stream,
                StatusCode::NOT_FOUND,
                "text/plain",
                b"no such case\n",
            )
            .await;
            rec.push("errors", format!("no route {path}"));
            Ok(Done::Complete)
        }
    };
    match result {
        Ok(Done::Complete) => {}
        Ok(Done::Continues) => return,
        Err(e) => {
            eprintln!("mywebsocket-testserver: {path} ({id}): {e}");
            rec.push("errors", e.to_string());
        }
    }
    rec.complete();
    // The log (target/browser/testserver.log) keeps every report, for a failure's post-mortem.
    eprintln!(
        "mywebsocket-testserver: {path} {id}: {}",
        observations.snapshot(&id)
    );
}

/// Accepts the upgrade on `conn` with `config`, recording the request.
async fn accept(
    conn: Conn,
    config: mywebsocket::Config,
    rec: &Recorder,
) -> Result<WebSocket, Error> {
    let (request, ws) = mywebsocket::Upgrader::new(config)
        .accept_with_request(conn.stream)
        .await?;
    upgrade::record_request(rec, &request);
    rec.set("protocol", ws.protocol());
    Ok(ws)
}

/// Reads until the connection ends, recording each message and the end.
async fn read_until_end(ws: &mut WebSocket, rec: &Recorder) {
    loop {
        match ws.read_msg().await {
            Ok(message) => rec.push("messages", summary(&message)),
            Err(e) => {
                rec.set("end", describe_end(&e));
                return;
            }
        }
    }
}

/// A message as a report shows it: its kind and length, and short texts in full.
fn summary(message: &Message) -> Value {
    match message {
        Message::Text(text) if text.len() <= 256 => {
            json!({ "kind": "text", "len": text.len(), "text": text.as_str() })
        }
        Message::Text(text) => json!({ "kind": "text", "len": text.len() }),
        Message::Binary(data) => json!({ "kind": "binary", "len": data.len() }),
        Message::Close(frame) => json!({
            "kind": "close",
            "code": frame.as_ref().map(|f| f.code.as_u16()),
            "reason": frame.as_ref().map(|f| f.reason.as_str()),
        }),
        _ => json!({ "kind": "other" }),
    }
}

/// How a connection ended, for a report: `{"kind": "closed", "code", "reason", "initiator"}`
/// or `{"kind": "error", "message"}`.
fn describe_end(e: &Error) -> Value {
    match e {
        Error::Closed { frame, initiator } => json!({
            "kind": "closed",
            "code": frame.as_ref().map(|f| f.code.as_u16()),
            "reason": frame.as_ref().map(|f| f.reason.as_str()),
            "initiator": match initiator {
                Initiator::Local => "local",
                Initiator::Remote => "remote",
            },
        }),
        other => json!({ "kind": "error", "message": other.to_string() }),
    }
}

/// The bytes of a stream past the request head, when a case speaks raw frames after doing
/// the handshake itself.
fn leftover_after_head(buf: &[u8]) -> BytesMut {
    match mywebsocket_proto::handshake::parse_request(buf) {
        Ok(Some((len, _))) => BytesMut::from(&buf[len..]),
        _ => BytesMut::new(),
    }
}
