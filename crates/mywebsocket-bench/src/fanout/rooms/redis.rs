//! The Redis side of a many-rooms run: a private redis-server the run starts, or a Redis
//! Cluster on this machine it is given (`--cluster`), and what its processes cost over the
//! publishing window.
//!
//! On a cluster the run finds every node through `CLUSTER NODES` (from the first seed that
//! answers), each node's process through `INFO server` (`process_id`, checked against
//! `/proc/PID/comm`), and reads before and after the window, per process: CPU time (utime +
//! stime of its threads), `wchar` of `/proc/PID/io`, and from `INFO`: `XADD` calls (one per
//! message stored: the publish script runs one per message), `WAIT` calls (one per batch the
//! publisher had a replica confirm), the append-only file's size, and the bytes sent to
//! clients and to replicas (`total_net_output_bytes`, which counts both, and
//! `total_net_repl_output_bytes`; the cluster bus is in neither), and from `CLUSTER INFO` the
//! messages it sent over the cluster bus (pings, pongs, and on Redis 7.0 a full-header
//! message to each other node of the shard per sharded publish). The answers to the first
//! reading are themselves output to a client: their length is taken off.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::super::procs::RedisServer;
use super::super::Programs;
use super::resp::{command, config_get};
use crate::process::cpu_time;

/// The Redis a run publishes through.
#[derive(Debug)]
pub(super) enum RedisSide {
    /// Its own redis-server, stopped when this drops.
    Private(RedisServer),
    /// A Redis Cluster it was given: its seeds, and every node found.
    Cluster {
        seeds: Vec<String>,
        nodes: Vec<ClusterNode>,
    },
}

/// One process of a Redis Cluster.
#[derive(Debug, Clone)]
pub(super) struct ClusterNode {
    addr: SocketAddr,
    pid: u32,
    /// `None` for a master; a replica's master's address.
    master: Option<SocketAddr>,
}

/// One process's readings at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Reading {
    cpu: Duration,
    written: u64,
    xadd: u64,
    wait: u64,
    aof: u64,
    /// `total_net_output_bytes`: to clients and replicas.
    net_out: u64,
    /// `total_net_repl_output_bytes`: to replicas.
    repl_out: u64,
    /// `cluster_stats_messages_sent`.
    bus_messages: u64,
    /// Length of the answers this reading took, sent after `net_out` was counted.
    info_len: u64,
}

/// What one Redis process cost over the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    /// Its port.
    pub port: u16,
    /// Its process id.
    pub pid: u32,
    /// CPU time (utime + stime).
    pub cpu: Duration,
    /// `wchar` of `/proc/PID/io`: every write (sockets, the append-only file).
    pub written: u64,
}

/// What one master (one shard) and its replicas cost over the window.
#[derive(Debug, Clone, Default)]
pub struct MasterUsage {
    /// The master process.
    pub process: ProcessUsage,
    /// Messages it stored (`XADD` calls): the published messages of the rooms in its slots.
    pub messages: u64,
    /// Batches a replica confirmed (`WAIT` calls).
    pub batches: u64,
    /// Of `written`: bytes appended to its append-only file (0 without one).
    pub aof: u64,
    /// Of `written`: sent to its replicas (`total_net_repl_output_bytes`).
    pub replication: u64,
    /// Of `written`: sent to its clients, the chat nodes (`total_net_output_bytes` less
    /// what went to replicas and this bench's own `INFO`).
    pub to_clients: u64,
    /// Messages it sent over the cluster bus.
    pub bus_messages: u64,
    /// Its replicas.
    pub replicas: Vec<ProcessUsage>,
}

/// What a Redis Cluster cost over the window.
#[derive(Debug, Clone, Default)]
pub struct ClusterUsage {
    /// Per master, by port.
    pub masters: Vec<MasterUsage>,
    /// `appendonly` and `appendfsync` of the first master, e.g. `appendonly yes, appendfsync
    /// always`.
    pub persistence: String,
}

impl ClusterUsage {
    /// The masters' CPU time.
    #[must_use]
    pub fn masters_cpu(&self) -> Duration {
        self.masters.iter().map(|m| m.process.cpu).sum()
    }

    /// The replicas' CPU time.
    #[must_use]
    pub fn replicas_cpu(&self) -> Duration {
        self.masters
            .iter()
            .flat_map(|m| &m.replicas)
            .map(|r| r.cpu)
            .sum()
    }

    /// Replicas in all.
    #[must_use]
    pub fn replica_count(&self) -> usize {
        self.masters.iter().map(|m| m.replicas.len()).sum()
    }
}

