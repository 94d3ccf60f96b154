//! The chat's JSON wire protocol (`mywebsocket-chat`, once in `mywebsocket-hub`, hence the
//! target's name): whatever a client sends either fails to parse or parses to a message that
//! survives its own encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mywebsocket_chat::protocol::ClientMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = serde_json::from_str::<ClientMessage>(text) {
        let encoded = serde_json::to_string(&message).expect("a parsed message encodes");
        let again: ClientMessage = serde_json::from_str(&encoded).expect("its encoding parses");
        assert_eq!(again, message);
    }
});
