//! §5: a receiver acknowledges at least every window/4 bytes. A hand-written sender keeps the
//! window full and records every ack the `Transfers` receiver sends.

mod support;

use mywebsocket_files::{Control, Incoming, ReceiveOptions};
use support::raw::{chunk, offer, raw_to_receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_come_at_least_every_quarter_window() {
    const WINDOW: u64 = 1 << 20;
    const CHUNK: u64 = 64 << 10;
    const SIZE: u64 = 24 << 20;
    let options = ReceiveOptions::default().window(WINDOW).max_chunk(CHUNK);
    let (mut raw, server, _dir) = raw_to_receiver(options).await;
    let content: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let sent = offer(mywebsocket_files::TransferId::random(), &content);
    raw.send(&sent).await;
    let Control::Accept { id, offset: 0, .. } = raw.next().await else {
        panic!("no accept")
    };

    let (mut next, mut acked) = (0u64, 0u64);
    let mut acks = Vec::new();
    loop {
        // Fill the window, then wait for an ack (or done).
        while next < SIZE && next + CHUNK - acked <= WINDOW {
            let data = &content[next as usize..(next + CHUNK) as usize];
            raw.binary(chunk(id, next, data)).await;
            next += CHUNK;
        }
        match raw.next().await {
            Control::Ack { offset, .. } => {
                acks.push(offset);
                acked = offset;
            }
            Control::Done { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, SIZE);
    let mut previous = 0;
    for &ack in &acks {
        assert!(
            ack > previous && ack - previous <= WINDOW / 4,
            "ack at {ack} after {previous}: more than window/4 apart ({acks:?})"
        );
        previous = ack;
    }
    assert!(matches!(
        server.files.next_incoming().await,
        Some(Incoming::Received(_))
    ));
}
