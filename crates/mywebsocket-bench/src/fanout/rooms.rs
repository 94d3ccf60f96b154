//! The many-rooms workload (`bench-fanout --rooms`): N chat nodes sharing a private
//! redis-server, C client connections in R rooms of uneven sizes, M stamped messages.
//!
//! ```text
//! room sizes   Zipf (s = 1): room k (from 1) gets a share of C proportional to 1/k, at least 1
//! placement    every client on a node drawn at random (SplitMix64, fixed seed)
//! messages     rooms drawn at random in proportion to their size (every member equally
//!              talkative), or uniformly (--pick uniform); each sent by the room's first member
//! measured     per node: /stats counters (received from Redis, deliveries) over the publishing
//!              window, CPU (utime + stime of the node processes) and RSS; client side: every
//!              delivery's send-to-receipt latency
//! ```
//!
//! The plan is deterministic, so what each node should receive and deliver is known in advance
//! and printed beside what it reports: with per-room subscriptions a node receives exactly the
//! messages of the rooms it hosts; a pattern subscription would make every node receive every
//! message (published × nodes).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::{Reader, Writer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};

use super::client::{self, Tally};
use super::procs::{ChatNode, RedisServer};
use super::{abort_all, settle, wait_for, Programs, CONNECT_CONCURRENCY, PATIENCE};
use crate::process::{cpu_time, rss_kib};
use crate::stats::percentile;

/// How long deliveries may stop arriving after the last send before the missing ones count
/// as lost.
const LOST: Duration = Duration::from_secs(20);

/// How rooms are drawn for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// In proportion to the room's size: every member equally talkative.
    BySize,
    /// Every room equally likely.
    Uniform,
}

impl Pick {
    fn describe(self) -> &'static str {
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

/// SplitMix64: a small, seedable generator, enough for placement and draws.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0; the modulo bias is negligible for our sizes).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Who is where, and which room each message goes to.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Members of each room, largest first.
    pub sizes: Vec<usize>,
    /// Each client's room and node.
    pub clients: Vec<(usize, usize)>,
    /// The client that speaks in each room (its first member).
    pub speakers: Vec<usize>,
    /// The room of each message, in sending order.
    pub schedule: Vec<usize>,
    /// Nodes.
    pub nodes: usize,
}

impl Plan {
    /// The plan of `s`.
    ///
    /// # Errors
    /// Fewer connections than rooms, or a zero count.
    pub fn new(s: &RoomsScenario) -> Result<Self, String> {
        if s.nodes == 0 || s.rooms == 0 || s.messages == 0 || s.rate == 0 {
            return Err("nodes, rooms, messages and rate must be positive".to_owned());
        }
        if s.connections < s.rooms {
            return Err(format!(
                "{} connections cannot fill {} rooms",
                s.connections, s.rooms
            ));
        }
        let sizes = zipf_sizes(s.connections, s.rooms);
        let mut rng = SplitMix(s.seed);
        let mut clients = Vec::with_capacity(s.connections);
        let mut speakers = Vec::with_capacity(s.rooms);
        for (room, &size) in sizes.iter().enumerate() {
            speakers.push(clients.len());
            for _ in 0..size {
                clients.push((room, rng.below(s.nodes)));
            }
        }
        let schedule = (0..s.messages)
            .map(|_| match s.pick {
                Pick::Uniform => rng.below(s.rooms),
                Pick::BySize => clients[rng.below(s.connections)].0,
            })
            .collect();
        Ok(Self {
            sizes,
            clients,
            speakers,
            schedule,
            nodes: s.nodes,
        })
    }

    /// Messages sent into each room.
    #[must_use]
    pub fn messages_into(&self) -> Vec<usize> {
        let mut count = vec![0; self.sizes.len()];
        for &room in &self.schedule {
            count[room] += 1;
        }
        count
    }

    /// Members of each room on each node: `[node][room]`.
    fn members_by_node(&self) -> Vec<Vec<usize>> {
        let mut members = vec![vec![0; self.sizes.len()]; self.nodes];
        for &(room, node) in &self.clients {
            members[node][room] += 1;
        }
        members
    }

