//! `bench-files [--size-mib N] [--rounds N] [--smoke]`: file-transfer throughput on loopback
//! beside a raw-TCP copy of the same bytes.
//!
//! Both copy file to file over 127.0.0.1 in 256 KiB reads and writes through `tokio::fs`: the
//! raw copy streams the bytes over a bare TCP socket; the file transfer sends them with
//! `mywebsocket-files` (offer, chunks within the window, acks, SHA-256 on the receiver, rename)
//! in both directions (upload: client to server, masked; download: server to client). The
//! sender's SHA-256 is computed before timing, as an application that knows it would. Prints
//! MB/s (median of the rounds) and the ratio to the raw copy; asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mywebsocket::{connect, Upgrader, WebSocket};
use mywebsocket_files::{FileMeta, Incoming, ReceiveOptions, Transfers};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        .cloned();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(size, rounds, only.as_deref()))
}

async fn run(size: u64, rounds: u64, only: Option<&str>) -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("bench-files-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await?;
    let result = measure(&dir, size, rounds, only).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

async fn measure(dir: &Path, size: u64, rounds: u64, only: Option<&str>) -> Result<(), Error> {
    let source = dir.join("source.bin");
    let sha = make_file(&source, size).await?;
    let runs = |copy: &str| only.is_none_or(|o| o == copy);
    let (mut raw, mut up, mut down, mut rawb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let out = dir.join(format!("round{round}"));
        tokio::fs::create_dir_all(&out).await?;
        if runs("raw") {
            raw.push(raw_tcp_copy(&source, &out.join("raw.bin")).await?);
        }
        if runs("rawb") {
            let (source, dest) = (source.clone(), out.join("rawb.bin"));
            rawb.push(
                tokio::task::spawn_blocking(move || raw_tcp_copy_blocking(&source, &dest))
                    .await??,
            );
        }
        if runs("upload") {
            up.push(file_transfer(&source, size, sha, &out, true).await?);
        }
        if runs("download") {
            down.push(file_transfer(&source, size, sha, &out, false).await?);
        }
        tokio::fs::remove_dir_all(&out).await?;
    }
    let mbps = |times: &mut Vec<Duration>| {
        times.sort();
        times
            .get(times.len() / 2)
            .map(|t| size as f64 / t.as_secs_f64() / 1e6)
    };
    let (raw, up, down, rawb) = (
        mbps(&mut raw),
        mbps(&mut up),
        mbps(&mut down),
        mbps(&mut rawb),
    );
    println!(
        "file transfer on loopback, {} MiB file to file, median of {rounds}",
        size >> 20
    );
    println!("| copy | MB/s | of raw TCP |");
    println!("| --- | ---: | ---: |");
    let ratio = |v: f64| raw.map_or(String::from("-"), |r| format!("{:.0}%", 100.0 * v / r));
    for (name, value) in [
        ("raw TCP", raw),
        ("raw TCP blocking", rawb),
        ("mywebsocket-files upload", up),
        ("mywebsocket-files download", down),
    ] {
        if let Some(v) = value {
            println!("| {name} | {v:.0} | {} |", ratio(v));
        }
    }
    Ok(())
}

/// Pseudo-random content (xorshift), so nothing along the way can shortcut it.
async fn make_file(path: &Path, size: u64) -> Result<[u8; 32], Error> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut hasher = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = usize::try_from(left.min(buf.len() as u64))?;
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    file.flush().await?;
    Ok(hasher.finalize().into())
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
