//! The command line of the `autobahn_report` binary.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use super::verdict::Policy;

/// The usage text printed for `--help` and after a usage error.
pub const USAGE: &str = "\
usage: autobahn_report [--server PATH] [--client PATH] [options]

Summarizes Autobahn|Testsuite results and fails on any case whose behavior or
behaviorClose is not OK or INFORMATIONAL.

  --server PATH                      index.json (or its directory) from
                                     `wstest -m fuzzingclient` against our server
  --client PATH                      index.json (or its directory) from
                                     `wstest -m fuzzingserver` against our client
  --expect-server-cases N            fail unless the server ran N cases
  --expect-client-cases N            fail unless the client ran N cases
  --allow-unimplemented-compression  accept UNIMPLEMENTED in sections 12 and 13
  -h, --help                         print this help

Exit status: 0 when every case passes, 1 when any fails or is missing,
2 on a usage error or an unreadable index.json.";

/// One set of results to check: which role, where, and how many cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInput {
    /// `server` or `client`.
    pub role: &'static str,
    /// The `index.json`, or the report directory holding it.
    pub path: PathBuf,
    /// The number of cases the run was configured with, if known.
    pub expected_cases: Option<usize>,
}

/// The parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The results to check: the server's first, then the client's.
    pub inputs: Vec<RoleInput>,
    /// What is tolerated beyond `OK` and `INFORMATIONAL`.
    pub policy: Policy,
}

/// A command line that could not be parsed, or a request for help.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgsError {
    /// `-h` or `--help` was given.
    Help,
    /// An option that takes a value came last.
    MissingValue(&'static str),
    /// An option this binary does not know, or a stray argument.
    Unknown(String),
    /// An option's value is not a number of cases.
    BadCount {
        /// The option.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// An argument is not valid UTF-8.
    NotUnicode(OsString),
    /// An `--expect-*-cases` option without the matching role.
    ExpectWithoutRole(&'static str),
    /// Neither `--server` nor `--client` was given.
    NoInput,
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Help => f.write_str("help requested"),
            Self::MissingValue(flag) => write!(f, "{flag} needs a value"),
            Self::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            Self::BadCount { flag, value } => write!(f, "{flag}: {value:?} is not a case count"),
            Self::NotUnicode(arg) => write!(f, "argument {arg:?} is not valid UTF-8"),
            Self::ExpectWithoutRole(role) => write!(f, "--expect-{role}-cases needs --{role}"),
            Self::NoInput => f.write_str("give --server, --client or both"),
        }
    }
}

impl std::error::Error for ArgsError {}

impl Args {
    /// Parses the arguments that follow the program name. Options take their
    /// value as the next argument or after `=`.
    ///
    /// # Errors
    ///
    /// An [`ArgsError`] for anything [`USAGE`] does not describe, and
    /// [`ArgsError::Help`] for `--help`.
    pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Self, ArgsError> {
        let mut server = None;
        let mut client = None;
        let mut expect_server = None;
        let mut expect_client = None;
        let mut policy = Policy::default();

        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.into_string().map_err(ArgsError::NotUnicode)?;
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            let mut value = |name: &'static str| match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or(ArgsError::MissingValue(name))?
                    .into_string()
                    .map_err(ArgsError::NotUnicode),
            };
            match flag.as_str() {
                "-h" | "--help" => return Err(ArgsError::Help),
                "--server" => server = Some(PathBuf::from(value("--server")?)),
                "--client" => client = Some(PathBuf::from(value("--client")?)),
                "--expect-server-cases" => {
                    expect_server = Some(count(
                        "--expect-server-cases",
                        value("--expect-server-cases")?,
                    )?);
                }
                "--expect-client-cases" => {
                    expect_client = Some(count(
                        "--expect-client-cases",
                        value("--expect-client-cases")?,
                    )?);
                }
                "--allow-unimplemented-compression" if inline.is_none() => {
                    policy.allow_unimplemented_compression = true;
                }
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }

        if server.is_none() && expect_server.is_some() {
            return Err(ArgsError::ExpectWithoutRole("server"));
        }
        if client.is_none() && expect_client.is_some() {
            return Err(ArgsError::ExpectWithoutRole("client"));
        }
        let inputs: Vec<RoleInput> = [
            ("server", server, expect_server),
            ("client", client, expect_client),
        ]
        .into_iter()
        .filter_map(|(role, path, expected_cases)| {
            Some(RoleInput {
                role,
                path: path?,
                expected_cases,
            })
        })
        .collect();
        if inputs.is_empty() {
            return Err(ArgsError::NoInput);
        }
        Ok(Self { inputs, policy })
    }
}

fn count(flag: &'static str, value: String) -> Result<usize, ArgsError> {
    value
        .parse()
        .map_err(|_| ArgsError::BadCount { flag, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_both_roles_and_flag() {
        let args = parse(&[
            "--client=c/index.json",
            "--server",
            "s",
            "--allow-unimplemented-compression",
            "--expect-server-cases",
            "517",
        ])
        .expect("valid");
        assert!(args.policy.allow_unimplemented_compression);
        assert_eq!(
            args.inputs,
            [
                RoleInput {
                    role: "server",
                    path: "s".into(),
                    expected_cases: Some(517)
                },
                RoleInput {
                    role: "client",
                    path: "c/index.json".into(),
                    expected_cases: None
                },
            ]
        );
    }

    #[test]
    fn one_role_is_enough() {
        let args = parse(&["--client", "c"]).expect("valid");
        assert_eq!(args.inputs.len(), 1);
        assert!(!args.policy.allow_unimplemented_compression);
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert_eq!(parse(&[]), Err(ArgsError::NoInput));
        assert_eq!(parse(&["--help"]), Err(ArgsError::Help));
        assert_eq!(
            parse(&["--server"]),
            Err(ArgsError::MissingValue("--server"))
        );
        assert_eq!(
            parse(&["--server", "s", "extra"]),
            Err(ArgsError::Unknown("extra".into()))
        );
        assert_eq!(
            parse(&["--server", "s", "--allow-unimplemented-compression=yes"]),
            Err(ArgsError::Unknown(
                "--allow-unimplemented-compression".into()
            ))
        );
        assert_eq!(
            parse(&["--server", "s", "--expect-server-cases", "-1"]),
            Err(ArgsError::BadCount {
                flag: "--expect-server-cases",
                value: "-1".into()
            })
        );
        assert_eq!(
            parse(&["--server", "s", "--expect-client-cases", "3"]),
            Err(ArgsError::ExpectWithoutRole("client"))
        );
    }
}
