//! `bench-server --impl NAME [--addr 127.0.0.1:0] [--mode echo|broadcast] [--watch-stdin]`:
//! runs one implementation's server, prints `listening ADDR` once bound, and serves until
//! killed (or, with `--watch-stdin`, until its standard input closes, so it never outlives the
//! driver that started it).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use mywebsocket_bench::servers::{self, Impl, Mode};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut which = None;
    let mut addr: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    let mut mode = Mode::Echo;
    let mut watch_stdin = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--impl" => {
                let name = value()?;
                which = Some(Impl::from_name(&name).ok_or(format!("unknown --impl {name}"))?);
            }
            "--addr" => addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--mode" => {
                mode = match value()?.as_str() {
                    "echo" => Mode::Echo,
                    "broadcast" => Mode::Broadcast,
                    other => return Err(format!("unknown --mode {other}")),
                }
            }
            "--watch-stdin" => watch_stdin = true,
            "--help" | "-h" => {
                let names: Vec<_> = Impl::ALL
                    .iter()
                    .filter(|i| !i.is_external())
                    .map(|i| i.name())
                    .collect();
                println!("bench-server --impl {{{}}} [--addr 127.0.0.1:0] [--mode echo|broadcast] [--watch-stdin]", names.join("|"));
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let which = which.ok_or("--impl is required")?;
    if which.is_external() {
        return Err(format!(
            "{} is not served by bench-server (see crates/mywebsocket-bench/peers/)",
            which.name()
        ));
    }
    if watch_stdin {
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().lock().read_to_end(&mut sink);
            std::process::exit(0);
        });
    }
    let runtime = mywebsocket_bench::runtime().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = servers::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {bound}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
        drop(out);
        servers::serve(which, listener, mode)
            .await
            .map_err(|e| e.to_string())
    })
}
