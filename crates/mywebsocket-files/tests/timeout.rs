//! A sender whose receiver stays silent gives up after `answer_timeout` with
//! `cancel{timeout}` (docs/file-transfer.md §5, §7), instead of waiting for ever.

mod support;

use std::time::Duration;

use mywebsocket::{connect, Upgrader};
use mywebsocket_files::{Control, FileMeta, Reason, ReceiveOptions, Side, TransferError};
use sha2::{Digest, Sha256};
use support::raw::Raw;
use support::{listen, start_end};

const TIMEOUT: Duration = Duration::from_millis(300);

async fn sender_to_silent_raw() -> (support::End, Raw) {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        Upgrader::default().accept(tcp).await.unwrap()
    });
    let (ws, _) = connect(&url).await.unwrap();
    let client = start_end(ws, ReceiveOptions::default().answer_timeout(TIMEOUT));
    let raw = Raw {
        ws: server.await.unwrap(),
    };
    (client, raw)
}

fn assert_timed_out(result: Result<mywebsocket_files::Sent, TransferError>) {
    match result {
        Err(TransferError::Cancelled {
            by: Side::Local,
            reason: Reason::Timeout,
            message,
        }) => assert!(message.contains("no answer"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_offer_without_an_answer_times_out_with_cancel_timeout() {
    let (client, mut raw) = sender_to_silent_raw().await;
    let content = vec![1u8; 100];
    let meta = FileMeta::new("f.bin", 100, Sha256::digest(&content).into());
    let handle = client
        .files
        .send_reader(std::io::Cursor::new(content), meta);
    let Control::Offer { id, .. } = raw.next().await else {
        panic!("no offer")
    };
    assert!(matches!(
        raw.next().await,
        Control::Cancel { id: c, reason: Reason::Timeout, .. } if c == id
    ));
    assert_timed_out(handle.finish().await);
}

#[tokio::test]
async fn a_sender_out_of_window_without_an_ack_times_out() {
    let (client, mut raw) = sender_to_silent_raw().await;
    let content = vec![2u8; 1000];
    let meta = FileMeta::new("f.bin", 1000, Sha256::digest(&content).into());
    let handle = client
        .files
        .send_reader(std::io::Cursor::new(content), meta);
    let Control::Offer { id, .. } = raw.next().await else {
        panic!("no offer")
    };
    raw.send(&Control::Accept {
        id,
        offset: 0,
        window: 100,
        max_chunk: 100,
    })
    .await;
    // One chunk fills the window; no ack ever comes.
    let chunk = raw.ws.read_msg().await.unwrap();
    assert_eq!(chunk.as_bytes().len(), 28 + 100);
    assert!(matches!(
        raw.next().await,
        Control::Cancel { id: c, reason: Reason::Timeout, .. } if c == id
    ));
    assert_timed_out(handle.finish().await);
}
