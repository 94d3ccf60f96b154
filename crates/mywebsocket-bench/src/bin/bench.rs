//! `bench`: runs the comparison and writes `target/bench/report.md`, `report.svg` and
//! `results.json`; see `bench --help` and the `just bench` / `just bench-smoke` recipes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mywebsocket_bench::cli::{self, Command};
use mywebsocket_bench::driver::{self, Cell, Plan, Settings};
use mywebsocket_bench::instructions::{self, Count};
use mywebsocket_bench::process::{locate_uws, Launcher};
use mywebsocket_bench::results::Results;
use mywebsocket_bench::{micro, report};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A binary built beside this one.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build every binary with `cargo build --release -p mywebsocket-bench --bins`",
            path.display()
        ))
    }
}

fn run() -> Result<(), String> {
    let args = cli::parse(std::env::args().skip(1))?;
    let instructions_path = args.out.join("instructions.json");
    match args.command {
        Command::Run => {
            let mut plan = if args.smoke {
                Plan::smoke()
            } else {
                Plan::full()
            };
            if let Some(reps) = args.reps {
                plan.reps = reps;
            }
            if let Some(sizes) = &args.payloads {
                plan.cells.retain(|cell| match cell {
                    Cell::Echo { payload, .. }
                    | Cell::OneInFlight { payload, .. }
                    | Cell::Http2 { payload, .. } => sizes.contains(payload),
                    _ => true,
                });
            }
            let settings = Settings {
                plan,
                launcher: Launcher {
                    server_bin: sibling("bench-server")?,
                    uws: locate_uws(&args.uws),
                },
                groups: args.groups,
                servers: args.servers,
            };
            let results = driver::run(settings)?;
            render(&args.out, &args.criterion, &results, &instructions_path)
        }
        Command::Report => {
            let path = args.out.join("results.json");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let results: Results = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            render(&args.out, &args.criterion, &results, &instructions_path)
        }
        Command::Instructions => {
            let counts = instructions::measure(&sibling("bench-instructions")?)?;
            std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&counts).map_err(|e| e.to_string())?;
            std::fs::write(&instructions_path, json).map_err(|e| e.to_string())?;
            for c in &counts {
                println!(
                    "{:<10} {:>14} instructions  {:>12.1} per {}",
                    c.name, c.instructions, c.per_unit, c.unit
                );
            }
            println!("wrote {}", instructions_path.display());
            let results_path = args.out.join("results.json");
            if let Ok(text) = std::fs::read_to_string(results_path) {
                let results: Results = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                render(&args.out, &args.criterion, &results, &instructions_path)?;
            }
            Ok(())
        }
    }
}

fn render(
    out: &Path,
    criterion: &Path,
    results: &Results,
    instructions: &Path,
) -> Result<(), String> {
    let micro = micro::read_results(criterion);
    let counts: Option<Vec<Count>> = std::fs::read_to_string(instructions)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    report::write(out, results, &micro, counts.as_deref())?;
    println!(
        "wrote {0}/report.md, {0}/report.svg and {0}/results.json",
        out.display()
    );
    Ok(())
}