impl RedisSide {
    /// A private redis-server (`cluster` empty), or the cluster reached through the seeds.
    pub(super) fn start(cluster: &[String], programs: &Programs) -> Result<Self, String> {
        if cluster.is_empty() {
            return Ok(Self::Private(RedisServer::start(&programs.redis_server)?));
        }
        let nodes = discover(cluster)?;
        Ok(Self::Cluster {
            seeds: cluster.to_vec(),
            nodes,
        })
    }

    /// The chat node's arguments that point it at this Redis; `run` names the run (a key
    /// prefix on a cluster, which outlives the run).
    pub(super) fn node_args(&self, run: &str) -> Vec<String> {
        match self {
            Self::Private(server) => vec!["--redis".to_owned(), server.url.clone()],
            Self::Cluster { seeds, .. } => vec![
                "--redis-cluster".to_owned(),
                seeds.join(","),
                "--prefix".to_owned(),
                run.to_owned(),
            ],
        }
    }

    /// Every process's readings now.
    pub(super) fn read(&self) -> Result<Vec<Reading>, String> {
        match self {
            Self::Private(server) => Ok(vec![Reading {
                cpu: cpu_time(server.pid())?,
                written: written_bytes(server.pid())?,
                ..Reading::default()
            }]),
            Self::Cluster { nodes, .. } => nodes.iter().map(read_node).collect(),
        }
    }

    /// The cost between two readings: the process's CPU and bytes written for a private
    /// redis-server; per master and replica on a cluster.
    pub(super) fn usage(
        &self,
        before: &[Reading],
        after: &[Reading],
    ) -> Result<(ProcessUsage, Option<ClusterUsage>), String> {
        let delta = |i: usize, port: u16, pid: u32| ProcessUsage {
            port,
            pid,
            cpu: after[i].cpu.saturating_sub(before[i].cpu),
            written: after[i].written.saturating_sub(before[i].written),
        };
        let nodes = match self {
            Self::Private(server) => {
                let port = server
                    .url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.trim_end_matches('/').parse().ok());
                return Ok((delta(0, port.unwrap_or(0), server.pid()), None));
            }
            Self::Cluster { nodes, .. } => nodes,
        };
        let mut masters = Vec::new();
        for (i, node) in nodes.iter().enumerate().filter(|(_, n)| n.master.is_none()) {
            let (b, a) = (before[i], after[i]);
            masters.push(MasterUsage {
                process: delta(i, node.addr.port(), node.pid),
                messages: a.xadd.saturating_sub(b.xadd),
                batches: a.wait.saturating_sub(b.wait),
                aof: a.aof.saturating_sub(b.aof),
                replication: a.repl_out.saturating_sub(b.repl_out),
                to_clients: a
                    .net_out
                    .saturating_sub(a.repl_out)
                    .saturating_sub(b.net_out.saturating_sub(b.repl_out))
                    .saturating_sub(b.info_len),
                bus_messages: a.bus_messages.saturating_sub(b.bus_messages),
                replicas: nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.master == Some(node.addr))
                    .map(|(j, r)| delta(j, r.addr.port(), r.pid))
                    .collect(),
            });
        }
        let total = ProcessUsage {
            port: 0,
            pid: 0,
            cpu: masters.iter().map(|m| m.process.cpu).sum(),
            written: masters.iter().map(|m| m.process.written).sum(),
        };
        let persistence = nodes
            .iter()
            .find(|n| n.master.is_none())
            .map_or_else(|| Err("no master".to_owned()), |n| persistence(n.addr))
            .unwrap_or_else(|e| format!("unknown ({e})"));
        Ok((
            total,
            Some(ClusterUsage {
                masters,
                persistence,
            }),
        ))
    }
}

