//! Conformance testing of MyWebsocket against the
//! [Autobahn|Testsuite](https://github.com/crossbario/autobahn-testsuite).
//!
//! `scripts/conformance.sh` runs `wstest` twice: once as a fuzzing client
//! against our echo server, once as a fuzzing server for our client. Each run
//! leaves an `index.json` that gives, for every agent and case, Autobahn's
//! verdicts `behavior` and `behaviorClose`. This crate reads those files and
//! decides whether the run passed:
//!
//! ```text
//! index.json ──parse_index──▶ AgentResults ──summarize──▶ Summary ──render──▶ table
//!                                  │                         │
//!                              CaseResult ──classify──▶ Verdict (Pass / Allowed / Fail)
//! ```
//!
//! A case passes when both verdicts are `OK` or `INFORMATIONAL`. Everything
//! else fails, except `UNIMPLEMENTED` in the compression sections (12 and 13)
//! when [`report::Policy::allow_unimplemented_compression`] is set.
//!
//! ```
//! use conformance::report::{parse_index, render, summarize, Policy, Verdict};
//!
//! let json = r#"{ "mywebsocket": {
//!     "1.1.1": { "behavior": "OK", "behaviorClose": "OK" },
//!     "6.4.1": { "behavior": "NON-STRICT", "behaviorClose": "OK" },
//!     "12.1.1": { "behavior": "UNIMPLEMENTED", "behaviorClose": "UNIMPLEMENTED" }
//! } }"#;
//! let agents = parse_index(json)?;
//! let policy = Policy { allow_unimplemented_compression: true };
//! let summary = summarize("client", &agents[0], &policy, None);
//!
//! assert_eq!(summary.failures().len(), 1);
//! assert_eq!(summary.failures()[0].id.to_string(), "6.4.1");
//! assert_eq!(summary.count(Verdict::Allowed), 1);
//! assert!(render(&summary).contains("6.4.1"));
//! # Ok::<(), conformance::report::IndexError>(())
//! ```
//!
//! The binaries in `src/bin/` are the pieces the script runs: the report
//! checker `autobahn_report`, and the test peers (an echo server and an
//! Autobahn client) built on MyWebsocket.
#![forbid(unsafe_code)]

pub mod report;