    /// Per node: connections, rooms hosted, messages it should receive from Redis (those of
    /// the rooms it hosts) and deliveries it should make.
    #[must_use]
    pub fn expected_per_node(&self) -> Vec<Expected> {
        let into = self.messages_into();
        self.members_by_node()
            .into_iter()
            .map(|members| {
                let mut e = Expected::default();
                for (room, &m) in members.iter().enumerate() {
                    e.connections += m as u64;
                    if m > 0 {
                        e.rooms += 1;
                        e.received += into[room] as u64;
                        e.deliveries += (m * into[room]) as u64;
                    }
                }
                e
            })
            .collect()
    }

    /// Deliveries expected over all clients.
    #[must_use]
    pub fn expected_deliveries(&self) -> u64 {
        self.schedule.iter().map(|&r| self.sizes[r] as u64).sum()
    }
}

impl Plan {
    /// What the plan alone says, without running anything (`bench-fanout --rooms
    /// --plan-only`): per node, the mean and largest connections, rooms hosted and share of the
    /// published messages it receives; deliveries per published message; the saving against a
    /// pattern subscription.
    #[must_use]
    pub fn summary(&self) -> String {
        let e = self.expected_per_node();
        let published = self.schedule.len() as f64;
        let n = e.len() as f64;
        let mean = |f: &dyn Fn(&Expected) -> u64| e.iter().map(f).sum::<u64>() as f64 / n;
        let max = |f: &dyn Fn(&Expected) -> u64| e.iter().map(f).max().unwrap_or(0);
        let received: u64 = e.iter().map(|x| x.received).sum();
        format!(
            "plan: {} nodes, {} connections, {} rooms (largest {}, smallest {}), {} messages\n\
             per node: connections mean {:.0} max {}; rooms hosted mean {:.0} max {}; \
             receives {:.1} % of the published messages on average (max {:.1} %)\n\
             deliveries per published message: {:.1}; deliveries per received message: {:.1}\n\
             received in all: {} (pattern subscription: {}, saved {:.1} %)\n",
            self.nodes,
            self.clients.len(),
            self.sizes.len(),
            self.sizes.first().copied().unwrap_or(0),
            self.sizes.last().copied().unwrap_or(0),
            self.schedule.len(),
            mean(&|x| x.connections),
            max(&|x| x.connections),
            mean(&|x| x.rooms),
            max(&|x| x.rooms),
            100.0 * mean(&|x| x.received) / published,
            100.0 * max(&|x| x.received) as f64 / published,
            self.expected_deliveries() as f64 / published,
            self.expected_deliveries() as f64 / received.max(1) as f64,
            received,
            self.schedule.len() * self.nodes,
            100.0 * (1.0 - received as f64 / (published * n)),
        )
    }
}

/// What a node should see, from the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    /// Connections on the node.
    pub connections: u64,
    /// Distinct rooms with members on the node.
    pub rooms: u64,
    /// Room messages it should receive from Redis.
    pub received: u64,
    /// Deliveries it should queue.
    pub deliveries: u64,
}

/// `connections` split over `rooms` in proportion to 1/k (k = 1, 2, …), every room at least
/// one member; largest first.
#[must_use]
pub fn zipf_sizes(connections: usize, rooms: usize) -> Vec<usize> {
    let weights: Vec<f64> = (1..=rooms).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let spare = connections - rooms;
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| 1 + (spare as f64 * w / total) as usize)
        .collect();
    let left = connections - sizes.iter().sum::<usize>();
    // Rounding leaves fewer than `rooms` over: one more each for the largest rooms.
    for size in sizes.iter_mut().take(left) {
        *size += 1;
    }
    sizes
}

/// A node's `/stats` counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Connections registered.
    pub connections: u64,
    /// Live room deliveries queued to local connections.
    pub room_deliveries: u64,
    /// Room messages received from Redis.
    pub redis_room_messages: u64,
}

/// `GET /stats` from the node at `addr`.
///
/// # Errors
/// The connection's error, or an answer that is not the expected JSON.
pub async fn node_stats(addr: SocketAddr) -> Result<NodeStats, String> {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("GET /stats from {addr}: {e}"))?;
    tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("GET /stats from {addr}: {e}"))?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)
        .await
        .map_err(|e| format!("GET /stats from {addr}: {e}"))?;
    parse_stats(&String::from_utf8_lossy(&answer))
        .ok_or_else(|| format!("GET /stats from {addr}: unexpected answer"))
}

