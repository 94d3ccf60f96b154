//! The case list (`docs/file-transfer-conformance.json`), as the runner reads it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseFile {
    /// Format version; this runner reads 1.
    pub(crate) version: u32,
    /// The receiver settings every testee is told (or, with `--connect`, is assumed to have).
    pub(crate) defaults: Defaults,
    /// The cases, run in this order.
    pub(crate) cases: Vec<Case>,
}

/// Receiver settings common to all cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    pub(crate) max_file_size: u64,
    pub(crate) max_concurrent: u64,
}

/// Which side of the protocol the implementation under test plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// The testee receives; the runner sends.
    Receiver,
    /// The testee sends; the runner receives.
    Sender,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Case {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) role: Role,
    /// The sections of docs/file-transfer.md that decide the expected answers.
    pub(crate) spec: Vec<String>,
    /// Transfers by name, with their sizes; each gets a fresh random id per run.
    #[serde(default)]
    pub(crate) transfers: BTreeMap<String, u64>,
    /// Receiver settings beyond the defaults (window, max_chunk): only testees told them.
    #[serde(default)]
    pub(crate) receiver: Map<String, Value>,
    /// Sender cases: the transfers the testee offers, by name (offered as `NAME.bin`).
    #[serde(default)]
    pub(crate) send: Vec<String>,
    pub(crate) steps: Vec<Step>,
}

/// One thing the runner does or checks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Step {
    /// Send this text message (templates expanded).
    Text(String),
    /// Send a binary message: hex digits (templates expanded).
    BinaryHex(String),
    /// Send a well-formed offer of a transfer; `with` replaces members (`null` removes one).
    Offer {
        transfer: String,
        #[serde(default)]
        with: Map<String, Value>,
    },
    /// Send one chunk of a transfer's bytes; `cut` truncates the whole message to that many
    /// bytes.
    Chunk {
        transfer: String,
        offset: Value,
        len: Value,
        #[serde(default)]
        cut: Option<Value>,
    },
    /// Play the sender of §5 for these transfers (round-robin) from where they stand up to
    /// `to` (default: the size), within the window, reading acks; `chunk` caps the chunk size;
    /// `until_acked` then waits for an ack of everything sent.
    Stream {
        transfers: Vec<String>,
        #[serde(default)]
        to: Option<Value>,
        #[serde(default)]
        chunk: Option<Value>,
        #[serde(default)]
        until_acked: bool,
    },
    /// The next control message must have these members (values templated; `"*"`: any;
    /// `{"one_of": [...]}`). Acks, chunks and application messages in between are checked
    /// against §3/§5 and passed over unless this expects one.
    Expect(Map<String, Value>),
    /// The next control messages must be these, in any order.
    ExpectAnyOrder(Vec<Map<String, Value>>),
    /// The silence probe: an offer with a fresh id and no other member, whose
    /// `reject{bad_offer}` must be the very next control message.
    Silent,
    /// Drop the connection without a closing handshake and open the next one.
    Reconnect,
    /// Play the receiver: read the transfer's chunks up to `to` (default: the size),
    /// checking each against §3 and the window, and ack each one when `ack` is true.
    Receive {
        transfer: String,
        #[serde(default)]
        to: Option<Value>,
        #[serde(default)]
        ack: bool,
    },
    /// The acks read for this transfer satisfy §5: increasing, at most `q` apart (the
    /// runner's chunks divide `q`), the last at the size.
    CheckAcks { transfer: String },
}
