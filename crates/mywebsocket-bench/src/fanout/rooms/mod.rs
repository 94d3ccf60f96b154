//! The many-rooms workload (`bench-fanout --rooms`): N chat nodes sharing a private
//! redis-server (or a Redis Cluster, `--cluster`), C client connections in R rooms of uneven
//! sizes, M stamped messages.
//!
//! ```text
//! room sizes   Zipf (s = 1): room k (from 1) gets a share of C proportional to 1/k, at least 1
//! placement    every client on a node drawn at random (SplitMix64, fixed seed)
//! messages     rooms drawn at random in proportion to their size (every member equally
//!              talkative), or uniformly (--pick uniform); each sent by the room's first member
//! measured     per node: /stats counters (received from Redis, deliveries) over the publishing
//!              window, CPU (utime + stime of the node processes) and RSS; client side: every
//!              delivery's send-to-receipt latency, and its order; Redis side: CPU and bytes
//!              written of redis-server, or of each cluster master and, apart, its replicas
//! ```
//!
//! The plan is deterministic, so what each node should receive and deliver is known in advance
//! and printed beside what it reports: with per-room subscriptions a node receives exactly the
//! messages of the rooms it hosts; a pattern subscription would make every node receive every
//! message (published × nodes).
//!
//! [`plan`] draws the placement and the schedule, [`measure`] runs them against the nodes,
//! [`redis`] starts or finds the Redis side and reads its costs (asking Redis through a small
//! client of its own, `resp`), [`report`] writes the tables.

pub mod measure;
pub mod plan;
pub mod redis;
pub mod report;
mod resp;

pub use measure::{node_stats, NodeRow, NodeStats};
pub use plan::{zipf_sizes, Expected, Plan};
pub use redis::{written_bytes, ClusterUsage, MasterUsage, ProcessUsage};
pub use report::{thousands, Lost, RoomsOutcome};

use std::time::{SystemTime, UNIX_EPOCH};

use self::redis::RedisSide;
use super::procs::ChatNode;
use super::Programs;

/// How rooms are drawn for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// In proportion to the room's size: every member equally talkative.
    BySize,
    /// Every room equally likely.
    Uniform,
}

impl Pick {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::BySize => "in proportion to their size (every member equally talkative)",
            Self::Uniform => "uniformly (every room equally talkative)",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct RoomsScenario {
    /// Chat nodes.
    pub nodes: usize,
    /// Client connections, each a member of one room.
    pub connections: usize,
    /// Rooms.
    pub rooms: usize,
    /// Messages published in all.
    pub messages: usize,
    /// Messages published per second, over all rooms.
    pub rate: u32,
    /// How rooms are drawn for messages.
    pub pick: Pick,
    /// Seed of placement and message draws.
    pub seed: u64,
    /// Seeds (`redis://HOST:PORT`) of a Redis Cluster on this machine to publish through
    /// instead of a private redis-server; empty: a private redis-server.
    pub cluster: Vec<String>,
}

impl RoomsScenario {
    /// The default: 4 nodes × 2,500 connections in 500 rooms, 2,000 messages at 200/s.
    #[must_use]
    pub fn default_sized() -> Self {
        Self {
            nodes: 4,
            connections: 10_000,
            rooms: 500,
            messages: 2_000,
            rate: 200,
            pick: Pick::BySize,
            seed: 21,
            cluster: Vec::new(),
        }
    }

    /// The smoke run: 2 nodes, 60 connections in 12 rooms, 30 messages.
    #[must_use]
    pub fn smoke() -> Self {
        Self {
            nodes: 2,
            connections: 60,
            rooms: 12,
            messages: 30,
            rate: 100,
            ..Self::default_sized()
        }
    }
}

/// The name of room `k`.
#[must_use]
pub fn room_name(k: usize) -> String {
    format!("r{k}")
}

/// Runs the workload: starts redis-server (or finds the cluster's processes) and the nodes,
/// connects and joins every client, publishes, reads the counters, and stops everything it
/// started. On a cluster the nodes use a key prefix of their own (`fanout-PID-SECS`), so
/// rooms of earlier runs do not mix in; their keys stay in the cluster.
///
/// # Errors
/// A process that does not start, a cluster that cannot be read, joins that fail, or
/// counters that cannot be read.
pub async fn run(scenario: &RoomsScenario, programs: &Programs) -> Result<RoomsOutcome, String> {
    let plan = Plan::new(scenario)?;
    // Held until the end: dropping them stops the processes.
    let redis = RedisSide::start(&scenario.cluster, programs)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut args = vec!["--queue".to_owned(), "100000,268435456".to_owned()];
    args.extend(redis.node_args(&format!("fanout-{}-{secs}", std::process::id())));
    let nodes = (0..scenario.nodes)
        .map(|_| ChatNode::start(&programs.chat, &args))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = measure::measure(scenario, &plan, &nodes, &redis).await;
    drop(nodes);
    drop(redis);
    let (outcome, held) = outcome?;
    drop(held);
    Ok(outcome)
}
