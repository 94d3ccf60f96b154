//! The processes a fan-out run needs: chat nodes and a private redis-server, each killed when
//! its guard drops, whatever the outcome.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to come up.
const STARTUP: Duration = Duration::from_secs(20);

/// A `mywebsocket-chat` node.
#[derive(Debug)]
pub struct ChatNode {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ChatNode {
    /// Starts `bin --listen 127.0.0.1:0` with `args` and reads the address it announces.
    ///
    /// # Errors
    /// If it cannot start or exits before announcing its address.
    pub fn start(bin: &Path, args: &[String]) -> Result<Self, String> {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        // The guard kills the child if reading its address fails.
        let mut node = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the node's address: {e}"))?;
        // "listening on http://ADDR node ID"
        let addr = line
            .split_whitespace()
            .nth(2)
            .and_then(|w| w.trim_start_matches("http://").parse().ok())
            .ok_or_else(|| format!("the node did not announce its address: {line:?}"))?;
        node.addr = addr;
        Ok(node)
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its WebSocket endpoint.
    #[must_use]
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for ChatNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private redis-server on a free loopback port, in a temporary directory of its own,
/// without persistence.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    /// Its `redis://` URL.
    pub url: String,
}

impl RedisServer {
    /// Starts `bin` and waits until it accepts connections.
    ///
    /// # Errors
    /// If it cannot start or does not listen within 20 s.
    pub fn start(bin: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let dir =
            std::env::temp_dir().join(format!("mywebsocket-fanout-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "starting {}: {e} (apt-get install redis-server)",
                    bin.display()
                ));
            }
        };
        let server = Self {
            child,
            dir,
            url: format!("redis://127.0.0.1:{port}/"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!("redis-server did not listen on {addr}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl RedisServer {
    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on (another process may take it before we do; redis-server
/// then fails to start and the run says so).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
