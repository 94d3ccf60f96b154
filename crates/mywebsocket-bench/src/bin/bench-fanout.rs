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

use std::path::PathBuf;

use mywebsocket_bench::fanout::{self, report, Engine, Programs, Scenario};

struct Args {
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
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--smoke" => {
                args.subscribers = vec![100];
                args.messages = 10;
            }
            "--subscribers" => {
                args.subscribers = value()?
                    .split(',')
                    .map(|n| n.parse().map_err(|e| format!("--subscribers: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--messages" => {
                args.messages = value()?.parse().map_err(|e| format!("--messages: {e}"))?;
            }
            "--rate" => args.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.subscribers.contains(&0) || args.messages == 0 || args.rate == 0 {
        return Err("subscribers, messages and rate must be positive".to_owned());
    }
    Ok(args)
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
