//! Control messages: JSON text messages beginning `{"ft":` (docs/file-transfer.md §4).

use serde::{Deserialize, Serialize};

use crate::{Reason, TransferId};

/// The prefix that marks a text message as a control message.
pub const CONTROL_PREFIX: &str = r#"{"ft":"#;

/// Longest `message` this side writes in a `reject` or `cancel`, in bytes: longer ones are cut
/// at a character boundary ([`Control::to_text`]), so an explanation that quotes what the peer
/// sent (serde's texts quote member values) never makes a control message long.
pub const MAX_MESSAGE_LEN: usize = 512;

/// `message` cut to at most [`MAX_MESSAGE_LEN`] bytes, at a character boundary.
pub fn truncate_message(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE_LEN {
        return message;
    }
    let mut end = MAX_MESSAGE_LEN;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Whether a text message is a control message.
pub fn is_control(text: &str) -> bool {
    text.starts_with(CONTROL_PREFIX)
}

/// One control message. Serde writes the `ft` tag first, which the routing prefix relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ft", rename_all = "snake_case")]
pub enum Control {
    /// The sender proposes a file.
    Offer {
        /// The transfer.
        id: TransferId,
        /// The file name as the sender has it (sanitized by the receiver).
        name: String,
        /// Size in bytes.
        size: u64,
        /// Media type, possibly empty.
        #[serde(rename = "type", default)]
        media_type: String,
        /// SHA-256 of the whole file, 64 lowercase hex digits.
        sha256: String,
    },
    /// The receiver takes the file from `offset`.
    Accept {
        /// The transfer.
        id: TransferId,
        /// Where the sender starts (non-zero when resuming).
        offset: u64,
        /// Bytes the sender may have sent beyond the last ack.
        window: u64,
        /// Largest data length of one chunk.
        max_chunk: u64,
    },
    /// The receiver declines the offer.
    Reject {
        /// The transfer.
        id: TransferId,
        /// Why, as a code.
        reason: Reason,
        /// Why, for people.
        #[serde(default)]
        message: String,
    },
    /// Every byte below `offset` is on disk and hashed.
    Ack {
        /// The transfer.
        id: TransferId,
        /// Bytes confirmed.
        offset: u64,
    },
    /// The file arrived, matched its SHA-256 and is in place.
    Done {
        /// The transfer.
        id: TransferId,
        /// The verified SHA-256.
        sha256: String,
    },
    /// Either side stops the transfer.
    Cancel {
        /// The transfer.
        id: TransferId,
        /// Why, as a code.
        reason: Reason,
        /// Why, for people.
        #[serde(default)]
        message: String,
    },
}

impl Control {
    /// The transfer the message is about.
    pub fn id(&self) -> TransferId {
        match self {
            Self::Offer { id, .. }
            | Self::Accept { id, .. }
            | Self::Reject { id, .. }
            | Self::Ack { id, .. }
            | Self::Done { id, .. }
            | Self::Cancel { id, .. } => *id,
        }
    }

    /// The message as JSON text; the `message` of a `reject` or `cancel` cut to
    /// [`MAX_MESSAGE_LEN`] bytes.
    pub fn to_text(&self) -> String {
        let to_text = |c: &Self| {
            serde_json::to_string(c).expect("plain structs of strings and integers serialize")
        };
        match self {
            Self::Reject {
                id,
                reason,
                message,
            } if message.len() > MAX_MESSAGE_LEN => to_text(&Self::Reject {
                id: *id,
                reason: *reason,
                message: truncate_message(message).to_owned(),
            }),
            Self::Cancel {
                id,
                reason,
                message,
            } if message.len() > MAX_MESSAGE_LEN => to_text(&Self::Cancel {
                id: *id,
                reason: *reason,
                message: truncate_message(message).to_owned(),
            }),
            _ => to_text(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_comes_first() {
        let ack = Control::Ack {
            id: TransferId([0xab; 16]),
            offset: 5,
        };
        let text = ack.to_text();
        assert!(is_control(&text), "{text}");
        assert_eq!(serde_json::from_str::<Control>(&text).unwrap(), ack);
    }

    #[test]
    fn messages_are_cut_to_512_bytes_at_a_char_boundary() {
        let id = TransferId([0xab; 16]);
        // 'é' is 2 bytes: 511 bytes of 'a' then 'é' would end at 513.
        let long = format!("{}é{}", "a".repeat(511), "b".repeat(100));
        assert_eq!(truncate_message(&long), "a".repeat(511));
        assert_eq!(truncate_message("short"), "short");
        for control in [
            Control::Cancel {
                id,
                reason: Reason::Protocol,
                message: long.clone(),
            },
            Control::Reject {
                id,
                reason: Reason::BadOffer,
                message: "x".repeat(70_000),
            },
        ] {
            let text = control.to_text();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let message = value["message"].as_str().unwrap();
            assert!(message.len() <= MAX_MESSAGE_LEN, "{}", message.len());
            assert!(message.len() >= MAX_MESSAGE_LEN - 3);
        }
    }

    #[test]
    fn parses_the_documented_offer() {
        let text = r#"{"ft":"offer","id":"5f0c1e8a9b2d4c6e8f00112233445566","name":"photo.jpg","size":1048576,"type":"image/jpeg","sha256":"00"}"#;
        let Control::Offer {
            name,
            size,
            media_type,
            ..
        } = serde_json::from_str(text).unwrap()
        else {
            panic!("not an offer")
        };
        assert_eq!(
            (name.as_str(), size, media_type.as_str()),
            ("photo.jpg", 1048576, "image/jpeg")
        );
    }

    #[test]
    fn unknown_reason_still_parses() {
        let text =
            r#"{"ft":"cancel","id":"5f0c1e8a9b2d4c6e8f00112233445566","reason":"new_thing"}"#;
        let c: Control = serde_json::from_str(text).unwrap();
        assert!(matches!(
            c,
            Control::Cancel {
                reason: Reason::Other,
                ..
            }
        ));
    }
}
