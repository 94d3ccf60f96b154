//! The fan-out report: one Markdown table row per scenario.

use std::fmt::Write as _;

use super::Outcome;
use crate::stats::percentile;

/// The Markdown report of `outcomes`, with `context` (the command, the machine's state) under
/// the table.
#[must_use]
pub fn markdown(outcomes: &[Outcome], context: &str) -> String {
    let mut out = String::from(
        "# Fan-out: broadcast to one room\n\n\
         | engine | subscribers | messages | rate (msg/s) | deliveries | deliveries/s | p50 latency | p99 latency | max latency | join + settle |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for o in outcomes {
        let lat = |q| percentile(&o.latencies_us, q).map_or("-".to_owned(), format_us);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{} | {:.0} | {} | {} | {} | {:.1} s |",
            o.scenario.engine.label(),
            o.scenario.subscribers,
            o.scenario.messages,
            o.scenario.rate,
            o.delivered,
            if o.delivered == o.expected() {
                String::new()
            } else {
                format!(" of {}", o.expected())
            },
            o.deliveries_per_sec(),
            lat(0.5),
            lat(0.99),
            o.latencies_us
                .last()
                .map_or("-".to_owned(), |&v| format_us(v)),
            o.setup.as_secs_f64(),
        );
    }
    let _ = write!(
        out,
        "\nDeliveries/s: subscribers × messages ÷ time from the first send to the last receipt \
         (bounded by the publishing pace when the nodes keep up). Latency: from the publisher's \
         send to a subscriber's receipt, every delivery counted.\n\n{context}\n"
    );
    out
}

/// Microseconds in a readable unit.
pub(crate) fn format_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1_000.0)
    } else if us >= 1_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fanout::{Engine, Scenario};

    #[test]
    fn a_row_reports_rate_percentiles_and_missing_deliveries() {
        let outcome = Outcome {
            scenario: Scenario {
                engine: Engine::Redis,
                subscribers: 2,
                messages: 2,
                rate: 10,
            },
            delivered: 3,
            elapsed: Duration::from_millis(300),
            latencies_us: vec![500, 1_500, 20_000],
            failed: 1,
            setup: Duration::from_millis(1_200),
        };
        let table = markdown(&[outcome], "ctx");
        assert!(
            table.contains(
                "| 3 nodes, Redis | 2 | 2 | 10 | 3 of 4 | 10 | 1.5 ms | 20 ms | 20 ms | 1.2 s |"
            ),
            "{table}"
        );
        assert!(table.ends_with("ctx\n"));
    }
}
