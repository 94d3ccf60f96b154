//! Shared test helpers: connected pairs on 127.0.0.1, a killable proxy, file generation.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mywebsocket::{connect, Message, Reader, Upgrader, Writer};
use mywebsocket_files::{ReceiveOptions, Transfers};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod random_file;
pub mod raw;

/// Writes `size` pseudo-random bytes (xorshift, seeded) and returns their SHA-256.
pub async fn make_file(path: &Path, size: u64, seed: u64) -> [u8; 32] {
    random_file::write_random_file(path, size, seed)
        .await
        .expect("write the test file")
}

/// One end: its transfers and the application messages its read loop handed back.
pub struct End {
    pub files: Transfers,
    pub writer: Writer,
    pub app: mpsc::Receiver<Message>,
    pub read_loop: JoinHandle<()>,
}

/// Runs the read loop an application would: route, pass the rest on.
pub fn start_end(ws: mywebsocket::WebSocket, options: ReceiveOptions) -> End {
    let (reader, writer) = ws.split();
    let files = Transfers::new(writer.clone(), options);
    let (tx, app) = mpsc::channel(1024);
    let read_loop = tokio::spawn(read_loop(reader, files.clone(), tx));
    End {
        files,
        writer,
        app,
        read_loop,
    }
}

async fn read_loop(mut reader: Reader, files: Transfers, app: mpsc::Sender<Message>) {
    while let Ok(msg) = reader.read_msg().await {
        if let Some(msg) = files.route(msg).await {
            if app.send(msg).await.is_err() {
                break;
            }
        }
    }
    files.connection_lost();
}

/// A server end accepting one connection, plus the URL to reach it.
pub async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// Client and server ends over TCP on 127.0.0.1.
pub async fn pair(client_options: ReceiveOptions, server_options: ReceiveOptions) -> (End, End) {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Upgrader::default().accept(tcp).await.unwrap()
    });
    let (client, _) = connect(&url).await.unwrap();
    let server = server.await.unwrap();
    (
        start_end(client, client_options),
        start_end(server, server_options),
    )
}

/// A TCP proxy for one connection that counts client-to-server bytes and can be cut.
pub struct Proxy {
    pub url: String,
    pub up_bytes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Proxies the first connection to `target` (host:port).
    pub async fn start(target: String, up_bytes: Arc<AtomicU64>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let counter = up_bytes.clone();
        let task = tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let server = TcpStream::connect(target).await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let up = async {
                let mut buf = vec![0; 64 << 10];
                loop {
                    use tokio::io::AsyncReadExt;
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let down = tokio::io::copy(&mut sr, &mut cw);
            tokio::select! { _ = up => {}, _ = down => {} }
        });
        Self {
            url,
            up_bytes,
            task,
        }
    }

    /// Cuts the connection: both sockets close at once, mid-message.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