fn parse_stats(answer: &str) -> Option<NodeStats> {
    let body = &answer[answer.find("\r\n\r\n")? + 4..];
    let json: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    Some(NodeStats {
        connections: json["connections"].as_u64()?,
        room_deliveries: json["room_deliveries"].as_u64()?,
        redis_room_messages: json["redis_room_messages"].as_u64().unwrap_or(0),
    })
}

/// `wchar` (bytes passed to write-like system calls, sockets included) of process `pid`,
/// from `/proc/PID/io`.
///
/// # Errors
/// If the file cannot be read or has no `wchar` line.
pub fn written_bytes(pid: u32) -> Result<u64, String> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .map_err(|e| format!("reading /proc/{pid}/io: {e}"))?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no wchar for process {pid}"))
}

/// One node's measurements.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeRow {
    /// What the plan says it should see.
    pub expected: Expected,
    /// Its counters after the run, minus those before publishing.
    pub measured: NodeStats,
    /// CPU time over the publishing window.
    pub cpu: Duration,
    /// Resident memory after the run, KiB.
    pub rss_kib: u64,
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
    /// Deliveries the clients received.
    pub delivered: u64,
    /// Deliveries the plan expects.
    pub expected: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// redis-server's CPU time over the publishing window.
    pub redis_cpu: Duration,
    /// Bytes redis-server wrote (to the nodes) over the publishing window.
    pub redis_written: u64,
    /// Wire bytes of the stamped frames the clients received.
    pub frame_bytes: u64,
    /// Every delivery's latency in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Clients whose connection failed.
    pub failed: u64,
    /// Time the joins and their presence traffic took.
    pub setup: Duration,
}

/// A connection kept open until the nodes are gone.
type Held = (Reader, Arc<Writer>);

/// Runs the workload: starts redis-server and the nodes, connects and joins every client,
/// publishes, reads the counters, and stops everything it started.
///
/// # Errors
/// A process that does not start, joins that fail, or counters that cannot be read.
pub async fn run(scenario: &RoomsScenario, programs: &Programs) -> Result<RoomsOutcome, String> {
    let plan = Plan::new(scenario)?;
    // Held until the end: dropping them stops the processes.
    let redis = RedisServer::start(&programs.redis_server)?;
    let args = [
        "--queue".to_owned(),
        "100000,268435456".to_owned(),
        "--redis".to_owned(),
        redis.url.clone(),
    ];
    let nodes = (0..scenario.nodes)
        .map(|_| ChatNode::start(&programs.chat, &args))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = measure(scenario, &plan, &nodes, &redis).await;
    drop(nodes);
    drop(redis);
    let (outcome, held) = outcome?;
    drop(held);
    Ok(outcome)
}

