//! A TCP proxy between the page and a node that cuts the page's `/files` connection in the
//! middle of an upload, as a network failure would: both of its sockets are reset (`SO_LINGER`
//! 0, so an RST, not a FIN) once a set number of bytes went from the page to the node. The
//! page's script and the node run unmodified: Chromium sees its socket fail (close code 1006)
//! and the node's reader an `ECONNRESET`, with whatever was in flight lost.
//!
//! Every connection is forwarded (the page's chat socket `/ws` too, since the page derives its
//! `/files` URL from it); the `/files` ones are told apart by their request line and their
//! bytes page → node counted, so the test knows what the page sent on each. After the cut, new
//! `/files` connections are held (accepted, request read, nothing forwarded) until
//! [`CutProxy::release`], so the test sees the page waiting to reconnect (an outage that lasts
//! as long as the test wants, with no timing guess).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The proxy; it stops forwarding (and drops every connection) when dropped.
pub(crate) struct CutProxy {
    /// Where the page connects: `127.0.0.1:PORT`.
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    cut: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// The node, `127.0.0.1:PORT`.
    upstream: String,
    /// The first `/files` connection is cut once this many bytes went page → node on it.
    cut_after: u64,
    /// Bytes page → node on each `/files` connection, in the order they came.
    files: Mutex<Vec<Arc<AtomicU64>>>,
    cut: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

/// What ended a forwarded direction.
enum End {
    /// The side it read from closed (or failed).
    Closed,
    /// The proxy cut the connection.
    Cut,
}

impl CutProxy {
    /// Listens on a free loopback port, forwarding to `upstream`; the first `/files`
    /// connection is cut after `cut_after` bytes from the page.
    pub(crate) async fn start(upstream: &str, cut_after: u64) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut_tx, cut) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            cut_after,
            files: Mutex::new(Vec::new()),
            cut: cut_tx,
            released: watch::channel(false).0,
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection's task.
            let mut connections = JoinSet::new();
            while let Ok((page, _)) = listener.accept().await {
                connections.spawn(forward(page, Arc::clone(&accepting)));
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            shared,
            cut,
            task,
        }
    }

    /// The page's WebSocket URL for the chat, through the proxy.
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Waits until the first `/files` connection was cut; returns the bytes it had forwarded
    /// page → node.
    pub(crate) async fn cut(&self) -> u64 {
        let mut cut = self.cut.clone();
        cut.wait_for(|&done| done).await.expect("the proxy runs");
        self.files_sent()[0]
    }

    /// Lets the `/files` connections held since the cut (and later ones) through.
    pub(crate) fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Bytes page → node on each `/files` connection so far, in order (request and WebSocket
    /// framing included).
    pub(crate) fn files_sent(&self) -> Vec<u64> {
        lock(&self.shared.files)
            .iter()
            .map(|n| n.load(Ordering::Acquire))
            .collect()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forwards one connection of the page; see the module docs.
async fn forward(mut page: TcpStream, shared: Arc<Shared>) {
    // The request line tells `/files` from the rest; it is forwarded with what follows.
    let mut head = Vec::new();
    let mut buf = vec![0; 64 << 10];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match page.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let Ok(mut node) = TcpStream::connect(&shared.upstream).await else {
        return;
    };
    if !head.starts_with(b"GET /files ") {
        if node.write_all(&head).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut page, &mut node).await;
        }
        return;
    }
    let sent = Arc::new(AtomicU64::new(0));
    let first = {
        let mut files = lock(&shared.files);
        files.push(Arc::clone(&sent));
        files.len() == 1
    };
    if !first {
        let mut released = shared.released.subscribe();
        if released.wait_for(|&go| go).await.is_err() {
            return;
        }
    }
    // Resets, not FINs, when the sockets are dropped: what a broken network looks like.
    for socket in [&page, &node] {
        socket.set_zero_linger().expect("set SO_LINGER 0");
    }
    let cut_after = if first { shared.cut_after } else { u64::MAX };
    // Borrowed halves: unlike owned ones, dropping them sends no FIN before the reset.
    let (mut page_read, mut page_write) = page.split();
    let (mut node_read, mut node_write) = node.split();
    let up = async {
        let mut data = head;
        loop {
            if node_write.write_all(&data).await.is_err() {
                return End::Closed;
            }
            let total = sent.fetch_add(data.len() as u64, Ordering::AcqRel) + data.len() as u64;
            if total >= cut_after {
                return End::Cut;
            }
            match page_read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = node_write.shutdown().await;
                    return End::Closed;
                }
                Ok(n) => data = buf[..n].to_vec(),
            }
        }
    };
    let down = async {
        let _ = tokio::io::copy(&mut node_read, &mut page_write).await;
        let _ = page_write.shutdown().await;
    };
    tokio::pin!(up, down);
    tokio::select! {
        end = &mut up => match end {
            End::Cut => {
                // Both sockets are closed on return, with resets.
                shared.cut.send_replace(true);
            }
            End::Closed => down.await,
        },
        () = &mut down => {
            let _ = up.await;
        }
    }
}
