//! `ft-testee [URL]`: the conformance adapter of `mywebsocket-files` (docs/file-transfer-conformance.md).
//!
//! Connects to the runner at URL (default: `$FT_CONFORMANCE_RUNNER`), reads the instructions (the first message), runs a
//! [`Transfers`] on the connection with the receiver settings they give, offers the files
//! they list, and routes every message until the runner closes; then connects again, until
//! the instructions say `end`. Received files go to a temporary directory kept for the whole
//! run, so a part file outlives a lost connection (resume, §6).

#![forbid(unsafe_code)]

use mywebsocket::connect;
use mywebsocket_files::{FileMeta, ReceiveOptions, Transfers};
use mywebsocket_files_conformance::{content, Instructions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FT_CONFORMANCE_RUNNER").ok())
        .ok_or("usage: ft-testee ws://127.0.0.1:PORT/ (or set FT_CONFORMANCE_RUNNER)")?;
    let dir = tempfile::tempdir()?;
    loop {
        let (ws, _) = connect(&url).await?;
        let (mut reader, writer) = ws.split();
        let first = reader.read_msg().await?;
        let instructions: Instructions =
            serde_json::from_str(first.as_text().ok_or("the instructions are text")?)?;
        if instructions.is_end() {
            return Ok(());
        }
        let wanted = &instructions.receiver;
        let mut options = ReceiveOptions::default().dest_dir(dir.path());
        if let Some(bytes) = wanted.max_file_size {
            options = options.max_file_size(bytes);
        }
        if let Some(n) = wanted.max_concurrent {
            options = options.max_concurrent(usize::try_from(n)?);
        }
        if let Some(bytes) = wanted.window {
            options = options.window(bytes);
        }
        if let Some(bytes) = wanted.max_chunk {
            options = options.max_chunk(bytes);
        }
        let files = Transfers::new(writer, options);
        let mut tasks = Vec::new();
        let draining = files.clone();
        tasks.push(tokio::spawn(async move {
            while draining.next_incoming().await.is_some() {}
        }));
        for file in &instructions.send {
            let sha: [u8; 32] = hex::decode(content::sha256_hex(file.size))?
                .try_into()
                .map_err(|_| "32 bytes")?;
            let meta = FileMeta::new(file.name.clone(), file.size, sha)
                .media_type(file.media_type.clone());
            let data = content::bytes(0, file.size);
            let handle = files.send_reader(std::io::Cursor::new(data), meta);
            tasks.push(tokio::spawn(async move {
                let _ = handle.finish().await;
            }));
        }
        while let Ok(message) = reader.read_msg().await {
            files.route(message).await;
        }
        files.connection_lost();
        for task in tasks {
            task.abort();
        }
    }
}
