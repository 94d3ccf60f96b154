//! Server processes: started per measurement, stopped when dropped whatever the outcome, and
//! observed through `/proc` for their resident memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{Impl, Mode};

/// A running `bench-server`. Dropping it kills the process; the process also exits by itself
/// when this handle's end of its standard input closes, so it never outlives the driver.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Held open: closing it tells the server to exit.
    _stdin: Option<ChildStdin>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin --impl which --mode mode` on an ephemeral loopback port and waits for it to
    /// say where it listens.
    ///
    /// # Errors
    /// If the process cannot start or exits before printing its address.
    pub fn start(bin: &Path, which: Impl, mode: Mode) -> Result<Self, String> {
        let mode = match mode {
            Mode::Echo => "echo",
            Mode::Broadcast => "broadcast",
        };
        let mut child = Command::new(bin)
            .args([
                "--impl",
                which.name(),
                "--addr",
                "127.0.0.1:0",
                "--mode",
                mode,
            ])
            .arg("--watch-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
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
}
