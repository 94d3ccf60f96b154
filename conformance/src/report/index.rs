//! Parsing Autobahn's `index.json`.
//!
//! The file maps each agent (the name of a tested peer) to its cases, and
//! each case id to its verdicts:
//!
//! ```json
//! { "mywebsocket": { "1.1.1": { "behavior": "OK", "behaviorClose": "OK",
//!                               "duration": 2, "remoteCloseCode": 1000,
//!                               "reportfile": "mywebsocket_case_1_1_1.json" } } }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::behavior::Behavior;
use super::case_id::{CaseId, InvalidCaseId};

/// The results of one agent, with its cases in id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentResults {
    /// The agent name under which Autobahn filed the results.
    pub agent: String,
    /// Every case Autobahn ran for this agent, sorted by id.
    pub cases: Vec<CaseResult>,
}

/// Autobahn's verdicts on one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// The case id, such as `6.4.1`.
    pub id: CaseId,
    /// The verdict on the case itself.
    pub behavior: Behavior,
    /// The verdict on the closing handshake.
    pub behavior_close: Behavior,
    /// How long the case took, in milliseconds, when recorded.
    pub duration_ms: Option<u64>,
    /// The close code the peer sent, if it sent one.
    pub remote_close_code: Option<u16>,
    /// The file name of the case's JSON report, relative to `index.json`;
    /// the HTML report has the same name with `.html`.
    pub report_file: Option<String>,
}

impl CaseResult {
    /// The worse of the two verdicts.
    pub fn outcome(&self) -> &Behavior {
        (&self.behavior).max(&self.behavior_close)
    }

    /// The HTML report of this case, next to the given `index.json`.
    pub fn html_report(&self, index_json: &Path) -> Option<PathBuf> {
        let file = self.report_file.as_deref()?;
        let dir = index_json.parent().unwrap_or(Path::new("."));
        Some(dir.join(file).with_extension("html"))
    }
}

/// The fields of a case entry in `index.json`; others are ignored.
#[derive(Deserialize)]
struct RawCase {
    behavior: Behavior,
    #[serde(rename = "behaviorClose")]
    behavior_close: Behavior,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(rename = "remoteCloseCode", default)]
    remote_close_code: Option<u16>,
    #[serde(default)]
    reportfile: Option<String>,
}

type RawIndex = BTreeMap<String, BTreeMap<String, RawCase>>;

/// Why an `index.json` could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum IndexError {
    /// The file could not be read.
    Io {
        /// The file that was read.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not JSON of the expected shape.
    Json(serde_json::Error),
    /// A case id is not numbers separated by dots.
    CaseId {
        /// The agent whose case it is.
        agent: String,
        /// The cause, with the offending id.
        source: InvalidCaseId,
    },
    /// The file lists no agent at all, so no test ran.
    NoAgents,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, .. } => write!(f, "cannot read {}", path.display()),
            Self::Json(_) => f.write_str("index.json is not in Autobahn's format"),
            Self::CaseId { agent, .. } => write!(f, "bad case id for agent {agent:?}"),
            Self::NoAgents => f.write_str("index.json lists no agent: no case ran"),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Json(source) => Some(source),
            Self::CaseId { source, .. } => Some(source),
            Self::NoAgents => None,
        }
    }
}

/// Parses the text of an `index.json`, giving agents in name order.
///
/// # Errors
///
/// [`IndexError::Json`] when the text is not JSON of Autobahn's shape,
/// [`IndexError::CaseId`] for a malformed case id, and
/// [`IndexError::NoAgents`] when the file lists no agent.
pub fn parse_index(json: &str) -> Result<Vec<AgentResults>, IndexError> {
    let raw: RawIndex = serde_json::from_str(json).map_err(IndexError::Json)?;
    if raw.is_empty() {
        return Err(IndexError::NoAgents);
    }
    raw.into_iter()
        .map(|(agent, cases)| {
            let mut cases = cases
                .into_iter()
                .map(|(id, raw)| {
                    Ok(CaseResult {
                        id: id.parse()?,
                        behavior: raw.behavior,
                        behavior_close: raw.behavior_close,
                        duration_ms: raw.duration,
                        remote_close_code: raw.remote_close_code,
                        report_file: raw.reportfile,
                    })
                })
                .collect::<Result<Vec<_>, InvalidCaseId>>()
                .map_err(|source| IndexError::CaseId {
                    agent: agent.clone(),
                    source,
                })?;
            cases.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(AgentResults { agent, cases })
        })
        .collect()
}

