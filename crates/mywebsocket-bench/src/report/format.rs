//! Numbers for tables: three significant digits, `k` and `M` for large ones.

use crate::results::Entry;
use crate::stats::{median, spread};

/// `v` with three significant digits: `123`, `12.3`, `1.23 k`, `45.6 M`.
pub(crate) fn number(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, " M"),
        a if a >= 1e4 => (v / 1e3, " k"),
        _ => (v, ""),
    };
    let digits = match scaled.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{scaled:.digits$}{suffix}")
}

/// A table cell: the median, its spread, and how many repetitions failed.
pub(crate) fn cell(entry: Option<&Entry>) -> String {
    let Some(entry) = entry else {
        return "–".into();
    };
    let Some(med) = median(&entry.samples) else {
        return format!(
            "failed¹ ({})",
            short(entry.errors.first().map_or("", |e| e))
        );
    };
    let mut out = number(med);
    if let Some(s) = spread(&entry.samples) {
        out.push_str(&format!(" ±{:.0}%", s * 100.0));
    }
    if !entry.errors.is_empty() {
        out.push_str(&format!(" ({} failed¹)", entry.errors.len()));
    }
    out
}

/// `ours / theirs` as `1.23×`.
pub(crate) fn ratio(ours: Option<&Entry>, theirs: Option<&Entry>) -> String {
    let m = |e: Option<&Entry>| e.and_then(|e| median(&e.samples));
    match (m(ours), m(theirs)) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// The first 60 characters of an error, without characters that break a table.
pub(crate) fn short(error: &str) -> String {
    let clean: String = error
        .chars()
        .map(|c| if c == '|' || c == '\n' { ' ' } else { c })
        .collect();
    if clean.chars().count() > 60 {
        format!("{}…", clean.chars().take(60).collect::<String>())
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(number(1_234_567.0), "1.23 M");
        assert_eq!(number(45_678.0), "45.7 k");
        assert_eq!(number(9_876.0), "9876");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.01234), "0.012");
    }
}
