//! Outcomes, known failures, the per-implementation report and the combined table.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How a case went.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub(crate) enum Outcome {
    Pass,
    Fail(String),
    /// Failed, and listed in the known failures with this reason.
    Known(String),
    NotApplicable(String),
}

impl Outcome {
    /// The outcome of a run, given the known-failure entry for the case.
    pub(crate) fn judge(result: Result<(), String>, known: Option<&String>) -> Self {
        match (result, known) {
            (Ok(()), None) => Self::Pass,
            (Ok(()), Some(_)) => Self::Fail(
                "passes, but is listed as a known failure: remove it from the list".into(),
            ),
            (Err(e), None) => Self::Fail(e),
            (Err(e), Some(why)) => {
                Self::Known(format!("{why} — {}", e.lines().next().unwrap_or_default()))
            }
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail(_) => "FAIL",
            Self::Known(_) => "known",
            Self::NotApplicable(_) => "n/a",
        }
    }
}

/// One case's line in a report.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Row {
    pub(crate) case: String,
    pub(crate) title: String,
    pub(crate) spec: String,
    #[serde(flatten)]
    pub(crate) outcome: Outcome,
}

/// All cases against one implementation.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) implementation: String,
    pub(crate) seconds: f64,
    pub(crate) rows: Vec<Row>,
}

impl Report {
    pub(crate) fn ok(&self) -> bool {
        !self
            .rows
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Fail(_)))
    }

    pub(crate) fn print(&self) {
        let count = |label: &str| {
            self.rows
                .iter()
                .filter(|r| r.outcome.label() == label)
                .count()
        };
        println!(
            "{}: {} pass, {} FAIL, {} known failures, {} n/a ({:.1} s)",
            self.implementation,
            count("pass"),
            count("FAIL"),
            count("known"),
            count("n/a"),
            self.seconds
        );
    }

    pub(crate) fn write(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).expect("plain data");
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The known failures of `implementation`: lines `IMPLEMENTATION CASE-ID reason…`; `#` starts
/// a comment.
pub(crate) fn known_failures(
    path: Option<&Path>,
    implementation: &str,
) -> Result<BTreeMap<String, String>, String> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut known = BTreeMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(who), Some(case), Some(why)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}: a line needs IMPLEMENTATION CASE reason: {line}",
                path.display()
            ));
        };
        if who == implementation {
            known.insert(case.to_owned(), why.trim().to_owned());
        }
    }
    Ok(known)
}

/// `ft-conformance table REPORT...`: one Markdown table, a column per implementation.
pub(crate) fn table(paths: &[String]) -> Result<bool, String> {
    let mut reports = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let report: Report = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        reports.push(report);
    }
    let Some(first) = reports.first() else {
        return Err("give at least one report".into());
    };
    let names: Vec<&str> = reports.iter().map(|r| r.implementation.as_str()).collect();
    println!("| case | title | § | {} |", names.join(" | "));
    println!("| --- | --- | --- |{}", " --- |".repeat(names.len()));
    for row in &first.rows {
        let cells: Vec<&str> = reports
            .iter()
            .map(|r| {
                r.rows
                    .iter()
                    .find(|other| other.case == row.case)
                    .map_or("-", |other| other.outcome.label())
            })
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            row.case,
            row.title,
            row.spec,
            cells.join(" | ")
        );
    }
    for report in &reports {
        report.print();
        for row in &report.rows {
            if let Outcome::Known(why) = &row.outcome {
                println!(
                    "  known failure {} {}: {why}",
                    report.implementation, row.case
                );
            }
        }
    }
    Ok(reports.iter().all(Report::ok))
}