/// Every node of the cluster one of `seeds` belongs to, masters first (by port), each with
/// its process id; the processes must run on this machine.
fn discover(seeds: &[String]) -> Result<Vec<ClusterNode>, String> {
    let mut last_error = String::from("no seed");
    let mut view = None;
    for seed in seeds {
        let addr = seed_addr(seed)?;
        match command(addr, &["CLUSTER", "NODES"]) {
            Ok(text) => {
                view = Some(text);
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let view =
        view.ok_or_else(|| format!("no cluster seed answered CLUSTER NODES: {last_error}"))?;
    // <id> <ip:port@cport[,hostname]> <flags> <master id or -> ...
    let mut found = Vec::new();
    for line in view.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            return Err(format!("CLUSTER NODES: unexpected line {line:?}"));
        }
        let flags = fields[2];
        if flags.contains("fail") || flags.contains("handshake") || flags.contains("noaddr") {
            return Err(format!(
                "the cluster has a node that is not healthy: {line:?}"
            ));
        }
        let host_port = fields[1].split(['@', ',']).next().unwrap_or_default();
        let addr: SocketAddr = host_port
            .parse()
            .map_err(|e| format!("CLUSTER NODES: address {host_port:?}: {e}"))?;
        let replica_of = flags.contains("slave").then(|| fields[3].to_owned());
        found.push((fields[0].to_owned(), addr, replica_of));
    }
    let mut nodes = Vec::with_capacity(found.len());
    for (_, addr, replica_of) in &found {
        let master = match replica_of {
            None => None,
            Some(id) => Some(
                found
                    .iter()
                    .find(|(other, _, _)| other == id)
                    .map(|(_, a, _)| *a)
                    .ok_or_else(|| format!("{addr} replicates unknown node {id}"))?,
            ),
        };
        nodes.push(ClusterNode {
            addr: *addr,
            pid: local_pid(*addr)?,
            master,
        });
    }
    nodes.sort_by_key(|n| (n.master.is_some(), n.addr.port()));
    if !nodes.iter().any(|n| n.master.is_none()) {
        return Err("CLUSTER NODES lists no master".to_owned());
    }
    Ok(nodes)
}

/// `host:port` of a seed URL (`redis://host:port[/]`).
fn seed_addr(seed: &str) -> Result<SocketAddr, String> {
    let rest = seed
        .strip_prefix("redis://")
        .ok_or_else(|| format!("cluster seed {seed:?} is not redis://HOST:PORT"))?;
    let host_port = rest.trim_end_matches('/');
    host_port
        .to_socket_addrs()
        .map_err(|e| format!("cluster seed {seed:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("cluster seed {seed:?} has no address"))
}

/// The process id of the redis-server at `addr`, which must run on this machine.
fn local_pid(addr: SocketAddr) -> Result<u32, String> {
    let info = command(addr, &["INFO", "server"])?;
    let pid: u32 = field(&info, "process_id")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{addr}: INFO server has no process_id"))?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !comm.starts_with("redis-server") {
        return Err(format!(
            "{addr} reports process {pid}, which is not a redis-server on this machine \
             (the cluster's CPU is read from /proc: it must run here)"
        ));
    }
    Ok(pid)
}

fn read_node(node: &ClusterNode) -> Result<Reading, String> {
    let info = command(node.addr, &["INFO", "all"])?;
    let bus = command(node.addr, &["CLUSTER", "INFO"])?;
    let number = |name: &str| field(&info, name).and_then(|v| v.parse().ok()).unwrap_or(0);
    // As sent: `$<length>\r\n<text>\r\n`.
    let sent = |text: &str| (text.len() + text.len().to_string().len() + 5) as u64;
    Ok(Reading {
        cpu: cpu_time(node.pid)?,
        written: written_bytes(node.pid)?,
        xadd: command_calls(&info, "xadd"),
        wait: command_calls(&info, "wait"),
        aof: number("aof_current_size"),
        net_out: number("total_net_output_bytes"),
        repl_out: number("total_net_repl_output_bytes"),
        bus_messages: field(&bus, "cluster_stats_messages_sent")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        info_len: sent(&info) + sent(&bus),
    })
}

/// `appendonly` and `appendfsync` of the node at `addr`.
fn persistence(addr: SocketAddr) -> Result<String, String> {
    let info = command(addr, &["INFO", "persistence"])?;
    let aof = field(&info, "aof_enabled") == Some("1");
    let fsync = config_get(addr, "appendfsync")?;
    Ok(if aof {
        format!("appendonly yes, appendfsync {fsync}")
    } else {
        "appendonly no".to_owned()
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

/// The value of `name:` in an `INFO` answer.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// `calls=` of `cmdstat_<name>` in an `INFO commandstats` answer; 0 if never called.
fn command_calls(info: &str, name: &str) -> u64 {
    field(info, &format!("cmdstat_{name}"))
        .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("calls=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_and_command_calls_are_read() {
        let info = "# Server\r\nprocess_id:4242\r\n# Commandstats\r\n\
                    cmdstat_xadd:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_wait:calls=37,usec=50,usec_per_call=1.35\r\n";
        assert_eq!(field(info, "process_id"), Some("4242"));
        assert_eq!(command_calls(info, "xadd"), 120);
        assert_eq!(command_calls(info, "wait"), 37);
        assert_eq!(command_calls(info, "spublish"), 0);
        assert_eq!(field(info, "process"), None);
    }

    #[test]
    fn seeds_are_read() {
        assert_eq!(
            seed_addr("redis://127.0.0.1:7000/").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 7000))
        );
        assert!(seed_addr("127.0.0.1:7000").is_err());
    }
}
