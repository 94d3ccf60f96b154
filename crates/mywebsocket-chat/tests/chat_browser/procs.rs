//! The processes the browser test runs: a private redis-server, chat nodes and chromedriver.
//! Each is a guard that kills its process (and removes its files) when dropped, so nothing
//! outlives the test whatever its outcome.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader, Read, Write};

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// Kills a child process on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The executable named by environment variable `var`, or `default`.
fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A redis-server on a free loopback port, with its own directory and no persistence.
pub(crate) struct Redis {
    child: Guard,
    dir: PathBuf,
    /// `redis://127.0.0.1:PORT/`.
    pub(crate) url: String,
}

impl Redis {
    /// Starts it and waits until it answers PING.
    pub(crate) fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "chat-browser-redis-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create the redis directory");
        let port = free_port();
        let child = Command::new(tool("REDIS_SERVER", "redis-server"))
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/chat-browser.sh installs it)");
        let redis = Self {
            child: Guard(child),
            dir,
            url: format!("redis://127.0.0.1:{port}/"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ping(port) {
                return redis;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Fields drop after this body: stop the server here, before its files go.
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut tcp) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = [0u8; 7];
    tcp.write_all(b"PING\r\n").is_ok()
        && tcp.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// One chat node, a child process of the chat binary.
pub(crate) struct Node {
    child: Guard,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The node id it printed.
    pub(crate) id: String,
}

impl Node {
    /// Starts a node on a free port with `redis` (alone, in memory, without), reading its
    /// address and id from its first line of output.
    pub(crate) fn start(redis: Option<&str>, presence_ttl_ms: u64) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mywebsocket-chat"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(["--presence-ttl-ms", &presence_ttl_ms.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        if let Some(redis) = redis {
            command.args(["--redis", redis]);
        }
        let mut child = command.spawn().expect("start the chat node");
        let stdout = child.stdout.take().expect("piped stdout");
        let child = Guard(child);
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the node's first line");
        // "listening on http://127.0.0.1:PORT node ID"
        let rest = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line from the node: {line:?}"));
        let (addr, id) = rest
            .split_once(" node ")
            .unwrap_or_else(|| panic!("no node id in {line:?}"));
        // Keep reading what it logs (to stdout), into the test's output, so a failure shows it.
        let name = addr.to_owned();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                eprintln!("[node {name}] {line}");
            }
        });
        Self {
            child,
            addr: addr.to_owned(),
            id: id.to_owned(),
        }
    }

    /// The page's URL on this node, trying `nodes` (WebSocket URLs) in turn.
    pub(crate) fn page_url(&self, nodes: &[String]) -> String {
        format!("http://{}/?nodes={}", self.addr, nodes.join(","))
    }

    /// This node's WebSocket endpoint.
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `kill -9`: the node gets no chance to say goodbye.
    pub(crate) fn kill(mut self) {
        self.child.0.kill().expect("SIGKILL the node");
        let status = self.child.0.wait().expect("reap the node");
        assert!(!status.success(), "the node exited cleanly: {status}");
    }
}

/// chromedriver on a free loopback port.
pub(crate) struct ChromeDriver {
    _child: Guard,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl ChromeDriver {
    /// Starts it and waits until it accepts connections.
    pub(crate) fn start() -> Self {
        let port = free_port();
        let child = Command::new(tool("CHROMEDRIVER", "chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (scripts/chat-browser.sh installs it)");
        let driver = Self {
            _child: Guard(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}
