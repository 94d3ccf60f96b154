//! A server that goes away and comes back, for the browser client's reconnection.

use http::StatusCode;
use mywebsocket::{CloseCode, Config};
use mywebsocket_proto::handshake;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{accept, read_until_end, CaseResult, Conn, Done};
use crate::http::respond;
use crate::observed::Recorder;
use crate::request::query_param;

/// Connection 1 is closed with 1012 (service restart), attempts 2 and 3 are refused with 503,
/// connection 4 is dropped without a close frame, connection 5 is welcomed with the text
/// `welcome 5` and kept until the browser closes it. Records when each attempt arrived and
/// when each ended, in milliseconds since the first.
pub(super) async fn flaky(conn: Conn, rec: &Recorder) -> CaseResult {
    let n = rec.connection();
    rec.push("attempts", json!({ "n": n, "at_ms": rec.elapsed_ms() }));
    let done = match n {
        1 => restart(conn, rec).await?,
        2 | 3 => refuse(conn).await?,
        4 => drop_abruptly(conn).await?,
        5 => {
            let mut ws = accept(conn, Config::default(), rec).await?;
            ws.write_string(format!("welcome {n}")).await?;
            read_until_end(&mut ws, rec).await;
            Done::Complete
        }
        _ => {
            rec.push("errors", format!("unexpected attempt {n}"));
            refuse(conn).await?
        }
    };
    rec.push("ends", json!({ "n": n, "at_ms": rec.elapsed_ms() }));
    Ok(done)
}

/// Connection 1 is closed with 1012, every later attempt refused with 503. The session is
/// complete after the attempt numbered by the `complete_after` query parameter.
pub(super) async fn never(conn: Conn, rec: &Recorder) -> CaseResult {
    let n = rec.connection();
    let last = query_param(&conn.request, "complete_after")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    rec.push("attempts", json!({ "n": n, "at_ms": rec.elapsed_ms() }));
    if n == 1 {
        restart(conn, rec).await?;
    } else {
        refuse(conn).await?;
    }
    Ok(if n >= last {
        Done::Complete
    } else {
        Done::Continues
    })
}

/// Accepts, then closes with 1012 as a restarting server does.
async fn restart(conn: Conn, rec: &Recorder) -> Result<Done, mywebsocket::Error> {
    let mut ws = accept(conn, Config::default(), rec).await?;
    ws.close(CloseCode::SERVICE_RESTART, "restarting").await?;
    Ok(Done::Continues)
}

/// Refuses the upgrade with 503.
async fn refuse(conn: Conn) -> std::io::Result<Done> {
    let mut stream = conn.stream;
    respond(
        &mut stream,
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain",
        b"restarting\n",
    )
    .await?;
    Ok(Done::Continues)
}

/// Completes the handshake, then closes TCP without a close frame: a lost connection (1006).
async fn drop_abruptly(conn: Conn) -> Result<Done, Box<dyn std::error::Error + Send + Sync>> {
    let accept = handshake::validate_request(&conn.request, &[] as &[&str])?;
    let (_, mut tcp) = conn.stream.into_parts();
    let mut out = Vec::with_capacity(256);
    handshake::write_response(&handshake::accept_response(&accept), b"", &mut out);
    tcp.write_all(&out).await?;
    tcp.shutdown().await?;
    drop(tcp);
    Ok(Done::Continues)
}
