//! Running the plan against started nodes: every client connects and joins its room, the
//! rooms' first members send the stamped messages at the set pace, every member times each
//! receipt and checks the order; the nodes' `/stats` counters, their CPU and the Redis side's
//! costs are read around the publishing window.
//!
//! A member checks each stamped message against the last one it received: one room has one
//! sender, so the sequence numbers must grow; one that does not is counted as a repeat (a
//! duplicate or a reordering) and not as a delivery. After the run, what each member did not
//! receive is listed per message ([`Lost`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::{Reader, Writer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Semaphore};

use super::super::client::{self, Tally};
use super::super::procs::ChatNode;
use super::super::{abort_all, settle, wait_for, CONNECT_CONCURRENCY, PATIENCE};
use super::plan::{Expected, Plan};
use super::redis::RedisSide;
use super::report::{Lost, RoomsOutcome};
use super::{room_name, RoomsScenario};
use crate::process::{cpu_time, rss_kib};

/// How long deliveries may stop arriving after the last send before the missing ones count
/// as lost.
const LOST: Duration = Duration::from_secs(20);

/// A connection kept open until the nodes are gone: thousands of leaves at once would only
/// load the nodes and the broker with presence traffic nobody measures.
pub(super) type Held = (Reader, Arc<Writer>);

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

/// What the members count besides the [`Tally`].
#[derive(Debug, Default)]
struct Counters {
    /// Error answers from the node (a publish refused or not delivered), and failed writes.
    errors: AtomicU64,
    /// Wire bytes of the stamped frames received.
    bytes: AtomicU64,
    /// Stamped messages not after the last one received (duplicates, reorderings).
    repeats: AtomicU64,
    /// Gap notices from the node.
    gaps: AtomicU64,
}

/// What a member heard.
#[derive(Debug, Default)]
struct Heard {
    /// Each delivery's latency, µs.
    latencies: Vec<u64>,
    /// The sequence numbers received, increasing.
    seqs: Vec<usize>,
    /// The connection, still open.
    held: Option<Held>,
}

