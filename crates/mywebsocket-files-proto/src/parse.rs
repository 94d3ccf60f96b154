//! Reading a control message strictly (docs/file-transfer.md §4.1): its type and id first, then
//! its members, so that a malformed message still names the transfer it is about and gets the
//! answer the spec gives it instead of silence.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::id::is_lower_hex;
use crate::malformed::{Kind, Malformed, WireId};
#[cfg(test)]
use crate::MAX_ECHOED_ID_LEN;
use crate::{Control, Reason, TransferId, MAX_SAFE_SIZE};

/// Longest control message whose members are read, in bytes. The largest valid message, an
/// offer with a 255-byte name, is well under 1 KiB; the rest is room for members later
/// versions may add. A longer message is malformed (only its `ft` and `id` are read, without
/// keeping anything else in memory), so a peer cannot make the other keep megabytes of names.
pub const MAX_CONTROL_LEN: usize = 64 << 10;

/// The two members every control message has, read before the others. Other members are
/// skipped without being decoded, so a lone surrogate or a wrong type elsewhere cannot hide
/// the id.
#[derive(Deserialize)]
struct Head {
    ft: String,
    id: String,
}

#[derive(Deserialize)]
struct OfferBody {
    name: String,
    size: u64,
    #[serde(rename = "type", default)]
    media_type: String,
    sha256: String,
}

#[derive(Deserialize)]
struct AcceptBody {
    offset: u64,
    window: u64,
    max_chunk: u64,
}

#[derive(Deserialize)]
struct OffsetBody {
    offset: u64,
}

#[derive(Deserialize)]
struct DoneBody {
    sha256: String,
}

/// `reject` and `cancel`.
#[derive(Deserialize)]
struct EndBody {
    reason: Reason,
    #[serde(default)]
    message: String,
}

impl Control {
    /// Reads a control message as §4 and §4.1 define it.
    ///
    /// # Errors
    /// [`Malformed`] says what was wrong and names the transfer when its id could be read;
    /// [`Malformed::answer`] is what the spec says to send back.
    ///
    /// ```
    /// use mywebsocket_files_proto::{Answer, Control, Reason};
    ///
    /// let id = "5f0c1e8a9b2d4c6e8f00112233445566";
    /// let ok = Control::parse(&format!(r#"{{"ft":"ack","id":"{id}","offset":5}}"#)).unwrap();
    /// assert_eq!(ok.id().to_string(), id);
    ///
    /// let bad = format!(r#"{{"ft":"offer","id":"{id}","name":"a","size":-1,"sha256":""}}"#);
    /// let Answer::Reject(reply) = Control::parse(&bad).unwrap_err().answer() else { panic!() };
    /// let Control::Reject { reason, .. } = Control::parse(&reply).unwrap() else { panic!() };
    /// assert_eq!(reason, Reason::BadOffer);
    /// ```
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let unreadable = |e: serde_json::Error| Malformed {
            kind: None,
            id: WireId::Missing,
            message: format!("not a control message with string members ft and id: {e}"),
        };
        let head: Head = serde_json::from_str(text).map_err(unreadable)?;
        let kind = Kind::from_tag(&head.ft);
        let id = match head.id.parse::<TransferId>() {
            Ok(id) => WireId::Valid(id),
            Err(_) => WireId::Invalid(head.id),
        };
        let malformed = |message: String| Malformed {
            kind,
            id: id.clone(),
            message,
        };
        let Some(kind) = kind else {
            return Err(malformed(format!("unknown message type {:?}", head.ft)));
        };
        // The length before anything else, so that nothing of an over-long message but its
        // id (capped, `Malformed::answer`) is echoed.
        if text.len() > MAX_CONTROL_LEN {
            return Err(malformed(format!(
                "a control message of {} bytes is over the limit of {MAX_CONTROL_LEN}",
                text.len()
            )));
        }
        let WireId::Valid(valid_id) = id else {
            return Err(malformed(
                "the id is not 32 lowercase hex digits".to_owned(),
            ));
        };
        members(kind, valid_id, text).map_err(malformed)
    }
}

