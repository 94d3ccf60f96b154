//! An upload from the browser resumed after its connection was lost.
//!
//! Connection 1 receives the browser's upload of [`RESUME_FILE_LEN`] bytes of [`fill_file`]
//! (seed [`FROM_BROWSER`]) and closes with 1012 (service restart) once about half of it has
//! arrived; what reached the disk is recorded as `cut`. Connection 2 (the browser offers the
//! same file again under the same transfer id) accepts at that offset, checks every byte of
//! the finished file and records `resumed`. Both connections use one directory per session.

use mywebsocket::{CloseCode, Config, Message};
use mywebsocket_files::{
    is_chunk, Incoming, ReceiveOptions, TransferError, Transfers, CHUNK_HEADER_LEN,
};
use serde_json::json;

use super::files::{matches_generated, step_timeout, TempDir};
use super::{accept, describe_end, CaseResult, Conn, Done};
use crate::observed::Recorder;
use crate::payload::{FROM_BROWSER, RESUME_FILE_LEN};
use crate::request::query_param;

/// Runs the case.
pub(super) async fn run(conn: Conn, rec: &Recorder) -> CaseResult {
    let session: String = query_param(&conn.request, "id")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let dir = TempDir::named(&format!("resume-{session}"))?;
    let n = rec.connection();
    let ws = accept(conn, Config::default().deflate(None), rec).await?;
    let (mut reader, writer) = ws.split();
    let files = Transfers::new(
        writer.clone(),
        ReceiveOptions::default()
            .dest_dir(dir.path())
            .max_file_size(RESUME_FILE_LEN)
            .max_concurrent(1),
    );
    let routing = files.clone();
    let read_loop = tokio::spawn(async move {
        let mut chunk_bytes = 0u64;
        let mut closing = false;
        let end = loop {
            match reader.read_msg().await {
                Ok(message) => {
                    if let Message::Binary(data) = &message {
                        if is_chunk(data) {
                            chunk_bytes += (data.len() - CHUNK_HEADER_LEN) as u64;
                        }
                    }
                    routing.route(message).await;
                    if n == 1 && !closing && chunk_bytes >= RESUME_FILE_LEN / 2 {
                        closing = true;
                        let _ = writer
                            .close(CloseCode::SERVICE_RESTART, "restarting mid-upload")
                            .await;
                    }
                }
                Err(e) => break describe_end(&e),
            }
        };
        routing.connection_lost();
        (chunk_bytes, end)
    });
    let outcome = step_timeout(files.next_incoming()).await?;
    let (chunk_bytes, end) = step_timeout(read_loop).await??;
    match outcome {
        Some(Incoming::Failed { error, .. }) if n == 1 => {
            rec.set(
                "cut",
                json!({
                    "chunk_bytes": chunk_bytes,
                    "confirmed": match &error {
                        TransferError::ConnectionLost { confirmed } => Some(*confirmed),
                        _ => None,
                    },
                    "error": error.to_string(),
                }),
            );
            // The next connection resumes from the part file this one leaves.
            dir.keep();
            return Ok(Done::Continues);
        }
        Some(Incoming::Received(received)) => {
            let exact = matches_generated(&received.path, FROM_BROWSER, RESUME_FILE_LEN).await?;
            rec.set(
                "resumed",
                json!({
                    "connection": n,
                    "resumed_from": received.resumed_from,
                    "chunk_bytes": chunk_bytes,
                    "size": received.size,
                    "exact": exact,
                }),
            );
        }
        other => rec.push("errors", format!("connection {n}: {other:?}")),
    }
    rec.set("end", end);
    Ok(Done::Complete)
}
