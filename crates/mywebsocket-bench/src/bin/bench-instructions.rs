//! `bench-instructions NAME`: runs one fixed workload (see
//! `mywebsocket_bench::instructions::WORKLOADS`), for counting instructions under callgrind.
//! `just bench-instructions` runs them all.

use std::process::ExitCode;

use mywebsocket_bench::instructions::{run_workload, WORKLOADS};

fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: bench-instructions NAME|all");
        for w in WORKLOADS {
            eprintln!("  {:<10} {}", w.name, w.what);
        }
        return ExitCode::FAILURE;
    };
    let names: Vec<&str> = if name == "all" {
        WORKLOADS.iter().map(|w| w.name).collect()
    } else {
        vec![name.as_str()]
    };
    for name in names {
        if let Err(e) = run_workload(name) {
            eprintln!("bench-instructions {name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
