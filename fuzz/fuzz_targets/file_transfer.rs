//! The file-transfer wire messages (`mywebsocket-files`): binary chunks and JSON control
//! messages from an untrusted peer, and the name sanitizer every offer goes through.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mywebsocket_files::{chunk_buffer, is_chunk, is_control, sanitize_name, Chunk, Control};
use mywebsocket_files::{CHUNK_HEADER_LEN, MAX_NAME_LEN};

fuzz_target!(|data: &[u8]| {
    // A binary message: a chunk parses only if it says it is one, and re-encodes to itself.
    if let Ok(chunk) = Chunk::parse(Bytes::copy_from_slice(data)) {
        assert!(is_chunk(data));
        let mut again = chunk_buffer(chunk.id, chunk.offset, chunk.data.len());
        again.extend_from_slice(&chunk.data);
        assert_eq!(&again[..], data);
        assert_eq!(data.len(), CHUNK_HEADER_LEN + chunk.data.len());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A text message: a control message that parses survives its own encoding, and one that
    // does not gets an answer that itself parses (or none), never a panic. A peer's `message`
    // may be longer than the 512 bytes we write (`MAX_MESSAGE_LEN` caps only what this side
    // writes), so the encoding is compared once it is ours: it reads back as itself.
    match Control::parse(text) {
        Ok(control) => {
            let encoded = control.to_text();
            assert!(is_control(&encoded));
            let again = Control::parse(&encoded).expect("our encoding parses");
            assert_eq!(again.to_text(), encoded);
        }
        Err(malformed) => {
            let _ = malformed.answer();
        }
    }
    // An offered name: what is accepted cannot leave the destination directory.
    if let Ok(name) = sanitize_name(text) {
        assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
        assert!(!name.contains(['/', '\\', '\0']));
        assert!(name != "." && name != "..");
        assert!(!name.chars().any(char::is_control));
        let path = std::path::Path::new(&name);
        assert_eq!(path.components().count(), 1);
        assert!(matches!(
            path.components().next(),
            Some(std::path::Component::Normal(_))
        ));
    }
});
