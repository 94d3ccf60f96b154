//! The text report: one block per agent, then a one-line verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::behavior::Behavior;
use super::summary::{Column, SectionCounts, Summary};
use super::verdict::Verdict;

/// Renders one agent's block: totals, counts by behaviour, the per-section
/// table and the failing cases with their verdicts.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, summary);
    out
}

/// The last line of a report: `PASS` or `FAIL` with the counts per role.
pub fn render_verdict_line(summaries: &[Summary]) -> String {
    let pass = !summaries.is_empty() && summaries.iter().all(Summary::is_pass);
    let roles: Vec<String> = summaries
        .iter()
        .map(|s| {
            let mut r = format!("{} {}/{} pass", s.role, s.count(Verdict::Pass), s.total());
            if s.count(Verdict::Allowed) > 0 {
                let _ = write!(r, ", {} allowed", s.count(Verdict::Allowed));
            }
            if !s.failures().is_empty() {
                let _ = write!(r, ", {} failing", s.failures().len());
            }
            if s.missing_cases() > 0 {
                let _ = write!(r, ", {} missing", s.missing_cases());
            }
            r
        })
        .collect();
    let detail = if roles.is_empty() {
        "no results".to_owned()
    } else {
        roles.join("; ")
    };
    format!(
        "autobahn: {} ({detail})",
        if pass { "PASS" } else { "FAIL" }
    )
}

