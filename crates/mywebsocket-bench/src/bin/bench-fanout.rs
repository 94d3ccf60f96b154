//! The fan-out benchmark: `bench-fanout [--smoke] [--subscribers N,N..] [--messages M]
//! [--rate R] [--engines memory,redis] [--out DIR] [--chat PATH] [--redis-server PATH]`.
//!
//! For each engine and subscriber count, starts the chat nodes (and a private redis-server)
//! as child processes, lets N subscribers join one room, publishes M stamped messages at R per
//! second, and reports deliveries/s and the send-to-receipt latency. Defaults: 1,000 and
//! 10,000 subscribers, 200 messages at 100/s, both engines. `--smoke`: 100 subscribers, 10
//! messages. Writes DIR/fanout.md (default `target/bench`) and prints it. The chat binary is
//! looked up next to this one; 10,000 subscribers need `ulimit -n 20000` (`just bench-fanout`
//! sets it).
//!
//! `bench-fanout --rooms [--smoke] [--nodes N] [--connections C] [--room-count R]
//! [--messages M] [--rate R] [--pick size|uniform] [--seed S]`: the many-rooms workload
//! ([`fanout::rooms`]): N nodes sharing a private redis-server, C clients in R rooms of Zipf
//! sizes on nodes drawn at random, M messages at R/s into rooms drawn in proportion to their
//! size (or uniformly). Defaults: 4 nodes, 10,000 connections, 500 rooms, 2,000 messages at
//! 200/s; `--smoke`: 2 nodes, 60 connections, 12 rooms, 30 messages. Prints the per-node table
//! (received from Redis, deliveries, CPU, memory, latency) and writes DIR/fanout-rooms.md.
//! `--plan-only`: prints what the placement alone says (rooms hosted and messages received per
//! node, deliveries per message) without starting anything, for sizes this machine cannot run.
//!
//! `bench-fanout --rooms --cluster [...]`: the same workload through the Redis Cluster whose
//! seeds `REDIS_CLUSTER_URLS` lists (`redis://HOST:PORT,...`, as `scripts/redis-cluster.sh`
//! exports it; `just bench-fanout-cluster` runs it so): the nodes run with `--redis-cluster
//! URLS` (and a key prefix of their own) instead of a private redis-server. The cluster must run
//! on this machine: the Redis side of the report is per master (CPU, bytes written, messages
//! stored, batches a replica confirmed), summed over the masters, with the replicas' CPU
//! apart. Writes DIR/fanout-rooms-cluster.md.

use std::path::PathBuf;

const USAGE: &str = "usage: bench-fanout [--smoke] [--subscribers N,N..] [--messages M] [--rate R]
                    [--engines memory,redis] [--out DIR] [--chat PATH] [--redis-server PATH]
       bench-fanout --rooms [--cluster] [--smoke] [--plan-only] [--nodes N] [--connections C]
                    [--room-count R] [--messages M] [--rate R] [--pick size|uniform] [--seed S]
                    [--out DIR] [--chat PATH] [--redis-server PATH]

  (no --rooms)      one room: N subscribers over 1 node in memory and 3 nodes through a private
                    redis-server (default 1,000 and 10,000 subscribers, 200 messages at 100/s);
                    writes DIR/fanout.md (DIR default target/bench)
  --rooms           many rooms of Zipf sizes over several nodes (default 4 nodes, 10,000
                    connections, 500 rooms, 2,000 messages at 200/s); per node, messages received
                    from Redis against deliveries made; writes DIR/fanout-rooms.md
  --cluster         with --rooms: through the Redis Cluster whose seeds REDIS_CLUSTER_URLS lists
                    (redis://HOST:PORT,...; `bash scripts/redis-cluster.sh CMD` starts one and sets
                    it) instead of a private redis-server; the cluster must run on this machine;
                    Redis CPU per master, replicas apart; writes DIR/fanout-rooms-cluster.md
  --smoke           a tiny run that proves the harness works
  --plan-only       with --rooms: print what the placement says per node, start nothing";

use mywebsocket_bench::fanout::rooms::{self, Pick, RoomsScenario};
use mywebsocket_bench::fanout::{self, report, Engine, Programs, Scenario};

