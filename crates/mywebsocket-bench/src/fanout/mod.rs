//! The fan-out benchmark (`bench-fanout`): broadcast deliveries per second and the latency
//! from send to receipt, one chat node in memory against three chat nodes sharing a Redis.
//!
//! ```text
//! bench-fanout ──spawns──▶ mywebsocket-chat × 1            (memory)
//!              ──spawns──▶ redis-server + mywebsocket-chat × 3 (redis, subscribers spread evenly)
//!   N subscribers join one room; a publisher on the first node sends M stamped messages at a
//!   steady pace; every subscriber times each receipt against the stamp.
//! ```
//!
//! Joins announce presence to the members already in the room while it is small (the hub's
//! presence limit, 100 by default); the run waits until that traffic has settled before it
//! publishes.

pub mod client;
pub mod procs;
pub mod report;
pub mod rooms;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use client::Tally;
use procs::{ChatNode, RedisServer};

/// Connections being opened at once.
pub(crate) const CONNECT_CONCURRENCY: usize = 64;
/// How long presence traffic must stay quiet before publishing starts.
const QUIET: Duration = Duration::from_millis(1_000);
/// Longest wait for joins to complete, for presence traffic to settle, or for the last
/// delivery after the last send.
pub(crate) const PATIENCE: Duration = Duration::from_secs(300);

/// Where the messages go between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One node, everything in memory.
    Memory,
    /// Three nodes sharing a private redis-server.
    Redis,
}

impl Engine {
    /// Its name in the report.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Memory => "1 node, in memory",
            Self::Redis => "3 nodes, Redis",
        }
    }

    fn nodes(self) -> usize {
        match self {
            Self::Memory => 1,
            Self::Redis => 3,
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The engine.
    pub engine: Engine,
    /// Subscribers in the room.
    pub subscribers: usize,
    /// Messages published.
    pub messages: usize,
    /// Messages published per second.
    pub rate: u32,
}

/// Programs a run starts.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `mywebsocket-chat` binary.
    pub chat: PathBuf,
    /// The `redis-server` binary.
    pub redis_server: PathBuf,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was measured.
    pub scenario: Scenario,
    /// Deliveries that arrived (the scenario expects subscribers × messages).
    pub delivered: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// Every delivery's latency in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Subscribers whose connection failed during the run.
    pub failed: u64,
    /// Time the joins and their presence traffic took.
    pub setup: Duration,
}

impl Outcome {
    /// Deliveries per second over [`Outcome::elapsed`].
    #[must_use]
    pub fn deliveries_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Deliveries expected.
    #[must_use]
    pub fn expected(&self) -> u64 {
        (self.scenario.subscribers * self.scenario.messages) as u64
    }
}

/// Runs one scenario: starts its processes, connects and joins, publishes, collects, and stops
/// everything it started.
///
/// # Errors
/// A process that does not start, or joins that fail.
pub async fn run(scenario: &Scenario, programs: &Programs) -> Result<Outcome, String> {
    // Held until the end: dropping them stops the processes.
    let redis = match scenario.engine {
        Engine::Memory => None,
        Engine::Redis => Some(RedisServer::start(&programs.redis_server)?),
    };
    let mut args = vec!["--queue".to_owned(), "100000,268435456".to_owned()];
    if let Some(redis) = &redis {
        args.extend(["--redis".to_owned(), redis.url.clone()]);
    }
    let nodes = (0..scenario.engine.nodes())
        .map(|_| ChatNode::start(&programs.chat, &args))
        .collect::<Result<Vec<_>, _>>()?;
    let urls: Vec<String> = nodes.iter().map(ChatNode::url).collect();

    let base = Instant::now();
    let tally = Arc::new(Tally::default());
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut tasks = Vec::with_capacity(scenario.subscribers);
    for i in 0..scenario.subscribers {
        let url = urls[i % urls.len()].clone();
        let (tally, gate) = (Arc::clone(&tally), Arc::clone(&gate));
        let expected = scenario.messages;
        tasks.push(tokio::spawn(async move {
            let ws = {
                let _permit = gate.acquire().await.expect("the semaphore is never closed");
                client::join(&url, &format!("s{i}")).await
            };
            match ws {
                Ok(ws) => {
                    tally.joined.fetch_add(1, Ordering::Relaxed);
                    client::subscribe(ws, expected, base, tally).await
                }
                Err(e) => {
                    eprintln!("bench-fanout: subscriber {i}: {e}");
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    (Vec::new(), None)
                }
            }
        }));
    }
    let joined = wait_for(PATIENCE, || {
        let done = tally.joined.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed);
        done >= scenario.subscribers as u64
    })
    .await;
    if !joined || tally.failed.load(Ordering::Relaxed) > 0 {
        abort_all(tasks).await;
        return Err(format!(
            "{} of {} subscribers joined ({} failed)",
            tally.joined.load(Ordering::Relaxed),
            scenario.subscribers,
            tally.failed.load(Ordering::Relaxed)
        ));
    }
    let publisher = client::join(&urls[0], "publisher").await?;
    settle(&tally).await;
    let setup = base.elapsed();

    let interval = Duration::from_secs(1) / scenario.rate.max(1);
    let first_send = client::nanos_since(base);
    let publishing = tokio::spawn(client::publish(
        publisher,
        scenario.messages,
        interval,
        base,
    ));
    let expected = (scenario.subscribers * scenario.messages) as u64;
    let sending_time = interval * u32::try_from(scenario.messages).unwrap_or(u32::MAX);
    wait_for(sending_time + PATIENCE, || {
        tally.delivered.load(Ordering::Relaxed) >= expected
            || tally.failed.load(Ordering::Relaxed) > 0 && publishing.is_finished()
    })
    .await;
    let published = if publishing.is_finished() {
        publishing.await.map_err(|e| e.to_string())?
    } else {
        publishing.abort();
        Err("the publisher did not finish".to_owned())
    };
    let last = tally.last_delivery.load(Ordering::Relaxed);
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let mut latencies_us = Vec::with_capacity(expected as usize);
    // Connections stay open until the nodes are gone: thousands of leaves at once would only
    // load the nodes and the broker with presence traffic nobody measures.
    let mut open = Vec::with_capacity(tasks.len());
    for task in tasks {
        if !task.is_finished() {
            task.abort();
        }
        if let Ok((l, ws)) = task.await {
            latencies_us.extend(l);
            open.extend(ws);
        }
    }
    latencies_us.sort_unstable();
    drop(nodes);
    drop(redis);
    drop(open);
    published?;
    Ok(Outcome {
        scenario: scenario.clone(),
        delivered,
        elapsed: Duration::from_nanos(last.saturating_sub(first_send)),
        latencies_us,
        failed,
        setup,
    })
}

/// Polls `done` every 10 ms until it holds or `limit` passes; whether it held.
pub(crate) async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Waits until no subscriber has received anything for [`QUIET`]: the presence announcements
/// of the join storm are out of the way and do not count against the broadcast.
pub(crate) async fn settle(tally: &Tally) {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = tally.frames.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = tally.frames.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
    }
}

pub(crate) async fn abort_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) {
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
}
