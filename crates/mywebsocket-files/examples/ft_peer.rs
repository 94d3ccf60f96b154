//! One end of a file-transfer connection, run as its own process so tests can measure its
//! memory: `ft_peer listen|connect <url> <recv-dir> <files-to-receive: 0|1> [file-to-send]`.
//!
//! `listen` binds 127.0.0.1:0 and prints `listening <port>`. Each end sends its file (if any)
//! and waits for the peer's, printing `sent <bytes>` and `received <path> <sha256-hex>`. Then it
//! prints `finished` and waits for a line (or end of input) on stdin before exiting, so a
//! test can read its peak memory from /proc/<pid>/status while it is still alive.

use std::io::BufRead;

use mywebsocket::{connect, Upgrader};
use mywebsocket_files::{Incoming, ReceiveOptions, Transfers};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, url, recv_dir, expect, rest @ ..] = args.as_slice() else {
        return Err("usage: ft_peer listen|connect <url> <recv-dir> <0|1> [file-to-send]".into());
    };
    let ws = if mode == "listen" {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?.port());
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        Upgrader::default().accept(tcp).await?
    } else {
        connect(url).await?.0
    };
    let (mut reader, writer) = ws.split();
    let options = ReceiveOptions::default()
        .dest_dir(recv_dir)
        .max_file_size(u64::MAX);
    let files = Transfers::new(writer, options);
    let routing = files.clone();
    let read_loop = tokio::spawn(async move {
        while let Ok(msg) = reader.read_msg().await {
            routing.route(msg).await;
        }
        routing.connection_lost();
    });
    let sending = match rest.first() {
        Some(path) => Some(
            files
                .send_path(path, "application/octet-stream", None)
                .await?,
        ),
        None => None,
    };
    if expect == "1" {
        match files.next_incoming().await {
            Some(Incoming::Received(r)) => {
                println!("received {} {}", r.path.display(), hex::encode(r.sha256))
            }
            other => return Err(format!("no file received: {other:?}").into()),
        }
    }
    if let Some(handle) = sending {
        let sent = handle.finish().await?;
        println!("sent {}", sent.size);
    }
    println!("finished");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    read_loop.abort();
    Ok(())
}
