//! `ft-conformance`: runs docs/file-transfer-conformance.json against one implementation of
//! the file-transfer protocol and prints a table (docs/file-transfer-conformance.md).
//!
//! ```text
//! ft-conformance run --name NAME (--listen | --connect URL) [--cases FILE]
//!                    [--known-failures FILE] [--only ID,ID] [--report FILE] [--first-wait SECS]
//!                    [--download-link]
//! ft-conformance table REPORT.json...
//! ```
//!
//! With `--listen` it binds 127.0.0.1:0, prints `listening on ws://127.0.0.1:PORT/` and serves
//! the testee one connection per case connection; with `--connect` it connects to a receiver.
//! `--download-link` also checks the chat's download-link message after every `done`.
//! Exit status 1 when a case failed that is not a known failure, or a known failure passed.

#![forbid(unsafe_code)]

mod cases;
mod peer;
mod report;
mod run;
mod source;
mod template;
mod track;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cases::CaseFile;
use report::{Outcome, Report, Row};
use source::Source;

/// The case list as built in; `--cases` reads another.
const CASES: &str = include_str!("../../../docs/file-transfer-conformance.json");

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]).await,
        Some("table") => report::table(&args[1..]),
        _ => Err(
            "usage: ft-conformance run --name NAME (--listen | --connect URL) [--cases FILE] \
                  [--known-failures FILE] [--only ID,ID] [--report FILE] [--first-wait SECS] \
                  [--download-link]\n       \
                  ft-conformance table REPORT.json..."
                .into(),
        ),
    };
    match status {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("ft-conformance: {e}");
            std::process::exit(2);
        }
    }
}

#[derive(Default)]
struct Options {
    name: String,
    listen: bool,
    connect: Option<String>,
    cases: Option<PathBuf>,
    known: Option<PathBuf>,
    only: Vec<String>,
    report: Option<PathBuf>,
    first_wait: u64,
    download_link: bool,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        first_wait: 600,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--name" => o.name = value()?,
            "--listen" => o.listen = true,
            "--download-link" => o.download_link = true,
            "--connect" => o.connect = Some(value()?),
            "--cases" => o.cases = Some(value()?.into()),
            "--known-failures" => o.known = Some(value()?.into()),
            "--only" => o.only = value()?.split(',').map(str::to_owned).collect(),
            "--report" => o.report = Some(value()?.into()),
            "--first-wait" => o.first_wait = value()?.parse().map_err(|e| format!("{arg}: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.name.is_empty() || o.listen == o.connect.is_some() {
        return Err("give --name and one of --listen, --connect URL".into());
    }
    Ok(o)
}

async fn run(args: &[String]) -> Result<bool, String> {
    let o = options(args)?;
    let text = match &o.cases {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => CASES.to_owned(),
    };
    let file: CaseFile = serde_json::from_str(&text).map_err(|e| format!("the case list: {e}"))?;
    if file.version != 1 {
        return Err(format!(
            "case list version {} (this runner reads 1)",
            file.version
        ));
    }
    let known = report::known_failures(o.known.as_deref(), &o.name)?;
    let mut source = if o.listen {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on ws://{addr}/");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        Source::Listen {
            listener,
            defaults: file.defaults.clone(),
            wait: Duration::from_secs(o.first_wait),
        }
    } else {
        Source::Connect {
            url: o.connect.clone().expect("checked"),
            defaults: file.defaults.clone(),
        }
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for case in &file.cases {
        if !o.only.is_empty() && !o.only.contains(&case.id) {
            continue;
        }
        let outcome = match source.not_applicable(case) {
            Some(why) => Outcome::NotApplicable(why.into()),
            None => {
                let result = run::run_case(case, &mut source, o.download_link).await;
                Outcome::judge(result, known.get(&case.id))
            }
        };
        eprintln!(
            "{} {:<8} {:<6} {}",
            o.name,
            case.id,
            outcome.label(),
            case.title
        );
        if let Outcome::Fail(detail) = &outcome {
            eprintln!("      {detail}");
        }
        rows.push(Row {
            case: case.id.clone(),
            title: case.title.clone(),
            spec: case.spec.join(" "),
            outcome,
        });
    }
    source.finish().await;
    let report = Report {
        implementation: o.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
        rows,
    };
    report.print();
    if let Some(path) = &o.report {
        report.write(path)?;
    }
    Ok(report.ok())
}
