//! Prints a summary of Autobahn|Testsuite results and exits non-zero when a
//! case fails. See `autobahn_report --help` and the `conformance` crate docs.

use std::process::ExitCode;

use conformance::report::{
    cli::USAGE, load_index, render, render_verdict_line, summarize, Args, ArgsError,
};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("autobahn_report: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut summaries = Vec::new();
    let mut unreadable = false;
    for input in &args.inputs {
        let (path, agents) = match load_index(&input.path) {
            Ok(loaded) => loaded,
            Err(err) => {
                // Keep going: the other role's results are still worth seeing.
                eprintln!(
                    "autobahn_report: {} results: {}",
                    input.role,
                    error_chain(&err)
                );
                unreadable = true;
                continue;
            }
        };
        for agent in &agents {
            let summary =
                summarize(input.role, agent, &args.policy, input.expected_cases).with_source(&path);
            println!("{}", render(&summary));
            summaries.push(summary);
        }
    }

    println!("{}", render_verdict_line(&summaries));
    if unreadable {
        ExitCode::from(2)
    } else if summaries.iter().all(|s| s.is_pass()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The error followed by its causes, `: `-separated.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
