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

/// The text was not 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransferId;

impl fmt::Display for InvalidTransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transfer id is 32 hex digits")
    }
}

impl std::error::Error for InvalidTransferId {}

impl FromStr for TransferId {
    type Err = InvalidTransferId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0; 16];
        hex::decode_to_slice(s, &mut id).map_err(|_| InvalidTransferId)?;
        Ok(Self(id))
    }
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
}
