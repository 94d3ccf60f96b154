//! The application message the runner sends first on every connection it accepts, telling the
//! testee how to receive and what to send (docs/file-transfer-conformance.md, "Adapters").

use serde::{Deserialize, Serialize};

/// `{"conformance":"case",...}` or `{"conformance":"end"}`: plain JSON text, not a control
/// message (it does not start with `{"ft":`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instructions {
    /// `"case"`: run this connection as below; `"end"`: every case ran, exit.
    pub conformance: String,
    /// The case id, for logs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub case: String,
    /// 1 for a case's first connection, 2 after a reconnect, and so on.
    #[serde(default)]
    pub connection: u32,
    /// How the testee's receiver is set up on this connection.
    #[serde(default)]
    pub receiver: ReceiverConfig,
    /// Files the testee offers at once, in this order, on this connection.
    #[serde(default)]
    pub send: Vec<SendFile>,
}

impl Instructions {
    /// Whether this is the last message: every case ran.
    pub fn is_end(&self) -> bool {
        self.conformance == "end"
    }
}

/// Receiver settings for one connection. A field that is absent leaves the testee's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverConfig {
    /// Largest file accepted; larger offers get `reject{too_large}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    /// Most incoming transfers at once; one more gets `reject{busy}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
    /// The window announced in `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    /// The `max_chunk` announced in `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chunk: Option<u64>,
}

/// A file for the testee to offer: `size` bytes of [`crate::content`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendFile {
    /// The name to offer.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The media type to offer.
    #[serde(rename = "type", default)]
    pub media_type: String,
}
