//! An upload whose `/files` connection is cut halfway resumes by itself: the page reconnects,
//! offers the same file again, and sends only what the node does not have.
//!
//! The cut is a real one, made by a TCP proxy between the page and the node ([`CutProxy`]):
//! both sockets are reset once half the file's bytes went through, so Chromium sees its
//! socket fail and the node loses the connection with whatever was in flight, while the
//! page's script and the node run as they do in production.

use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::page::ChatPage;
use crate::procs::{ChromeDriver, Node};
use crate::proxy::CutProxy;
use crate::{http, screenshot_dir, ONE_AT_A_TIME, PRESENCE_TTL_MS};

/// The size of the file uploaded: large enough that the cut falls many chunks (256 KiB) and
/// windows (2 MiB) after the start and before the end, within the node's 64 MiB limit.
const SIZE: u64 = 32 << 20;
const NAME: &str = "resume.bin";

/// The uploaded file (the page generates the same): xorshift32 output, little-endian. Not
/// compressible, so the bytes on the wire (Chromium and the node negotiate permessage-deflate)
/// are the file's, and a piece sent from the wrong offset never matches by accident.
fn file_bytes() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    let mut bytes = Vec::with_capacity(SIZE as usize);
    while (bytes.len() as u64) < SIZE {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: run scripts/chat-browser.sh"]
async fn an_upload_cut_at_half_resumes_and_sends_only_the_missing_bytes() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let node = Node::start(None, PRESENCE_TTL_MS);
    let proxy = CutProxy::start(&node.addr, SIZE / 2).await;
    let driver = ChromeDriver::start();
    let url = node.page_url(&[proxy.ws_url()]);
    let page = Arc::new(ChatPage::open(&driver.url, "C", &url, 1100, 700).await);

    let scenario = tokio::spawn(scenario(Arc::clone(&page), node, proxy));
    let outcome = scenario.await;
    if let Ok(page) = Arc::try_unwrap(page) {
        page.close().await;
    }
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(page: Arc<ChatPage>, node: Node, proxy: CutProxy) {
    let shots = screenshot_dir();
    page.enter("cat", "uploads").await;
    page.wait_for("connected, through the proxy", || async {
        page.status().await == "connected" && page.node().await == node.id
    })
    .await;

    // The file, as the file input would give it.
    page.eval(
        "const [len, name] = arguments;
         const bytes = new Uint8Array(len);
         let x = 0x2545f491;
         for (let i = 0; i < len; i += 4) {
           x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
           bytes[i] = x; bytes[i + 1] = x >>> 8; bytes[i + 2] = x >>> 16; bytes[i + 3] = x >>> 24;
         }
         const picked = new DataTransfer();
         picked.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
         const input = document.getElementById('file');
         input.files = picked.files;
         input.dispatchEvent(new Event('change'));",
        vec![json!(SIZE), json!(NAME)],
    )
    .await;

    // Hashing and sending the first half takes a few seconds in a debug-free page.
    let Ok(forwarded_before_cut) =
        tokio::time::timeout(std::time::Duration::from_secs(60), proxy.cut()).await
    else {
        panic!(
            "the page did not send half the file within 60 s: uploads {:?}, figures {}, \
             bytes page → node per /files connection {:?}",
            page.texts(".upload").await,
            page.eval("return window.chatFiles.recent", vec![]).await,
            proxy.files_sent(),
        );
    };
    // The proxy holds the page's new connections: the page waits, and says so.
    page.wait_for("the upload reconnecting", || async {
        !page.texts(".upload.reconnecting").await.is_empty()
    })
    .await;
    let state = page.texts(".upload .state").await;
    assert!(
        state.iter().any(|s| s.starts_with("reconnecting…")),
        "{state:?}"
    );
    let shown = page
        .eval(
            "return document.querySelector('.upload progress').value",
            vec![],
        )
        .await
        .as_f64()
        .expect("a progress value");
    assert!(
        shown > 0.0 && shown < SIZE as f64,
        "the progress bar keeps what was acknowledged: {shown}"
    );
    page.screenshot(&shots, "4-upload-reconnecting.png").await;
    proxy.release();

    let link = ".list:not([hidden]) .msg .file a";
    page.wait_for("the resumed upload's link", || async {
        page.texts(link).await == [format!("\u{1F4CE} {NAME}")]
    })
    .await;
    let failed = page.texts(".upload.failed .state").await;
    assert!(failed.is_empty(), "{failed:?}");
    page.screenshot(&shots, "5-upload-resumed-and-shared.png")
        .await;

    // The page's own figures.
    let stats = page
        .eval(
            "return window.chatFiles.recent.find(s => s.name === arguments[0])",
            vec![json!(NAME)],
        )
        .await;
    let figure = |key: &str| -> u64 {
        stats[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {stats}"))
    };
    let offsets: Vec<u64> = serde_json::from_value(stats["offsets"].clone()).expect("offsets");
    let sent_from: Vec<u64> = serde_json::from_value(stats["sentFrom"].clone()).expect("sentFrom");
    let (sent, window) = (figure("sent"), figure("window"));
    let on_wire = proxy.files_sent();
    eprintln!(
        "resume: size {SIZE}, cut after {forwarded_before_cut} bytes forwarded, accept offsets \
         {offsets:?}, window {window}, file bytes sent by the page {sent} (size + {}; per \
         connection {sent_from:?}), bytes page → node per /files connection {on_wire:?}",
        sent.saturating_sub(SIZE)
    );
    assert_eq!(stats["outcome"], json!("stored"), "{stats}");
    // One cut, one accepted reconnection (a node still busy with the lost connection's part
    // file may answer `busy` first, spec appendix: the page then tries again, on another one).
    assert!(figure("connections") >= 2, "{stats}");
    assert_eq!(offsets.len(), 2, "two accepts: {stats}");
    assert_eq!(on_wire.len() as u64, figure("connections"), "{on_wire:?}");
    let resumed_at = offsets[1];
    assert_eq!(offsets[0], 0, "{offsets:?}");
    assert!(
        resumed_at > 0 && resumed_at <= forwarded_before_cut,
        "resumed where the node's bytes end, not from 0: {offsets:?}"
    );
    // Only the missing bytes: after the reconnection exactly the rest, read from the resume
    // offset; in all, the file and what was lost in flight at the cut, at most one window
    // (never more than that beyond an ack, and the node keeps everything it acked).
    assert_eq!(sent_from.len(), 2, "{stats}");
    assert_eq!(sent_from[1], SIZE - resumed_at, "{stats}");
    assert!(
        sent >= SIZE && sent <= SIZE + window,
        "the page sent {sent} bytes of file for {SIZE}, window {window}"
    );
    // And what the proxy saw after the reconnection: the rest, plus framing (the handshake,
    // the offer, 28 + 14 bytes a chunk of up to 256 KiB, deflate's stored blocks: well under
    // 1%).
    let rest = SIZE - resumed_at;
    let resumed = on_wire[on_wire.len() - 1];
    assert!(
        resumed >= rest && resumed <= rest + rest / 100 + 4096,
        "{resumed} bytes on the resumed connection for the {rest} missing"
    );

    // What the node stored is the file.
    let expected = hex(&Sha256::digest(file_bytes()));
    assert_eq!(stats["sha256"], Value::from(expected.clone()));
    let href = page
        .eval(
            "return document.querySelector(arguments[0]).href",
            vec![json!(link)],
        )
        .await;
    let href = href.as_str().expect("a link");
    let path = href
        .strip_prefix(&format!("http://{}", proxy.addr))
        .unwrap_or_else(|| panic!("{href} is not on the node the page uploaded to"));
    let (head, body) = http::http_get(&node.addr, path).await;
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    assert_eq!(body.len() as u64, SIZE);
    assert_eq!(
        hex(&Sha256::digest(&body)),
        expected,
        "the stored file's SHA-256"
    );
    drop(proxy);
    drop(node);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