struct Args {
    smoke: bool,
    /// Print the many-rooms plan and stop.
    plan_only: bool,
    /// The many-rooms workload instead of one room.
    rooms: Option<RoomsScenario>,
    messages_set: Option<usize>,
    rate_set: Option<u32>,
    subscribers: Vec<usize>,
    messages: usize,
    rate: u32,
    engines: Vec<Engine>,
    out: PathBuf,
    programs: Programs,
}

fn parse() -> Result<Args, String> {
    let here = std::env::current_exe().map_err(|e| format!("locating myself: {e}"))?;
    let mut args = Args {
        smoke: false,
        plan_only: false,
        rooms: None,
        messages_set: None,
        rate_set: None,
        subscribers: vec![1_000, 10_000],
        messages: 200,
        rate: 100,
        engines: vec![Engine::Memory, Engine::Redis],
        out: PathBuf::from("target/bench"),
        programs: Programs {
            chat: here.with_file_name("mywebsocket-chat"),
            redis_server: PathBuf::from("redis-server"),
        },
    };
    let mut it = std::env::args().skip(1);
    // The many-rooms flags, applied over the default or the smoke sizes once all are read.
    let mut rooms_flags: Vec<(String, String)> = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--smoke" => {
                args.smoke = true;
                args.subscribers = vec![100];
                args.messages = 10;
            }
            "--rooms" => args.rooms = Some(RoomsScenario::default_sized()),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--cluster" => rooms_flags.push((arg, String::new())),
            "--plan-only" => args.plan_only = true,
            "--nodes" | "--connections" | "--room-count" | "--pick" | "--seed" => {
                let v = value()?;
                rooms_flags.push((arg, v));
            }
            "--subscribers" => {
                args.subscribers = value()?
                    .split(',')
                    .map(|n| n.parse().map_err(|e| format!("--subscribers: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--messages" => {
                args.messages = value()?.parse().map_err(|e| format!("--messages: {e}"))?;
                args.messages_set = Some(args.messages);
            }
            "--rate" => {
                args.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?;
                args.rate_set = Some(args.rate);
            }
            "--engines" => {
                args.engines = value()?
                    .split(',')
                    .map(|e| match e {
                        "memory" => Ok(Engine::Memory),
                        "redis" => Ok(Engine::Redis),
                        other => Err(format!("--engines: unknown engine {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--out" => args.out = value()?.into(),
            "--chat" => args.programs.chat = value()?.into(),
            "--redis-server" => args.programs.redis_server = value()?.into(),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if let Some(r) = &mut args.rooms {
        if args.smoke {
            *r = RoomsScenario::smoke();
        }
        if let Some(m) = args.messages_set {
            r.messages = m;
        }
        if let Some(rate) = args.rate_set {
            r.rate = rate;
        }
        for (flag, v) in rooms_flags {
            let bad = |e: std::num::ParseIntError| format!("{flag}: {e}");
            match flag.as_str() {
                "--nodes" => r.nodes = v.parse().map_err(bad)?,
                "--connections" => r.connections = v.parse().map_err(bad)?,
                "--room-count" => r.rooms = v.parse().map_err(bad)?,
                "--seed" => r.seed = v.parse().map_err(bad)?,
                "--cluster" => r.cluster = cluster_seeds()?,
                _ => {
                    r.pick = match v.as_str() {
                        "size" => Pick::BySize,
                        "uniform" => Pick::Uniform,
                        other => return Err(format!("--pick: size or uniform, not {other}")),
                    }
                }
            }
        }
        rooms::Plan::new(r)?;
    } else if !rooms_flags.is_empty() {
        return Err(format!("{} needs --rooms", rooms_flags[0].0));
    }
    if args.subscribers.contains(&0) || args.messages == 0 || args.rate == 0 {
        return Err("subscribers, messages and rate must be positive".to_owned());
    }
    Ok(args)
}

/// The seeds `--cluster` publishes through: `REDIS_CLUSTER_URLS`, comma-separated.
fn cluster_seeds() -> Result<Vec<String>, String> {
    let urls = std::env::var("REDIS_CLUSTER_URLS").unwrap_or_default();
    let seeds: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if seeds.is_empty() {
        return Err(
            "--cluster reads the cluster's seeds from REDIS_CLUSTER_URLS \
                    (redis://HOST:PORT,...), which is not set: run it under \
                    `bash scripts/redis-cluster.sh` (`just bench-fanout-cluster` does)"
                .to_owned(),
        );
    }
    Ok(seeds)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-fanout: {e}");
            std::process::exit(2);
        }
    };
    let runtime = mywebsocket_bench::runtime().expect("the runtime starts");
    if let Some(scenario) = &args.rooms {
        if args.plan_only {
            let plan = rooms::Plan::new(scenario).expect("checked by parse");
            print!("{}", plan.summary());
            return;
        }
        run_rooms(scenario, &args, &runtime);
        return;
    }
    let mut outcomes = Vec::new();
    let mut failures = 0;
    for &subscribers in &args.subscribers {
        for &engine in &args.engines {
            let scenario = Scenario {
                engine,
                subscribers,
                messages: args.messages,
                rate: args.rate,
            };
            eprintln!(
                "bench-fanout: {}, {subscribers} subscribers, {} messages at {}/s",
                engine.label(),
                args.messages,
                args.rate
            );
            match runtime.block_on(fanout::run(&scenario, &args.programs)) {
                Ok(outcome) => {
                    if outcome.failed > 0 || outcome.delivered < outcome.expected() {
                        failures += 1;
                        eprintln!(
                            "bench-fanout: {} of {} deliveries, {} subscribers failed",
                            outcome.delivered,
                            outcome.expected(),
                            outcome.failed
                        );
                    }
                    outcomes.push(outcome);
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("bench-fanout: {e}");
                }
            }
        }
    }
    let command: Vec<String> = std::env::args().collect();
    let context = format!(
        "Command: `{}`. Clients, nodes and redis-server share this machine ({} logical CPUs).",
        command.join(" "),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let table = report::markdown(&outcomes, &context);
    print!("{table}");
    let path = args.out.join("fanout.md");
    if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, &table))
    {
        eprintln!("bench-fanout: writing {}: {e}", path.display());
        std::process::exit(1);
    }
    eprintln!("bench-fanout: wrote {}", path.display());
    if failures > 0 {
        std::process::exit(1);
    }
}

/// The many-rooms workload: runs it, prints and writes the table; exits 1 when a delivery is
/// missing or a node's counters differ from the plan.
fn run_rooms(scenario: &RoomsScenario, args: &Args, runtime: &tokio::runtime::Runtime) {
    eprintln!(
        "bench-fanout: rooms: {} nodes, {} connections in {} rooms, {} messages at {}/s, through {}",
        scenario.nodes,
        scenario.connections,
        scenario.rooms,
        scenario.messages,
        scenario.rate,
        if scenario.cluster.is_empty() {
            "a private redis-server".to_owned()
        } else {
            format!("the Redis Cluster at {}", scenario.cluster.join(","))
        }
    );
    let outcome = match runtime.block_on(rooms::run(scenario, &args.programs)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-fanout: {e}");
            std::process::exit(1);
        }
    };
    let command: Vec<String> = std::env::args().collect();
    let redis = match &outcome.cluster {
        None => "redis-server".to_owned(),
        Some(c) => format!(
            "the cluster's {} Redis processes",
            c.masters.len() + c.replica_count()
        ),
    };
    let context = format!(
        "Command: `{}`. Clients, nodes and {redis} share this machine ({} logical CPUs); \
         the clients' CPU is not counted in the nodes'.",
        command.join(" "),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let table = outcome.markdown(&context);
    print!("{table}");
    let path = args.out.join(if scenario.cluster.is_empty() {
        "fanout-rooms.md"
    } else {
        "fanout-rooms-cluster.md"
    });
    if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, &table))
    {
        eprintln!("bench-fanout: writing {}: {e}", path.display());
        std::process::exit(1);
    }
    eprintln!("bench-fanout: wrote {}", path.display());
    if !outcome.complete() {
        eprintln!(
            "bench-fanout: incomplete: {} of {} deliveries, {} lost in {} messages, {} repeated, \
             {} failures, or a node's counters differ from the plan",
            outcome.delivered,
            outcome.expected,
            outcome
                .lost
                .iter()
                .map(|l| l.missed_by_node.iter().sum::<usize>())
                .sum::<usize>(),
            outcome.lost.len(),
            outcome.repeats,
            outcome.failed
        );
        std::process::exit(1);
    }
}
