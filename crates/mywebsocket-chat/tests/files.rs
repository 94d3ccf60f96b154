//! File sharing through a chat node: an upload over the file-transfer protocol at `/files`
//! (with `mywebsocket-files` as the page's stand-in), then the download at the path the node
//! answers with, byte for byte; and an offer over `--max-file-bytes` rejected with a reason.

mod common;

use std::time::Duration;

use common::http::http_get;
use common::Node;
use mywebsocket_files::{FileMeta, Reason, ReceiveOptions, TransferError, Transfers};
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
