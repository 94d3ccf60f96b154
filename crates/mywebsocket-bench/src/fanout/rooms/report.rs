//! What a many-rooms run measured, and its Markdown report: the per-node table (received
//! from Redis against deliveries made), the Redis side (one redis-server, or per master of a
//! Redis Cluster with its replicas apart), the clients' figures, and any delivery lost or
//! repeated.

use std::fmt::Write as _;
use std::time::Duration;

use super::measure::NodeRow;
use super::redis::{ClusterUsage, MasterUsage};
use super::{room_name, RoomsScenario};
use crate::fanout::report::format_us;
use crate::stats::percentile;

/// Lost messages listed in the report at most.
const LOST_LISTED: usize = 20;

/// A message some members did not receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Its sequence number (its place in the schedule).
    pub seq: usize,
    /// Its room.
    pub room: usize,
    /// Members of the room.
    pub members: usize,
    /// Members that did not receive it, per node.
    pub missed_by_node: Vec<usize>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RoomsOutcome {
    /// What was measured.
    pub scenario: RoomsScenario,
    /// Room sizes, largest first.
    pub sizes: Vec<usize>,
    /// Per node.
    pub nodes: Vec<NodeRow>,
    /// Deliveries the clients received, repeats not counted.
    pub delivered: u64,
    /// Deliveries the plan expects.
    pub expected: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// Redis CPU time over the publishing window: redis-server's, or the cluster masters'.
    pub redis_cpu: Duration,
    /// Bytes Redis wrote over the publishing window (`wchar`): redis-server's, or the cluster
    /// masters' (their append-only files and replication streams included).
    pub redis_written: u64,
    /// Per master and replica, on a Redis Cluster.
    pub cluster: Option<ClusterUsage>,
    /// Wire bytes of the stamped frames the clients received.
    pub frame_bytes: u64,
    /// Every delivery's latency in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Clients whose connection failed, error answers, failed publishes.
    pub failed: u64,
    /// Stamped messages a client received not after the last one it had (duplicates,
    /// reorderings).
    pub repeats: u64,
    /// Gap notices the clients received.
    pub gaps: u64,
    /// Messages some members did not receive.
    pub lost: Vec<Lost>,
    /// Time the joins and their presence traffic took.
    pub setup: Duration,
}

