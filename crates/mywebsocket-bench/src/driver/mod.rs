//! Runs a [`Plan`]: for each cell, repetition by repetition, every server in turn (A B C D A
//! B C D ...), each in a fresh server process that is stopped right after its measurement.

pub mod cell;
mod measure;
mod meta;
pub mod plan;

use std::time::Instant;

pub use cell::Cell;
pub use plan::Plan;

use crate::process::{open_files_limit, Launcher, ServerProcess};
use crate::results::{Group, Results};
use crate::servers::Impl;

/// Descriptors kept free beyond the connections (runtime, pipes, files).
const SPARE_FDS: u64 = 200;

/// How to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What to measure.
    pub plan: Plan,
    /// How to start the servers.
    pub launcher: Launcher,
    /// Only these groups, if given.
    pub groups: Option<Vec<Group>>,
    /// Only these servers, if given.
    pub servers: Option<Vec<Impl>>,
}

/// Runs the plan and returns everything measured.
///
/// # Errors
/// Only if the load generator's runtime cannot start; measurement failures are recorded in the
/// results instead.
pub fn run(settings: Settings) -> Result<Results, String> {
    let started = Instant::now();
    let mut plan = settings.plan;
    let mut results = Results::default();
    if let Some(limit) = open_files_limit() {
        let usable = limit.saturating_sub(SPARE_FDS) as usize;
        if usable < plan.max_conns() {
            results.notes.push(format!(
                "The open-file limit ({limit}) capped every connection count at {usable}; run with \
                 `ulimit -n 20000` for the full sizes."
            ));
            plan.cap_conns(usable);
        }
    }
    results.meta = meta::collect(&plan);
    let rt = crate::runtime().map_err(|e| format!("starting the load generator: {e}"))?;
    let cells: Vec<&Cell> = plan
        .cells
        .iter()
        .filter(|c| {
            settings
                .groups
                .as_ref()
                .is_none_or(|g| g.contains(&c.group()))
        })
        .collect();
    let wanted = |cell: &Cell| -> Vec<Impl> {
        cell.servers()
            .iter()
            .copied()
            .filter(|s| {
                settings
                    .servers
                    .as_ref()
                    .is_none_or(|only| only.contains(s))
            })
            .collect()
    };
    if let Err(why) = &settings.launcher.uws {
        if cells.iter().any(|c| wanted(c).contains(&Impl::Uws)) {
            let note = format!("uWebSockets (uws) left out: {why}");
            eprintln!("bench: {note}");
            results.notes.push(note);
        }
    }
    let uws_ready = settings.launcher.uws.is_ok();
    let servers_of = |cell: &Cell| -> Vec<Impl> {
        wanted(cell)
            .into_iter()
            .filter(|s| uws_ready || *s != Impl::Uws)
            .collect()
    };
    let total: usize = cells.iter().map(|c| servers_of(c).len() * plan.reps).sum();
    let mut done = 0;
    for cell in cells {
        let keys = cell.keys();
        for rep in 1..=plan.reps {
            for which in servers_of(cell) {
                done += 1;
                let outcome = ServerProcess::start(&settings.launcher, which, cell.mode())
                    .and_then(|mut server| {
                        let outcome = measure::measure(&rt, &plan, cell, which, &server);
                        if outcome.is_err() && server.exited() {
                            return Err("the server process died".into());
                        }
                        outcome
                    });
                let shown = match &outcome {
                    Ok(values) => format!("{:.1} {}", values[0], keys[0].unit),
                    Err(e) => format!("FAILED: {e}"),
                };
                eprintln!(
                    "[{done:>3}/{total}] {} · rep {rep}/{} · {:<19} {shown}",
                    cell.label(),
                    plan.reps,
                    which.name()
                );
                results.record(&keys, which.name(), &outcome);
            }
        }
    }
    results.meta.elapsed_s = started.elapsed().as_secs_f64();
    Ok(results)
}
