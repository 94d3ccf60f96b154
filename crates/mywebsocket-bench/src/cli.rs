//! The `bench` command line.

use std::path::PathBuf;

use crate::results::Group;
use crate::servers::Impl;

/// What `bench` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the comparison and write the report.
    Run,
    /// Re-render the report from `results.json`.
    Report,
    /// Count instructions under callgrind, then re-render the report if there is one.
    Instructions,
}

/// Parsed arguments.
#[derive(Debug, Clone)]
pub struct Args {
    /// The subcommand.
    pub command: Command,
    /// The short plan instead of the full one.
    pub smoke: bool,
    /// Overrides the plan's repetitions.
    pub reps: Option<usize>,
    /// Where the report goes. Default: `target/bench`.
    pub out: PathBuf,
    /// Where criterion keeps its results. Default: `target/criterion`.
    pub criterion: PathBuf,
    /// Only these workload groups.
    pub groups: Option<Vec<Group>>,
    /// Only these servers.
    pub servers: Option<Vec<Impl>>,
    /// Only echo and one-in-flight cells with these payload sizes (bytes); for profiling one
    /// row.
    pub payloads: Option<Vec<usize>>,
    /// Where `peers/uws/install.sh` installed uWebSockets. Default: `target/peers/uws`.
    pub uws: PathBuf,
}

/// The usage text.
pub const USAGE: &str = "\
usage: bench [run|report|instructions] [--smoke] [--reps N] [--out DIR] [--criterion DIR]
             [--only echo,one-in-flight,latency,memory,broadcast,setup,compression,http2]
             [--servers NAME,...] [--payloads BYTES,...] [--uws DIR]
  run           measure every workload against every server (default)
  report        re-render DIR/report.md and report.svg from DIR/results.json
  instructions  count instructions of fixed workloads under callgrind
  --uws DIR     where peers/uws/install.sh put uWebSockets (default target/peers/uws);
                without it the uws column is left out, with a note saying why";

fn group(name: &str) -> Result<Group, String> {
    Ok(match name {
        "echo" => Group::Echo,
        "one-in-flight" => Group::OneInFlight,
        "latency" => Group::Latency,
        "memory" => Group::Memory,
        "broadcast" => Group::Broadcast,
        "setup" => Group::Setup,
        "compression" => Group::Compression,
        "http2" => Group::Http2,
        other => return Err(format!("unknown workload group {other}")),
    })
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A usage message for unknown or incomplete arguments.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        command: Command::Run,
        smoke: false,
        reps: None,
        out: PathBuf::from("target/bench"),
        criterion: PathBuf::from("target/criterion"),
        groups: None,
        servers: None,
        payloads: None,
        uws: PathBuf::from("target/peers/uws"),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "run" => parsed.command = Command::Run,
            "report" => parsed.command = Command::Report,
            "instructions" => parsed.command = Command::Instructions,
            "--smoke" => parsed.smoke = true,
            "--reps" => {
                let reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?;
                parsed.reps = Some(std::cmp::max(reps, 1));
            }
            "--out" => parsed.out = value()?.into(),
            "--criterion" => parsed.criterion = value()?.into(),
            "--only" => {
                let groups = value()?.split(',').map(group).collect::<Result<_, _>>()?;
                parsed.groups = Some(groups);
            }
            "--servers" => {
                let servers = value()?
                    .split(',')
                    .map(|s| Impl::from_name(s).ok_or(format!("unknown server {s}")))
                    .collect::<Result<_, _>>()?;
                parsed.servers = Some(servers);
            }
            "--uws" => parsed.uws = value()?.into(),
            "--payloads" => {
                let sizes = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--payloads: {e}")))
                    .collect::<Result<_, _>>()?;
                parsed.payloads = Some(sizes);
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_filters_and_defaults() {
        let a = args("--smoke --only echo,setup --servers mywebsocket,tcp").unwrap();
        let b = args("--only one-in-flight --servers mywebsocket,uws --uws peers").unwrap();
        assert_eq!(b.groups, Some(vec![Group::OneInFlight]));
        assert_eq!(b.servers, Some(vec![Impl::Mine, Impl::Uws]));
        assert_eq!(b.uws, PathBuf::from("peers"));
        assert!(a.smoke);
        assert_eq!(a.command, Command::Run);
        assert_eq!(a.groups, Some(vec![Group::Echo, Group::Setup]));
        assert_eq!(a.servers, Some(vec![Impl::Mine, Impl::Tcp]));
        assert_eq!(a.out, PathBuf::from("target/bench"));
        assert_eq!(args("report").unwrap().command, Command::Report);
        assert!(args("--only nothing").is_err());
        let h2 = args("--only http2 --servers mywebsocket-h2,mywebsocket,axum-h2").unwrap();
        assert_eq!(h2.groups, Some(vec![Group::Http2]));
        assert_eq!(
            h2.servers,
            Some(vec![Impl::MineH2, Impl::Mine, Impl::AxumH2])
        );
        assert!(args("--reps").is_err());
    }
}