async fn measure(
    scenario: &RoomsScenario,
    plan: &Plan,
    nodes: &[ChatNode],
    redis: &RedisServer,
) -> Result<(RoomsOutcome, Vec<Held>), String> {
    let urls: Vec<String> = nodes.iter().map(ChatNode::url).collect();
    let into = plan.messages_into();
    let base = Instant::now();
    let tally = Arc::new(Tally::default());
    let publish_errors = Arc::new(AtomicU64::new(0));
    let frame_bytes = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut speakers = vec![None; plan.sizes.len()];
    let mut tasks = Vec::with_capacity(plan.clients.len());
    for (i, &(room, node)) in plan.clients.iter().enumerate() {
        let url = urls[node].clone();
        let (tally, gate, errors, bytes) = (
            Arc::clone(&tally),
            Arc::clone(&gate),
            Arc::clone(&publish_errors),
            Arc::clone(&frame_bytes),
        );
        let commands = if plan.speakers[room] == i {
            let (tx, rx) = mpsc::unbounded_channel::<(usize, u64)>();
            speakers[room] = Some(tx);
            Some(rx)
        } else {
            None
        };
        let expected = into[room];
        tasks.push(tokio::spawn(async move {
            let name = room_name(room);
            let ws = {
                let _permit = gate.acquire().await.expect("the semaphore is never closed");
                client::join_room(&url, &name, &format!("c{i}")).await
            };
            let ws = match ws {
                Ok(ws) => ws,
                Err(e) => {
                    eprintln!("bench-fanout: client {i}: {e}");
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    return (Vec::new(), None);
                }
            };
            tally.joined.fetch_add(1, Ordering::Relaxed);
            let (reader, writer) = ws.split();
            let writer = Arc::new(writer);
            let counters = Counters {
                errors: Arc::clone(&errors),
                bytes,
                client: i,
            };
            if let Some(mut commands) = commands {
                let writer = Arc::clone(&writer);
                tokio::spawn(async move {
                    while let Some((seq, sent)) = commands.recv().await {
                        let request = client::publish_request_to(&name, seq, sent);
                        if writer.write_string(request).await.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            member(reader, writer, expected, base, tally, counters).await
        }));
    }
    let joined = wait_for(PATIENCE, || {
        let done = tally.joined.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed);
        done >= plan.clients.len() as u64
    })
    .await;
    if !joined || tally.failed.load(Ordering::Relaxed) > 0 {
        abort_all(tasks).await;
        return Err(format!(
            "{} of {} clients joined ({} failed)",
            tally.joined.load(Ordering::Relaxed),
            plan.clients.len(),
            tally.failed.load(Ordering::Relaxed)
        ));
    }
    settle(&tally).await;
    let setup = base.elapsed();

    let mut before = Vec::with_capacity(nodes.len());
    for node in nodes {
        before.push(node_stats(node.addr).await?);
    }
    let pids: Vec<u32> = nodes.iter().map(ChatNode::pid).collect();
    let cpu_before = pids
        .iter()
        .map(|&p| cpu_time(p))
        .collect::<Result<Vec<_>, _>>()?;
    let redis_before = cpu_time(redis.pid())?;
    let redis_written_before = written_bytes(redis.pid())?;

    let interval = Duration::from_secs(1) / scenario.rate;
    let first_send = client::nanos_since(base);
    let start = tokio::time::Instant::now();
    for (seq, &room) in plan.schedule.iter().enumerate() {
        tokio::time::sleep_until(start + interval * u32::try_from(seq).unwrap_or(u32::MAX)).await;
        let speaker = speakers[room].as_ref().expect("every room has a speaker");
        let _ = speaker.send((seq, client::nanos_since(base)));
    }
    drop(speakers);
    let expected = plan.expected_deliveries();
    // Until every delivery arrived, something failed, or nothing arrived for LOST (a lost
    // delivery then shows as "of N" in the report).
    let mut seen = tally.delivered.load(Ordering::Relaxed);
    let mut progress = Instant::now();
    wait_for(PATIENCE, || {
        let now = tally.delivered.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            progress = Instant::now();
        }
        now >= expected
            || tally.failed.load(Ordering::Relaxed) > 0
            || publish_errors.load(Ordering::Relaxed) > 0
            || progress.elapsed() > LOST
    })
    .await;
    let cpu_after = pids
        .iter()
        .map(|&p| cpu_time(p))
        .collect::<Result<Vec<_>, _>>()?;
    let redis_cpu = cpu_time(redis.pid())?.saturating_sub(redis_before);
    let redis_written = written_bytes(redis.pid())?.saturating_sub(redis_written_before);
    let mut rows = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let after = node_stats(node.addr).await?;
        rows.push(NodeRow {
            expected: plan.expected_per_node()[i],
            measured: NodeStats {
                connections: after.connections,
                room_deliveries: after.room_deliveries - before[i].room_deliveries,
                redis_room_messages: after.redis_room_messages - before[i].redis_room_messages,
            },
            cpu: cpu_after[i].saturating_sub(cpu_before[i]),
            rss_kib: rss_kib(pids[i])?,
        });
    }
    let last = tally.last_delivery.load(Ordering::Relaxed);
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed) + publish_errors.load(Ordering::Relaxed);
    let mut latencies_us = Vec::with_capacity(expected as usize);
    let mut held = Vec::with_capacity(tasks.len());
    for task in tasks {
        if !task.is_finished() {
            task.abort();
        }
        if let Ok((l, h)) = task.await {
            latencies_us.extend(l);
            held.extend(h);
        }
    }
    latencies_us.sort_unstable();
    Ok((
        RoomsOutcome {
            scenario: scenario.clone(),
            sizes: plan.sizes.clone(),
            nodes: rows,
            delivered,
            expected,
            elapsed: Duration::from_nanos(last.saturating_sub(first_send)),
            redis_cpu,
            redis_written,
            frame_bytes: frame_bytes.load(Ordering::Relaxed),
            latencies_us,
            failed,
            setup,
        },
        held,
    ))
}

