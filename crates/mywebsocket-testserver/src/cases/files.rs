//! File transfer with the browser (docs/file-transfer.md), the server side through
//! `mywebsocket-files`, checked byte for byte at both ends.
//!
//! In order, on one connection:
//! 1. the browser offers `../escape.txt`, which the server's `Transfers` rejects (`bad_name`);
//! 2. the browser starts a [`SMALL_FILE_LEN`] upload and cancels it: recorded as
//!    `cancelled_upload`;
//! 3. the browser uploads [`FILE_LEN`] bytes of [`fill_file`] (seed [`FROM_BROWSER`]): the
//!    server reads the received file back, compares every byte with what it generates itself
//!    and records `upload`;
//! 4. the server offers a [`SMALL_FILE_LEN`] file whose bytes differ from its SHA-256 in one
//!    place: the browser must find it corrupt (`corrupt_download`);
//! 5. the server sends [`FILE_LEN`] bytes of [`fill_file`] (seed [`FROM_SERVER`]), generated
//!    as they are read: `download`;
//! 6. the browser sends an application message and closes: `messages`, `end`.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use mywebsocket::Config;
use mywebsocket_files::{FileMeta, Incoming, ReceiveOptions, Transfers};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::{accept, describe_end, summary, CaseResult, Conn, Done};
use crate::observed::{duration_ms, Recorder};
use crate::payload::{fill_file, FILE_LEN, FROM_BROWSER, FROM_SERVER, SMALL_FILE_LEN};

/// How long one step may take (64 MiB in a debug build of the server, on a busy machine).
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

/// The byte of the corrupt download that differs from what its SHA-256 says.
const CORRUPT_AT: u64 = 1 << 20;

/// Runs the case.
pub(super) async fn run(conn: Conn, rec: &Recorder) -> CaseResult {
    let dir = TempDir::new()?;
    // Chunks are random bytes: compressing them would only cost time.
    let ws = accept(conn, Config::default().deflate(None), rec).await?;
    let (mut reader, writer) = ws.split();
    let files = Transfers::new(
        writer,
        ReceiveOptions::default()
            .dest_dir(dir.path())
            .max_file_size(FILE_LEN)
            .max_concurrent(1),
    );
    let routing = files.clone();
    let read_loop = tokio::spawn(async move {
        let mut messages = Vec::new();
        let end = loop {
            match reader.read_msg().await {
                Ok(message) => {
                    if let Some(app) = routing.route(message).await {
                        messages.push(summary(&app));
                    }
                }
                Err(e) => break describe_end(&e),
            }
        };
        routing.connection_lost();
        (messages, end)
    });

    for step in ["cancelled_upload", "upload"] {
        let started = std::time::Instant::now();
        let mut report = match step_timeout(files.next_incoming()).await? {
            Some(Incoming::Received(received)) => {
                let exact = matches_generated(&received.path, FROM_BROWSER, FILE_LEN).await?;
                let _ = tokio::fs::remove_file(&received.path).await;
                json!({
                    "received": true,
                    "name": received.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "size": received.size,
                    "media_type": received.media_type,
                    "sha256": hex::encode(received.sha256),
                    "exact": exact,
                })
            }
            Some(Incoming::Failed { name, error, .. }) => json!({
                "received": false,
                "name": name,
                "reason": error.reason().to_string(),
                "error": error.to_string(),
            }),
            Some(_) | None => json!({ "received": false, "error": "no incoming transfer" }),
        };
        // From the previous step's end, so the upload's time includes the browser's hashing.
        report["ms"] = duration_ms(started.elapsed()).into();
        rec.set(step, report);
    }

    let corrupt = Generated::new(FROM_SERVER, SMALL_FILE_LEN, Some(CORRUPT_AT));
    let meta = FileMeta::new(
        "corrupt.bin",
        SMALL_FILE_LEN,
        generated_sha256(FROM_SERVER, SMALL_FILE_LEN),
    );
    let result = step_timeout(files.send_reader(corrupt, meta).finish()).await?;
    rec.set("corrupt_download", outcome(result));

    let meta = FileMeta::new(
        "from-server.bin",
        FILE_LEN,
        generated_sha256(FROM_SERVER, FILE_LEN),
    )
    .media_type("application/octet-stream");
    rec.set("download_sha256", hex::encode(meta.sha256));
    let source = Generated::new(FROM_SERVER, FILE_LEN, None);
    let started = std::time::Instant::now();
    let result = step_timeout(files.send_reader(source, meta).finish()).await?;
    let mut report = outcome(result);
    report["ms"] = duration_ms(started.elapsed()).into();
    rec.set("download", report);

    let (messages, end) = step_timeout(read_loop).await??;
    rec.set("messages", messages);
    rec.set("end", end);
    Ok(Done::Complete)
}

