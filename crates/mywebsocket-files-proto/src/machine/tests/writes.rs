//! A driver that reports writes ([`Config::report_writes`]): the answer clock counts from the
//! moment a message left the sender's own queue; and the receiver's limit is at least 1.

use std::time::Duration;

use super::super::{Config, Event};
use super::{chunk, events, id, sha, transmits, Pair};
use crate::{Control, Reason};

#[test]
fn the_answer_clock_starts_when_the_offer_and_chunks_are_written() {
    let timeout = Duration::from_secs(60);
    let config = Config::default()
        .window(10)
        .max_chunk(10)
        .answer_timeout(timeout)
        .report_writes(true);
    let mut pair = Pair::new(config);
    let id = id(3);
    pair.sender
        .offer(pair.now, id, "a.bin", 30, "", sha(7))
        .unwrap();
    let (text, offer) = pair.sender.poll_transmit_offer().unwrap();
    assert_eq!(offer, Some(id));
    // Queued, not yet written: no clock, however long it waits.
    assert_eq!(pair.sender.poll_timeout(), None);
    pair.sender.handle_timeout(pair.now + timeout * 10);
    assert!(transmits(&mut pair.sender).is_empty());
    pair.now = timeout * 10;
    assert!(pair.sender.written(pair.now, id));
    assert_eq!(pair.sender.poll_timeout(), Some(pair.now + timeout));

    pair.receiver.handle_text(pair.now, &text);
    let _ = events(&mut pair.receiver);
    pair.receiver.accept(id, 0).unwrap();
    pair.pump();
    assert_eq!(pair.sender.poll_timeout(), None, "the sender's turn");

    // A chunk counted for the window, still waiting to be written: no clock.
    pair.sender.chunk_sent(pair.now, id, 0, 10).unwrap();
    assert_eq!(pair.sender.send_room(id), Some((10, 0)));
    assert_eq!(pair.sender.poll_timeout(), None);
    pair.now += timeout * 2;
    pair.sender.handle_timeout(pair.now);
    assert!(transmits(&mut pair.sender).is_empty());
    // Written: the receiver owes its ack from now.
    pair.sender.written(pair.now, id);
    assert_eq!(pair.sender.poll_timeout(), Some(pair.now + timeout));
    let _ = pair
        .receiver
        .handle_binary(pair.now, chunk(id, 0, 10))
        .unwrap();
    pair.receiver.confirmed(id, 10).unwrap();
    pair.pump();
    assert_eq!(pair.sender.poll_timeout(), None);

    // An ack that overtakes the report of the write leaves nothing owed.
    pair.sender.chunk_sent(pair.now, id, 10, 10).unwrap();
    let _ = pair
        .receiver
        .handle_binary(pair.now, chunk(id, 10, 10))
        .unwrap();
    pair.receiver.confirmed(id, 20).unwrap();
    pair.pump();
    pair.sender.written(pair.now, id);
    assert_eq!(pair.sender.poll_timeout(), None);

    // A silent receiver still times out, counted from the write.
    pair.sender.chunk_sent(pair.now, id, 20, 10).unwrap();
    let written_at = pair.now + Duration::from_secs(5);
    pair.sender.written(written_at, id);
    pair.sender
        .handle_timeout(written_at + timeout - Duration::from_millis(1));
    assert!(transmits(&mut pair.sender).is_empty());
    pair.sender.handle_timeout(written_at + timeout);
    let sent = transmits(&mut pair.sender);
    assert!(
        matches!(
            &sent[..],
            [Control::Cancel {
                reason: Reason::Timeout,
                ..
            }]
        ),
        "{sent:?}"
    );
    assert!(!pair.sender.written(written_at, id), "ended");
}

#[test]
fn a_limit_of_zero_incoming_transfers_counts_as_one() {
    let mut config = Config::default().max_incoming(0);
    assert_eq!(config.max_incoming, 1);
    // Set directly, the field is clamped where it is used.
    config.max_incoming = 0;
    let mut pair = Pair::new(config);
    pair.sender
        .offer(pair.now, id(1), "a.bin", 10, "", sha(7))
        .unwrap();
    pair.pump();
    assert!(matches!(
        events(&mut pair.receiver)[..],
        [Event::Offered(_)]
    ));
}
