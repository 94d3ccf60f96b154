//! File transfer against the server's `mywebsocket-files`: a rejected offer, a cancelled
//! upload, 64 MiB uploaded and 64 MiB downloaded byte-exact (SHA-256 verified at both ends,
//! and every byte compared with what the other end must have generated), and a corrupt
//! download detected. The server's steps are in `crates/mywebsocket-testserver/src/cases/files.rs`.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use js_sys::{Array, Uint8Array};
use mywebsocket_wasm::files::{
    CancelToken, FileError, Files, FilesOptions, Reason, Side, TransferOptions,
};
use mywebsocket_wasm::{connect, CloseCode, Message, WebSocket};
use sha2::{Digest, Sha256};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Blob, File, FilePropertyBag};

use crate::payload::{fill_file, FILE_LEN, FROM_BROWSER, FROM_SERVER, SMALL_FILE_LEN};
use crate::support::{now_ms, num, observed, session, ws_url};

/// How much of a generated file is made or checked at a time.
const PIECE: u64 = 1 << 20;

#[wasm_bindgen_test]
async fn files_upload_and_download_64_mib_byte_exact() {
    let id = session("files");
    let mut ws = connect(&ws_url("files", &id, "")).await.expect("connects");
    let files = Files::new(ws.writer(), FilesOptions::default().max_file_size(FILE_LEN));
    let mut app_messages = Vec::new();
    let (up_ms, down_ms) = while_reading(&mut ws, &files, &mut app_messages, steps(&files)).await;
    assert!(app_messages.is_empty(), "{app_messages:?}");
    // The connection still carries application messages.
    ws.write_string("files done").await.expect("writes");
    ws.close(CloseCode::NORMAL, "files done")
        .await
        .expect("closes");
    web_sys::console::log_1(
        &format!(
            "files: 64 MiB up in {up_ms:.0} ms ({:.1} MB/s), down in {down_ms:.0} ms ({:.1} MB/s)",
            FILE_LEN as f64 / up_ms / 1000.0,
            FILE_LEN as f64 / down_ms / 1000.0
        )
        .into(),
    );

    let seen = observed(&id).await;
    let cancelled = &seen["cancelled_upload"];
    assert_eq!(cancelled["received"], false, "{seen}");
    assert_eq!(cancelled["name"], "cancelled.bin", "{seen}");
    assert_eq!(cancelled["reason"], "cancelled", "{seen}");
    let upload = &seen["upload"];
    assert_eq!(upload["received"], true, "{seen}");
    assert_eq!(upload["name"], "from-browser.bin", "{seen}");
    assert_eq!(num(&upload["size"]), FILE_LEN, "{seen}");
    assert_eq!(upload["exact"], true, "the server's copy differs: {seen}");
    assert_eq!(
        upload["sha256"],
        generated_sha256(FROM_BROWSER, FILE_LEN).as_str()
    );
    let corrupt = &seen["corrupt_download"];
    assert_eq!(corrupt["ok"], false, "{seen}");
    assert!(
        corrupt["error"]
            .as_str()
            .unwrap_or_default()
            .contains("checksum_mismatch"),
        "the server was not told of the corruption: {seen}"
    );
    assert_eq!(seen["download"]["ok"], true, "{seen}");
    assert_eq!(num(&seen["download"]["size"]), FILE_LEN, "{seen}");
    let messages = seen["messages"].as_array().expect("a list");
    assert_eq!(messages.len(), 1, "{seen}");
    assert_eq!(messages[0]["text"], "files done", "{seen}");
    assert_eq!(seen["end"]["code"], 1000, "{seen}");
}

