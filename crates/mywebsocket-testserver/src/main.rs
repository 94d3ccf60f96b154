//! The server the browser tests of `mywebsocket-wasm` (`wasm-client/`) run against.
//!
//! It is the real `mywebsocket` server, one route per test case (see [`cases`]), plus an HTTP
//! endpoint on the same port, `GET /observed?id=ID`, that returns as JSON what the server
//! observed in test session `ID` once that session is over, so each test checks both ends.
//!
//! ```text
//! mywebsocket-testserver [--addr 127.0.0.1:0] [--exit-on-stdin-eof]
//! ```
//!
//! It listens on `--addr` (default: a free loopback port) and prints `listening on ADDR` as
//! its first line on stdout. With `--exit-on-stdin-eof` it exits when its standard input
//! closes, so a script that starts it on a pipe cannot leave it running, however the script
//! ends. `scripts/browser.sh` runs it that way.

#![forbid(unsafe_code)]

mod cases;
mod counting;
mod http;
mod memory;
mod observed;
mod payload;
mod request;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::observed::Observations;

const USAGE: &str = "usage: mywebsocket-testserver [--addr 127.0.0.1:0] [--exit-on-stdin-eof]";

struct Args {
    addr: SocketAddr,
    exit_on_stdin_eof: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        exit_on_stdin_eof: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let value = it.next().ok_or("--addr needs a value")?;
                args.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            "--exit-on-stdin-eof" => args.exit_on_stdin_eof = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("mywebsocket-testserver: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "mywebsocket-testserver: cannot listen on {}: {e}",
                args.addr
            );
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("mywebsocket-testserver: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {local}");
    // The script waits for this line: it must not sit in a buffer.
    if std::io::stdout().flush().is_err() {
        return ExitCode::FAILURE;
    }
    eprintln!("mywebsocket-testserver: listening on {local}");

    let observations = Arc::new(Observations::default());
    let serve = async {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tokio::spawn(cases::serve(tcp, Arc::clone(&observations)));
                }
                Err(e) => eprintln!("mywebsocket-testserver: accept: {e}"),
            }
        }
    };
    if args.exit_on_stdin_eof {
        tokio::select! {
            () = serve => {}
            () = stdin_closed() => eprintln!("mywebsocket-testserver: stdin closed, exiting"),
        }
    } else {
        serve.await;
    }
    ExitCode::SUCCESS
}

/// Resolves when standard input reaches its end (or fails).
async fn stdin_closed() {
    let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
}