fn write_summary(out: &mut String, s: &Summary) -> std::fmt::Result {
    write!(out, "== {}: agent {:?}", s.role, s.agent)?;
    if let Some(source) = &s.source {
        write!(out, " ({})", source.display())?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} cases: {} pass, {} allowed, {} failing",
        s.total(),
        s.count(Verdict::Pass),
        s.count(Verdict::Allowed),
        s.failures().len()
    )?;
    if let Some(expected) = s.expected_cases {
        if s.missing_cases() > 0 {
            writeln!(
                out,
                "MISSING: {expected} cases expected, {} never ran",
                s.missing_cases()
            )?;
        } else if s.total() > expected {
            writeln!(
                out,
                "note: {expected} cases expected, index.json has {}",
                s.total()
            )?;
        }
    }
    writeln!(out, "behavior:      {}", counts_line(&s.by_behavior))?;
    writeln!(out, "behaviorClose: {}", counts_line(&s.by_behavior_close))?;
    writeln!(out)?;
    write_sections(out, &s.sections, &s.totals())?;
    if s.count(Verdict::Allowed) > 0 {
        writeln!(
            out,
            "\n{} UNIMPLEMENTED compression cases allowed by --allow-unimplemented-compression",
            s.count(Verdict::Allowed)
        )?;
    }
    if !s.failures().is_empty() {
        writeln!(out, "\nfailing cases ({}):", s.failures().len())?;
        let width = s
            .failures()
            .iter()
            .map(|c| c.id.to_string().len())
            .max()
            .unwrap_or(0);
        for case in s.failures() {
            write!(
                out,
                "  {:<width$}  behavior {}, behaviorClose {}",
                case.id.to_string(),
                case.behavior,
                case.behavior_close
            )?;
            if let Some(code) = case.remote_close_code {
                write!(out, ", close code {code}")?;
            }
            if let Some(html) = s.source.as_deref().and_then(|src| case.html_report(src)) {
                write!(out, "  {}", html.display())?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

fn counts_line(counts: &BTreeMap<Behavior, usize>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    let parts: Vec<String> = counts.iter().map(|(b, n)| format!("{b} {n}")).collect();
    parts.join(", ")
}

fn write_sections(
    out: &mut String,
    sections: &BTreeMap<u32, SectionCounts>,
    totals: &SectionCounts,
) -> std::fmt::Result {
    const FIRST: usize = "section".len();
    const NUMBER: usize = 5;
    write!(out, "{:>FIRST$} {:>NUMBER$}", "section", "cases")?;
    for column in Column::ALL {
        write!(
            out,
            " {:>w$}",
            column.title(),
            w = column.title().len().max(NUMBER)
        )?;
    }
    writeln!(out)?;
    let rows = sections.iter().map(|(n, c)| (n.to_string(), c));
    for (label, counts) in rows.chain([("total".to_owned(), totals)]) {
        write!(out, "{label:>FIRST$} {:>NUMBER$}", counts.total())?;
        for column in Column::ALL {
            write!(
                out,
                " {:>w$}",
                counts.get(column),
                w = column.title().len().max(NUMBER)
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::report::index::parse_index;
    use crate::report::summary::summarize;
    use crate::report::verdict::Policy;

    fn summary(json: &str, policy: Policy, expected: Option<usize>) -> Summary {
        let agents = parse_index(json).expect("valid");
        summarize("server", &agents[0], &policy, expected)
            .with_source(Path::new("reports/server/index.json"))
    }

    const MIXED: &str = r#"{"tt": {
        "1.1.1": {"behavior": "OK", "behaviorClose": "OK"},
        "6.4.1": {"behavior": "NON-STRICT", "behaviorClose": "OK", "remoteCloseCode": 1007,
                  "reportfile": "tt_case_6_4_1.json"},
        "12.1.1": {"behavior": "UNIMPLEMENTED", "behaviorClose": "UNIMPLEMENTED"}
    }}"#;

    #[test]
    fn lists_failing_case_with_verdicts_code_and_report() {
        let text = render(&summary(
            MIXED,
            Policy {
                allow_unimplemented_compression: true,
            },
            None,
        ));
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("6.4.1"))
            .expect("listed");
        assert!(
            line.contains("behavior NON-STRICT, behaviorClose OK, close code 1007"),
            "{line}"
        );
        assert!(
            line.ends_with("reports/server/tt_case_6_4_1.html"),
            "{line}"
        );
        assert!(
            text.contains("1 UNIMPLEMENTED compression cases allowed"),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("12.1.1")),
            "{text}"
        );
    }

    #[test]
    fn section_table_has_a_row_per_section_and_a_total() {
        let text = render(&summary(MIXED, Policy::default(), None));
        let header = text
            .lines()
            .find(|l| l.contains("section"))
            .expect("header");
        for column in Column::ALL {
            assert!(header.contains(column.title()), "{header}");
        }
        let row = |label: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(label))
                .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .expect("row present")
        };
        // section, cases, OK, INFORMATIONAL, NON-STRICT, FAILED, UNIMPLEMENTED, WRONG CODE, OTHER
        assert_eq!(row("1"), ["1", "1", "1", "0", "0", "0", "0", "0", "0"]);
        assert_eq!(row("6"), ["6", "1", "0", "0", "1", "0", "0", "0", "0"]);
        assert_eq!(row("12"), ["12", "1", "0", "0", "0", "0", "1", "0", "0"]);
        assert_eq!(
            row("total"),
            ["total", "3", "1", "0", "1", "0", "1", "0", "0"]
        );
    }

    #[test]
    fn counts_by_behavior_are_shown() {
        let text = render(&summary(MIXED, Policy::default(), None));
        assert!(
            text.contains("behavior:      OK 1, UNIMPLEMENTED 1, NON-STRICT 1"),
            "{text}"
        );
        assert!(
            text.contains("behaviorClose: OK 2, UNIMPLEMENTED 1"),
            "{text}"
        );
    }

    #[test]
    fn verdict_line_passes_only_when_every_role_passes() {
        let ok = r#"{"a": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK"}}}"#;
        let pass = summary(ok, Policy::default(), Some(1));
        let fail = summary(MIXED, Policy::default(), None);
        assert_eq!(
            render_verdict_line(std::slice::from_ref(&pass)),
            "autobahn: PASS (server 1/1 pass)"
        );
        let line = render_verdict_line(&[pass, fail]);
        assert!(line.starts_with("autobahn: FAIL"), "{line}");
        assert!(line.contains("server 1/3 pass, 2 failing"), "{line}");
        assert_eq!(render_verdict_line(&[]), "autobahn: FAIL (no results)");
    }

    #[test]
    fn missing_cases_are_reported() {
        let ok = r#"{"a": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK"}}}"#;
        let s = summary(ok, Policy::default(), Some(4));
        assert!(render(&s).contains("MISSING: 4 cases expected, 3 never ran"));
        assert!(render_verdict_line(&[s]).contains("3 missing"));
    }
}
