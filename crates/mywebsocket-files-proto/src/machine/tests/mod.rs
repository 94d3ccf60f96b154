//! A sender and a receiver back to back in memory with a fake clock (quinn-proto's `Pair`),
//! and the answers to inputs that break the rules; the receiver's in `receiver.rs`.

mod receiver;
mod writes;

use std::time::Duration;

use bytes::{BufMut, Bytes};

use super::*;
use crate::{chunk_buffer, Control, Reason, Side, TransferId};

/// SHA-256 of no bytes.
const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(super) fn sha(byte: u8) -> [u8; 32] {
    [byte; 32]
}

pub(super) fn id(n: u8) -> TransferId {
    TransferId([n; 16])
}

pub(super) fn chunk(id: TransferId, offset: u64, len: usize) -> Bytes {
    let mut buf = chunk_buffer(id, offset, len);
    buf.put_bytes(0x5a, len);
    buf.freeze()
}

pub(super) fn transmits(c: &mut Connection) -> Vec<Control> {
    std::iter::from_fn(|| c.poll_transmit())
        .map(|text| Control::parse(&text).expect("the machine writes valid messages"))
        .collect()
}

pub(super) fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Two connections and a clock; control messages are delivered by hand or by `pump`.
pub(super) struct Pair {
    pub(super) sender: Connection,
    pub(super) receiver: Connection,
    pub(super) now: Duration,
}

impl Pair {
    pub(super) fn new(config: Config) -> Self {
        Self {
            sender: Connection::new(config.clone()),
            receiver: Connection::new(config),
            now: Duration::ZERO,
        }
    }

