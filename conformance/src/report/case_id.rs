//! Autobahn case ids such as `6.4.1`.

use std::fmt;
use std::str::FromStr;

/// A case id: dot-separated numbers, the first of which is the section.
///
/// Ids order numerically part by part, so `2.10` comes after `2.9`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId {
    parts: Vec<u32>,
}

impl CaseId {
    /// The section: the first number of the id (`12` for `12.1.3`).
    pub fn section(&self) -> u32 {
        // `from_str` never builds an empty id.
        self.parts.first().copied().unwrap_or_default()
    }

    /// The numbers of the id, section first.
    pub fn parts(&self) -> &[u32] {
        &self.parts
    }
}

/// The error for a string that is not a case id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCaseId(pub String);

impl fmt::Display for InvalidCaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid case id {:?}: expected numbers separated by dots",
            self.0
        )
    }
}

impl std::error::Error for InvalidCaseId {}

impl FromStr for CaseId {
    type Err = InvalidCaseId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = s
            .split('.')
            .map(|p| {
                // `u32::from_str` accepts a leading '+', which is no case id.
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            })
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| InvalidCaseId(s.to_owned()))?;
        Ok(Self { parts })
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for part in &self.parts {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CaseId {
        s.parse().expect("test ids are valid")
    }

    #[test]
    fn section_is_first_number() {
        assert_eq!(id("12.1.3").section(), 12);
        assert_eq!(id("10.1.1").section(), 10);
        assert_eq!(id("1").section(), 1);
    }

    #[test]
    fn orders_numerically() {
        let mut ids = [id("2.10"), id("10.1.1"), id("2.9"), id("1.1.1"), id("2.1")];
        ids.sort();
        let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["1.1.1", "2.1", "2.9", "2.10", "10.1.1"]);
    }

    #[test]
    fn rejects_non_ids() {
        for bad in [
            "",
            "1.",
            ".1",
            "1..2",
            "a.1",
            "+1.2",
            "1.-2",
            "99999999999.1",
        ] {
            assert_eq!(
                bad.parse::<CaseId>(),
                Err(InvalidCaseId(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn displays_as_parsed() {
        assert_eq!(id("6.4.1").to_string(), "6.4.1");
        assert_eq!(id("6.4.1").parts(), [6, 4, 1]);
    }
}
