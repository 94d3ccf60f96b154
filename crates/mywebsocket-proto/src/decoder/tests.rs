use super::*;
use crate::close::CloseCode;
use crate::frame::Frame;

const KEY: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

/// A frame as a client sends it (masked), with explicit flags.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut header = FrameHeader::new(opcode, payload.len() as u64);
    header.fin = fin;
    header.mask = Some(KEY);
    Frame::new(header, Bytes::copy_from_slice(payload))
        .to_bytes()
        .to_vec()
}

fn server() -> Decoder {
    Decoder::new(Role::Server, Limits::default())
}

fn decode_all(decoder: &mut Decoder, input: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut buf = BytesMut::from(input);
    let mut events = Vec::new();
    while let Some(ev) = decoder.feed(&mut buf)? {
        events.push(ev);
    }
    Ok(events)
}

/// Feeds `input` one byte at a time.
fn decode_bytewise(decoder: &mut Decoder, input: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for &b in input {
        buf.extend_from_slice(&[b]);
        while let Some(ev) = decoder.feed(&mut buf)? {
            events.push(ev);
        }
    }
    Ok(events)
}

fn text(s: &str) -> Event {
    Event::Message(Message::text(s))
}

#[test]
fn decodes_a_masked_client_text_message() {
    let events = decode_all(&mut server(), &client_frame(true, OpCode::Text, b"hello")).unwrap();
    assert_eq!(events, vec![text("hello")]);
}

#[test]
fn large_single_frame_payload_is_split_from_the_read_buffer_without_copying() {
    let len = super::OWN_ALLOCATION_BELOW;
    let mut buf = BytesMut::from(&client_frame(true, OpCode::Binary, &vec![5; len])[..]);
    let start = buf.as_ptr() as usize;
    let Some(Event::Message(Message::Binary(payload))) = server().feed(&mut buf).unwrap() else {
        panic!("expected a binary message");
    };
    let at = payload.as_ptr() as usize;
    assert!(
        at >= start && at < start + len + 14,
        "payload lives in the read buffer"
    );
}

/// A small message gets an allocation of its own: a slice would keep the whole read buffer
/// alive as long as the message is held (an echo queued for a peer that does not read).
#[test]
fn small_single_frame_payload_does_not_keep_the_read_buffer_alive() {
    for (opcode, len) in [
        (OpCode::Binary, 300),
        (OpCode::Text, super::OWN_ALLOCATION_BELOW - 1),
        (OpCode::Ping, 125),
    ] {
        let payload = if opcode == OpCode::Text {
            vec![b'a'; len]
        } else {
            vec![5; len]
        };
        let mut buf = BytesMut::with_capacity(64 << 10);
        buf.extend_from_slice(&client_frame(true, opcode, &payload));
        let (start, end) = (buf.as_ptr() as usize, buf.as_ptr() as usize + (64 << 10));
        let event = server().feed(&mut buf).unwrap().expect("a whole frame");
        let got: &[u8] = match &event {
            Event::Message(Message::Binary(b)) | Event::Ping(b) => b,
            Event::Message(Message::Text(t)) => t.as_str().as_bytes(),
            other => panic!("{other:?}"),
        };
        let at = got.as_ptr() as usize;
        assert!(!(start..end).contains(&at), "{opcode:?} {len}: sliced");
        assert_eq!(got, &payload[..]);
    }
}

#[test]
fn reassembles_fragments_with_control_frames_between() {
    let mut input = client_frame(false, OpCode::Text, "frag".as_bytes());
    input.extend(client_frame(true, OpCode::Ping, b"p"));
    input.extend(client_frame(false, OpCode::Continuation, "men".as_bytes()));
    input.extend(client_frame(true, OpCode::Continuation, "ted ☃".as_bytes()));
    let expected = vec![Event::Ping(Bytes::from_static(b"p")), text("fragmented ☃")];
    assert_eq!(decode_all(&mut server(), &input).unwrap(), expected);
    assert_eq!(decode_bytewise(&mut server(), &input).unwrap(), expected);
}