/// The browser's steps; returns how long the upload and the download took, in ms.
async fn steps(files: &Files) -> (f64, f64) {
    // 1. An offer whose name escapes the directory is rejected with a reason.
    let tiny = blob_of(b"no way out");
    match files
        .send_blob(&tiny, "../escape.txt", &TransferOptions::default())
        .await
    {
        Err(FileError::Rejected {
            reason: Reason::BadName,
            message,
        }) => assert!(!message.is_empty()),
        other => panic!("../escape.txt: expected a bad_name rejection, got {other:?}"),
    }

    // 2. An upload cancelled once it is under way.
    let small = generated_file(FROM_BROWSER, SMALL_FILE_LEN, "cancelled.bin");
    let stop = CancelToken::new();
    let options = TransferOptions::default()
        .cancel_token(stop.clone())
        .on_progress({
            let stop = stop.clone();
            move |done, _| {
                if done > 0 {
                    stop.cancel();
                }
            }
        });
    match files.send_file(&small, &options).await {
        Err(FileError::Cancelled {
            by: Side::Local,
            reason: Reason::Cancelled,
            ..
        }) => {}
        other => panic!("cancelled upload: got {other:?}"),
    }

    // 3. 64 MiB up, read from a File slice by slice.
    let big = generated_file(FROM_BROWSER, FILE_LEN, "from-browser.bin");
    let up_progress = Rc::new(RefCell::new(Vec::new()));
    let options = TransferOptions::default().on_progress({
        let up_progress = Rc::clone(&up_progress);
        move |done, total| up_progress.borrow_mut().push((done, total))
    });
    let started = now_ms();
    let sent = files
        .send_file(&big, &options)
        .await
        .expect("64 MiB uploaded");
    let up_ms = now_ms() - started;
    assert_eq!(sent.size, FILE_LEN);
    assert_eq!(sent.sha256, generated_sha256(FROM_BROWSER, FILE_LEN));
    check_progress(&up_progress.borrow(), FILE_LEN);
    drop(big);

    // 4. A download whose bytes do not match its SHA-256 is refused as corrupt.
    let offer = files.next_offer().await.expect("the corrupt offer");
    assert_eq!(
        (offer.name(), offer.size()),
        ("corrupt.bin", SMALL_FILE_LEN)
    );
    match offer.accept(&TransferOptions::default()).await {
        Err(error @ FileError::ChecksumMismatch { .. }) => {
            assert!(error.is_corrupt());
            assert!(error.to_string().contains("corrupt"), "{error}");
        }
        other => panic!("corrupt download: got {other:?}"),
    }

    // 5. 64 MiB down into a Blob.
    let offer = files.next_offer().await.expect("the 64 MiB offer");
    assert_eq!(offer.name(), "from-server.bin");
    assert_eq!(offer.size(), FILE_LEN);
    assert_eq!(offer.media_type(), "application/octet-stream");
    let down_progress = Rc::new(RefCell::new(Vec::new()));
    let options = TransferOptions::default().on_progress({
        let down_progress = Rc::clone(&down_progress);
        move |done, total| down_progress.borrow_mut().push((done, total))
    });
    let started = now_ms();
    let received = offer.accept(&options).await.expect("64 MiB downloaded");
    let down_ms = now_ms() - started;
    check_progress(&down_progress.borrow(), FILE_LEN);
    assert_eq!(received.size, FILE_LEN);
    assert_eq!(received.blob.size() as u64, FILE_LEN);
    assert_eq!(received.blob.type_(), "application/octet-stream");
    assert_eq!(received.sha256, generated_sha256(FROM_SERVER, FILE_LEN));
    assert_blob_is_generated(&received.blob, FROM_SERVER, FILE_LEN).await;
    assert!(received
        .object_url()
        .expect("a blob URL")
        .starts_with("blob:"));
    (up_ms, down_ms)
}

/// Runs `body` while reading `ws` and routing what arrives through `files`, keeping the
/// application's messages in `app`. Reading stops when `body` is done (`read_msg` is
/// cancel-safe).
pub(crate) async fn while_reading<T>(
    ws: &mut WebSocket,
    files: &Files,
    app: &mut Vec<Message>,
    body: impl Future<Output = T>,
) -> T {
    let mut body = pin!(body);
    let mut reader = pin!(async {
        loop {
            match ws.read_msg().await {
                Ok(message) => {
                    if let Some(message) = files.route(message).await {
                        app.push(message);
                    }
                }
                Err(e) => {
                    files.connection_lost();
                    return e;
                }
            }
        }
    });
    let mut read_end = None;
    poll_fn(|cx| {
        if read_end.is_none() {
            if let Poll::Ready(end) = reader.as_mut().poll(cx) {
                read_end = Some(end);
            }
        }
        body.as_mut().poll(cx)
    })
    .await
}

/// A blob of `bytes`.
fn blob_of(bytes: &[u8]) -> Blob {
    let parts = Array::of1(&Uint8Array::from(bytes));
    Blob::new_with_u8_array_sequence(&parts).expect("a blob")
}