/// The members of a message whose type and id are known good.
fn members(kind: Kind, id: TransferId, text: &str) -> Result<Control, String> {
    Ok(match kind {
        Kind::Offer => {
            let body: OfferBody = body(text)?;
            safe("size", body.size)?;
            sha256("sha256", &body.sha256)?;
            Control::Offer {
                id,
                name: body.name,
                size: body.size,
                media_type: body.media_type,
                sha256: body.sha256,
            }
        }
        Kind::Accept => {
            let body: AcceptBody = body(text)?;
            safe("offset", body.offset)?;
            for (member, value) in [("window", body.window), ("max_chunk", body.max_chunk)] {
                safe(member, value)?;
                if value == 0 {
                    return Err(format!("{member} is 0; it must be at least 1"));
                }
            }
            Control::Accept {
                id,
                offset: body.offset,
                window: body.window,
                max_chunk: body.max_chunk,
            }
        }
        Kind::Ack => {
            let body: OffsetBody = body(text)?;
            safe("offset", body.offset)?;
            Control::Ack {
                id,
                offset: body.offset,
            }
        }
        Kind::Done => {
            let body: DoneBody = body(text)?;
            sha256("sha256", &body.sha256)?;
            Control::Done {
                id,
                sha256: body.sha256,
            }
        }
        Kind::Reject | Kind::Cancel => {
            let EndBody { reason, message } = body(text)?;
            if kind == Kind::Reject {
                Control::Reject {
                    id,
                    reason,
                    message,
                }
            } else {
                Control::Cancel {
                    id,
                    reason,
                    message,
                }
            }
        }
    })
}

/// serde's explanation is the message: "missing field `sha256`", "invalid value: integer
/// `-1`, expected u64", "lone leading surrogate in hex escape", with the column.
fn body<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Integers are below 2^53 so that JavaScript numbers hold them exactly.
fn safe(member: &str, value: u64) -> Result<(), String> {
    if value > MAX_SAFE_SIZE {
        return Err(format!("{member} {value} is not below 2^53"));
    }
    Ok(())
}