#[test]
fn any_chunking_gives_the_same_events() {
    let mut input = client_frame(true, OpCode::Binary, &[1; 200]);
    input.extend(client_frame(false, OpCode::Text, "α".as_bytes()));
    input.extend(client_frame(true, OpCode::Continuation, "β".as_bytes()));
    input.extend(client_frame(true, OpCode::Pong, b""));
    let whole = decode_all(&mut server(), &input).unwrap();
    assert_eq!(whole.len(), 3);
    for cut in 0..input.len() {
        let mut decoder = server();
        let mut buf = BytesMut::from(&input[..cut]);
        let mut events = Vec::new();
        while let Some(ev) = decoder.feed(&mut buf).unwrap() {
            events.push(ev);
        }
        buf.extend_from_slice(&input[cut..]);
        while let Some(ev) = decoder.feed(&mut buf).unwrap() {
            events.push(ev);
        }
        assert_eq!(events, whole, "cut {cut}");
    }
}

#[test]
fn utf8_fails_mid_frame_before_the_frame_is_complete() {
    let frame = client_frame(
        true,
        OpCode::Text,
        b"valid text\xFF and then much more text",
    );
    // Header (6 bytes) plus the payload up to and including the bad byte only.
    let mut buf = BytesMut::from(&frame[..6 + 11]);
    assert_eq!(server().feed(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn utf8_fails_mid_fragment() {
    let mut input = client_frame(false, OpCode::Text, "κόσμε".as_bytes());
    let bad = client_frame(
        false,
        OpCode::Continuation,
        b"\xCE\xBA\xED\xA0\x80 rest of fragment",
    );
    input.extend_from_slice(&bad[..6 + 5]);
    let mut decoder = server();
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(decoder.feed(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn utf8_split_across_fragments_is_valid() {
    let snowman = "☃".as_bytes();
    let mut input = client_frame(false, OpCode::Text, &snowman[..1]);
    input.extend(client_frame(false, OpCode::Continuation, &snowman[1..2]));
    input.extend(client_frame(true, OpCode::Continuation, &snowman[2..]));
    assert_eq!(decode_all(&mut server(), &input).unwrap(), vec![text("☃")]);
}

#[test]
fn text_ending_mid_code_point_fails_with_1007() {
    let input = client_frame(true, OpCode::Text, b"ok\xE2\x82");
    let err = decode_all(&mut server(), &input).unwrap_err();
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn rejects_unmasked_client_frame() {
    let input = Frame::single(OpCode::Text, Bytes::from_static(b"x"), None).to_bytes();
    assert_eq!(
        decode_all(&mut server(), &input),
        Err(ProtocolError::UnmaskedFrameFromClient)
    );
}

#[test]
fn client_rejects_masked_server_frame_and_accepts_unmasked() {
    let mut client = Decoder::new(Role::Client, Limits::default());
    let good = Frame::single(OpCode::Text, Bytes::from_static(b"hi"), None).to_bytes();
    assert_eq!(decode_all(&mut client, &good).unwrap(), vec![text("hi")]);
    let mut client = Decoder::new(Role::Client, Limits::default());
    assert_eq!(
        decode_all(&mut client, &client_frame(true, OpCode::Text, b"x")),
        Err(ProtocolError::MaskedFrameFromServer)
    );
}

#[test]
fn protocol_violations_fail_with_1002() {
    let mut rsv = client_frame(true, OpCode::Text, b"x");
    rsv[0] |= 0x20;
    let mut reserved_op = client_frame(true, OpCode::Binary, b"x");
    reserved_op[0] = 0x80 | 0x5;
    let mut cont_then_text = client_frame(false, OpCode::Text, b"a");
    cont_then_text.extend(client_frame(true, OpCode::Text, b"b"));
    let cases = [
        (rsv, ProtocolError::ReservedBits),
        (reserved_op, ProtocolError::ReservedOpCode(5)),
        (
            client_frame(false, OpCode::Ping, b""),
            ProtocolError::FragmentedControlFrame,
        ),
        (
            client_frame(true, OpCode::Ping, &[0; 126]),
            ProtocolError::ControlFrameTooBig { len: 126 },
        ),
        (
            client_frame(true, OpCode::Continuation, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (cont_then_text, ProtocolError::ExpectedContinuation),
        (
            client_frame(true, OpCode::Close, &[3]),
            ProtocolError::InvalidClosePayload,
        ),
        (
            client_frame(true, OpCode::Close, &[3, 0xED]),
            ProtocolError::InvalidCloseCode(1005),
        ),
    ];
    for (input, expected) in cases {
        let got = decode_all(&mut server(), &input);
        assert_eq!(got, Err(expected));
        assert_eq!(expected.close_code(), CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn control_frame_of_125_bytes_is_fine() {
    let events = decode_all(&mut server(), &client_frame(true, OpCode::Ping, &[9; 125])).unwrap();
    assert_eq!(events, vec![Event::Ping(Bytes::from(vec![9; 125]))]);
}

#[test]
fn rsv1_needs_a_negotiated_extension() {
    let mut input = client_frame(true, OpCode::Text, b"x");
    input[0] |= 0x40;
    assert_eq!(
        decode_all(&mut server(), &input),
        Err(ProtocolError::ReservedBits)
    );
}

#[test]
fn oversized_frame_fails_with_1009_before_its_payload_arrives() {
    let limits = Limits::default().max_message_size(100).max_frame_size(100);
    let mut decoder = Decoder::new(Role::Server, limits);
    let frame = client_frame(true, OpCode::Binary, &[0; 101]);
    let mut buf = BytesMut::from(&frame[..8]); // header only
    let err = decoder.feed(&mut buf).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::FrameTooBig {
            size: 101,
            limit: 100
        }
    );
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    assert!(
        buf.capacity() < 101,
        "nothing reserved for the refused payload"
    );
}

#[test]
fn oversized_fragmented_message_fails_with_1009() {
    let limits = Limits::default().max_message_size(10);
    let mut input = client_frame(false, OpCode::Binary, &[0; 6]);
    input.extend(client_frame(true, OpCode::Continuation, &[0; 5]));
    let err = decode_all(&mut Decoder::new(Role::Server, limits), &input).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::MessageTooBig {
            size: 11,
            limit: 10
        }
    );
}

#[test]
fn errors_are_sticky() {
    let mut decoder = server();
    let mut buf = BytesMut::from(&client_frame(true, OpCode::Continuation, b"x")[..]);
    let first = decoder.feed(&mut buf).unwrap_err();
    let mut fresh = BytesMut::from(&client_frame(true, OpCode::Text, b"ok")[..]);
    assert_eq!(decoder.feed(&mut fresh), Err(first));
}

#[test]
fn close_frame_ends_decoding() {
    let mut input = client_frame(
        true,
        OpCode::Close,
        &CloseFrame::new(CloseCode::NORMAL, "bye").encode(),
    );
    input.extend(client_frame(true, OpCode::Text, b"after close"));
    let mut decoder = server();
    let events = decode_all(&mut decoder, &input).unwrap();
    assert_eq!(
        events,
        vec![Event::Close(Some(CloseFrame::new(
            CloseCode::NORMAL,
            "bye"
        )))]
    );
    assert!(decoder.is_closed());
}

#[test]
fn empty_close_means_no_status() {
    assert_eq!(
        decode_all(&mut server(), &client_frame(true, OpCode::Close, b"")).unwrap(),
        vec![Event::Close(None)]
    );
}

#[test]
fn zero_length_and_boundary_sized_messages() {
    for len in [0usize, 125, 126, 65535, 65536] {
        let payload = vec![b'a'; len];
        let events =
            decode_all(&mut server(), &client_frame(true, OpCode::Text, &payload)).unwrap();
        assert_eq!(
            events,
            vec![Event::Message(Message::text(
                String::from_utf8(payload).unwrap()
            ))]
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic generator; the fuzz targets go further.
    let mut state = 0x1234_5678_u32;
    for _ in 0..2000 {
        let len = (state % 64) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let _ = decode_all(&mut server(), &input);
        let _ = decode_all(&mut Decoder::new(Role::Client, Limits::default()), &input);
    }
}

mod compressed {
    use super::*;
    use crate::deflate::{negotiate, DeflateConfig, DeflateParams, Deflater, Inflater};

    fn params() -> DeflateParams {
        negotiate(["permessage-deflate"], &DeflateConfig::default())
            .unwrap()
            .params
    }

    fn server_with_deflate(limits: Limits) -> Decoder {
        let mut d = Decoder::new(Role::Server, limits);
        d.enable_deflate(Inflater::new(&params(), Role::Server));
        d
    }

    /// A client's compressed message, split into `pieces` frames, RSV1 on the first.
    fn compressed_frames(opcode: OpCode, text: &[u8], pieces: usize, tx: &mut Deflater) -> Vec<u8> {
        let compressed = tx.compress(text);
        let size = compressed.len().div_ceil(pieces).max(1);
        let mut out = Vec::new();
        for (i, chunk) in compressed.chunks(size).enumerate() {
            let mut header = FrameHeader::new(
                if i == 0 { opcode } else { OpCode::Continuation },
                chunk.len() as u64,
            );
            header.fin = (i + 1) * size >= compressed.len();
            header.rsv1 = i == 0;
            header.mask = Some(KEY);
            out.extend_from_slice(&Frame::new(header, Bytes::copy_from_slice(chunk)).to_bytes());
        }
        out
    }

    #[test]
    fn inflates_single_and_fragmented_messages_with_context_takeover() {
        let mut tx = Deflater::new(&params(), Role::Client);
        let text = "héllo compressed world ".repeat(40);
        let mut input = compressed_frames(OpCode::Text, text.as_bytes(), 1, &mut tx);
        input.extend(compressed_frames(OpCode::Text, text.as_bytes(), 3, &mut tx));
        input.extend(client_frame(true, OpCode::Binary, b"plain"));
        let events = decode_all(&mut server_with_deflate(Limits::default()), &input).unwrap();
        assert_eq!(
            events,
            vec![
                Event::Message(Message::text(text.clone())),
                Event::Message(Message::text(text)),
                Event::Message(Message::binary(&b"plain"[..])),
            ]
        );
    }

    #[test]
    fn rsv1_on_a_continuation_is_a_protocol_error() {
        let mut input = client_frame(false, OpCode::Text, b"a");
        let mut cont = client_frame(true, OpCode::Continuation, b"b");
        cont[0] |= 0x40;
        input.extend(cont);
        let err = decode_all(&mut server_with_deflate(Limits::default()), &input).unwrap_err();
        assert_eq!(err, ProtocolError::ReservedBits);
    }

    #[test]
    fn invalid_utf8_inside_compressed_text_fails_with_1007() {
        let mut tx = Deflater::new(&params(), Role::Client);
        let input = compressed_frames(OpCode::Text, b"valid then \xFF invalid", 1, &mut tx);
        let err = decode_all(&mut server_with_deflate(Limits::default()), &input).unwrap_err();
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn decompressed_size_counts_against_the_message_limit() {
        let mut tx = Deflater::new(&params(), Role::Client);
        let input = compressed_frames(OpCode::Binary, &vec![0u8; 1 << 20], 1, &mut tx);
        assert!(input.len() < 32 << 10, "a few KiB on the wire");
        let limits = Limits::default().max_message_size(64 << 10);
        let err = decode_all(&mut server_with_deflate(limits), &input).unwrap_err();
        assert!(
            matches!(err, ProtocolError::MessageTooBig { limit: 65536, .. }),
            "{err:?}"
        );
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    }

    #[test]
    fn corrupt_compressed_data_fails_with_1007() {
        let mut header = FrameHeader::new(OpCode::Binary, 6);
        header.rsv1 = true;
        header.mask = Some(KEY);
        let input = Frame::new(header, Bytes::from_static(&[0xff; 6])).to_bytes();
        let err = decode_all(&mut server_with_deflate(Limits::default()), &input).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCompressedData);
    }
}