/// The `index.json` a path names: the path itself, or `index.json` inside it
/// when it is a directory (a report directory as `wstest` writes it).
pub fn resolve_index_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("index.json")
    } else {
        path.to_owned()
    }
}

/// Reads and parses an `index.json`, or the one in a report directory.
///
/// Returns the path actually read along with the results.
///
/// # Errors
///
/// [`IndexError::Io`] when the file cannot be read, otherwise as
/// [`parse_index`].
pub fn load_index(path: &Path) -> Result<(PathBuf, Vec<AgentResults>), IndexError> {
    let path = resolve_index_path(path);
    let json = std::fs::read_to_string(&path).map_err(|source| IndexError::Io {
        path: path.clone(),
        source,
    })?;
    let agents = parse_index(&json)?;
    Ok((path, agents))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "tokio-tungstenite": {
            "2.10": { "behavior": "OK", "behaviorClose": "OK", "duration": 3,
                      "remoteCloseCode": 1000, "reportfile": "tt_case_2_10.json" },
            "2.9": { "behavior": "NON-STRICT", "behaviorClose": "OK", "duration": 1,
                     "remoteCloseCode": null, "reportfile": "tt_case_2_9.json" }
        },
        "another": {
            "1.1.1": { "behavior": "OK", "behaviorClose": "OK", "extra": [1, 2] }
        }
    }"#;

    #[test]
    fn parses_agents_and_sorts_cases() {
        let agents = parse_index(SAMPLE).expect("sample is valid");
        let names: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(names, ["another", "tokio-tungstenite"]);

        let tt = &agents[1];
        let ids: Vec<String> = tt.cases.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids, ["2.9", "2.10"]);
        assert_eq!(tt.cases[0].behavior, Behavior::NonStrict);
        assert_eq!(tt.cases[0].remote_close_code, None);
        assert_eq!(tt.cases[1].remote_close_code, Some(1000));
        assert_eq!(tt.cases[1].duration_ms, Some(3));
    }

    #[test]
    fn optional_fields_may_be_missing() {
        let agents = parse_index(SAMPLE).expect("sample is valid");
        let case = &agents[0].cases[0];
        assert_eq!(case.duration_ms, None);
        assert_eq!(case.report_file, None);
        assert_eq!(case.html_report(Path::new("r/index.json")), None);
    }

    #[test]
    fn outcome_is_the_worse_verdict() {
        let agents = parse_index(
            r#"{"a": {"1.1": {"behavior": "OK", "behaviorClose": "WRONG CODE"},
                      "1.2": {"behavior": "FAILED", "behaviorClose": "OK"}}}"#,
        )
        .expect("valid");
        assert_eq!(agents[0].cases[0].outcome(), &Behavior::WrongCode);
        assert_eq!(agents[0].cases[1].outcome(), &Behavior::Failed);
    }

    #[test]
    fn html_report_sits_next_to_index() {
        let agents = parse_index(SAMPLE).expect("sample is valid");
        let html = agents[1].cases[0].html_report(Path::new("reports/server/index.json"));
        assert_eq!(html, Some(PathBuf::from("reports/server/tt_case_2_9.html")));
    }

    #[test]
    fn rejects_missing_verdict() {
        let err = parse_index(r#"{"a": {"1.1": {"behavior": "OK"}}}"#).unwrap_err();
        assert!(matches!(err, IndexError::Json(_)), "{err:?}");
    }

    #[test]
    fn rejects_wrong_shape() {
        for bad in ["", "[]", r#"{"a": []}"#, r#"{"a": {"1.1": "OK"}}"#] {
            assert!(
                matches!(parse_index(bad), Err(IndexError::Json(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_case_id() {
        let err = parse_index(r#"{"a": {"x.1": {"behavior": "OK", "behaviorClose": "OK"}}}"#)
            .unwrap_err();
        match err {
            IndexError::CaseId { agent, source } => {
                assert_eq!(agent, "a");
                assert_eq!(source, InvalidCaseId("x.1".into()));
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn rejects_empty_index() {
        assert!(matches!(parse_index("{}"), Err(IndexError::NoAgents)));
    }

    #[test]
    fn agent_without_cases_is_kept() {
        let agents = parse_index(r#"{"a": {}}"#).expect("valid");
        assert_eq!(agents[0].cases.len(), 0);
    }

    #[test]
    fn load_reports_missing_file_with_its_path() {
        let missing = Path::new("/nonexistent/autobahn/reports");
        match load_index(missing) {
            Err(IndexError::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("unexpected {other:?}"),
        }
    }
}
