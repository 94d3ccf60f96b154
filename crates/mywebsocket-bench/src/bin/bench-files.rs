//! `bench-files [--size-mib N] [--rounds N] [--only ROW] [--smoke]`: file-transfer throughput on loopback
//! beside a raw-TCP copy of the same bytes.
//!
//! Every row copies the same file to a new file over 127.0.0.1 in 256 KiB pieces:
//! - raw TCP, tokio: a bare `TcpStream`, files through `tokio::fs`, as a tokio program writes
//!   it; the baseline the ratios are taken against;
//! - raw TCP, blocking threads: `std::net` and `std::fs` on one thread per end, no runtime;
//! - SHA-256 alone: hashing the bytes already in memory on one core, the bound of any
//!   transfer whose receiver verifies a SHA-256 (one stream's hash cannot use two cores);
//! - `mywebsocket-files` both ways (upload: client to server, masked; download: server to
//!   client): offer, chunks within the window, acks, SHA-256 on the receiver, the file placed
//!   only once verified; the sender's file is opened with `Transfers::send_file` and its
//!   SHA-256 computed before timing, as an application that knows it would.
//!
//! Prints MB/s (median of the rounds) and the ratios; asserts nothing about speed.
//! `--only raw|blocking|sha256|upload|download` runs one row (to profile it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mywebsocket::{connect, Upgrader, WebSocket};
use mywebsocket_files::{FileMeta, Incoming, ReceiveOptions, Transfers};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "../../../mywebsocket-files/tests/support/random_file.rs"]
mod random_file;

const PIECE: usize = 256 << 10;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value = |flag: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let size = value("--size-mib", if smoke { 16 } else { 512 }) << 20;
    let rounds = value("--rounds", if smoke { 1 } else { 3 });
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|key| Row::parse(key))
        .transpose()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(size, rounds, only))
}

async fn run(size: u64, rounds: u64, only: Option<Row>) -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("bench-files-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let result = measure(&dir, size, rounds, only).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

/// The rows, in the order they run in each round.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    Raw,
    Blocking,
    Sha256,
    Upload,
    Download,
}

impl Row {
    const ALL: [Self; 5] = [
        Self::Raw,
        Self::Blocking,
        Self::Sha256,
        Self::Upload,
        Self::Download,
    ];

    /// The name `--only` takes.
    fn key(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Blocking => "blocking",
            Self::Sha256 => "sha256",
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Raw => "raw TCP, tokio (tokio::fs, TcpStream)",
            Self::Blocking => "raw TCP, blocking threads (std::fs, std::net)",
            Self::Sha256 => "SHA-256 of the bytes in memory, one core",
            Self::Upload => "mywebsocket-files upload (client to server)",
            Self::Download => "mywebsocket-files download (server to client)",
        }
    }

    fn parse(key: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|row| row.key() == key)
            .ok_or_else(|| {
                format!("--only {key}: not one of raw, blocking, sha256, upload, download").into()
            })
    }
}

async fn measure(dir: &Path, size: u64, rounds: u64, only: Option<Row>) -> Result<(), Error> {
    let source = dir.join("source.bin");
    let sha = random_file::write_random_file(&source, size, 0x9e37_79b9_7f4a_7c15).await?;
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); Row::ALL.len()];
    for round in 0..rounds {
        let out = dir.join(format!("round{round}"));
        tokio::fs::create_dir_all(&out).await?;
        for row in Row::ALL {
            if only.is_some_and(|o| o != row) {
                continue;
            }
            let (src, dest) = (source.clone(), out.join(format!("{}.bin", row.key())));
            let took = match row {
                Row::Raw => raw_tcp_copy(&source, &dest).await?,
                Row::Blocking => {
                    tokio::task::spawn_blocking(move || raw_tcp_copy_blocking(&src, &dest))
                        .await??
                }
                Row::Sha256 => tokio::task::spawn_blocking(move || hash_alone(&src)).await??,
                Row::Upload => file_transfer(&source, size, sha, &out, true).await?,
                Row::Download => file_transfer(&source, size, sha, &out, false).await?,
            };
            times[row as usize].push(took);
        }
        tokio::fs::remove_dir_all(&out).await?;
    }
    let rates: Vec<Option<f64>> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t.get(t.len() / 2)
                .map(|t| size as f64 / t.as_secs_f64() / 1e6)
        })
        .collect();
    println!(
        "file transfer on loopback, {} MiB file to file, median of {rounds}",
        size >> 20
    );
    println!("| copy | MB/s | of raw TCP (tokio) | of SHA-256 alone |");
    println!("| --- | ---: | ---: | ---: |");
    let ratio = |v: f64, of: Option<f64>| {
        of.map_or(String::from("-"), |r| format!("{:.0}%", 100.0 * v / r))
    };
    for (row, rate) in Row::ALL.into_iter().zip(&rates) {
        if let Some(v) = rate {
            println!(
                "| {} | {v:.0} | {} | {} |",
                row.label(),
                ratio(*v, rates[Row::Raw as usize]),
                ratio(*v, rates[Row::Sha256 as usize])
            );
        }
    }
    Ok(())
}

