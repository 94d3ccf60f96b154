//! Whether a case passes.

use super::behavior::Behavior;
use super::index::CaseResult;

/// The sections that test permessage-deflate (RFC 7692): 12 and 13.
pub const COMPRESSION_SECTIONS: [u32; 2] = [12, 13];

/// What the caller tolerates beyond `OK` and `INFORMATIONAL`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Accept `UNIMPLEMENTED` in [`COMPRESSION_SECTIONS`], for as long as
    /// permessage-deflate is not implemented. Default: `false`.
    pub allow_unimplemented_compression: bool,
}

/// The judgement on one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Both verdicts are `OK` or `INFORMATIONAL`.
    Pass,
    /// Not a pass, but tolerated by the [`Policy`].
    Allowed,
    /// Anything else.
    Fail,
}

/// Judges one case: it passes when both `behavior` and `behaviorClose` are
/// `OK` or `INFORMATIONAL`, and is allowed when the only other verdict is
/// `UNIMPLEMENTED` in a compression section and the policy allows that.
pub fn classify(case: &CaseResult, policy: &Policy) -> Verdict {
    let tolerated = |b: &Behavior| {
        *b == Behavior::Unimplemented
            && policy.allow_unimplemented_compression
            && COMPRESSION_SECTIONS.contains(&case.id.section())
    };
    let verdicts = [&case.behavior, &case.behavior_close];
    if verdicts.iter().all(|b| b.is_pass()) {
        Verdict::Pass
    } else if verdicts.iter().all(|b| b.is_pass() || tolerated(b)) {
        Verdict::Allowed
    } else {
        Verdict::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, behavior: &str, behavior_close: &str) -> CaseResult {
        CaseResult {
            id: id.parse().expect("test ids are valid"),
            behavior: Behavior::parse(behavior),
            behavior_close: Behavior::parse(behavior_close),
            duration_ms: None,
            remote_close_code: None,
            report_file: None,
        }
    }

    const STRICT: Policy = Policy {
        allow_unimplemented_compression: false,
    };
    const LENIENT: Policy = Policy {
        allow_unimplemented_compression: true,
    };

    #[test]
    fn ok_and_informational_pass() {
        for (b, c) in [
            ("OK", "OK"),
            ("INFORMATIONAL", "OK"),
            ("OK", "INFORMATIONAL"),
        ] {
            assert_eq!(
                classify(&case("7.1.6", b, c), &STRICT),
                Verdict::Pass,
                "{b}/{c}"
            );
        }
    }

    #[test]
    fn any_other_verdict_fails() {
        for bad in [
            "NON-STRICT",
            "WRONG CODE",
            "UNCLEAN",
            "NO_CLOSE",
            "FAILED BY CLIENT",
            "FAILED",
            "?",
        ] {
            assert_eq!(
                classify(&case("6.4.1", bad, "OK"), &LENIENT),
                Verdict::Fail,
                "{bad}"
            );
            assert_eq!(
                classify(&case("6.4.1", "OK", bad), &LENIENT),
                Verdict::Fail,
                "{bad}"
            );
        }
    }

    #[test]
    fn unimplemented_compression_fails_without_flag() {
        let c = case("12.1.1", "UNIMPLEMENTED", "UNIMPLEMENTED");
        assert_eq!(classify(&c, &STRICT), Verdict::Fail);
        assert_eq!(Policy::default(), STRICT);
    }

    #[test]
    fn unimplemented_compression_allowed_with_flag() {
        for id in ["12.1.1", "13.7.18"] {
            for (b, c) in [
                ("UNIMPLEMENTED", "UNIMPLEMENTED"),
                ("UNIMPLEMENTED", "OK"),
                ("OK", "UNIMPLEMENTED"),
            ] {
                assert_eq!(
                    classify(&case(id, b, c), &LENIENT),
                    Verdict::Allowed,
                    "{id} {b}/{c}"
                );
            }
        }
    }

    #[test]
    fn unimplemented_outside_compression_always_fails() {
        for id in ["1.1.1", "10.1.1", "11.1", "14.1"] {
            let c = case(id, "UNIMPLEMENTED", "OK");
            assert_eq!(classify(&c, &LENIENT), Verdict::Fail, "{id}");
        }
    }

    #[test]
    fn flag_does_not_excuse_other_compression_failures() {
        let c = case("13.1.1", "UNIMPLEMENTED", "WRONG CODE");
        assert_eq!(classify(&c, &LENIENT), Verdict::Fail);
        let c = case("12.2.3", "FAILED", "OK");
        assert_eq!(classify(&c, &LENIENT), Verdict::Fail);
    }
}
