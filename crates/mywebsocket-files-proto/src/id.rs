//! Transfer ids: 16 bytes the sender picks, 32 hex digits in JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of one transfer, chosen by the sender; with the file's SHA-256 it names the transfer
/// across reconnects, so a resumed offer reuses it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub [u8; 16]);

#[cfg(feature = "rand")]
impl TransferId {
    /// A fresh random id (feature `rand`).
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({self})")
    }
}

/// The text was not 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransferId;

impl fmt::Display for InvalidTransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transfer id is 32 lowercase hex digits")
    }
}

impl std::error::Error for InvalidTransferId {}

impl FromStr for TransferId {
    type Err = InvalidTransferId;

    /// Only the form the spec writes (§1): 32 lowercase hex digits. Answers always carry the
    /// id in that form, so a sender that wrote another (`5F0C…`) would not recognise them;
    /// refusing it makes the sender hear about its mistake instead of waiting.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0; 16];
        if !is_lower_hex(s, 32) {
            return Err(InvalidTransferId);
        }
        hex::decode_to_slice(s, &mut id).map_err(|_| InvalidTransferId)?;
        Ok(Self(id))
    }
}

/// Whether `s` is exactly `len` digits of `0-9a-f` (the spec's form of ids and SHA-256s).
pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Serialize for TransferId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TransferId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = TransferId([0x5f; 16]);
        assert_eq!(id.to_string().len(), 32);
        assert_eq!(id.to_string().parse::<TransferId>(), Ok(id));
        assert_eq!("xyz".parse::<TransferId>(), Err(InvalidTransferId));
    }

    #[test]
    fn only_lowercase_ids_of_exactly_32_digits_parse() {
        let lower = "5f0c1e8a9b2d4c6e8f00112233445566";
        assert!(lower.parse::<TransferId>().is_ok());
        for bad in [
            "5F0C1E8A9B2D4C6E8F00112233445566",
            "5f0c1e8a9b2d4c6e8f0011223344556",
            "5f0c1e8a9b2d4c6e8f001122334455667",
            " 5f0c1e8a9b2d4c6e8f0011223344556",
            "",
        ] {
            assert_eq!(bad.parse::<TransferId>(), Err(InvalidTransferId), "{bad}");
        }
    }
}
