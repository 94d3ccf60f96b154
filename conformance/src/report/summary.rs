//! Counting one agent's results by behaviour and by section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::behavior::Behavior;
use super::index::{AgentResults, CaseResult};
use super::verdict::{classify, Policy, Verdict};

/// A column of the per-section table: where a case's outcome (the worse of
/// its two verdicts) is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// `OK`.
    Ok,
    /// `INFORMATIONAL`.
    Informational,
    /// `NON-STRICT`.
    NonStrict,
    /// `FAILED` and `FAILED BY CLIENT`.
    Failed,
    /// `UNIMPLEMENTED`.
    Unimplemented,
    /// `WRONG CODE`.
    WrongCode,
    /// `UNCLEAN`, `NO_CLOSE` and verdicts this crate does not know.
    Other,
}

impl Column {
    /// Every column, in table order.
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Informational,
        Self::NonStrict,
        Self::Failed,
        Self::Unimplemented,
        Self::WrongCode,
        Self::Other,
    ];

    /// The column a verdict is counted in.
    pub fn of(behavior: &Behavior) -> Self {
        match behavior {
            Behavior::Ok => Self::Ok,
            Behavior::Informational => Self::Informational,
            Behavior::NonStrict => Self::NonStrict,
            Behavior::Failed | Behavior::FailedByClient => Self::Failed,
            Behavior::Unimplemented => Self::Unimplemented,
            Behavior::WrongCode => Self::WrongCode,
            Behavior::Unclean | Behavior::NoClose | Behavior::Other(_) => Self::Other,
        }
    }

    /// The column's heading.
    pub fn title(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Informational => "INFORMATIONAL",
            Self::NonStrict => "NON-STRICT",
            Self::Failed => "FAILED",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::WrongCode => "WRONG CODE",
            Self::Other => "OTHER",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Ok => 0,
            Self::Informational => 1,
            Self::NonStrict => 2,
            Self::Failed => 3,
            Self::Unimplemented => 4,
            Self::WrongCode => 5,
            Self::Other => 6,
        }
    }
}

/// Case counts of one section (or of all sections), one per [`Column`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionCounts {
    counts: [usize; Column::ALL.len()],
}

impl SectionCounts {
    /// The number of cases counted in a column.
    pub fn get(&self, column: Column) -> usize {
        self.counts[column.index()]
    }

    /// The number of cases in all columns.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    fn add(&mut self, column: Column) {
        self.counts[column.index()] += 1;
    }
}

/// Everything the report says about one agent.
#[derive(Clone, Debug)]
pub struct Summary {
    /// What was tested: `server` or `client`.
    pub role: String,
    /// The agent name in `index.json`.
    pub agent: String,
    /// The `index.json` the results came from, used to point at HTML reports.
    pub source: Option<PathBuf>,
    /// How many cases have each `behavior`.
    pub by_behavior: BTreeMap<Behavior, usize>,
    /// How many cases have each `behaviorClose`.
    pub by_behavior_close: BTreeMap<Behavior, usize>,
    /// Counts per section (the first number of the case id).
    pub sections: BTreeMap<u32, SectionCounts>,
    /// How many cases the run was meant to have, when known.
    pub expected_cases: Option<usize>,
    verdicts: BTreeMap<Verdict, usize>,
    failures: Vec<CaseResult>,
    total: usize,
}

impl Summary {
    /// Points HTML report links at the directory of this `index.json`.
    #[must_use]
    pub fn with_source(mut self, index_json: &Path) -> Self {
        self.source = Some(index_json.to_owned());
        self
    }

    /// The number of cases in `index.json` for this agent.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The number of cases with the given verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.verdicts.get(&verdict).copied().unwrap_or(0)
    }

    /// The failing cases, in id order.
    pub fn failures(&self) -> &[CaseResult] {
        &self.failures
    }

    /// How many expected cases are missing from `index.json` (cases that
    /// never ran, for example because the peer crashed).
    pub fn missing_cases(&self) -> usize {
        self.expected_cases
            .map_or(0, |n| n.saturating_sub(self.total))
    }

    /// The counts over all sections.
    pub fn totals(&self) -> SectionCounts {
        let mut all = SectionCounts::default();
        for counts in self.sections.values() {
            for (sum, n) in all.counts.iter_mut().zip(counts.counts) {
                *sum += n;
            }
        }
        all
    }

    /// Whether the agent passed: no failing case, none missing, and at
    /// least one case ran.
    pub fn is_pass(&self) -> bool {
        self.failures.is_empty() && self.missing_cases() == 0 && self.total > 0
    }
}

