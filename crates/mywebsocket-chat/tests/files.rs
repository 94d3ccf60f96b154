//! File sharing through a chat node: an upload over the file-transfer protocol at `/files`
//! (with `mywebsocket-files` as the page's stand-in), then the download at the path the node
//! answers with, byte for byte; an offer over `--max-file-bytes` rejected with a reason; an
//! upload cut at half resumed on a new connection; the per-connection upload limit.

mod common;

use std::time::Duration;

use common::http::http_get;
use common::Node;
use mywebsocket::WebSocket;
use mywebsocket_files::{
    chunk_buffer, Control, FileMeta, Reason, ReceiveOptions, TransferError, TransferId, Transfers,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Connects to the node's `/files`; the transfers and a channel of the node's own messages.
async fn files_connection(addr: &str) -> (Transfers, tokio::sync::mpsc::Receiver<Value>) {
    let (ws, _) = mywebsocket::connect(&format!("ws://{addr}/files"))
        .await
        .expect("connect to /files");
    let (mut reader, writer) = ws.split();
    let files = Transfers::new(writer, ReceiveOptions::default());
    let routing = files.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok(message) = reader.read_msg().await {
            if let Some(app) = routing.route(message).await {
                let text = app.as_text().expect("the node sends text").to_owned();
                let _ = tx.send(serde_json::from_str(&text).expect("JSON")).await;
            }
        }
    });
    (files, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_file_uploads_and_downloads_byte_exact() {
    let node = Node::start("http", &["--max-file-bytes", "3000000"]);
    let (files, mut replies) = files_connection(&node.addr).await;
    let content: Vec<u8> = (0..2_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let meta = FileMeta::new(
        "notes v2 é.txt",
        content.len() as u64,
        Sha256::digest(&content).into(),
    )
    .media_type("text/plain");
    let transfer = meta.id.to_string();
    let sent = files
        .send_reader(std::io::Cursor::new(content.clone()), meta)
        .finish()
        .await
        .expect("the node takes the file");
    assert_eq!(sent.size, content.len() as u64);
    let stored = tokio::time::timeout(Duration::from_secs(10), replies.recv())
        .await
        .expect("the node says where the file is")
        .expect("a message");
    assert_eq!(stored["type"], "file");
    assert_eq!(stored["transfer"], transfer.as_str());
    let path = stored["path"].as_str().expect("a path").to_owned();
    assert!(path.starts_with("/files/"), "{stored}");

    let (head, body) = http_get(&node.addr, &path).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        head.contains("filename=\"notes v2 _.txt\"; filename*=utf-8''notes%20v2%20%c3%a9.txt"),
        "{head}"
    );
    assert!(
        body == content,
        "the download differs ({} bytes)",
        body.len()
    );

    let (head, _) = http_get(&node.addr, "/files/00000000000000000000000000000000").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    stop_gracefully(node);
}

/// Stops the node with SIGTERM, so it removes its files' directory as it exits.
fn stop_gracefully(mut node: Node) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &node.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed: {status}");
    let exit = node.wait_exit(Duration::from_secs(15));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_over_the_limit_is_rejected_with_its_reason() {
    let node = Node::start("http", &["--max-file-bytes", "1000"]);
    let (files, _replies) = files_connection(&node.addr).await;
    let content = vec![1u8; 1001];
    let meta = FileMeta::new("big.bin", 1001, Sha256::digest(&content).into());
    match files
        .send_reader(std::io::Cursor::new(content), meta)
        .finish()
        .await
    {
        Err(TransferError::Rejected {
            reason: Reason::TooLarge,
            message,
        }) => assert!(message.contains("1000"), "{message}"),
        other => panic!("expected too_large, got {other:?}"),
    }
    stop_gracefully(node);
}

/// A hand-written uploader, as a client written from the spec alone would be.
struct RawUpload {
    ws: WebSocket,
    id: TransferId,
    content: Vec<u8>,
    /// Data bytes this connection sent.
    sent: u64,
}

impl RawUpload {
    /// Connects to `/files` and offers `content` under `id`; returns the accept's offset,
    /// window and max_chunk.
    async fn offer(addr: &str, id: TransferId, content: &[u8]) -> (Self, u64, u64, u64) {
        let (ws, _) = mywebsocket::connect(&format!("ws://{addr}/files"))
            .await
            .expect("connect to /files");
        let mut upload = Self {
            ws,
            id,
            content: content.to_vec(),
            sent: 0,
        };
        let sha256: String = Sha256::digest(content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let offer = Control::Offer {
            id,
            name: "movie.bin".into(),
            size: content.len() as u64,
            media_type: String::new(),
            sha256,
        };
        upload.ws.write_string(offer.to_text()).await.unwrap();
        match upload.next().await {
            Control::Accept {
                offset,
                window,
                max_chunk,
                ..
            } => (upload, offset, window, max_chunk),
            other => panic!("expected accept, got {other:?}"),
        }
    }

    async fn next(&mut self) -> Control {
        let msg = tokio::time::timeout(Duration::from_secs(20), self.ws.read_msg())
            .await
            .expect("an answer within 20 s")
            .expect("the connection stays up");
        Control::parse(msg.as_text().expect("a control message")).expect("well-formed")
    }

    /// Sends from `offset` within the window until the node has acknowledged `until` bytes;
    /// returns the last ack.
    async fn send_until(&mut self, mut next: u64, window: u64, chunk: u64, until: u64) -> u64 {
        let size = self.content.len() as u64;
        let mut acked = next;
        while acked < until {
            while next < size && next - acked < window {
                let len = chunk.min(size - next).min(window - (next - acked));
                let data = &self.content[next as usize..(next + len) as usize];
                let mut message = chunk_buffer(self.id, next, data.len());
                message.extend_from_slice(data);
                self.ws.write_binary(message.freeze()).await.unwrap();
                self.sent += len;
                next += len;
            }
            match self.next().await {
                Control::Ack { offset, .. } => acked = offset,
                other => panic!("expected ack, got {other:?}"),
            }
        }
        acked
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_at_half_resumes_on_a_new_connection() {
    const SIZE: u64 = 8 << 20;
    let node = Node::start("http", &["--max-file-bytes", "10000000"]);
    let content: Vec<u8> = (0..SIZE).map(|i| (i * 13 % 253) as u8).collect();
    let id = TransferId::random();

    let (mut first, offset, window, max_chunk) = RawUpload::offer(&node.addr, id, &content).await;
    assert_eq!(offset, 0);
    let acked = first.send_until(0, window, max_chunk, SIZE / 2).await;
    let first_sent = first.sent;
    drop(first); // the connection is cut, mid-upload

    let (mut second, resumed_at, window, max_chunk) =
        RawUpload::offer(&node.addr, id, &content).await;
    assert!(
        resumed_at >= acked && resumed_at > 0 && resumed_at <= first_sent,
        "resumed at {resumed_at}; {acked} acknowledged and {first_sent} sent before the cut"
    );
    second.send_until(resumed_at, window, max_chunk, SIZE).await;
    assert!(matches!(second.next().await, Control::Done { .. }));
    // Only the bytes the node did not have were sent again.
    assert_eq!(second.sent, SIZE - resumed_at);
    let msg = second.ws.read_msg().await.unwrap();
    let stored: Value = serde_json::from_str(msg.as_text().unwrap()).unwrap();
    assert_eq!(stored["transfer"], id.to_string().as_str());
    let (head, body) = http_get(&node.addr, stored["path"].as_str().unwrap()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == content, "the resumed download differs");
    drop(second);
    stop_gracefully(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_runs_four_uploads_at_once_and_a_fifth_is_busy() {
    let node = Node::start("http", &[]);
    let (ws, _) = mywebsocket::connect(&format!("ws://{}/files", node.addr))
        .await
        .unwrap();
    let content = b"hello";
    let sha256: String = Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut ws = ws;
    for n in 0..5 {
        let offer = Control::Offer {
            id: TransferId::random(),
            name: format!("f{n}.txt"),
            size: 5,
            media_type: String::new(),
            sha256: sha256.clone(),
        };
        ws.write_string(offer.to_text()).await.unwrap();
        let msg = ws.read_msg().await.unwrap();
        let answer = Control::parse(msg.as_text().unwrap()).unwrap();
        match (n, answer) {
            (0..4, Control::Accept { .. }) => {}
            (4, Control::Reject { reason, .. }) => assert_eq!(reason, Reason::Busy),
            (n, other) => panic!("offer {n}: {other:?}"),
        }
    }
    drop(ws);
    stop_gracefully(node);
}
