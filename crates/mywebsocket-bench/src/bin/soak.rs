//! The soak test: `soak [--secs N] [--conns N] [--out DIR]`.
//!
//! Starts `bench-server --impl mywebsocket` (next to this binary) as a child process and keeps
//! N connections (default 2,000) churning against it for N seconds (default 60): each connects,
//! exchanges a few checked echoes, then either closes cleanly or resets the TCP connection
//! (SO_LINGER 0), and starts over. Every second it samples the server's `VmRSS` and open
//! descriptors. After the load it waits for the server to settle, then fails (exit 1) if memory
//! trends upward over the second half or descriptors stay open; see
//! `mywebsocket_bench::soak::verdict`. Writes `report.md` and `report.svg` to DIR (default
//! `target/soak`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::{connect_with, CloseCode, Config, Message};
use mywebsocket_bench::process::{rss_kib, Launcher, ServerProcess};
use mywebsocket_bench::servers::{Impl, Mode};
use mywebsocket_bench::soak::report::{write_markdown, write_svg, RunInfo};
use mywebsocket_bench::soak::{verdict, Sample, Thresholds};
use tokio::net::TcpStream;

#[derive(Default)]
struct Counters {
    open: AtomicU64,
    clean: AtomicU64,
    reset: AtomicU64,
    messages: AtomicU64,
    errors: AtomicU64,
    mismatches: AtomicU64,
}

struct Args {
    secs: u64,
    conns: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        secs: 60,
        conns: 2000,
        out: PathBuf::from("target/soak"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--secs" => args.secs = value.parse().map_err(|_| "--secs takes seconds")?,
            "--conns" => args.conns = value.parse().map_err(|_| "--conns takes a count")?,
            "--out" => args.out = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn fd_count(pid: u32) -> Result<u64, String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count() as u64)
        .map_err(|e| format!("reading /proc/{pid}/fd: {e}"))
}

/// A small deterministic generator per connection, so runs are repeatable.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One connection's life: connect, echo 1-5 messages with short pauses, then close or reset.
async fn cycle(addr: SocketAddr, rng: &mut u64, counters: &Counters) -> Result<(), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let reset = next(rng).is_multiple_of(4);
    if reset {
        // Dropping the socket then sends RST instead of FIN: the abrupt end of a crashed peer.
        tcp.set_zero_linger().map_err(|e| e.to_string())?;
    }
    let request = http::Request::get(format!("ws://{addr}/"))
        .body(())
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = connect_with(tcp, request, Config::default())
        .await
        .map_err(|e| e.to_string())?;
    counters.open.fetch_add(1, Ordering::Relaxed);
    let result = async {
        for _ in 0..=next(rng) % 5 {
            let len = (next(rng) % 2048) as usize + 1;
            let fill = (next(rng) % 26) as u8 + b'a';
            let payload = String::from_utf8(vec![fill; len]).expect("ASCII");
            ws.write_string(payload.clone())
                .await
                .map_err(|e| e.to_string())?;
            let echo = ws.read_msg().await.map_err(|e| e.to_string())?;
            if echo != Message::text(payload) {
                counters.mismatches.fetch_add(1, Ordering::Relaxed);
            }
            counters.messages.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(next(rng) % 400)).await;
        }
        if reset {
            drop(ws);
            counters.reset.fetch_add(1, Ordering::Relaxed);
        } else {
            ws.close(CloseCode::NORMAL, "soak")
                .await
                .map_err(|e| e.to_string())?;
            counters.clean.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
    .await;
    counters.open.fetch_sub(1, Ordering::Relaxed);
    result
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}\nusage: soak [--secs N] [--conns N] [--out DIR]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let bin = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("bench-server");
    let launcher = Launcher {
        server_bin: bin,
        uws: Err("not used by soak".into()),
    };
    let server = ServerProcess::start(&launcher, Impl::Mine, Mode::Echo)?;
    let pid = server.pid();
    // Let the server finish starting before the baseline.
    std::thread::sleep(Duration::from_millis(500));
    let fds_before = fd_count(pid)?;
    println!(
        "soak: {} connections for {} s against pid {pid} on {} ({fds_before} fds before)",
        args.conns, args.secs, server.addr
    );

    let runtime = mywebsocket_bench::runtime().map_err(|e| e.to_string())?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.secs);
    let addr = server.addr;
    let workers: Vec<_> = (0..args.conns)
        .map(|i| {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            runtime.spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
                // Spread the first connects over a second rather than one burst.
                tokio::time::sleep(Duration::from_millis(next(&mut rng) % 1000)).await;
                while !stop.load(Ordering::Relaxed) {
                    if cycle(addr, &mut rng, &counters).await.is_err() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();

    let mut samples = Vec::new();
    let mut tick = start;
    while Instant::now() < deadline {
        tick += Duration::from_secs(1);
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        let done = counters.clean.load(Ordering::Relaxed) + counters.reset.load(Ordering::Relaxed);
        let sample = Sample {
            t: start.elapsed().as_secs_f64(),
            rss_kib: rss_kib(pid)?,
            fds: fd_count(pid)?,
            open: counters.open.load(Ordering::Relaxed),
            cycles: done,
        };
        if samples.len().is_multiple_of(10) {
            println!(
                "t={:>4.0}s rss={:>7.1} MiB fds={:>5} open={:>5} finished={}",
                sample.t,
                sample.rss_kib as f64 / 1024.0,
                sample.fds,
                sample.open,
                sample.cycles
            );
        }
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for worker in workers {
            // A worker ends after its current cycle (at most a few seconds of echoes).
            if tokio::time::timeout(Duration::from_secs(15), worker)
                .await
                .is_err()
            {
                eprintln!("soak: a worker did not stop in time");
            }
        }
    });
    drop(runtime);
    // The server sees the last closes and resets a moment later.
    let settle = Instant::now();
    let mut fds_after = fd_count(pid)?;
    while fds_after > fds_before && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        fds_after = fd_count(pid)?;
    }

    let mut v = verdict(&samples, fds_before, fds_after, Thresholds::default());
    let info = RunInfo {
        secs: args.secs,
        conns: args.conns,
        clean: counters.clean.load(Ordering::Relaxed),
        reset: counters.reset.load(Ordering::Relaxed),
        messages: counters.messages.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
    };
    let mismatches = counters.mismatches.load(Ordering::Relaxed);
    if mismatches > 0 {
        v.failures
            .push(format!("{mismatches} echoes differed from what was sent"));
    }
    let cycles = info.clean + info.reset;
    // A loaded 2-core machine may refuse a few connects; many means the server is failing.
    if info.errors * 100 > cycles.max(1) {
        v.failures.push(format!(
            "{} failed connections out of {cycles} (over 1%)",
            info.errors
        ));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    write_markdown(&args.out.join("report.md"), &info, &samples, &v)?;
    write_svg(&args.out.join("report.svg"), &samples)?;
    println!(
        "soak: {} clean closes, {} resets, {} messages, {} errors; rss slope {:.2} KiB/s over \
         the second half; fds {} before, {} after; report in {}",
        info.clean,
        info.reset,
        info.messages,
        info.errors,
        v.rss_slope_kib_per_s,
        fds_before,
        fds_after,
        args.out.join("report.md").display()
    );
    drop(server);
    if v.failures.is_empty() {
        Ok(())
    } else {
        Err(v.failures.join("; "))
    }
}