/// The bound any verified transfer meets: the receiver hashes every byte, and SHA-256 of one
/// stream cannot be split across cores. Timed on bytes already in memory.
fn hash_alone(source: &Path) -> Result<Duration, Error> {
    let bytes = std::fs::read(source)?;
    let started = Instant::now();
    let digest = Sha256::digest(&bytes);
    let took = started.elapsed();
    std::hint::black_box(digest);
    Ok(took)
}

/// The same copy with blocking sockets and files, one thread per end: no async runtime, no
/// extra buffer between the file and the socket.
fn raw_tcp_copy_blocking(source: &Path, dest: &Path) -> Result<Duration, Error> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dest = dest.to_owned();
    let started = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept()?;
        let mut file = std::fs::File::create(dest)?;
        let mut buf = vec![0; PIECE];
        loop {
            let n = tcp.read(&mut buf)?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            file.write_all(&buf[..n])?;
        }
    });
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let mut file = std::fs::File::open(source)?;
    let mut buf = vec![0; PIECE];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tcp.write_all(&buf[..n])?;
    }
    tcp.shutdown(std::net::Shutdown::Write)?;
    receiver.join().map_err(|_| "receiver panicked")??;
    Ok(started.elapsed())
}

async fn raw_tcp_copy(source: &Path, dest: &Path) -> Result<Duration, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let dest = dest.to_owned();
    let started = Instant::now();
    let receiver = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await?;
        let mut file = tokio::fs::File::create(dest).await?;
        let mut buf = vec![0; PIECE];
        loop {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).await?;
        }
        file.flush().await?;
        Ok::<_, std::io::Error>(())
    });
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut file = tokio::fs::File::open(source).await?;
    let mut buf = vec![0; PIECE];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tcp.write_all(&buf[..n]).await?;
    }
    tcp.shutdown().await?;
    receiver.await??;
    Ok(started.elapsed())
}

async fn file_transfer(
    source: &Path,
    size: u64,
    sha: [u8; 32],
    out: &Path,
    upload: bool,
) -> Result<Duration, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        Ok::<_, Error>(Upgrader::default().accept(tcp).await?)
    });
    let (client, _) = connect(&url).await?;
    let server = server.await??;
    let (sender, receiver) = if upload {
        (client, server)
    } else {
        (server, client)
    };
    let receiving = end(receiver, out.to_owned());
    let sending = end(sender, out.to_owned());
    let started = Instant::now();
    let file = tokio::fs::File::open(source).await?;
    let name = if upload { "up.bin" } else { "down.bin" };
    let handle = sending.send_file(file, FileMeta::new(name, size, sha));
    let received = receiving.next_incoming().await;
    let elapsed = started.elapsed();
    handle.finish().await?;
    match received {
        Some(Incoming::Received(r)) if r.size == size => Ok(elapsed),
        other => Err(format!("transfer failed: {other:?}").into()),
    }
}

/// One end with its read loop, as an application runs it.
fn end(ws: WebSocket, dir: PathBuf) -> Transfers {
    let (mut reader, writer) = ws.split();
    let files = Transfers::new(writer, ReceiveOptions::default().dest_dir(dir));
    let routing = files.clone();
    tokio::spawn(async move {
        while let Ok(msg) = reader.read_msg().await {
            routing.route(msg).await;
        }
        routing.connection_lost();
    });
    files
}