/// Counts one agent's results and judges each case under the policy.
///
/// `expected_cases` is the number of cases the run was configured with; when
/// given, fewer cases in the results make the summary fail.
pub fn summarize(
    role: &str,
    results: &AgentResults,
    policy: &Policy,
    expected_cases: Option<usize>,
) -> Summary {
    let mut summary = Summary {
        role: role.to_owned(),
        agent: results.agent.clone(),
        source: None,
        by_behavior: BTreeMap::new(),
        by_behavior_close: BTreeMap::new(),
        sections: BTreeMap::new(),
        expected_cases,
        verdicts: BTreeMap::new(),
        failures: Vec::new(),
        total: results.cases.len(),
    };
    for case in &results.cases {
        *summary
            .by_behavior
            .entry(case.behavior.clone())
            .or_default() += 1;
        *summary
            .by_behavior_close
            .entry(case.behavior_close.clone())
            .or_default() += 1;
        summary
            .sections
            .entry(case.id.section())
            .or_default()
            .add(Column::of(case.outcome()));
        let verdict = classify(case, policy);
        *summary.verdicts.entry(verdict).or_default() += 1;
        if verdict == Verdict::Fail {
            summary.failures.push(case.clone());
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::index::parse_index;

    const RUN: &str = r#"{"agent": {
        "1.1.1": {"behavior": "OK", "behaviorClose": "OK"},
        "1.1.2": {"behavior": "OK", "behaviorClose": "OK"},
        "6.4.1": {"behavior": "NON-STRICT", "behaviorClose": "OK"},
        "7.1.6": {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL"},
        "7.9.1": {"behavior": "OK", "behaviorClose": "WRONG CODE"},
        "12.1.1": {"behavior": "UNIMPLEMENTED", "behaviorClose": "UNIMPLEMENTED"},
        "13.1.1": {"behavior": "UNIMPLEMENTED", "behaviorClose": "UNIMPLEMENTED"},
        "9.1.1": {"behavior": "UNCLEAN", "behaviorClose": "NO_CLOSE"}
    }}"#;

    fn run(policy: Policy, expected: Option<usize>) -> Summary {
        let agents = parse_index(RUN).expect("valid");
        summarize("server", &agents[0], &policy, expected)
    }

    #[test]
    fn counts_behaviors() {
        let s = run(Policy::default(), None);
        assert_eq!(s.total(), 8);
        assert_eq!(s.by_behavior[&Behavior::Ok], 3);
        assert_eq!(s.by_behavior[&Behavior::Unimplemented], 2);
        assert_eq!(s.by_behavior_close[&Behavior::Ok], 3);
        assert_eq!(s.by_behavior_close[&Behavior::WrongCode], 1);
        assert_eq!(s.by_behavior_close[&Behavior::NoClose], 1);
    }

    #[test]
    fn counts_sections_by_worse_verdict() {
        let s = run(Policy::default(), None);
        let sections: Vec<u32> = s.sections.keys().copied().collect();
        assert_eq!(sections, [1, 6, 7, 9, 12, 13]);
        assert_eq!(s.sections[&1].get(Column::Ok), 2);
        assert_eq!(s.sections[&6].get(Column::NonStrict), 1);
        assert_eq!(s.sections[&7].get(Column::Informational), 1);
        assert_eq!(s.sections[&7].get(Column::WrongCode), 1);
        assert_eq!(s.sections[&9].get(Column::Other), 1);
        assert_eq!(s.sections[&12].get(Column::Unimplemented), 1);
        let totals = s.totals();
        assert_eq!(totals.total(), 8);
        assert_eq!(totals.get(Column::Unimplemented), 2);
    }

    #[test]
    fn lists_failures_in_id_order() {
        let strict = run(Policy::default(), None);
        let ids: Vec<String> = strict.failures().iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids, ["6.4.1", "7.9.1", "9.1.1", "12.1.1", "13.1.1"]);
        assert_eq!(strict.count(Verdict::Pass), 3);
        assert_eq!(strict.count(Verdict::Allowed), 0);
        assert!(!strict.is_pass());

        let lenient = run(
            Policy {
                allow_unimplemented_compression: true,
            },
            None,
        );
        assert_eq!(lenient.failures().len(), 3);
        assert_eq!(lenient.count(Verdict::Allowed), 2);
    }

    #[test]
    fn missing_cases_fail_the_summary() {
        let agents = parse_index(r#"{"a": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK"}}}"#)
            .expect("valid");
        let complete = summarize("client", &agents[0], &Policy::default(), Some(1));
        assert!(complete.is_pass());
        let short = summarize("client", &agents[0], &Policy::default(), Some(3));
        assert_eq!(short.missing_cases(), 2);
        assert!(!short.is_pass());
    }

    #[test]
    fn no_cases_is_no_pass() {
        let agents = parse_index(r#"{"a": {}}"#).expect("valid");
        assert!(!summarize("client", &agents[0], &Policy::default(), None).is_pass());
    }

    #[test]
    fn every_behavior_has_a_column() {
        let all = [
            "OK",
            "INFORMATIONAL",
            "NON-STRICT",
            "FAILED",
            "UNIMPLEMENTED",
            "WRONG CODE",
        ];
        for (name, column) in all.iter().zip(Column::ALL) {
            assert_eq!(Column::of(&Behavior::parse(name)), column);
            assert_eq!(column.title(), *name);
        }
        assert_eq!(Column::of(&Behavior::parse("new")), Column::Other);
    }
}