impl RoomsOutcome {
    /// Messages published.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.scenario.messages as u64
    }

    /// Whether every delivery arrived once and in order, every node saw what the plan says,
    /// and nothing failed.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.failed == 0
            && self.repeats == 0
            && self.lost.is_empty()
            && self.delivered == self.expected
            && self.nodes.iter().all(|n| {
                n.measured.redis_room_messages == n.expected.received
                    && n.measured.room_deliveries == n.expected.deliveries
            })
    }

    /// The Markdown report, with `context` (the command, the machine) under it.
    #[must_use]
    pub fn markdown(&self, context: &str) -> String {
        let s = &self.scenario;
        let mut median_sizes = self.sizes.clone();
        median_sizes.sort_unstable();
        let through = match &self.cluster {
            None => "one Redis".to_owned(),
            Some(c) => format!(
                "a Redis Cluster ({} masters + {} replicas)",
                c.masters.len(),
                c.replica_count()
            ),
        };
        let mut out = format!(
            "# Fan-out: many rooms over {} nodes through {through}\n\n\
             {} connections in {} rooms (Zipf sizes: largest {}, median {}, smallest {}), each \
             client on a node drawn at random (seed {}); {} messages at {}/s into rooms drawn \
             {}, each sent by the room's first member.\n\n",
            s.nodes,
            thousands(s.connections as u64),
            s.rooms,
            self.sizes.first().copied().unwrap_or(0),
            median_sizes
                .get(median_sizes.len() / 2)
                .copied()
                .unwrap_or(0),
            self.sizes.last().copied().unwrap_or(0),
            s.seed,
            thousands(s.messages as u64),
            s.rate,
            s.pick.describe(),
        );
        self.node_table(&mut out);
        self.redis_tables(&mut out);
        self.client_table(&mut out);
        self.faults(&mut out);
        let _ = write!(
            out,
            "\nReceived and deliveries: each node's `/stats` counters (`redis_room_messages`, \
             `room_deliveries`) over the publishing window; \"of N\" marks a count that differs \
             from what the plan says the node should see. Rooms hosted: rooms with members on \
             the node, from the placement. Deliveries/s: deliveries the clients received ÷ time \
             from the first send to the last receipt (bounded by the publishing pace when the \
             nodes keep up). Per node-CPU-second: the nodes' deliveries ÷ their CPU time \
             (utime + stime) over the window, publishing through Redis included. Memory per \
             connection: the nodes' RSS after the run ÷ their connections. Redis wrote: `wchar` \
             of its `/proc/PID/io` over the window. Frame bytes: the stamped frames as the \
             clients received them, WebSocket header included, TCP/IP's not. Latency: from the \
             send to a client's receipt, every delivery counted. Repeats: stamped messages a \
             client received that were not after the last one it had (one sender per room, so \
             a room's messages must arrive in order); they are not counted as deliveries.\n"
        );
        if let Some(c) = &self.cluster {
            let _ = write!(
                out,
                "\nPer master: its process's CPU and `wchar` over the window; messages stored: \
                 `XADD` calls (`INFO commandstats`; the publish script stores each message once, \
                 on the master of its room's slot), batches: `WAIT` calls (the publisher has a \
                 replica confirm each batch); of what it wrote (`wchar`), the append-only file \
                 (growth of `aof_current_size`), to its replicas (`total_net_repl_output_bytes`), \
                 to the nodes (`total_net_output_bytes` less the replicas' share and this \
                 bench's own `INFO`), other: the rest, mostly the cluster bus (bus messages: \
                 `cluster_stats_messages_sent`; Redis 7.0 sends every sharded publish to the \
                 shard's other nodes with the full 2 KiB header). CPU per message: per message stored on that master (all masters: \
                 per message published). Replicas' CPU is the cost of replication, apart. \
                 Persistence: {}.\n",
                c.persistence
            );
        }
        let _ = write!(out, "\n{context}\n");
        out
    }

    fn node_table(&self, out: &mut String) {
        out.push_str(
            "| node | connections | rooms hosted | received from Redis | deliveries | deliveries / received | CPU (publishing window) | RSS |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} | {}{} | {:.0} | {:.2} s | {:.0} MiB |",
                i + 1,
                thousands(n.measured.connections),
                n.expected.rooms,
                thousands(n.measured.redis_room_messages),
                unless_equal(n.measured.redis_room_messages, n.expected.received),
                thousands(n.measured.room_deliveries),
                unless_equal(n.measured.room_deliveries, n.expected.deliveries),
                ratio(n.measured.room_deliveries, n.measured.redis_room_messages),
                n.cpu.as_secs_f64(),
                n.rss_kib as f64 / 1024.0,
            );
        }
        let sum = |f: &dyn Fn(&NodeRow) -> u64| self.nodes.iter().map(f).sum::<u64>();
        let (received, deliveries) = (self.received(), self.deliveries());
        let _ = writeln!(
            out,
            "| all | {} | {} | {} | {} | {:.0} | {:.2} s | {:.0} MiB |",
            thousands(sum(&|n| n.measured.connections)),
            thousands(sum(&|n| n.expected.rooms)),
            thousands(received),
            thousands(deliveries),
            ratio(deliveries, received),
            self.node_cpu().as_secs_f64(),
            sum(&|n| n.rss_kib) as f64 / 1024.0,
        );
    }

    fn redis_tables(&self, out: &mut String) {
        let published = self.published();
        let received = self.received();
        let pattern = published * self.scenario.nodes as u64;
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let _ = write!(
            out,
            "\n| published | received, pattern subscription (published × nodes) | received, per-room subscriptions | saved |",
        );
        let Some(c) = &self.cluster else {
            let _ = write!(
                out,
                " redis-server CPU | per message published | redis-server wrote | per message received |\n\
                 |--:|--:|--:|--:|--:|--:|--:|--:|\n\
                 | {} | {} | {} | {:.0} % | {:.2} s ({:.0} % of one core) | {} | {:.1} MB | {:.0} B |\n",
                thousands(published),
                thousands(pattern),
                thousands(received),
                100.0 * (1.0 - received as f64 / pattern.max(1) as f64),
                self.redis_cpu.as_secs_f64(),
                100.0 * self.redis_cpu.as_secs_f64() / secs,
                per_message(self.redis_cpu, published),
                self.redis_written as f64 / 1e6,
                ratio(self.redis_written, received),
            );
            return;
        };
        let replicas = c.replicas_cpu();
        let sum = |f: &dyn Fn(&MasterUsage) -> u64| c.masters.iter().map(f).sum::<u64>();
        let (aof, replication, to_clients) = (
            sum(&|m| m.aof),
            sum(&|m| m.replication),
            sum(&|m| m.to_clients),
        );
        let rest = self
            .redis_written
            .saturating_sub(aof + replication + to_clients);
        let _ = write!(
            out,
            " masters' CPU ({}) | per message published | replicas' CPU ({}) | per message published | masters wrote | of which to the nodes | per message received |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n\
             | {} | {} | {} | {:.0} % | {:.2} s ({:.0} % of one core) | {} | {:.2} s | {} | {:.2} MB | {:.2} MB | {:.0} B |\n",
            c.masters.len(),
            c.replica_count(),
            thousands(published),
            thousands(pattern),
            thousands(received),
            100.0 * (1.0 - received as f64 / pattern.max(1) as f64),
            self.redis_cpu.as_secs_f64(),
            100.0 * self.redis_cpu.as_secs_f64() / secs,
            per_message(self.redis_cpu, published),
            replicas.as_secs_f64(),
            per_message(replicas, published),
            self.redis_written as f64 / 1e6,
            to_clients as f64 / 1e6,
            ratio(to_clients, received),
        );
        out.push_str(
            "\n| master | pid | messages stored | batches confirmed | messages per batch | CPU | CPU per message | wrote | AOF | replication | to the nodes | other | bus messages | replica (pid) | replica CPU | replica CPU per message |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--|--:|--:|\n",
        );
        for m in &c.masters {
            let p = &m.process;
            let replica_cpu: Duration = m.replicas.iter().map(|r| r.cpu).sum();
            let names: Vec<String> = m
                .replicas
                .iter()
                .map(|r| format!("{} ({})", r.port, r.pid))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.1} | {:.2} s | {} | {:.2} MB | {:.2} MB | {:.2} MB | {:.2} MB | {:.2} MB | {} | {} | {:.2} s | {} |",
                p.port,
                p.pid,
                thousands(m.messages),
                thousands(m.batches),
                ratio(m.messages, m.batches),
                p.cpu.as_secs_f64(),
                per_message(p.cpu, m.messages),
                p.written as f64 / 1e6,
                m.aof as f64 / 1e6,
                m.replication as f64 / 1e6,
                m.to_clients as f64 / 1e6,
                p.written
                    .saturating_sub(m.aof + m.replication + m.to_clients)
                    as f64
                    / 1e6,
                thousands(m.bus_messages),
                if names.is_empty() { "none".to_owned() } else { names.join(", ") },
                replica_cpu.as_secs_f64(),
                per_message(replica_cpu, m.messages),
            );
        }
        let stored: u64 = c.masters.iter().map(|m| m.messages).sum();
        let batches: u64 = c.masters.iter().map(|m| m.batches).sum();
        let _ = writeln!(
            out,
            "| all | | {}{} | {} | {:.1} | {:.2} s | {} | {:.2} MB | {:.2} MB | {:.2} MB | {:.2} MB | {:.2} MB | {} | | {:.2} s | {} |",
            thousands(stored),
            unless_equal(stored, published),
            thousands(batches),
            ratio(stored, batches),
            self.redis_cpu.as_secs_f64(),
            per_message(self.redis_cpu, published),
            self.redis_written as f64 / 1e6,
            aof as f64 / 1e6,
            replication as f64 / 1e6,
            to_clients as f64 / 1e6,
            rest as f64 / 1e6,
            thousands(sum(&|m| m.bus_messages)),
            replicas.as_secs_f64(),
            per_message(replicas, published),
        );
    }

    fn client_table(&self, out: &mut String) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let cpu = self.node_cpu();
        let connections: u64 = self.nodes.iter().map(|n| n.measured.connections).sum();
        let rss: u64 = self.nodes.iter().map(|n| n.rss_kib).sum();
        let lat = |q| percentile(&self.latencies_us, q).map_or("-".to_owned(), format_us);
        let _ = write!(
            out,
            "\n| deliveries (clients) | deliveries/s | deliveries per node-CPU-second | node CPU / window | frame bytes per delivery | memory per connection | p50 | p99 | max | join + settle |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n\
             | {}{} | {} | {} | {:.0} % of one core | {:.0} B | {:.1} KiB | {} | {} | {} | {:.1} s |\n",
            thousands(self.delivered),
            unless_equal(self.delivered, self.expected),
            thousands((self.delivered as f64 / secs) as u64),
            thousands((self.deliveries() as f64 / cpu.as_secs_f64().max(1e-9)) as u64),
            100.0 * cpu.as_secs_f64() / secs,
            ratio(self.frame_bytes, self.delivered),
            rss as f64 / connections.max(1) as f64,
            lat(0.5),
            lat(0.99),
            self.latencies_us.last().map_or("-".to_owned(), |&v| format_us(v)),
            self.setup.as_secs_f64(),
        );
    }

    /// Lost and repeated deliveries, gap notices, failures: one line, and the lost messages.
    fn faults(&self, out: &mut String) {
        let missing: usize = self
            .lost
            .iter()
            .map(|l| l.missed_by_node.iter().sum::<usize>())
            .sum();
        let _ = writeln!(
            out,
            "\nLost deliveries: {} (in {} messages); repeated or out of order: {}; gap notices: {}; \
             failed connections, error answers or publishes: {}.",
            thousands(missing as u64),
            self.lost.len(),
            thousands(self.repeats),
            thousands(self.gaps),
            thousands(self.failed),
        );
        if self.lost.is_empty() {
            return;
        }
        out.push_str("\n| message | room | members | missed by, per node |\n|--:|--|--:|--|\n");
        for l in self.lost.iter().take(LOST_LISTED) {
            let per_node: Vec<String> = l.missed_by_node.iter().map(usize::to_string).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                l.seq,
                room_name(l.room),
                l.members,
                per_node.join(" / "),
            );
        }
        if self.lost.len() > LOST_LISTED {
            let _ = writeln!(out, "\n… and {} more.", self.lost.len() - LOST_LISTED);
        }
    }

    fn received(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.measured.redis_room_messages)
            .sum()
    }

    fn deliveries(&self) -> u64 {
        self.nodes.iter().map(|n| n.measured.room_deliveries).sum()
    }

    fn node_cpu(&self) -> Duration {
        self.nodes.iter().map(|n| n.cpu).sum()
    }
}

/// " of N" when `measured` differs from `expected`.
fn unless_equal(measured: u64, expected: u64) -> String {
    if measured == expected {
        String::new()
    } else {
        format!(" of {}", thousands(expected))
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `cpu` ÷ `messages`, in µs.
fn per_message(cpu: Duration, messages: u64) -> String {
    if messages == 0 {
        "-".to_owned()
    } else {
        format!("{:.0} µs", cpu.as_secs_f64() * 1e6 / messages as f64)
    }
}

/// `1234567` as `1,234,567`.
#[must_use]
pub fn thousands(n: u64) -> String {
    usize::try_from(n).map_or_else(|_| n.to_string(), crate::driver::cell::count_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_readably() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(per_message(Duration::from_millis(50), 1_000), "50 µs");
        assert_eq!(per_message(Duration::from_millis(50), 0), "-");
        assert_eq!(format_us(12_345), "12 ms");
        assert_eq!(unless_equal(3, 4), " of 4");
    }
}
