//! Server processes: started per measurement, stopped when dropped whatever the outcome, and
//! observed through `/proc` for their resident memory and CPU time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{Impl, Mode};

/// How to start each server: `bench-server` for the Rust ones, Node for uWebSockets.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `bench-server` binary.
    pub server_bin: PathBuf,
    /// uWebSockets' `echo.js`, installed beside its `node_modules`, or why it is unavailable.
    pub uws: Result<PathBuf, String>,
}

/// Where `peers/uws/install.sh` installed the uWebSockets peer: `dir/echo.js` if `dir/ready`
/// exists, otherwise the reason the script left in `dir/unavailable.txt` (or that it never ran).
pub fn locate_uws(dir: &Path) -> Result<PathBuf, String> {
    if dir.join("ready").exists() {
        if let Ok(script) = std::fs::canonicalize(dir.join("echo.js")) {
            return Ok(script);
        }
    }
    match std::fs::read_to_string(dir.join("unavailable.txt")) {
        Ok(why) => Err(why.split_whitespace().collect::<Vec<_>>().join(" ")),
        Err(_) => Err(format!(
            "not installed in {} (`bash crates/mywebsocket-bench/peers/uws/install.sh` installs it; \
             `just bench` runs it)",
            dir.display()
        )),
    }
}

impl Launcher {
    /// The command that starts `which` in `mode` on an ephemeral loopback port, printing
    /// `listening ADDR` once bound and exiting when its standard input closes.
    ///
    /// # Errors
    /// When `which` is uWebSockets and it is not installed, or it is asked to broadcast.
    pub fn command(&self, which: Impl, mode: Mode) -> Result<Command, String> {
        if which.is_external() {
            let script = self.uws.as_ref().map_err(|why| format!("uws: {why}"))?;
            if mode != Mode::Echo {
                return Err("uws runs as an echo server only".into());
            }
            let mut command = Command::new("node");
            command.arg(script).args(["0", "--watch-stdin"]);
            if let Some(dir) = script.parent() {
                command.current_dir(dir);
            }
            return Ok(command);
        }
        let mode = match mode {
            Mode::Echo => "echo",
            Mode::Broadcast => "broadcast",
        };
        let mut command = Command::new(&self.server_bin);
        command
            .args([
                "--impl",
                which.name(),
                "--addr",
                "127.0.0.1:0",
                "--mode",
                mode,
            ])
            .arg("--watch-stdin");
        Ok(command)
    }
}

/// A running server. Dropping it kills the process; the process also exits by itself when
/// this handle's end of its standard input closes, so it never outlives the driver.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Held open: closing it tells the server to exit.
    _stdin: Option<ChildStdin>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `which` in `mode` as `launcher` says and waits for it to say where it listens.
    ///
    /// # Errors
    /// If the process cannot start or exits before printing its address.
    pub fn start(launcher: &Launcher, which: Impl, mode: Mode) -> Result<Self, String> {
        let mut command = launcher.command(which, mode)?;
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {program}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout was piped");
        let mut line = String::new();
        // The guard kills the child if reading its address fails.
        let mut guard = Self {
            child,
            _stdin: stdin,
            addr: "127.0.0.1:0".parse().expect("a valid address"),
        };
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the server's address: {e}"))?;
        guard.addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{} did not start (said {line:?})", which.name()))?;
        Ok(guard)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time its threads have used so far, user and system.
    ///
    /// # Errors
    /// If `/proc` cannot be read (the process ended).
    pub fn cpu_time(&self) -> Result<Duration, String> {
        cpu_time(self.pid())
    }

    /// Its resident memory now, in KiB.
    ///
    /// # Errors
    /// If `/proc` cannot be read (the process ended).
    pub fn rss_kib(&self) -> Result<u64, String> {
        rss_kib(self.pid())
    }

    /// Its resident memory once it stops changing: read every 50 ms until two readings in a
    /// row agree within 0.5%, or `limit` has passed.
    ///
    /// # Errors
    /// As [`ServerProcess::rss_kib`].
    pub fn settled_rss_kib(&self, limit: Duration) -> Result<u64, String> {
        let until = Instant::now() + limit;
        let mut last = self.rss_kib()?;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.rss_kib()?;
            if now.abs_diff(last) * 200 <= last || Instant::now() >= until {
                return Ok(now);
            }
            last = now;
        }
    }

    /// Whether it has exited (a crash mid-measurement).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time of process `pid`: the sum of its threads' time on a CPU in nanoseconds, from
/// `/proc/PID/task/*/schedstat`; where that is missing, user plus system time from
/// `/proc/PID/stat` in clock ticks (10 ms).
///
/// # Errors
/// If neither can be read.
pub fn cpu_time(pid: u32) -> Result<Duration, String> {
    schedstat_time(pid)
        .or_else(|| stat_time(pid))
        .ok_or_else(|| format!("no CPU time for process {pid}"))
}

fn schedstat_time(pid: u32) -> Option<Duration> {
    let mut ns: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        match std::fs::read_to_string(path) {
            Ok(text) => ns += text.split_whitespace().next()?.parse::<u64>().ok()?,
            // A thread that ended since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
    }
    Some(Duration::from_nanos(ns))
}

fn stat_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&stat).map(|ticks| Duration::from_millis(ticks * 10))
}

/// `utime + stime` from a `/proc/PID/stat` line (fields 14 and 15, counted after the command
/// name, which may hold spaces and parentheses).
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of process `pid` in KiB, from `/proc/PID/status`.
///
/// # Errors
/// If the file cannot be read or has no `VmRSS` line.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("no VmRSS for process {pid}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t   1234 kB\n"), Some(1234));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(open_files_limit().unwrap() > 0);
    }

    #[test]
    fn reads_cpu_time() {
        let line = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0";
        assert_eq!(parse_stat_ticks(line), Some(281));
        let before = cpu_time(std::process::id()).unwrap();
        let until = Instant::now() + Duration::from_millis(50);
        let mut spin = 0u64;
        while Instant::now() < until {
            spin = std::hint::black_box(spin + 1);
        }
        assert!(cpu_time(std::process::id()).unwrap() > before);
        assert!(stat_time(std::process::id()).is_some());
    }

    #[test]
    fn explains_a_missing_uws() {
        let dir = std::env::temp_dir().join(format!("uws-peer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(locate_uws(&dir).unwrap_err().contains("not installed"));
        std::fs::write(dir.join("unavailable.txt"), "npm ci\nfailed\n").unwrap();
        assert_eq!(locate_uws(&dir).unwrap_err(), "npm ci failed");
        std::fs::write(dir.join("echo.js"), "").unwrap();
        std::fs::write(dir.join("ready"), "").unwrap();
        let script = locate_uws(&dir).unwrap();
        assert!(script.is_absolute() && script.ends_with("echo.js"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
