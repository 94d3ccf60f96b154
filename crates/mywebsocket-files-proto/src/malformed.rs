//! A control message that could not be taken as it is, and the answer the spec gives it
//! (docs/file-transfer.md §4.1).

use serde::Serialize;

use crate::{truncate_message, Control, Reason, TransferId};

/// Longest invalid `id` of an `offer` that is echoed in its `reject{bad_offer}`, in bytes
/// (§4.1): an offer with a longer id is ignored, so a reject is never large.
pub const MAX_ECHOED_ID_LEN: usize = 128;

/// The type of a control message, from its `ft` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `offer`
    Offer,
    /// `accept`
    Accept,
    /// `reject`
    Reject,
    /// `ack`
    Ack,
    /// `done`
    Done,
    /// `cancel`
    Cancel,
}

impl Kind {
    /// The type named by `ft`; `None` for a type this version does not know.
    pub fn from_tag(ft: &str) -> Option<Self> {
        Some(match ft {
            "offer" => Self::Offer,
            "accept" => Self::Accept,
            "reject" => Self::Reject,
            "ack" => Self::Ack,
            "done" => Self::Done,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }
}

/// The `id` of a malformed message, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireId {
    /// No string `id` member (or not a JSON object at all).
    Missing,
    /// 32 lowercase hex digits.
    Valid(TransferId),
    /// A string, but not 32 lowercase hex digits; kept as the sender wrote it.
    Invalid(String),
}

/// Why a control message was not taken, and whom it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The message's type, when `ft` was a string naming a known one.
    pub kind: Option<Kind>,
    /// The message's id, as far as it could be read.
    pub id: WireId,
    /// What was wrong, for people (goes into the answer's `message`).
    pub message: String,
}

/// What to send back for a [`Malformed`] message (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Answer {
    /// Send this text: a `reject` with reason `bad_offer`, carrying the offer's id as the same
    /// string value (after JSON decoding; at most [`MAX_ECHOED_ID_LEN`] bytes), so that a
    /// sender comparing ids as it wrote them recognises it. Its `message` is at most
    /// [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN) bytes.
    Reject(String),
    /// If this side runs a transfer with this id, send `cancel` with reason `protocol` and
    /// this message, and end the transfer; otherwise send nothing (it has ended, and the
    /// peer was told with the message that ended it).
    CancelIfRunning {
        /// The transfer.
        id: TransferId,
        /// Why, for people.
        message: String,
    },
    /// Send nothing: the message names no transfer (no string id, an id not in the spec's
    /// form on something other than an offer, or an offer's invalid id longer than
    /// [`MAX_ECHOED_ID_LEN`]) or has a type this version does not know (later versions may
    /// add types).
    Ignore,
}

impl Malformed {
    /// The answer §4.1 gives this message.
    pub fn answer(&self) -> Answer {
        match (self.kind, &self.id) {
            (Some(Kind::Offer), WireId::Valid(id)) => Answer::Reject(
                Control::Reject {
                    id: *id,
                    reason: Reason::BadOffer,
                    message: self.message.clone(),
                }
                .to_text(),
            ),
            (Some(Kind::Offer), WireId::Invalid(raw)) if raw.len() <= MAX_ECHOED_ID_LEN => {
                Answer::Reject(raw_reject(raw, &self.message))
            }
            (Some(_), WireId::Valid(id)) => Answer::CancelIfRunning {
                id: *id,
                message: self.message.clone(),
            },
            _ => Answer::Ignore,
        }
    }
}

/// A `reject{bad_offer}` whose id is a string that is not a [`TransferId`].
fn raw_reject(id: &str, message: &str) -> String {
    // Field order is the wire order: `ft` first (§2).
    #[derive(Serialize)]
    struct RawReject<'a> {
        ft: &'static str,
        id: &'a str,
        reason: Reason,
        message: &'a str,
    }
    serde_json::to_string(&RawReject {
        ft: "reject",
        id,
        reason: Reason::BadOffer,
        message: truncate_message(message),
    })
    .expect("strings serialize")
}
