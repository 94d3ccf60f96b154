//! The browser client's application-level keep-alive, answered or ignored.

use mywebsocket::{Config, Message};

use super::{accept, describe_end, summary, CaseResult, Conn, Done};
use crate::observed::Recorder;

/// Answers every `ping` with `pong` and `end` with `end-ok`, counting the pings.
pub(super) async fn echo(conn: Conn, rec: &Recorder) -> CaseResult {
    serve(conn, rec, true).await
}

/// Counts the pings and never answers anything: a server the browser must find dead.
pub(super) async fn silent(conn: Conn, rec: &Recorder) -> CaseResult {
    serve(conn, rec, false).await
}

async fn serve(conn: Conn, rec: &Recorder, answer: bool) -> CaseResult {
    let mut ws = accept(conn, Config::default(), rec).await?;
    let mut pings = 0u32;
    let end = loop {
        match ws.read_msg().await {
            Ok(Message::Text(text)) if text == "ping" => {
                pings += 1;
                if answer {
                    ws.write_string("pong").await?;
                }
            }
            Ok(Message::Text(text)) if text == "end" && answer => {
                ws.write_string("end-ok").await?;
            }
            Ok(other) => rec.push("messages", summary(&other)),
            Err(e) => break e,
        }
    };
    rec.set("pings", pings);
    rec.set("end", describe_end(&end));
    Ok(Done::Complete)
}