/// Connects and joins every client of `plan` to `nodes`, publishes, and measures.
pub(super) async fn measure(
    scenario: &RoomsScenario,
    plan: &Plan,
    nodes: &[ChatNode],
    redis: &RedisSide,
) -> Result<(RoomsOutcome, Vec<Held>), String> {
    let urls: Vec<String> = nodes.iter().map(ChatNode::url).collect();
    let into = plan.messages_into();
    let base = Instant::now();
    let tally = Arc::new(Tally::default());
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut speakers = vec![None; plan.sizes.len()];
    let mut tasks = Vec::with_capacity(plan.clients.len());
    for (i, &(room, node)) in plan.clients.iter().enumerate() {
        let url = urls[node].clone();
        let (tally, gate, counters) =
            (Arc::clone(&tally), Arc::clone(&gate), Arc::clone(&counters));
        let stopped = stopped.clone();
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
                    return Heard::default();
                }
            };
            tally.joined.fetch_add(1, Ordering::Relaxed);
            let (reader, writer) = ws.split();
            let writer = Arc::new(writer);
            if let Some(mut commands) = commands {
                let (writer, counters) = (Arc::clone(&writer), Arc::clone(&counters));
                tokio::spawn(async move {
                    while let Some((seq, sent)) = commands.recv().await {
                        let request = client::publish_request_to(&name, seq, sent);
                        if writer.write_string(request).await.is_err() {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            let member = Member {
                client: i,
                expected,
                base,
                tally,
                counters,
            };
            member.listen(reader, writer, stopped).await
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
    let redis_before = redis.read()?;

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
            || counters.errors.load(Ordering::Relaxed) > 0
            || progress.elapsed() > LOST
    })
    .await;
    let cpu_after = pids
        .iter()
        .map(|&p| cpu_time(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (redis_total, cluster) = redis.usage(&redis_before, &redis.read()?)?;
    let expected_per_node = plan.expected_per_node();
    let mut rows = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let after = node_stats(node.addr).await?;
        rows.push(NodeRow {
            expected: expected_per_node[i],
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
    let failed = tally.failed.load(Ordering::Relaxed) + counters.errors.load(Ordering::Relaxed);
    // Members still waiting stop now and return what they heard.
    let _ = stop.send(true);
    let mut latencies_us = Vec::with_capacity(expected as usize);
    let mut heard_seqs = Vec::with_capacity(tasks.len());
    let mut held = Vec::with_capacity(tasks.len());
    for task in tasks {
        let heard = task.await.unwrap_or_default();
        latencies_us.extend(heard.latencies);
        heard_seqs.push(heard.seqs);
        held.extend(heard.held);
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
            redis_cpu: redis_total.cpu,
            redis_written: redis_total.written,
            cluster,
            frame_bytes: counters.bytes.load(Ordering::Relaxed),
            latencies_us,
            failed,
            repeats: counters.repeats.load(Ordering::Relaxed),
            gaps: counters.gaps.load(Ordering::Relaxed),
            lost: lost(plan, &heard_seqs),
            setup,
        },
        held,
    ))
}

/// One client's reading side.
struct Member {
    client: usize,
    /// Stamped messages its room gets.
    expected: usize,
    base: Instant,
    tally: Arc<Tally>,
    counters: Arc<Counters>,
}

impl Member {
    /// Reads until `expected` stamped messages arrived or the run stops, timing each and
    /// checking their order. An error answer or a gap notice from the node is printed and
    /// counted.
    async fn listen(
        self,
        mut reader: Reader,
        writer: Arc<Writer>,
        mut stopped: watch::Receiver<bool>,
    ) -> Heard {
        let mut heard = Heard {
            latencies: Vec::with_capacity(self.expected),
            seqs: Vec::with_capacity(self.expected),
            held: None,
        };
        while heard.latencies.len() < self.expected {
            let read = tokio::select! {
                _ = stopped.changed() => break,
                read = reader.read_msg() => read,
            };
            let Ok(msg) = read else {
                self.tally.failed.fetch_add(1, Ordering::Relaxed);
                return heard;
            };
            self.tally.frames.fetch_add(1, Ordering::Relaxed);
            let Some((seq, sent)) = client::stamp(&msg) else {
                self.other(msg.as_text().unwrap_or_default());
                continue;
            };
            let now = client::nanos_since(self.base);
            if let Some(&last) = heard.seqs.last().filter(|&&last| seq <= last) {
                eprintln!(
                    "bench-fanout: client {}: message {seq} after message {last}",
                    self.client
                );
                self.counters.repeats.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let len = msg.as_text().map_or(0, str::len) as u64;
            // Server frames are unmasked: 2 header bytes, 4 from 126 bytes, 10 from 64 KiB.
            let header = match len {
                0..=125 => 2,
                126..=65_535 => 4,
                _ => 10,
            };
            self.counters
                .bytes
                .fetch_add(len + header, Ordering::Relaxed);
            heard.latencies.push(now.saturating_sub(sent) / 1_000);
            heard.seqs.push(seq);
            self.tally.delivered.fetch_add(1, Ordering::Relaxed);
            self.tally.last_delivery.fetch_max(now, Ordering::Relaxed);
        }
        heard.held = Some((reader, writer));
        heard
    }

    /// A frame that is not a stamped message: presence traffic is ignored, errors and gap
    /// notices are printed and counted.
    fn other(&self, text: &str) {
        if text.contains(r#""type":"error""#) {
            eprintln!("bench-fanout: client {}: {text}", self.client);
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        } else if text.contains(r#""type":"gap""#) {
            eprintln!("bench-fanout: client {}: {text}", self.client);
            self.counters.gaps.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Per message that some member did not receive: who missed it, by node. `heard[i]`: the
/// sequence numbers client `i` received, increasing.
fn lost(plan: &Plan, heard: &[Vec<usize>]) -> Vec<Lost> {
    let mut into_room: Vec<Vec<usize>> = vec![Vec::new(); plan.sizes.len()];
    for (seq, &room) in plan.schedule.iter().enumerate() {
        into_room[room].push(seq);
    }
    let mut missed: BTreeMap<usize, Lost> = BTreeMap::new();
    for (i, &(room, node)) in plan.clients.iter().enumerate() {
        let got = heard.get(i).map_or(&[][..], Vec::as_slice);
        for &seq in &into_room[room] {
            if got.binary_search(&seq).is_err() {
                let entry = missed.entry(seq).or_insert_with(|| Lost {
                    seq,
                    room,
                    members: plan.sizes[room],
                    missed_by_node: vec![0; plan.nodes],
                });
                entry.missed_by_node[node] += 1;
            }
        }
    }
    missed.into_values().collect()
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

#[cfg(test)]
mod tests {
    use super::super::plan::Plan;
    use super::*;

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
    }

    #[test]
    fn what_members_missed_is_listed_per_message() {
        let plan = Plan::new(&RoomsScenario::smoke()).unwrap();
        let mut into_room: Vec<Vec<usize>> = vec![Vec::new(); plan.sizes.len()];
        for (seq, &room) in plan.schedule.iter().enumerate() {
            into_room[room].push(seq);
        }
        let mut heard: Vec<Vec<usize>> = plan
            .clients
            .iter()
            .map(|&(room, _)| into_room[room].clone())
            .collect();
        assert!(lost(&plan, &heard).is_empty());
        // Client 0 (room 0) misses the room's first message.
        let seq = heard[0].remove(0);
        let (room, node) = plan.clients[0];
        let missing = lost(&plan, &heard);
        assert_eq!(missing.len(), 1);
        assert_eq!((missing[0].seq, missing[0].room), (seq, room));
        assert_eq!(missing[0].missed_by_node.iter().sum::<usize>(), 1);
        assert_eq!(missing[0].missed_by_node[node], 1);
        assert_eq!(missing[0].members, plan.sizes[room]);
    }
}