pub(super) async fn step_timeout<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| format!("a step took over {} s", STEP_TIMEOUT.as_secs()))
}

/// How an outgoing transfer ended, for the report.
fn outcome<E: std::fmt::Display>(result: Result<mywebsocket_files::Sent, E>) -> Value {
    match result {
        Ok(sent) => json!({ "ok": true, "size": sent.size }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

/// Whether the file at `path` holds exactly `len` bytes of [`fill_file`] with `seed`.
pub(super) async fn matches_generated(path: &Path, seed: u8, len: u64) -> io::Result<bool> {
    let mut file = tokio::fs::File::open(path).await?;
    if file.metadata().await?.len() != len {
        return Ok(false);
    }
    let mut got = vec![0; 1 << 20];
    let mut want = vec![0; 1 << 20];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(got.len() as u64) as usize;
        file.read_exact(&mut got[..n]).await?;
        fill_file(seed, offset, &mut want[..n]);
        if got[..n] != want[..n] {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// The SHA-256 of `len` bytes of [`fill_file`] with `seed`.
pub(super) fn generated_sha256(seed: u8, len: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(buf.len() as u64) as usize;
        fill_file(seed, offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    hasher.finalize().into()
}

/// [`fill_file`] as a reader, generated as it is read; with `corrupt_at`, that byte is
/// flipped.
struct Generated {
    seed: u8,
    pos: u64,
    len: u64,
    corrupt_at: Option<u64>,
}

impl Generated {
    fn new(seed: u8, len: u64, corrupt_at: Option<u64>) -> Self {
        Self {
            seed,
            pos: 0,
            len,
            corrupt_at,
        }
    }
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (self.len - self.pos).min(buf.remaining() as u64) as usize;
        let (seed, pos) = (self.seed, self.pos);
        let out = buf.initialize_unfilled_to(n);
        fill_file(seed, pos, out);
        if let Some(at) = self.corrupt_at {
            if (pos..pos + n as u64).contains(&at) {
                out[(at - pos) as usize] ^= 0xFF;
            }
        }
        buf.advance(n);
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// A directory of the system's temporary directory for this session's received files,
/// removed with everything in it when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self::named(&NEXT.fetch_add(1, Ordering::Relaxed).to_string())
    }

    /// The directory called `name` (made of safe characters by the caller); two `TempDir`s of
    /// the same name are the same directory, removed when the first is dropped.
    pub(super) fn named(name: &str) -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "mywebsocket-testserver-files-{}-{name}",
            std::process::id(),
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// Leaves the directory in place for the next holder of its name.
    pub(super) fn keep(self) {
        std::mem::forget(self);
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_generated_reader_matches_fill_file_and_corrupts_one_byte() {
        let mut clean = Vec::new();
        Generated::new(FROM_SERVER, 3000, None)
            .read_to_end(&mut clean)
            .await
            .unwrap();
        let mut want = vec![0; 3000];
        fill_file(FROM_SERVER, 0, &mut want);
        assert_eq!(clean, want);
        let mut corrupt = Vec::new();
        Generated::new(FROM_SERVER, 3000, Some(1234))
            .read_to_end(&mut corrupt)
            .await
            .unwrap();
        let differ: Vec<usize> = (0..3000).filter(|&i| clean[i] != corrupt[i]).collect();
        assert_eq!(differ, [1234]);
        let hash: [u8; 32] = Sha256::digest(&want).into();
        assert_eq!(generated_sha256(FROM_SERVER, 3000), hash);
    }
}
