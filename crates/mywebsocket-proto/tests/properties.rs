//! Property tests: codec round trips, and "any byte stream: no panic, bounded memory".

use bytes::{Bytes, BytesMut};
use mywebsocket_proto::deflate::{negotiate, DeflateConfig, DeflateParams, Deflater, Inflater};
use mywebsocket_proto::{
    CloseCode, CloseFrame, Decoder, Event, Fragments, Frame, FrameHeader, Limits, Message, OpCode,
    ProtocolError, Role, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
use proptest::prelude::*;

fn opcode() -> impl Strategy<Value = OpCode> {
    prop::sample::select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ])
}

fn header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<[bool; 4]>(),
        opcode(),
        any::<Option<[u8; 4]>>(),
        prop_oneof![0..=125u64, 126..=0xFFFFu64, 0x1_0000..=u64::MAX >> 1],
    )
        .prop_map(
            |([fin, rsv1, rsv2, rsv3], opcode, mask, payload_len)| FrameHeader {
                fin,
                rsv1,
                rsv2,
                rsv3,
                opcode,
                mask,
                payload_len,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ".{0,300}".prop_map(Message::text),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(Message::binary),
        // Repetitive data, which compresses, with long back references.
        (prop::collection::vec(any::<u8>(), 1..20), 1..200usize)
            .prop_map(|(unit, n)| Message::binary(unit.repeat(n))),
    ]
}

fn deflate_params() -> impl Strategy<Value = DeflateParams> {
    (any::<bool>(), any::<bool>(), 8..=15u8, 8..=15u8, 0..=9u32).prop_map(
        |(server_reset, client_reset, server_bits, client_bits, level)| {
            let config = DeflateConfig::default()
                .server_no_context_takeover(server_reset)
                .client_no_context_takeover(client_reset)
                .server_max_window_bits(server_bits)
                .client_max_window_bits(client_bits)
                .level(level);
            let offer = format!(
                "permessage-deflate; server_max_window_bits={server_bits}; client_max_window_bits={client_bits}{}{}",
                if server_reset { "; server_no_context_takeover" } else { "" },
                if client_reset { "; client_no_context_takeover" } else { "" },
            );
            let mut params = negotiate([offer.as_str()], &config).expect("acceptable offer").params;
            params.level = level;
            params.threshold = 0;
            params
        },
    )
}

/// Feeds `wire` to `decoder` in chunks of the given sizes (cycled); returns the events and the
/// error that ended decoding, checking after every step that the decoder holds at most one
/// partial frame.
fn feed_chunked(
    decoder: &mut Decoder,
    wire: &[u8],
    chunks: &[usize],
) -> (Vec<Event>, Option<ProtocolError>) {
    let max_chunk = chunks.iter().copied().max().unwrap_or(1);
    let held_bound = MAX_HEADER_LEN + decoder.limits().max_frame_size.min(1 << 20);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut rest = wire;
    for &size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.clamp(1, rest.len()));
        rest = after;
        buf.extend_from_slice(piece);
        loop {
            match decoder.feed(&mut buf) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(decoder.feed(&mut buf), Err(err), "errors are sticky");
                    return (events, Some(err));
                }
            }
        }
        if !decoder.is_closed() {
            // "Need more bytes" means less than one whole frame is buffered.
            assert!(buf.len() < held_bound, "{} bytes held", buf.len());
            assert!(
                buf.capacity() <= 2 * (held_bound + max_chunk) + 64,
                "read buffer grew to {} bytes",
                buf.capacity()
            );
        }
    }
    (events, None)
}

fn encode_messages(
    messages: &[Message],
    role: Role,
    fragment_size: usize,
    key: [u8; 4],
    deflater: Option<&mut Deflater>,
) -> Vec<u8> {
    let mut deflater = deflater;
    let mut wire = Vec::new();
    for message in messages {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, Bytes::from(text.clone())),
            Message::Binary(data) => (OpCode::Binary, data.clone()),
            other => unreachable!("the strategies make data messages only, not {other:?}"),
        };
        let (payload, rsv1) = match deflater.as_deref_mut() {
            Some(tx) => (tx.compress(&payload), true),
            None => (payload, false),
        };
        // The sender is the peer of the decoding `role`: a client masks.
        let mask = (role == Role::Server).then_some(key);
        for frame in Fragments::new(opcode, payload, fragment_size, rsv1, || mask) {
            wire.extend_from_slice(&frame.to_bytes());
        }
    }
    wire
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![Role::Server, Role::Client])
}