/// The name of room `k`.
#[must_use]
pub fn room_name(k: usize) -> String {
    format!("r{k}")
}

/// What a client counts besides the [`Tally`].
struct Counters {
    /// Error answers from the node (a publish refused or not delivered), and failed writes.
    errors: Arc<AtomicU64>,
    /// Wire bytes of the stamped frames received.
    bytes: Arc<AtomicU64>,
    /// The client's index, for messages.
    client: usize,
}

/// Reads until `expected` stamped messages arrived, timing each; returns the latencies and the
/// connection when it is still open. An error answer from the node is printed and counted.
async fn member(
    mut reader: Reader,
    writer: Arc<Writer>,
    expected: usize,
    base: Instant,
    tally: Arc<Tally>,
    counters: Counters,
) -> (Vec<u64>, Option<Held>) {
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        let Ok(msg) = reader.read_msg().await else {
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return (latencies, None);
        };
        tally.frames.fetch_add(1, Ordering::Relaxed);
        let Some(sent) = client::sent_at(&msg) else {
            if let Some(text) = msg.as_text().filter(|t| t.contains(r#""type":"error""#)) {
                eprintln!("bench-fanout: client {}: {text}", counters.client);
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let now = client::nanos_since(base);
        let len = msg.as_text().map_or(0, str::len) as u64;
        // Server frames are unmasked: 2 header bytes, 4 from 126 bytes, 10 from 64 KiB.
        let header = match len {
            0..=125 => 2,
            126..=65_535 => 4,
            _ => 10,
        };
        counters.bytes.fetch_add(len + header, Ordering::Relaxed);
        latencies.push(now.saturating_sub(sent) / 1_000);
        tally.delivered.fetch_add(1, Ordering::Relaxed);
        tally.last_delivery.fetch_max(now, Ordering::Relaxed);
    }
    (latencies, Some((reader, writer)))
}

impl RoomsOutcome {
    /// Messages published.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.scenario.messages as u64
    }

    /// Whether every delivery arrived, every node saw what the plan says, and nothing failed.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.failed == 0
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
        let connections: u64 = self.nodes.iter().map(|n| n.measured.connections).sum();
        let received: u64 = self
            .nodes
            .iter()
            .map(|n| n.measured.redis_room_messages)
            .sum();
        let deliveries: u64 = self.nodes.iter().map(|n| n.measured.room_deliveries).sum();
        let cpu: Duration = self.nodes.iter().map(|n| n.cpu).sum();
        let rss: u64 = self.nodes.iter().map(|n| n.rss_kib).sum();
        let pattern = self.published() * s.nodes as u64;
        let mut median_sizes = self.sizes.clone();
        median_sizes.sort_unstable();
        let mut out = format!(
            "# Fan-out: many rooms over {} nodes through one Redis\n\n\
             {} connections in {} rooms (Zipf sizes: largest {}, median {}, smallest {}), each \
             client on a node drawn at random (seed {}); {} messages at {}/s into rooms drawn \
             {}, each sent by the room's first member.\n\n\
             | node | connections | rooms hosted | received from Redis | deliveries | deliveries / received | CPU (publishing window) | RSS |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|\n",
            s.nodes,
            thousands(s.connections as u64),
            s.rooms,
            self.sizes.first().copied().unwrap_or(0),
            median_sizes.get(median_sizes.len() / 2).copied().unwrap_or(0),
            self.sizes.last().copied().unwrap_or(0),
            s.seed,
            thousands(s.messages as u64),
            s.rate,
            s.pick.describe(),
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
        let rooms_hosted: u64 = self.nodes.iter().map(|n| n.expected.rooms).sum();
        let _ = writeln!(
            out,
            "| all | {} | {} | {} | {} | {:.0} | {:.2} s | {:.0} MiB |",
            thousands(connections),
            thousands(rooms_hosted),
            thousands(received),
            thousands(deliveries),
            ratio(deliveries, received),
            cpu.as_secs_f64(),
            rss as f64 / 1024.0,
        );
        let lat = |q| percentile(&self.latencies_us, q).map_or("-".to_owned(), format_us);
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let _ = write!(
            out,
            "\n| published | received, pattern subscription (published × nodes) | received, per-room subscriptions | saved | redis-server CPU | redis-server wrote | per message received |\n\
             |--:|--:|--:|--:|--:|--:|--:|\n\
             | {} | {} | {} | {:.0} % | {:.2} s ({:.0} % of one core) | {:.1} MB | {:.0} B |\n\n\
             | deliveries (clients) | deliveries/s | deliveries per node-CPU-second | node CPU / window | frame bytes per delivery | memory per connection | p50 | p99 | max | join + settle |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n\
             | {}{} | {} | {} | {:.0} % of one core | {:.0} B | {:.1} KiB | {} | {} | {} | {:.1} s |\n",
            thousands(self.published()),
            thousands(pattern),
            thousands(received),
            100.0 * (1.0 - received as f64 / pattern.max(1) as f64),
            self.redis_cpu.as_secs_f64(),
            100.0 * self.redis_cpu.as_secs_f64() / secs,
            self.redis_written as f64 / 1e6,
            ratio(self.redis_written, received),
            thousands(self.delivered),
            unless_equal(self.delivered, self.expected),
            thousands((self.delivered as f64 / secs) as u64),
            thousands((deliveries as f64 / cpu.as_secs_f64().max(1e-9)) as u64),
            100.0 * cpu.as_secs_f64() / secs,
            ratio(self.frame_bytes, self.delivered),
            rss as f64 / connections.max(1) as f64,
            lat(0.5),
            lat(0.99),
            self.latencies_us.last().map_or("-".to_owned(), |&v| format_us(v)),
            self.setup.as_secs_f64(),
        );
        let _ = write!(
            out,
            "\nReceived and deliveries: each node's `/stats` counters (`redis_room_messages`, \
             `room_deliveries`) over the publishing window; \"of N\" marks a count that differs \
             from what the plan says the node should see. Rooms hosted: rooms with members on \
             the node, from the placement. Deliveries/s: deliveries the clients received ÷ time \
             from the first send to the last receipt (bounded by the publishing pace when the \
             nodes keep up). Per node-CPU-second: the nodes' deliveries ÷ their CPU time \
             (utime + stime) over the window, publishing through Redis included. Memory per \
             connection: the nodes' RSS after the run ÷ their connections. redis-server wrote: `wchar` \
             of its `/proc/PID/io` over the window (its writes to the nodes' sockets). Frame \
             bytes: the stamped frames as the clients received them, WebSocket header included, \
             TCP/IP's not. Latency: from the \
             send to a client's receipt, every delivery counted.\n\n{context}\n"
        );
        out
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

/// `1234567` as `1,234,567`.
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds in a readable unit.
fn format_us(us: u64) -> String {
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
    use super::*;

    #[test]
    fn zipf_sizes_fill_every_room_and_add_up() {
        let sizes = zipf_sizes(10_000, 500);
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);
        assert!(sizes.iter().all(|&s| s >= 1));
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert!(
            sizes[0] > 1_000 && sizes[499] <= 4,
            "{} {}",
            sizes[0],
            sizes[499]
        );
        assert_eq!(zipf_sizes(5, 5), vec![1; 5]);
    }

    #[test]
    fn the_plan_says_what_each_node_receives_and_delivers() {
        let plan = Plan::new(&RoomsScenario::smoke()).unwrap();
        assert_eq!(plan.clients.len(), 60);
        assert_eq!(plan.schedule.len(), 30);
        let expected = plan.expected_per_node();
        assert_eq!(expected.iter().map(|e| e.connections).sum::<u64>(), 60);
        let deliveries: u64 = expected.iter().map(|e| e.deliveries).sum();
        assert_eq!(deliveries, plan.expected_deliveries());
        for e in &expected {
            assert!(e.received <= 30 && e.rooms <= 12);
        }
        // Deterministic.
        assert_eq!(
            Plan::new(&RoomsScenario::smoke()).unwrap().schedule,
            plan.schedule
        );
    }

    #[test]
    fn stats_are_read_from_the_answer() {
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n\
                      {\"node\":\"n\",\"connections\":3,\"room_deliveries\":40,\"redis_room_messages\":7}";
        assert_eq!(
            parse_stats(answer),
            Some(NodeStats {
                connections: 3,
                room_deliveries: 40,
                redis_room_messages: 7
            })
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