fn sha256(member: &str, value: &str) -> Result<(), String> {
    if !is_lower_hex(value, 64) {
        return Err(format!("{member} is not 64 lowercase hex digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Answer;

    const ID: &str = "5f0c1e8a9b2d4c6e8f00112233445566";

    fn sha() -> String {
        "0f".repeat(32)
    }

    fn offer(members: &str) -> String {
        format!(r#"{{"ft":"offer","id":"{ID}",{members}}}"#)
    }

    /// The reason of the `reject` an answer carries.
    fn rejected(answer: Answer) -> (String, Reason) {
        let Answer::Reject(text) = answer else {
            panic!("not a reject: {answer:?}")
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(text.starts_with(r#"{"ft":"reject","id":"#), "{text}");
        let reason = serde_json::from_value(value["reason"].clone()).unwrap();
        (value["id"].as_str().unwrap().to_owned(), reason)
    }

    #[test]
    fn reads_every_documented_example() {
        let sha = sha();
        for text in [
            offer(&format!(
                r#""name":"photo.jpg","size":1048576,"type":"image/jpeg","sha256":"{sha}""#
            )),
            format!(
                r#"{{"ft":"accept","id":"{ID}","offset":0,"window":4194304,"max_chunk":262144}}"#
            ),
            format!(r#"{{"ft":"ack","id":"{ID}","offset":524288}}"#),
            format!(r#"{{"ft":"done","id":"{ID}","sha256":"{sha}"}}"#),
            format!(r#"{{"ft":"cancel","id":"{ID}","reason":"cancelled","message":"stop"}}"#),
            format!(r#"{{"ft":"reject","id":"{ID}","reason":"policy"}}"#),
        ] {
            let control = Control::parse(&text).unwrap_or_else(|m| panic!("{text}: {m:?}"));
            assert_eq!(control.id().to_string(), ID);
            assert_eq!(Control::parse(&control.to_text()), Ok(control));
        }
    }

    #[test]
    fn unknown_members_are_ignored_and_type_may_be_omitted() {
        let text = offer(&format!(
            r#""name":"a","size":1,"sha256":"{}","later":{{"x":[1,"\ud800"]}}"#,
            sha()
        ));
        let Ok(Control::Offer { media_type, .. }) = Control::parse(&text) else {
            panic!("{text}")
        };
        assert_eq!(media_type, "");
    }

    #[test]
    fn a_malformed_offer_with_a_readable_id_is_rejected_as_bad_offer() {
        let sha = sha();
        for members in [
            r#""name":"a","size":1"#.to_owned(),
            format!(r#""size":1,"sha256":"{sha}""#),
            format!(r#""name":"a","size":-1,"sha256":"{sha}""#),
            format!(r#""name":"a","size":1.5,"sha256":"{sha}""#),
            format!(r#""name":"a","size":1.0,"sha256":"{sha}""#),
            format!(r#""name":"a","size":1e3,"sha256":"{sha}""#),
            format!(r#""name":"a","size":"5","sha256":"{sha}""#),
            format!(r#""name":"a","size":9007199254740992,"sha256":"{sha}""#),
            format!(r#""name":"a","size":18446744073709551616,"sha256":"{sha}""#),
            format!(r#""name":5,"size":1,"sha256":"{sha}""#),
            format!(r#""name":"a\ud800b","size":1,"sha256":"{sha}""#),
            format!(r#""name":"a","size":1,"type":7,"sha256":"{sha}""#),
            format!(r#""name":"a","size":1,"sha256":"{}""#, sha.to_uppercase()),
            r#""name":"a","size":1,"sha256":"abc""#.to_owned(),
            format!(r#""name":"a","name":"b","size":1,"sha256":"{sha}""#),
        ] {
            let text = offer(&members);
            let malformed = Control::parse(&text).expect_err(&text);
            assert_eq!(malformed.kind, Some(Kind::Offer), "{text}");
            assert!(!malformed.message.is_empty());
            assert_eq!(
                rejected(malformed.answer()),
                (ID.to_owned(), Reason::BadOffer)
            );
        }
    }

    #[test]
    fn an_offer_with_a_non_canonical_id_is_rejected_under_that_id() {
        let upper = ID.to_uppercase();
        let text = format!(
            r#"{{"ft":"offer","id":"{upper}","name":"a","size":1,"sha256":"{}"}}"#,
            sha()
        );
        let malformed = Control::parse(&text).unwrap_err();
        assert_eq!(malformed.id, WireId::Invalid(upper.clone()));
        assert_eq!(rejected(malformed.answer()), (upper, Reason::BadOffer));
    }

    #[test]
    fn minus_zero_is_not_an_integer_of_section_4() {
        let text = offer(&format!(r#""name":"a","size":-0,"sha256":"{}""#, sha()));
        let malformed = Control::parse(&text).expect_err("-0 is malformed");
        assert_eq!(rejected(malformed.answer()).1, Reason::BadOffer);
        let ack = format!(r#"{{"ft":"ack","id":"{ID}","offset":-0}}"#);
        assert!(matches!(
            Control::parse(&ack).unwrap_err().answer(),
            Answer::CancelIfRunning { .. }
        ));
    }

    #[test]
    fn a_repeated_unknown_member_goes_unnoticed() {
        let text = offer(&format!(
            r#""name":"a","size":1,"sha256":"{}","later":1,"later":2"#,
            sha()
        ));
        assert!(Control::parse(&text).is_ok());
    }

    #[test]
    fn no_answer_to_a_malformed_message_is_large() {
        // A 1 MiB offer with a junk id, a long junk id, and serde quoting a huge member value:
        // every reject stays far below the control limit.
        let junk_id = "x".repeat(100);
        let huge = format!(
            r#"{{"ft":"offer","id":"{junk_id}","name":"{}","size":1,"sha256":"{}"}}"#,
            "n".repeat(1 << 20),
            sha()
        );
        let malformed = Control::parse(&huge).unwrap_err();
        assert!(
            malformed.message.contains("over the limit"),
            "{}",
            malformed.message
        );
        let Answer::Reject(reply) = malformed.answer() else {
            panic!("not a reject")
        };
        assert!(reply.len() < 1024, "{}", reply.len());
        assert_eq!(rejected(malformed.answer()), (junk_id, Reason::BadOffer));

        // An invalid id over 128 bytes is not echoed: nothing is sent.
        for len in [MAX_ECHOED_ID_LEN + 1, 1 << 20] {
            let text = format!(
                r#"{{"ft":"offer","id":"{}","name":"a","size":1,"sha256":"{}"}}"#,
                "y".repeat(len),
                sha()
            );
            assert_eq!(Control::parse(&text).unwrap_err().answer(), Answer::Ignore);
        }
        let at_cap = "z".repeat(MAX_ECHOED_ID_LEN);
        let text = format!(r#"{{"ft":"offer","id":"{at_cap}","name":"a","size":1,"sha256":"00"}}"#);
        assert_eq!(
            rejected(Control::parse(&text).unwrap_err().answer()).0,
            at_cap
        );

        // serde's text quotes the bad value (here a 60 KiB string where a number belongs).
        let quoted = offer(&format!(
            r#""name":"a","size":"{}","sha256":"{}""#,
            "9".repeat(60_000),
            sha()
        ));
        assert!(quoted.len() <= MAX_CONTROL_LEN);
        let Answer::Reject(reply) = Control::parse(&quoted).unwrap_err().answer() else {
            panic!("not a reject")
        };
        let value: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert!(value["message"].as_str().unwrap().len() <= crate::MAX_MESSAGE_LEN);
        assert!(reply.len() < 1024, "{}", reply.len());
    }

    #[test]
    fn other_malformed_messages_cancel_a_running_transfer() {
        for text in [
            format!(r#"{{"ft":"ack","id":"{ID}","offset":-1}}"#),
            format!(r#"{{"ft":"ack","id":"{ID}"}}"#),
            format!(r#"{{"ft":"accept","id":"{ID}","offset":0,"window":0,"max_chunk":1}}"#),
            format!(r#"{{"ft":"accept","id":"{ID}","offset":0,"window":1,"max_chunk":0}}"#),
            format!(r#"{{"ft":"done","id":"{ID}","sha256":"00"}}"#),
            format!(r#"{{"ft":"cancel","id":"{ID}","reason":5}}"#),
            format!(r#"{{"ft":"reject","id":"{ID}"}}"#),
        ] {
            let answer = Control::parse(&text).expect_err(&text).answer();
            let Answer::CancelIfRunning { id, message } = answer else {
                panic!("{text}: {answer:?}")
            };
            assert_eq!(id.to_string(), ID);
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn messages_naming_no_transfer_are_ignored() {
        for text in [
            r#"{"ft":"offer"}"#.to_owned(),
            r#"{"ft":"offer","id":5,"name":"a"}"#.to_owned(),
            r#"{"ft":7,"id":"x"}"#.to_owned(),
            r#"{"ft":"ack","id":"nothex","offset":1}"#.to_owned(),
            format!(r#"{{"ft":"pause","id":"{ID}"}}"#),
            format!(r#"{{"ft":"ack","id":"{ID}","offset":1}} trailing"#),
            format!(r#"{{"ft":"ack","id":"{ID}","id":"{ID}","offset":1}}"#),
            r#"{"ft":"ack", not json"#.to_owned(),
        ] {
            let answer = Control::parse(&text).expect_err(&text).answer();
            assert_eq!(answer, Answer::Ignore, "{text}");
        }
    }

    #[test]
    fn an_oversized_message_is_malformed_but_still_names_its_transfer() {
        let text = offer(&format!(
            r#""name":"{}","size":1,"sha256":"{}""#,
            "a".repeat(MAX_CONTROL_LEN),
            sha()
        ));
        let malformed = Control::parse(&text).unwrap_err();
        assert!(malformed.message.contains("65536"), "{}", malformed.message);
        assert_eq!(rejected(malformed.answer()).1, Reason::BadOffer);
        let ack = format!(
            r#"{{"ft":"ack","id":"{ID}","offset":1,"pad":"{}"}}"#,
            " ".repeat(MAX_CONTROL_LEN)
        );
        assert!(matches!(
            Control::parse(&ack).unwrap_err().answer(),
            Answer::CancelIfRunning { .. }
        ));
    }
}
