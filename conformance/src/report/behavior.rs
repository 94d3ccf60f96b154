//! The verdict strings Autobahn writes into `behavior` and `behaviorClose`.

use std::fmt;

/// One of Autobahn's verdicts on a case (`behavior`) or on its closing
/// handshake (`behaviorClose`).
///
/// The variants are ordered from best to worst, so `max` of the two verdicts
/// of a case gives its overall outcome. Strings Autobahn may add in future
/// versions are kept as [`Behavior::Other`], which sorts last and never passes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behavior {
    /// `OK`: the peer did what the RFC requires.
    Ok,
    /// `INFORMATIONAL`: the case only records what the peer did (for example
    /// the close reason it echoed); there is nothing to get wrong.
    Informational,
    /// `UNIMPLEMENTED`: the peer does not implement the feature under test;
    /// sections 12 and 13 report this when permessage-deflate is not offered.
    Unimplemented,
    /// `NON-STRICT`: acceptable but not what a strict peer does, such as
    /// failing late on invalid UTF-8 instead of at the first bad byte.
    NonStrict,
    /// `WRONG CODE`: the connection was closed with a close code other than
    /// the one the RFC prescribes.
    WrongCode,
    /// `UNCLEAN`: the TCP connection was dropped without a closing handshake.
    Unclean,
    /// `NO_CLOSE`: the peer never closed the connection.
    NoClose,
    /// `FAILED BY CLIENT`: the test client itself gave up on the case.
    FailedByClient,
    /// `FAILED`: the peer broke the RFC.
    Failed,
    /// Any other string, kept verbatim.
    Other(String),
}

impl Behavior {
    /// Reads Autobahn's spelling of a verdict. Unknown strings become
    /// [`Behavior::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "OK" => Self::Ok,
            "INFORMATIONAL" => Self::Informational,
            "UNIMPLEMENTED" => Self::Unimplemented,
            "NON-STRICT" => Self::NonStrict,
            "WRONG CODE" => Self::WrongCode,
            "UNCLEAN" => Self::Unclean,
            "NO_CLOSE" => Self::NoClose,
            "FAILED BY CLIENT" => Self::FailedByClient,
            "FAILED" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Autobahn's spelling of the verdict.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "OK",
            Self::Informational => "INFORMATIONAL",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::NonStrict => "NON-STRICT",
            Self::WrongCode => "WRONG CODE",
            Self::Unclean => "UNCLEAN",
            Self::NoClose => "NO_CLOSE",
            Self::FailedByClient => "FAILED BY CLIENT",
            Self::Failed => "FAILED",
            Self::Other(s) => s,
        }
    }

    /// Whether this verdict passes on its own: `OK` or `INFORMATIONAL`.
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Ok | Self::Informational)
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Behavior {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 9] = [
        "OK",
        "INFORMATIONAL",
        "UNIMPLEMENTED",
        "NON-STRICT",
        "WRONG CODE",
        "UNCLEAN",
        "NO_CLOSE",
        "FAILED BY CLIENT",
        "FAILED",
    ];

    #[test]
    fn known_verdicts_round_trip() {
        for s in KNOWN {
            let b = Behavior::parse(s);
            assert!(!matches!(b, Behavior::Other(_)), "{s} parsed as Other");
            assert_eq!(b.as_str(), s);
        }
    }

    #[test]
    fn unknown_verdict_is_kept_and_fails() {
        let b = Behavior::parse("SOMETHING NEW");
        assert_eq!(b, Behavior::Other("SOMETHING NEW".into()));
        assert_eq!(b.to_string(), "SOMETHING NEW");
        assert!(!b.is_pass());
    }

    #[test]
    fn only_ok_and_informational_pass() {
        let passing: Vec<_> = KNOWN
            .iter()
            .filter(|s| Behavior::parse(s).is_pass())
            .collect();
        assert_eq!(passing, [&"OK", &"INFORMATIONAL"]);
    }

    #[test]
    fn worse_verdicts_sort_later() {
        assert!(Behavior::Ok < Behavior::Informational);
        assert!(Behavior::NonStrict < Behavior::Failed);
        assert!(Behavior::Failed < Behavior::Other(String::new()));
        assert_eq!(Behavior::Ok.max(Behavior::WrongCode), Behavior::WrongCode);
    }

    #[test]
    fn deserializes_from_json_string() {
        let b: Behavior = serde_json::from_str("\"WRONG CODE\"").expect("valid JSON string");
        assert_eq!(b, Behavior::WrongCode);
    }
}
