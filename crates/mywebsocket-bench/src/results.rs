//! What was measured: for each workload row and metric, every repetition's value per server.

use serde::{Deserialize, Serialize};

/// Which direction of a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Better {
    /// Throughput: more is better.
    Higher,
    /// Latency, memory, bytes: less is better.
    Lower,
}

/// The workload groups of the report, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Group {
    /// 1. Echo throughput in messages per second.
    Echo,
    /// 1. Echo throughput in MB/s of echoed payload.
    EchoBytes,
    /// 1b. Echo with one message in flight per connection: messages/s, round trips, server
    /// CPU per message.
    OneInFlight,
    /// 2. Round-trip latency with one message in flight.
    Latency,
    /// 3. Resident memory per connection.
    Memory,
    /// 4. One message to many connections.
    Broadcast,
    /// 5. Connection setup.
    Setup,
    /// 6. permessage-deflate on JSON.
    Compression,
    /// 7. WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1 and axum over HTTP/2.
    Http2,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Group; 9] = [
        Group::Echo,
        Group::EchoBytes,
        Group::OneInFlight,
        Group::Latency,
        Group::Memory,
        Group::Broadcast,
        Group::Setup,
        Group::Compression,
        Group::Http2,
    ];
}

/// One row of a report table: a workload variant and the metric measured on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricKey {
    /// The table it belongs to.
    pub group: Group,
    /// The workload variant, such as `16 B × 64 conns`.
    pub row: String,
    /// The unit of the values, such as `msg/s`.
    pub unit: String,
    /// Which direction is good.
    pub better: Better,
}

impl MetricKey {
    /// A key.
    pub fn new(group: Group, row: impl Into<String>, unit: &str, better: Better) -> Self {
        Self {
            group,
            row: row.into(),
            unit: unit.to_owned(),
            better,
        }
    }
}

/// All values of one metric for one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// What was measured.
    pub key: MetricKey,
    /// The server's name ([`crate::servers::Impl::name`]).
    pub server: String,
    /// One value per successful repetition.
    pub samples: Vec<f64>,
    /// Why repetitions failed, if any did.
    pub errors: Vec<String>,
}

/// Where and how the run happened.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// UTC date and time of the start.
    pub date: String,
    /// CPU model and count, memory, kernel.
    pub machine: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The git commit measured, with `-dirty` for uncommitted changes.
    pub commit: String,
    /// `full` or `smoke`.
    pub mode: String,
    /// Repetitions of each measurement.
    pub reps: usize,
    /// Seconds of warm-up and of measurement in each throughput run.
    pub warmup_s: f64,
    /// Seconds measured in each throughput run.
    pub measure_s: f64,
    /// Wall-clock seconds the whole run took.
    pub elapsed_s: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// Where and how.
    pub meta: Meta,
    /// One entry per metric and server, in the order first recorded.
    pub entries: Vec<Entry>,
    /// Remarks for the report (scaled-down workloads, skipped parts).
    pub notes: Vec<String>,
}

impl Results {
    /// Adds one repetition's outcome for every key: the values in key order, or the error
    /// that prevented the measurement.
    pub fn record(&mut self, keys: &[MetricKey], server: &str, outcome: &Result<Vec<f64>, String>) {
        for (i, key) in keys.iter().enumerate() {
            let entry = self.entry_mut(key, server);
            match outcome {
                Ok(values) => match values.get(i) {
                    Some(v) if v.is_finite() => entry.samples.push(*v),
                    _ => entry.errors.push("no value".to_owned()),
                },
                Err(e) => entry.errors.push(e.clone()),
            }
        }
    }

    fn entry_mut(&mut self, key: &MetricKey, server: &str) -> &mut Entry {
        let pos = self
            .entries
            .iter()
            .position(|e| e.key == *key && e.server == server);
        let pos = pos.unwrap_or_else(|| {
            self.entries.push(Entry {
                key: key.clone(),
                server: server.to_owned(),
                samples: Vec::new(),
                errors: Vec::new(),
            });
            self.entries.len() - 1
        });
        &mut self.entries[pos]
    }

    /// The entry of `key` for `server`.
    pub fn get(&self, key: &MetricKey, server: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key == *key && e.server == server)
    }

    /// The distinct keys of `group`, in the order first recorded.
    pub fn keys(&self, group: Group) -> Vec<&MetricKey> {
        let mut keys: Vec<&MetricKey> = Vec::new();
        for e in self.entries.iter().filter(|e| e.key.group == group) {
            if !keys.contains(&&e.key) {
                keys.push(&e.key);
            }
        }
        keys
    }

    /// The servers measured in `group`, in the order first recorded.
    pub fn servers(&self, group: Group) -> Vec<&str> {
        let mut servers: Vec<&str> = Vec::new();
        for e in self.entries.iter().filter(|e| e.key.group == group) {
            if !servers.contains(&e.server.as_str()) {
                servers.push(&e.server);
            }
        }
        servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_values_in_key_order_and_errors_on_every_key() {
        let keys = [
            MetricKey::new(Group::Latency, "16 B p50", "µs", Better::Lower),
            MetricKey::new(Group::Latency, "16 B p99", "µs", Better::Lower),
        ];
        let mut results = Results::default();
        results.record(&keys, "tcp", &Ok(vec![10.0, 20.0]));
        results.record(&keys, "tcp", &Err("refused".into()));
        let p99 = results.get(&keys[1], "tcp").unwrap();
        assert_eq!(p99.samples, vec![20.0]);
        assert_eq!(p99.errors, vec!["refused".to_owned()]);
        assert_eq!(results.keys(Group::Latency).len(), 2);
        assert_eq!(results.servers(Group::Latency), vec!["tcp"]);
    }
}
