//! An upload resumed after the connection was lost: the server closes the first connection
//! halfway through (1012), the page reconnects and sends the same `File` under the same
//! transfer id, and only the rest crosses the wire. The server's side is
//! `crates/mywebsocket-testserver/src/cases/files_resume.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use mywebsocket_wasm::files::{new_transfer_id, FileError, Files, FilesOptions, TransferOptions};
use mywebsocket_wasm::{connect, CloseCode};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::files::{generated_file, while_reading};
use crate::payload::{FROM_BROWSER, RESUME_FILE_LEN};
use crate::support::{num, observed, session, ws_url};

#[wasm_bindgen_test]
async fn files_upload_resumes_after_the_connection_is_lost() {
    let id = session("files-resume");
    let file = generated_file(FROM_BROWSER, RESUME_FILE_LEN, "resumed.bin");
    let transfer = new_transfer_id();

    let mut ws = connect(&ws_url("files-resume", &id, ""))
        .await
        .expect("connects");
    let files = Files::new(ws.writer(), FilesOptions::default());
    let mut app = Vec::new();
    let options = TransferOptions::default().id(transfer);
    let first = while_reading(&mut ws, &files, &mut app, files.send_file(&file, &options)).await;
    match first {
        Err(FileError::ConnectionLost { .. } | FileError::Connection(_)) => {}
        other => panic!("the first connection should have been lost mid-upload: {other:?}"),
    }

    let mut ws = connect(&ws_url("files-resume", &id, ""))
        .await
        .expect("reconnects");
    let files = Files::new(ws.writer(), FilesOptions::default());
    let progress = Rc::new(RefCell::new(Vec::new()));
    let options = options.on_progress({
        let progress = progress.clone();
        move |done, _| progress.borrow_mut().push(done)
    });
    let sent = while_reading(&mut ws, &files, &mut app, files.send_file(&file, &options))
        .await
        .expect("the resumed upload completes");
    assert_eq!(sent.id, transfer);
    assert_eq!(sent.size, RESUME_FILE_LEN);
    assert!(app.is_empty(), "{app:?}");
    ws.close(CloseCode::NORMAL, "resumed")
        .await
        .expect("closes");

    let seen = observed(&id).await;
    let cut = &seen["cut"];
    assert!(num(&cut["chunk_bytes"]) >= RESUME_FILE_LEN / 2, "{seen}");
    let resumed = &seen["resumed"];
    assert_eq!(num(&resumed["connection"]), 2, "{seen}");
    assert_eq!(resumed["exact"], true, "the server's copy differs: {seen}");
    let from = num(&resumed["resumed_from"]);
    assert!(
        (RESUME_FILE_LEN / 2..RESUME_FILE_LEN).contains(&from),
        "resumed from {from}: {seen}"
    );
    assert_eq!(
        num(&resumed["chunk_bytes"]),
        RESUME_FILE_LEN - from,
        "the second connection carried more than the missing bytes: {seen}"
    );
    let progress = progress.borrow();
    assert_eq!(progress.first().copied(), Some(from), "{progress:?}");
    assert_eq!(progress.last().copied(), Some(RESUME_FILE_LEN));
}