    /// Delivers the control messages queued on both sides until none is left.
    pub(super) fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(text) = self.sender.poll_transmit() {
                self.receiver.handle_text(self.now, &text);
                moved = true;
            }
            while let Some(text) = self.receiver.poll_transmit() {
                self.sender.handle_text(self.now, &text);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Offers `size` bytes as `id`; the receiver accepts at `offset`.
    pub(super) fn start(&mut self, id: TransferId, size: u64, offset: u64) {
        self.sender
            .offer(self.now, id, "a.bin", size, "", sha(7))
            .unwrap();
        self.pump();
        let Some(Event::Offered(offer)) = self.receiver.poll_event() else {
            panic!("no offer")
        };
        assert_eq!(
            (offer.id, offer.size, offer.name.as_str()),
            (id, size, "a.bin")
        );
        self.receiver.accept(id, offset).unwrap();
        self.pump();
    }
}

#[test]
fn a_file_goes_back_to_back_with_acks_every_quarter_window() {
    let window = 1000;
    let mut pair = Pair::new(Config::default().window(window).max_chunk(100));
    let id = id(1);
    let size = 2550;
    pair.start(id, size, 0);
    assert_eq!(
        events(&mut pair.sender),
        [Event::Accepted {
            id,
            offset: 0,
            window,
            max_chunk: 100
        }]
    );
    let mut acks = Vec::new();
    let mut received = 0;
    while received < size {
        // The sender fills its window, the receiver confirms everything, acks flow back.
        while let Some((offset, room)) = pair.sender.send_room(id).filter(|r| r.1 > 0) {
            let len = room.min(100);
            pair.sender.chunk_sent(pair.now, id, offset, len).unwrap();
            let data = chunk(id, offset, len as usize);
            let chunk = pair.receiver.handle_binary(pair.now, data).unwrap();
            assert_eq!(chunk.offset, received);
            received += chunk.data.len() as u64;
            pair.receiver.confirmed(id, received).unwrap();
        }
        pair.now += Duration::from_millis(1);
        for text in std::iter::from_fn(|| pair.receiver.poll_transmit()) {
            pair.sender.handle_text(pair.now, &text);
        }
        for event in events(&mut pair.sender) {
            let Event::Acked { offset, .. } = event else {
                panic!("{event:?}")
            };
            acks.push(offset);
        }
    }
    // Every chunk is confirmed at once: each one is acked (nothing else is waiting).
    assert_eq!(acks.len(), 26, "{acks:?}");
    assert_eq!(acks.last(), Some(&size));
    assert!(pair.receiver.verify(id, sha(7)).unwrap());
    pair.receiver.complete(id).unwrap();
    pair.pump();
    let done = Event::Ended {
        id,
        direction: Direction::Send,
        end: End::Done,
    };
    assert_eq!(events(&mut pair.sender), [done]);
    assert!(!pair.sender.is_running(id, Direction::Send));
    assert_eq!(pair.sender.poll_timeout(), None);
}

#[test]
fn a_slow_receiver_acks_each_quarter_window_in_turn() {
    let mut pair = Pair::new(Config::default().window(400).max_chunk(100));
    let id = id(2);
    pair.start(id, 1000, 0);
    for offset in (0..400).step_by(100) {
        pair.sender.chunk_sent(pair.now, id, offset, 100).unwrap();
        let _ = pair
            .receiver
            .handle_binary(pair.now, chunk(id, offset, 100))
            .unwrap();
    }
    assert_eq!(pair.sender.send_room(id), Some((400, 0)), "window full");
    pair.receiver.confirmed(id, 300).unwrap();
    let acks: Vec<_> = transmits(&mut pair.receiver);
    assert_eq!(
        acks,
        [100, 200, 300].map(|offset| Control::Ack { id, offset })
    );
}

#[test]
fn resume_accepts_at_the_offset_and_a_whole_part_file_completes_at_once() {
    let mut pair = Pair::new(Config::default());
    let id = id(3);
    pair.start(id, 10, 10);
    assert_eq!(pair.sender.send_room(id), Some((10, 0)));
    // The sender owes nothing but waits for done: the clock runs.
    assert!(pair.sender.poll_timeout().is_some());
    assert!(!pair.receiver.verify(id, sha(8)).unwrap());
    pair.pump();
    let ended = events(&mut pair.sender).pop().unwrap();
    assert!(matches!(
        ended,
        Event::Ended {
            end: End::Cancelled {
                by: Side::Remote,
                reason: Reason::ChecksumMismatch,
                ..
            },
            ..
        }
    ));
}

#[test]
fn an_empty_file_is_accepted_and_done_without_a_chunk() {
    let mut pair = Pair::new(Config::default());
    let id = id(4);
    let mut digest = [0; 32];
    hex::decode_to_slice(EMPTY_SHA, &mut digest).unwrap();
    pair.sender
        .offer(pair.now, id, "empty", 0, "", digest)
        .unwrap();
    pair.pump();
    let _ = events(&mut pair.receiver);
    pair.receiver.accept(id, 0).unwrap();
    assert!(pair.receiver.verify(id, digest).unwrap());
    pair.receiver.complete(id).unwrap();
    pair.pump();
    let kinds = events(&mut pair.sender);
    assert!(matches!(kinds[0], Event::Accepted { offset: 0, .. }));
    assert!(matches!(kinds[1], Event::Ended { end: End::Done, .. }));
}

#[test]
fn answers_that_break_section_4_2_cancel_with_protocol() {
    let id = id(7);
    let accept = |offset| Control::Accept {
        id,
        offset,
        window: 100,
        max_chunk: 10,
    };
    let cases: Vec<(Vec<Control>, &str)> = vec![
        (vec![Control::Ack { id, offset: 0 }], "ack before accept"),
        (vec![accept(0), accept(0)], "a second accept"),
        (vec![accept(51)], "past the size"),
        (
            vec![accept(0), Control::Ack { id, offset: 1 }],
            "with 0 bytes sent",
        ),
        (
            vec![accept(5), Control::Ack { id, offset: 4 }],
            "after an ack",
        ),
        (
            vec![
                accept(0),
                Control::Done {
                    id,
                    sha256: hex::encode(sha(1)),
                },
            ],
            "done after 0 of 50",
        ),
        (
            vec![
                accept(50),
                Control::Done {
                    id,
                    sha256: hex::encode(sha(2)),
                },
            ],
            "the offer said",
        ),
        (
            vec![
                accept(0),
                Control::Reject {
                    id,
                    reason: Reason::Policy,
                    message: String::new(),
                },
            ],
            "reject after accept",
        ),
    ];
    for (answers, why) in cases {
        let mut tx = Connection::new(Config::default());
        tx.offer(Duration::ZERO, id, "f", 50, "", sha(1)).unwrap();
        let _ = transmits(&mut tx);
        for answer in answers {
            tx.handle_control(Duration::ZERO, answer);
        }
        let sent = transmits(&mut tx);
        assert!(
            matches!(&sent[..], [Control::Cancel { reason: Reason::Protocol, message, .. }] if message.contains(why)),
            "{why}: {sent:?}"
        );
        let last = events(&mut tx).pop();
        assert!(matches!(
            last,
            Some(Event::Ended {
                direction: Direction::Send,
                ..
            })
        ));
        // Whatever comes later about it is ignored.
        tx.handle_control(Duration::ZERO, Control::Ack { id, offset: 0 });
        assert!(transmits(&mut tx).is_empty() && events(&mut tx).is_empty());
    }
}

#[test]
fn a_silent_receiver_times_the_sender_out() {
    let timeout = Duration::from_secs(60);
    // No answer to the offer.
    let mut tx = Connection::new(Config::default().answer_timeout(timeout));
    let t0 = Duration::from_secs(5);
    tx.offer(t0, id(1), "f", 10, "", sha(1)).unwrap();
    let _ = transmits(&mut tx);
    assert_eq!(tx.poll_timeout(), Some(t0 + timeout));
    tx.handle_timeout(t0 + timeout - Duration::from_millis(1));
    assert!(transmits(&mut tx).is_empty());
    tx.handle_timeout(t0 + timeout);
    let sent = transmits(&mut tx);
    assert!(
        matches!(&sent[..], [Control::Cancel { reason: Reason::Timeout, message, .. }] if message.contains("60s")),
        "{sent:?}"
    );
    assert!(matches!(
        events(&mut tx)[..],
        [Event::Ended {
            end: End::Cancelled {
                by: Side::Local,
                reason: Reason::Timeout,
                ..
            },
            ..
        }]
    ));
    assert_eq!(tx.poll_timeout(), None);

    // Out of window, no ack; each ack restarts the clock, nothing owed while idle.
    let mut pair = Pair::new(
        Config::default()
            .window(10)
            .max_chunk(10)
            .answer_timeout(timeout),
    );
    let id = id(2);
    pair.start(id, 30, 0);
    assert_eq!(
        pair.sender.poll_timeout(),
        None,
        "nothing owed before the first chunk"
    );
    pair.now = Duration::from_secs(100);
    pair.sender.chunk_sent(pair.now, id, 0, 10).unwrap();
    assert_eq!(pair.sender.poll_timeout(), Some(pair.now + timeout));
    let _ = pair
        .receiver
        .handle_binary(pair.now, chunk(id, 0, 10))
        .unwrap();
    pair.now += Duration::from_secs(30);
    pair.receiver.confirmed(id, 10).unwrap();
    pair.pump();
    assert_eq!(
        pair.sender.poll_timeout(),
        None,
        "all acked, the sender's turn"
    );
    pair.sender.chunk_sent(pair.now, id, 10, 10).unwrap();
    pair.sender.handle_timeout(pair.now + timeout);
    pair.pump();
    assert!(!pair.receiver.is_running(id, Direction::Receive));
}

#[test]
fn an_unknown_reason_ends_the_transfer_as_other() {
    let mut pair = Pair::new(Config::default());
    let id = id(3);
    pair.start(id, 10, 0);
    let _ = events(&mut pair.sender);
    pair.sender.handle_text(
        pair.now,
        &format!(r#"{{"ft":"cancel","id":"{id}","reason":"a_new_code"}}"#),
    );
    assert!(matches!(
        events(&mut pair.sender)[..],
        [Event::Ended {
            end: End::Cancelled {
                by: Side::Remote,
                reason: Reason::Other,
                ..
            },
            ..
        }]
    ));
}

#[test]
fn commands_out_of_place_are_refused_without_effect() {
    let mut pair = Pair::new(Config::default().window(10).max_chunk(5));
    let id = id(4);
    assert_eq!(
        pair.receiver.accept(id, 0),
        Err(CommandError::NotRunning(id))
    );
    pair.start(id, 20, 0);
    let now = pair.now;
    assert_eq!(
        pair.receiver.accept(id, 0),
        Err(CommandError::WrongPhase(id))
    );
    assert_eq!(
        pair.receiver.verify(id, sha(7)),
        Err(CommandError::WrongPhase(id))
    );
    assert_eq!(
        pair.receiver.confirmed(id, 1),
        Err(CommandError::WrongPhase(id))
    );
    for (offset, len) in [(1, 5), (0, 6), (0, 0)] {
        assert_eq!(
            pair.sender.chunk_sent(now, id, offset, len),
            Err(CommandError::OutsideWindow(id))
        );
    }
    pair.sender.chunk_sent(now, id, 0, 5).unwrap();
    pair.sender.chunk_sent(now, id, 5, 5).unwrap();
    assert_eq!(
        pair.sender.chunk_sent(now, id, 10, 1),
        Err(CommandError::OutsideWindow(id)),
        "window full"
    );
    pair.sender.connection_lost();
    assert!(matches!(
        events(&mut pair.sender)[..],
        [
            ..,
            Event::Ended {
                end: End::ConnectionLost { confirmed: 0 },
                ..
            }
        ]
    ));
    assert_eq!(
        pair.sender.offer(now, id, "f", 1, "", sha(1)),
        Err(CommandError::ConnectionLost)
    );
}
