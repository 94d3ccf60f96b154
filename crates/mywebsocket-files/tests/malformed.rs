//! Every malformed or unexpected input gets the answer docs/file-transfer.md names (§3, §4.1,
//! §4.2), never silence: a hand-written peer, as a client in another language would be, talks
//! to a `Transfers` receiver or sender over TCP on 127.0.0.1.
//!
//! Silence, where the spec asks for it, is checked without waiting for a timeout: after the
//! message that must go unanswered the peer sends a probe that is always answered, and the
//! next message it reads must be the probe's answer.

mod support;

use bytes::Bytes;
use mywebsocket_files::{
    Control, FileMeta, Incoming, Reason, ReceiveOptions, TransferError, TransferId, MAX_CONTROL_LEN,
};
use sha2::{Digest, Sha256};
use support::raw::{chunk, offer, offered, raw_to_receiver, sender_to_raw, sha_hex, Raw};
use support::End;

fn assert_cancel(control: Control, want_id: TransferId, want: Reason) -> String {
    match control {
        Control::Cancel {
            id,
            reason,
            message,
        } if id == want_id && reason == want => message,
        other => panic!("expected cancel {want:?} for {want_id}, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_offers_with_a_readable_id_get_bad_offer() {
    let (mut raw, _server, dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let sha = "0f".repeat(32);
    for members in [
        r#""name":"a","size":1"#.to_owned(),
        format!(r#""size":1,"sha256":"{sha}""#),
        format!(r#""name":"a","size":-1,"sha256":"{sha}""#),
        format!(r#""name":"a","size":1.5,"sha256":"{sha}""#),
        format!(r#""name":"a","size":"5","sha256":"{sha}""#),
        format!(r#""name":5,"size":1,"sha256":"{sha}""#),
        format!(r#""name":"a\ud800","size":1,"sha256":"{sha}""#),
        format!(r#""name":"a","size":9007199254740992,"sha256":"{sha}""#),
        r#""name":"a","size":1,"sha256":"abc""#.to_owned(),
    ] {
        let id = TransferId::random();
        raw.text(format!(r#"{{"ft":"offer","id":"{id}",{members}}}"#))
            .await;
        match raw.next().await {
            Control::Reject {
                id: rejected,
                reason: Reason::BadOffer,
                message,
            } if rejected == id => assert!(!message.is_empty()),
            other => panic!("{members}: {other:?}"),
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_uppercase_id_is_rejected_under_the_id_as_written() {
    let (mut raw, _server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let upper = TransferId::random().to_string().to_uppercase();
    let content = b"abc";
    raw.text(format!(
        r#"{{"ft":"offer","id":"{upper}","name":"a","size":3,"sha256":"{}"}}"#,
        sha_hex(content)
    ))
    .await;
    let reply = raw.next_json().await;
    assert_eq!(reply["ft"], "reject");
    assert_eq!(reply["id"], upper.as_str());
    assert_eq!(reply["reason"], "bad_offer");
}

#[tokio::test]
async fn an_oversized_control_message_is_answered_not_dropped() {
    let (mut raw, _server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let id = TransferId::random();
    raw.text(format!(
        r#"{{"ft":"offer","id":"{id}","name":"{}","size":1,"sha256":"{}"}}"#,
        "a".repeat(MAX_CONTROL_LEN),
        "0f".repeat(32)
    ))
    .await;
    match raw.next().await {
        Control::Reject {
            reason: Reason::BadOffer,
            message,
            ..
        } => assert!(message.contains("65536"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn messages_that_name_no_transfer_go_unanswered() {
    let (mut raw, _server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    for text in [
        r#"{"ft":"offer"}"#,
        r#"{"ft":"offer","id":7}"#,
        r#"{"ft": not json"#,
        r#"{"ft":"pause","id":"5f0c1e8a9b2d4c6e8f00112233445566"}"#,
        r#"{"ft":"ack","id":"5F0C1E8A9B2D4C6E8F00112233445566","offset":1}"#,
    ] {
        raw.text(text).await;
        raw.assert_silent().await;
    }
    // Answers about transfers this end does not run are not answered either.
    let id = TransferId::random();
    raw.send(&Control::Ack { id, offset: 1 }).await;
    raw.send(&Control::Cancel {
        id,
        reason: Reason::Cancelled,
        message: String::new(),
    })
    .await;
    raw.assert_silent().await;
    // A binary message too short to hold an id names nothing.
    raw.binary(Bytes::from_static(b"\xF7FT\x01short")).await;
    raw.assert_silent().await;
}

#[tokio::test]
async fn short_chunks_and_chunks_for_unknown_ids_get_bad_chunk_once() {
    let (mut raw, _server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let content = vec![7u8; 1000];

    // A 28-byte chunk (no data) for a running transfer ends it.
    let id = offered(&mut raw, &content).await;
    raw.binary(chunk(id, 0, &[])).await;
    assert_cancel(raw.next().await, id, Reason::BadChunk);
    // Its later chunks were in flight: ignored.
    raw.binary(chunk(id, 0, &content)).await;
    raw.assert_silent().await;

    // A chunk for an id never offered: cancel once, then silence.
    let stranger = TransferId::random();
    raw.binary(chunk(stranger, 0, b"x")).await;
    let message = assert_cancel(raw.next().await, stranger, Reason::BadChunk);
    assert!(message.contains(&stranger.to_string()), "{message}");
    raw.binary(chunk(stranger, 1, b"y")).await;
    raw.binary(chunk(stranger, 0, &[]).slice(..24)).await;
    raw.assert_silent().await;
}

#[tokio::test]
async fn answers_sent_to_a_receiver_cancel_its_transfer_with_protocol() {
    let (mut raw, server, dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let content = vec![3u8; 1000];
    let sha = sha_hex(&content);
    let answers: [&dyn Fn(TransferId) -> String; 5] = [
        &|id| {
            Control::Accept {
                id,
                offset: 0,
                window: 10,
                max_chunk: 10,
            }
            .to_text()
        },
        &|id| Control::Ack { id, offset: 0 }.to_text(),
        &|id| {
            Control::Done {
                id,
                sha256: "0f".repeat(32),
            }
            .to_text()
        },
        &|id| {
            Control::Reject {
                id,
                reason: Reason::Policy,
                message: String::new(),
            }
            .to_text()
        },
        // Malformed (a negative offset) about a running transfer: also `protocol`.
        &|id| format!(r#"{{"ft":"ack","id":"{id}","offset":-1}}"#),
    ];
    for answer in answers {
        let id = offered(&mut raw, &content).await;
        raw.text(answer(id)).await;
        assert_cancel(raw.next().await, id, Reason::Protocol);
        let Some(Incoming::Failed { error, .. }) = server.files.next_incoming().await else {
            panic!("no failure")
        };
        assert_eq!(error.reason(), Reason::Protocol);
    }
    let _ = sha;
    // Cancelled transfers leave no partial file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_id_is_used_up_once_accepted_but_a_rejected_offer_leaves_no_trace() {
    let (mut raw, _server, _dir) =
        raw_to_receiver(ReceiveOptions::default().max_file_size(1000)).await;
    let content = vec![1u8; 100];

    // Cancelled after accept: offering the id again on this connection is a duplicate.
    let id = offered(&mut raw, &content).await;
    raw.send(&Control::Cancel {
        id,
        reason: Reason::Cancelled,
        message: String::new(),
    })
    .await;
    raw.send(&offer(id, &content)).await;
    match raw.next().await {
        Control::Reject {
            id: rejected,
            reason: Reason::DuplicateId,
            ..
        } if rejected == id => {}
        other => panic!("{other:?}"),
    }

    // Rejected (too large): the same id may be offered again, and is taken.
    let id = TransferId::random();
    raw.send(&offer(id, &vec![1u8; 1001])).await;
    assert!(matches!(
        raw.next().await,
        Control::Reject {
            reason: Reason::TooLarge,
            ..
        }
    ));
    raw.send(&offer(id, &content)).await;
    assert!(matches!(raw.next().await, Control::Accept { id: a, .. } if a == id));
}

#[tokio::test]
async fn a_zero_byte_file_is_accepted_and_done_with_no_chunk() {
    let (mut raw, server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    let id = TransferId::random();
    raw.send(&offer(id, b"")).await;
    assert!(matches!(
        raw.next().await,
        Control::Accept { offset: 0, .. }
    ));
    match raw.next().await {
        Control::Done { id: done, sha256 } if done == id => {
            assert_eq!(sha256, sha_hex(b""));
        }
        other => panic!("{other:?}"),
    }
    let Some(Incoming::Received(received)) = server.files.next_incoming().await else {
        panic!("no file")
    };
    assert_eq!(std::fs::metadata(&received.path).unwrap().len(), 0);

    // The same with the wrong SHA-256: no bytes cannot match it.
    let id = TransferId::random();
    let mut wrong = offer(id, b"");
    if let Control::Offer { sha256, .. } = &mut wrong {
        *sha256 = sha_hex(b"not empty");
    }
    raw.send(&wrong).await;
    assert!(matches!(raw.next().await, Control::Accept { .. }));
    assert_cancel(raw.next().await, id, Reason::ChecksumMismatch);
}

#[tokio::test]
async fn names_with_bidi_or_invisible_characters_are_refused_as_bad_name() {
    let (mut raw, _server, _dir) = raw_to_receiver(ReceiveOptions::default()).await;
    for name in [
        "invoice\u{202E}fdp.exe",
        "a\u{2066}b",
        "zero\u{200B}width",
        "\u{FEFF}bom.txt",
    ] {
        let id = TransferId::random();
        raw.send(&Control::Offer {
            id,
            name: name.into(),
            size: 1,
            media_type: String::new(),
            sha256: "0f".repeat(32),
        })
        .await;
        assert!(
            matches!(
                raw.next().await,
                Control::Reject {
                    reason: Reason::BadName,
                    ..
                }
            ),
            "{name:?}"
        );
    }
}

/// Starts a send of `content` and reads its offer at the raw receiver.
async fn sending(
    client: &End,
    raw: &mut Raw,
    content: &[u8],
) -> (mywebsocket_files::SendHandle, TransferId) {
    let meta = FileMeta::new(
        "f.bin",
        content.len() as u64,
        Sha256::digest(content).into(),
    );
    let handle = client
        .files
        .send_reader(std::io::Cursor::new(content.to_vec()), meta);
    let Control::Offer { id, .. } = raw.next().await else {
        panic!("no offer")
    };
    (handle, id)
}

/// Reads chunks until `bytes` of data arrived.
async fn read_chunks(raw: &mut Raw, bytes: u64) {
    let mut got = 0;
    while got < bytes {
        let msg = raw.ws.read_msg().await.unwrap();
        assert!(msg.as_text().is_none(), "a chunk expected, got {msg:?}");
        got += (msg.as_bytes().len() - 28) as u64;
    }
}

#[tokio::test]
async fn a_sender_cancels_with_protocol_on_answers_its_state_does_not_allow() {
    let content = vec![9u8; 4000];
    type Case = (&'static str, fn(TransferId) -> Vec<String>);
    let accept = |id| {
        Control::Accept {
            id,
            offset: 0,
            window: 1000,
            max_chunk: 1000,
        }
        .to_text()
    };
    let cases: [Case; 6] = [
        ("ack before accept", |id| {
            vec![Control::Ack { id, offset: 0 }.to_text()]
        }),
        ("done before accept", |id| {
            vec![Control::Done {
                id,
                sha256: "0f".repeat(32),
            }
            .to_text()]
        }),
        ("ack past the bytes sent", |id| {
            vec![
                Control::Accept {
                    id,
                    offset: 0,
                    window: 1000,
                    max_chunk: 1000,
                }
                .to_text(),
                Control::Ack { id, offset: 3000 }.to_text(),
            ]
        }),
        ("a second accept", |id| {
            let accept = Control::Accept {
                id,
                offset: 0,
                window: 1000,
                max_chunk: 1000,
            }
            .to_text();
            vec![accept.clone(), accept]
        }),
        ("window 0", |id| {
            vec![format!(
                r#"{{"ft":"accept","id":"{id}","offset":0,"window":0,"max_chunk":1}}"#
            )]
        }),
        ("done before the end", |id| {
            vec![
                Control::Accept {
                    id,
                    offset: 0,
                    window: 1000,
                    max_chunk: 1000,
                }
                .to_text(),
                Control::Done {
                    id,
                    sha256: "0f".repeat(32),
                }
                .to_text(),
            ]
        }),
    ];
    let _ = accept;
    for (name, answers) in cases {
        let (client, mut raw) = sender_to_raw().await;
        let (handle, id) = sending(&client, &mut raw, &content).await;
        for answer in answers(id) {
            raw.text(answer).await;
        }
        // Chunks may come first (the window allows 1000 bytes); the cancel follows them.
        let cancel = loop {
            let msg = raw.ws.read_msg().await.unwrap();
            if let Some(text) = msg.as_text() {
                break serde_json::from_str::<Control>(text).unwrap();
            }
        };
        assert_cancel(cancel, id, Reason::Protocol);
        match handle.finish().await {
            Err(TransferError::Cancelled {
                reason: Reason::Protocol,
                ..
            }) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_sender_rejects_an_offer_of_the_id_it_is_sending() {
    let content = vec![9u8; 100];
    let (client, mut raw) = sender_to_raw().await;
    let (handle, id) = sending(&client, &mut raw, &content).await;
    raw.send(&offer(id, &content)).await;
    assert!(matches!(
        raw.next().await,
        Control::Reject { reason: Reason::DuplicateId, id: r, .. } if r == id
    ));
    // The send itself goes on.
    raw.send(&Control::Accept {
        id,
        offset: 0,
        window: 1000,
        max_chunk: 1000,
    })
    .await;
    read_chunks(&mut raw, 100).await;
    raw.send(&Control::Ack { id, offset: 100 }).await;
    raw.send(&Control::Done {
        id,
        sha256: sha_hex(&content),
    })
    .await;
    handle.finish().await.unwrap();
}
