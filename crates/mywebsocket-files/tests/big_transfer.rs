//! 1 GiB each way between two processes at once; SHA-256 verified, peak memory bounded.
//!
//! The peers are the `ft_peer` example, built in release (`just files` builds it and sets
//! `FT_PEER_BIN`); each runs alone so its VmHWM is its own.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sha2::{Digest, Sha256};
use support::make_file;

const SIZE: u64 = 1 << 30;
const MEMORY_LIMIT_KB: u64 = 64 << 10;

/// Kills the child whatever the test's outcome.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(peer_bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ft_peer starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("ft_peer writes");
        assert!(!line.is_empty(), "ft_peer exited early");
        line.trim_end().to_owned()
    }

    /// Reads lines until `finished`, returning the received file's path and hash.
    fn wait_finished(&mut self) -> (PathBuf, String) {
        let mut received = None;
        loop {
            let line = self.line();
            if let Some(rest) = line.strip_prefix("received ") {
                let (path, sha) = rest.rsplit_once(' ').expect("path and hash");
                received = Some((PathBuf::from(path), sha.to_owned()));
            }
            if line == "finished" {
                return received.expect("a file was received");
            }
        }
    }

    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the peer is alive");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("linux reports VmHWM");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn exit(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let status = self.child.wait().expect("ft_peer exits");
        assert!(status.success(), "ft_peer failed: {status}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FT_PEER_BIN") {
        return bin.into();
    }
    // `cargo test` builds examples next to the test binaries' `deps` directory.
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/ft_peer");
    assert!(
        bin.exists(),
        "{} missing: build it (just files)",
        bin.display()
    );
    bin
}

fn hash(path: &std::path::Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

#[tokio::test]
#[ignore = "1 GiB each way in two release processes: run by `just files`"]
async fn one_gib_each_way_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let from_server = dir.path().join("from-server.bin");
    let from_client = dir.path().join("from-client.bin");
    let server_sha = hex::encode(make_file(&from_server, SIZE, 11).await);
    let client_sha = hex::encode(make_file(&from_client, SIZE, 12).await);

    let mut server = Peer::spawn(&[
        "listen",
        "-",
        a.to_str().unwrap(),
        "1",
        from_server.to_str().unwrap(),
    ]);
    let port = server.line();
    let port = port.strip_prefix("listening ").expect("a port");
    let url = format!("ws://127.0.0.1:{port}/");
    let mut client = Peer::spawn(&[
        "connect",
        &url,
        b.to_str().unwrap(),
        "1",
        from_client.to_str().unwrap(),
    ]);

    let (server_got, server_got_sha) = server.wait_finished();
    let (client_got, client_got_sha) = client.wait_finished();
    let (server_kb, client_kb) = (server.peak_rss_kb(), client.peak_rss_kb());
    server.exit();
    client.exit();
    println!("peak resident memory: server {server_kb} KiB, client {client_kb} KiB");

    assert_eq!(server_got_sha, client_sha);
    assert_eq!(client_got_sha, server_sha);
    assert!(server_got.starts_with(&a) && client_got.starts_with(&b));
    // Hash again here: the peers' own word is not the proof.
    assert_eq!(hash(&server_got), client_sha);
    assert_eq!(hash(&client_got), server_sha);
    assert!(server_kb < MEMORY_LIMIT_KB, "server peak {server_kb} KiB");
    assert!(client_kb < MEMORY_LIMIT_KB, "client peak {client_kb} KiB");
}