/// A `File` called `name` of `len` bytes of [`fill_file`] with `seed`, built a piece at a
/// time.
pub(crate) fn generated_file(seed: u8, len: u64, name: &str) -> File {
    let parts = Array::new();
    let mut buf = vec![0; PIECE as usize];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(PIECE) as usize;
        fill_file(seed, offset, &mut buf[..n]);
        parts.push(&Uint8Array::from(&buf[..n]));
        offset += n as u64;
    }
    let bag = FilePropertyBag::new();
    bag.set_type("application/octet-stream");
    File::new_with_u8_array_sequence_and_options(&parts, name, &bag).expect("a file")
}

/// The SHA-256 of `len` bytes of [`fill_file`] with `seed`, in hex.
fn generated_sha256(seed: u8, len: u64) -> String {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; PIECE as usize];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(PIECE) as usize;
        fill_file(seed, offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    hex::encode(hasher.finalize())
}

/// Reads `blob` back a slice at a time and compares every byte with [`fill_file`].
async fn assert_blob_is_generated(blob: &Blob, seed: u8, len: u64) {
    let mut got = vec![0; PIECE as usize];
    let mut want = vec![0; PIECE as usize];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(PIECE) as usize;
        let slice = blob
            .slice_with_f64_and_f64(offset as f64, (offset + n as u64) as f64)
            .expect("a slice");
        let buffer = JsFuture::from(slice.array_buffer())
            .await
            .expect("the slice reads");
        let bytes = Uint8Array::new(&buffer);
        assert_eq!(bytes.length() as usize, n, "slice at {offset}");
        bytes.copy_to(&mut got[..n]);
        fill_file(seed, offset, &mut want[..n]);
        assert!(
            got[..n] == want[..n],
            "the blob differs in the MiB at {offset}"
        );
        offset += n as u64;
    }
}

/// Progress calls go up to `total` and never back.
fn check_progress(calls: &[(u64, u64)], total: u64) {
    assert!(!calls.is_empty(), "no progress reported");
    assert!(calls.iter().all(|&(_, t)| t == total), "{calls:?}");
    assert!(
        calls.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back"
    );
    assert_eq!(calls.last().map(|c| c.0), Some(total));
    assert!(calls.len() > 8, "only {} progress calls", calls.len());
}

/// A control message the engine queued is not lost when the future writing it is dropped
/// while the write waits for `bufferedAmount` to drain: the next flush (started by the drop)
/// writes it. Against `/echo`: the `reject{bad_offer}` answering a malformed offer comes back.
#[wasm_bindgen_test]
async fn files_control_message_survives_a_dropped_route() {
    let id = session("files-dropped-route");
    let options = mywebsocket_wasm::Options::default().max_buffered(0);
    let mut ws = mywebsocket_wasm::connect_with(&ws_url("echo", &id, ""), options)
        .await
        .expect("connects");
    let files = Files::new(ws.writer(), FilesOptions::default());
    // The browser now holds unsent bytes, so the next write waits.
    ws.write_binary(vec![7u8; 256 << 10]).await.expect("writes");
    assert!(
        ws.buffered_amount() > 0,
        "nothing buffered: the test proves nothing"
    );
    let transfer = "5f0c1e8a9b2d4c6e8f00112233445566";
    let malformed = Message::text(format!(r#"{{"ft":"offer","id":"{transfer}"}}"#));
    {
        let mut route = pin!(files.route(malformed));
        // One poll: the machine queues the reject and the write starts waiting.
        let pending = poll_fn(|cx| Poll::Ready(route.as_mut().poll(cx).is_pending())).await;
        assert!(pending, "the write did not wait");
    } // dropped mid-write
    let reject = async {
        loop {
            match ws.read_msg().await.expect("reads") {
                Message::Text(text) => return text.as_str().to_owned(),
                _ => continue, // the echoed filler
            }
        }
    };
    let timeout = crate::support::sleep(10_000);
    let text = {
        let (mut reject, mut timeout) = (pin!(reject), pin!(timeout));
        poll_fn(|cx| {
            if let Poll::Ready(text) = reject.as_mut().poll(cx) {
                return Poll::Ready(Some(text));
            }
            timeout.as_mut().poll(cx).map(|()| None)
        })
        .await
    };
    let text = text.expect("the reject was lost with the dropped route");
    assert!(text.starts_with(r#"{"ft":"reject""#), "{text}");
    assert!(
        text.contains(transfer) && text.contains("bad_offer"),
        "{text}"
    );
    ws.close(CloseCode::NORMAL, "done").await.expect("closes");
}