proptest! {
    #[test]
    fn frame_header_round_trips(header in header()) {
        let mut out = [0u8; MAX_HEADER_LEN];
        let len = header.encode(&mut out);
        prop_assert_eq!(FrameHeader::parse(&out[..len]), Ok(Some((header, len))));
        for cut in 0..len {
            prop_assert_eq!(FrameHeader::parse(&out[..cut]), Ok(None), "cut {}", cut);
        }
    }

    #[test]
    fn messages_survive_fragmenting_and_any_chunking(
        messages in prop::collection::vec(message(), 0..8),
        role in role(),
        fragment_size in 1..700usize,
        key in any::<[u8; 4]>(),
        chunks in prop::collection::vec(1..200usize, 1..10),
    ) {
        let wire = encode_messages(&messages, role, fragment_size, key, None);
        let mut decoder = Decoder::new(role, Limits::default());
        let (events, error) = feed_chunked(&mut decoder, &wire, &chunks);
        prop_assert_eq!(error, None);
        let expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn close_frames_round_trip(code in prop_oneof![1000..=1003u16, 1007..=1014u16, 3000..=4999u16],
                               reason in ".{0,40}") {
        // The reason fits a control frame after its code's two bytes.
        let reason: String = reason.chars().scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= MAX_CONTROL_PAYLOAD - 2).then_some(c)
        }).collect();
        let frame = CloseFrame::new(CloseCode::new(code), &reason);
        let payload = frame.encode();
        prop_assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        prop_assert_eq!(CloseFrame::parse(payload.clone()), Ok(Some(frame.clone())));
        // And through the decoder, as a client would send it.
        let wire = Frame::single(OpCode::Close, payload, Some([9, 8, 7, 6])).to_bytes();
        let mut decoder = Decoder::new(Role::Server, Limits::default());
        let mut buf = BytesMut::from(&wire[..]);
        prop_assert_eq!(decoder.feed(&mut buf), Ok(Some(Event::Close(Some(frame)))));
    }

    #[test]
    fn deflate_round_trips_with_any_parameters(
        params in deflate_params(),
        messages in prop::collection::vec(message(), 0..8),
        piece in 1..64usize,
    ) {
        for role in [Role::Server, Role::Client] {
            // `role` compresses; its peer inflates.
            let peer = if role == Role::Server { Role::Client } else { Role::Server };
            let mut tx = Deflater::new(&params, role);
            let mut rx = Inflater::new(&params, peer);
            for message in &messages {
                let compressed = tx.compress(message.as_bytes());
                let mut out = Vec::new();
                for chunk in compressed.chunks(piece) {
                    rx.inflate(chunk, &mut out, usize::MAX - 1).unwrap();
                }
                rx.finish_message(&mut out, usize::MAX - 1).unwrap();
                prop_assert_eq!(&out[..], message.as_bytes());
            }
        }
    }

    #[test]
    fn compressed_messages_survive_fragmenting_and_any_chunking(
        params in deflate_params(),
        messages in prop::collection::vec(message(), 0..6),
        fragment_size in 1..100usize,
        chunks in prop::collection::vec(1..200usize, 1..10),
    ) {
        let mut tx = Deflater::new(&params, Role::Client);
        let wire = encode_messages(&messages, Role::Server, fragment_size, [1, 2, 3, 4], Some(&mut tx));
        let mut decoder = Decoder::new(Role::Server, Limits::default());
        decoder.enable_deflate(Inflater::new(&params, Role::Server));
        let (events, error) = feed_chunked(&mut decoder, &wire, &chunks);
        prop_assert_eq!(error, None);
        let expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn a_compressed_message_cut_short_never_inflates_to_wrong_bytes(
        mut params in deflate_params(),
        message in message(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Guaranteed without context takeover only (see `Inflater::finish_message`).
        params.server_no_context_takeover = true;
        let mut tx = Deflater::new(&params, Role::Server);
        let compressed = tx.compress(message.as_bytes());
        let cut = cut.index(compressed.len());
        let mut rx = Inflater::new(&params, Role::Client);
        let mut out = Vec::new();
        let result = rx
            .inflate(&compressed[..cut], &mut out, usize::MAX - 1)
            .and_then(|()| rx.finish_message(&mut out, usize::MAX - 1));
        // A cut can land where the prefix is itself a whole compressed message (after a stored
        // block, say, or before a redundant trailing one); it then means the same or fewer
        // bytes, never different ones. Anywhere else: 1007.
        match result {
            Ok(()) => prop_assert!(
                message.as_bytes().starts_with(&out),
                "cut at {} inflated to {} bytes that are not a prefix",
                cut,
                out.len()
            ),
            Err(err) => prop_assert_eq!(err, ProtocolError::InvalidCompressedData),
        }
    }

    #[test]
    fn any_bytes_no_panic_bounded_memory(
        wire in prop::collection::vec(any::<u8>(), 0..4096),
        role in role(),
        deflate in any::<bool>(),
        chunks in prop::collection::vec(1..300usize, 1..10),
    ) {
        check_any_stream(&wire, role, deflate, &chunks)?;
    }

    #[test]
    fn any_frames_no_panic_bounded_memory(
        frames in prop::collection::vec((header(), prop::collection::vec(any::<u8>(), 0..300)), 0..20),
        role in role(),
        deflate in any::<bool>(),
        chunks in prop::collection::vec(1..300usize, 1..10),
    ) {
        // Plausible frames with arbitrary fields reach deeper than random bytes; the payload
        // given may be shorter than the header claims, or run into the next header.
        let mut wire = Vec::new();
        for (mut header, payload) in frames {
            if header.payload_len > 2000 {
                header.payload_len = payload.len() as u64;
            }
            let mut head = [0u8; MAX_HEADER_LEN];
            let len = header.encode(&mut head);
            wire.extend_from_slice(&head[..len]);
            wire.extend_from_slice(&payload);
        }
        check_any_stream(&wire, role, deflate, &chunks)?;
    }
}

/// Small limits, so that the bounds are tight enough to mean something.
fn small_limits() -> Limits {
    Limits::default().max_message_size(1024).max_frame_size(256)
}

fn check_any_stream(
    wire: &[u8],
    role: Role,
    deflate: bool,
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let limits = small_limits();
    let mut decoder = Decoder::new(role, limits);
    if deflate {
        let params = negotiate(["permessage-deflate"], &DeflateConfig::default())
            .unwrap()
            .params;
        decoder.enable_deflate(Inflater::new(&params, role));
    }
    let (events, _) = feed_chunked(&mut decoder, wire, chunks);
    for event in events {
        match event {
            Event::Message(m) => prop_assert!(m.len() <= limits.max_message_size),
            Event::Ping(p) | Event::Pong(p) => prop_assert!(p.len() <= MAX_CONTROL_PAYLOAD),
            Event::Close(Some(frame)) => prop_assert!(frame.code.is_valid_on_wire()),
            Event::Close(None) => {}
            other => prop_assert!(false, "unexpected event {other:?}"),
        }
    }
    Ok(())
}
