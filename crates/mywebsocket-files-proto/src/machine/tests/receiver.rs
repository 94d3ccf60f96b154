//! The receiving side: offer checks, the chunk rules of §3, answers sent to the wrong side.

use std::time::Duration;

use bytes::Bytes;

use super::super::{CommandError, Config, Connection, Direction, Event};
use super::{chunk, events, id, sha, transmits, Pair};
use crate::{Control, Reason};

#[test]
fn chunks_that_break_section_3_end_the_transfer_with_bad_chunk() {
    let cases: [(u64, usize, &str); 4] = [
        (5, 10, "offset 5, expected 0"),
        (0, 101, "max_chunk"),
        (0, 0, "header"),
        (0, 100, ""), // fine; followed below by one past the window
    ];
    for (offset, len, why) in cases {
        let mut pair = Pair::new(Config::default().window(150).max_chunk(100));
        let id = id(5);
        pair.start(id, 1000, 0);
        let _ = events(&mut pair.receiver);
        let got = pair
            .receiver
            .handle_binary(pair.now, chunk(id, offset, len));
        if why.is_empty() {
            assert!(got.is_some());
            // 100 in flight, window 150: a chunk ending at 200 goes past it.
            assert!(pair
                .receiver
                .handle_binary(pair.now, chunk(id, 100, 100))
                .is_none());
        } else {
            assert!(got.is_none(), "{why}");
        }
        let sent = transmits(&mut pair.receiver);
        let [Control::Cancel {
            reason: Reason::BadChunk,
            message,
            ..
        }] = &sent[..]
        else {
            panic!("{sent:?}")
        };
        assert!(message.contains(why), "{message} / {why}");
        assert!(!pair.receiver.is_running(id, Direction::Receive));
        // Its later chunks are ignored: the id is used up.
        assert!(pair
            .receiver
            .handle_binary(pair.now, chunk(id, 100, 1))
            .is_none());
        assert!(transmits(&mut pair.receiver).is_empty());
    }
}

#[test]
fn chunks_before_accept_past_the_size_or_for_unknown_ids() {
    let mut rx = Connection::new(Config::default());
    let now = Duration::ZERO;
    rx.handle_control(
        now,
        Control::Offer {
            id: id(6),
            name: "x".into(),
            size: 3,
            media_type: String::new(),
            sha256: "00".repeat(32),
        },
    );
    assert!(rx.handle_binary(now, chunk(id(6), 0, 1)).is_none());
    let sent = transmits(&mut rx);
    assert!(
        matches!(&sent[..], [Control::Cancel { reason: Reason::BadChunk, message, .. }] if message == "chunk before accept")
    );
    // Never seen: answered once, then ignored.
    for _ in 0..3 {
        assert!(rx.handle_binary(now, chunk(id(9), 0, 1)).is_none());
    }
    assert_eq!(transmits(&mut rx).len(), 1);
    // Too short to name a transfer: ignored.
    assert!(rx
        .handle_binary(now, Bytes::from_static(b"\xF7FT\x01abc"))
        .is_none());
    assert!(transmits(&mut rx).is_empty());
}

#[test]
fn offers_are_refused_in_the_order_of_section_7() {
    let mut rx = Connection::new(Config::default().max_file_size(100).max_incoming(1));
    let now = Duration::ZERO;
    let offer = |n: u8, name: &str, size: u64, sha: &str| Control::Offer {
        id: id(n),
        name: name.into(),
        size,
        media_type: String::new(),
        sha256: sha.into(),
    };
    let good = "ab".repeat(32);
    let cases = [
        (offer(1, "../x", 1000, "00"), Reason::BadOffer),
        (offer(1, "../x", 1000, &good), Reason::TooLarge),
        (offer(1, "../x", 10, &good), Reason::BadName),
    ];
    for (control, reason) in cases {
        rx.handle_control(now, control);
        let sent = transmits(&mut rx);
        assert!(
            matches!(&sent[..], [Control::Reject { reason: r, .. }] if *r == reason),
            "{sent:?}"
        );
    }
    rx.handle_control(now, offer(1, "a", 10, &good));
    assert!(matches!(events(&mut rx)[..], [Event::Offered(_)]));
    for (control, reason) in [
        (offer(1, "a", 10, &good), Reason::DuplicateId),
        (offer(2, "a", 10, &good), Reason::Busy),
    ] {
        rx.handle_control(now, control);
        let sent = transmits(&mut rx);
        assert!(
            matches!(&sent[..], [Control::Reject { reason: r, .. }] if *r == reason),
            "{sent:?}"
        );
    }
    // A rejected offer leaves no trace; a cancelled one is used up.
    rx.reject(id(1), Reason::Policy, "no").unwrap();
    let _ = transmits(&mut rx);
    rx.handle_control(now, offer(1, "a", 10, &good));
    assert!(matches!(
        events(&mut rx)[..],
        [Event::Ended { .. }, Event::Offered(_)]
    ));
    assert!(rx.cancel(id(1), Reason::Cancelled, "stop"));
    let _ = transmits(&mut rx);
    rx.handle_control(now, offer(1, "a", 10, &good));
    let sent = transmits(&mut rx);
    assert!(matches!(
        &sent[..],
        [Control::Reject {
            reason: Reason::DuplicateId,
            ..
        }]
    ));
    // This end cannot offer an id used up here either.
    assert_eq!(
        rx.offer(now, id(1), "a", 1, "", sha(1)),
        Err(CommandError::IdInUse(id(1)))
    );
}

#[test]
fn answers_sent_to_the_receiving_side_and_malformed_ones_cancel_it() {
    let mut pair = Pair::new(Config::default());
    let id = id(8);
    pair.start(id, 10, 0);
    pair.receiver
        .handle_control(pair.now, Control::Ack { id, offset: 1 });
    let sent = transmits(&mut pair.receiver);
    assert!(matches!(
        &sent[..],
        [Control::Cancel {
            reason: Reason::Protocol,
            ..
        }]
    ));

    let mut pair = Pair::new(Config::default());
    pair.start(id, 10, 0);
    let text = format!(r#"{{"ft":"ack","id":"{id}","offset":-1}}"#);
    pair.receiver.handle_text(pair.now, &text);
    let sent = transmits(&mut pair.receiver);
    assert!(matches!(
        &sent[..],
        [Control::Cancel {
            reason: Reason::Protocol,
            ..
        }]
    ));
    // A malformed answer about nothing running: nothing.
    pair.receiver.handle_text(pair.now, &text);
    pair.receiver.handle_text(pair.now, r#"{"ft":"ack"}"#);
    assert!(transmits(&mut pair.receiver).is_empty());
    // A malformed offer: reject{bad_offer}, with the id as the sender wrote it.
    pair.receiver.handle_text(
        pair.now,
        r#"{"ft":"offer","id":"ABC","name":"a","size":1,"sha256":""}"#,
    );
    let reply = pair.receiver.poll_transmit().unwrap();
    assert!(
        reply.contains(r#""id":"ABC""#) && reply.contains("bad_offer"),
        "{reply}"
    );
}
