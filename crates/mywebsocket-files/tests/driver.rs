//! The tokio driver around the state machine: the read path never waits for the connection's
//! writes, control messages are never lost to a cancelled wait, the answer timeout does not
//! count this end's own queue, and a user's cancel does not override a `done` that came first.

mod support;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use mywebsocket::{
    connect_config, connect_with, Config, Message, Upgrader, WebSocket, WriteOptions, Writer,
};
use mywebsocket_files::{
    Control, FileMeta, Reason, ReceiveOptions, Side, TransferError, TransferId, Transfers,
};
use sha2::{Digest, Sha256};
use support::raw::{sha_hex, Raw};
use support::{listen, make_file, start_end, End};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

/// Two connected WebSockets on 127.0.0.1 under `config`, client first.
async fn ws_pair(config: Config) -> (WebSocket, WebSocket) {
    let (listener, url) = listen().await;
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Upgrader::new(server_config).accept(tcp).await.unwrap()
    });
    let (client, _) = connect_config(&url, config).await.unwrap();
    (client, server.await.unwrap())
}

/// Like [`ws_pair`], over sockets with small kernel buffers, so that a peer that stops
/// reading soon stops the other's writes.
async fn small_socket_pair(config: Config) -> (WebSocket, WebSocket) {
    const BUFFER: u32 = 16 << 10;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(BUFFER).unwrap();
    socket.set_send_buffer_size(BUFFER).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Upgrader::new(server_config).accept(tcp).await.unwrap()
    });
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(BUFFER).unwrap();
    socket.set_send_buffer_size(BUFFER).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let request = http::Request::builder()
        .uri(format!("ws://{addr}/"))
        .body(())
        .unwrap();
    let (client, _) = connect_with(tcp, request, config).await.unwrap();
    (client, server.await.unwrap())
}

/// Whether a [`Gated`] stream may write.
#[derive(Default)]
struct Gate {
    closed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    fn set_open(&self, open: bool) {
        self.closed.store(!open, Ordering::SeqCst);
        if open {
            if let Some(waker) = self.waker.lock().unwrap().take() {
                waker.wake();
            }
        }
    }

    fn poll_open(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.closed.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.closed.load(Ordering::SeqCst) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// A TCP stream on 127.0.0.1 whose writes wait while its gate is closed: a stalled uplink,
/// whatever the sockets' buffers.
struct Gated {
    tcp: TcpStream,
    gate: Arc<Gate>,
}

impl AsyncRead for Gated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.gate.poll_open(cx));
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A `Transfers` client with `answer_timeout` and small queues, whose uplink the returned
/// gate stalls, and a raw server.
async fn sender_to_raw_gated(answer_timeout: Duration) -> (End, Raw, Arc<Gate>) {
    let (listener, url) = listen().await;
    let target = listener.local_addr().unwrap();
    let config = small_queues();
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        Upgrader::new(server_config).accept(tcp).await.unwrap()
    });
    let tcp = TcpStream::connect(target).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let gate = Arc::new(Gate::default());
    let stream = Gated {
        tcp,
        gate: gate.clone(),
    };
    let request = http::Request::builder().uri(url).body(()).unwrap();
    let (client, _) = connect_with(stream, request, config).await.unwrap();
    let client = start_end(
        client,
        ReceiveOptions::default().answer_timeout(answer_timeout),
    );
    let raw = Raw {
        ws: server.await.unwrap(),
    };
    (client, raw, gate)
}

/// Small write queues and no write timeout: a deadlock hangs instead of ending the connection.
fn small_queues() -> Config {
    Config::default()
        .write_buffer_size(16 << 10)
        .write_timeout(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_peers_sending_large_files_to_each_other_both_finish() {
    const SIZE: u64 = 48 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (a_in, b_in) = (dir.path().join("a_in"), dir.path().join("b_in"));
    std::fs::create_dir_all(&a_in).unwrap();
    std::fs::create_dir_all(&b_in).unwrap();
    let (a_file, b_file) = (dir.path().join("from_a.bin"), dir.path().join("from_b.bin"));
    let a_sha = make_file(&a_file, SIZE, 1).await;
    let b_sha = make_file(&b_file, SIZE, 2).await;
    let (client, server) = small_socket_pair(small_queues()).await;
    let a = start_end(client, ReceiveOptions::default().dest_dir(&a_in));
    let b = start_end(server, ReceiveOptions::default().dest_dir(&b_in));

    let both = async {
        let from_a = a.files.send_path(&a_file, "", None).await.unwrap();
        let from_b = b.files.send_path(&b_file, "", None).await.unwrap();
        let (sent_a, sent_b) = tokio::join!(from_a.finish(), from_b.finish());
        sent_a.unwrap();
        sent_b.unwrap();
        let (at_b, at_a) = tokio::join!(b.files.next_incoming(), a.files.next_incoming());
        for (incoming, sha) in [(at_b, a_sha), (at_a, b_sha)] {
            match incoming {
                Some(mywebsocket_files::Incoming::Received(r)) => assert_eq!(r.sha256, sha),
                other => panic!("{other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), both)
        .await
        .expect("both transfers finish: neither read loop may wait for its own writes");
}

/// With the uplink stalled: queues an application message larger than the write queue, so
/// whatever is written next waits in this end's queue until the uplink recovers (the queue
/// counts a batch until it is on the socket).
async fn fill_queue(writer: &Writer) {
    // Not deflated: it has to take its room in the queue.
    let raw = WriteOptions::default().compress(false);
    writer
        .write_binary_with(Bytes::from(vec![0u8; 64 << 10]), &raw)
        .await
        .unwrap();
}

/// The next message that is not one of `fill_queue`'s.
async fn next_file_message(raw: &mut Raw) -> Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), raw.ws.read_msg())
            .await
            .expect("a file-transfer message within 10 s")
            .expect("the connection stays up");
        if Transfers::is_file_message(&msg) {
            return msg;
        }
    }
}

async fn next_control(raw: &mut Raw) -> Control {
    let msg = next_file_message(raw).await;
    serde_json::from_str(msg.as_text().expect("a control message")).unwrap()
}

fn one_chunk_file() -> (Vec<u8>, FileMeta) {
    let content = vec![7u8; 1000];
    let meta = FileMeta::new("f.bin", 1000, Sha256::digest(&content).into());
    (content, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_cancel_queued_behind_a_full_queue_is_not_lost() {
    let timeout = Duration::from_millis(1000);
    let (client, mut raw, gate) = sender_to_raw_gated(timeout).await;
    let (content, meta) = one_chunk_file();
    let handle = client
        .files
        .send_reader(std::io::Cursor::new(content), meta);
    let Control::Offer { id, size, .. } = next_control(&mut raw).await else {
        panic!("no offer")
    };
    accept_whole(&mut raw, id, size).await;
    assert!(next_file_message(&mut raw).await.is_binary());
    // The receiver stays silent and the uplink stalls: the sender's `cancel{timeout}` has to
    // wait for room behind the application's messages.
    gate.set_open(false);
    fill_queue(&client.writer).await;
    let finished = tokio::spawn(handle.finish());
    // The uplink recovers once the cancel is due (the scenario, not a synchronisation).
    tokio::time::sleep(timeout * 2).await;
    gate.set_open(true);
    match next_control(&mut raw).await {
        Control::Cancel {
            id: c,
            reason: Reason::Timeout,
            ..
        } => assert_eq!(c, id),
        other => panic!("expected cancel{{timeout}}, got {other:?}"),
    }
    assert!(matches!(
        finished.await.unwrap(),
        Err(TransferError::Cancelled {
            by: Side::Local,
            reason: Reason::Timeout,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_in_the_senders_own_queue_is_not_an_answer_timeout() {
    let timeout = Duration::from_millis(400);
    let (client, mut raw, gate) = sender_to_raw_gated(timeout).await;
    // A stalled uplink: the queue is full and stays so for longer than the answer timeout,
    // while the receiver answers at once whatever reaches it.
    gate.set_open(false);
    fill_queue(&client.writer).await;
    let (content, meta) = one_chunk_file();
    let sha256 = sha_hex(&content);
    let handle = client
        .files
        .send_reader(std::io::Cursor::new(content), meta);
    // The link is stalled (the scenario, not a synchronisation): nothing is read meanwhile.
    tokio::time::sleep(timeout * 3).await;
    gate.set_open(true);
    let Control::Offer { id, size, .. } = next_control(&mut raw).await else {
        panic!("no offer")
    };
    accept_whole(&mut raw, id, size).await;
    match next_file_message(&mut raw).await {
        Message::Binary(_) => {}
        other => panic!("expected the chunk, got {other:?}"),
    }
    raw.send(&Control::Done { id, sha256 }).await;
    let sent = tokio::time::timeout(Duration::from_secs(10), handle.finish())
        .await
        .expect("the sender finishes")
        .expect("a receiver that answered at once is not timed out");
    assert_eq!(sent.size, 1000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancel_after_done_arrived_reports_the_file_sent() {
    let (client, server) = ws_pair(Config::default()).await;
    // This test is the client's read loop, so it decides when `done` is routed.
    let (mut reader, writer) = client.split();
    let files = Transfers::new(writer, ReceiveOptions::default());
    let mut raw = Raw { ws: server };
    let (content, meta) = one_chunk_file();
    let sha256 = sha_hex(&content);
    let handle = files.send_reader(std::io::Cursor::new(content), meta);
    let Control::Offer { id, size, .. } = raw.next().await else {
        panic!("no offer")
    };
    accept_whole(&mut raw, id, size).await;
    assert!(files
        .route(reader.read_msg().await.unwrap())
        .await
        .is_none());
    let chunk_msg = raw.ws.read_msg().await.unwrap();
    assert!(chunk_msg.is_binary());
    raw.send(&Control::Done { id, sha256 }).await;
    assert!(files
        .route(reader.read_msg().await.unwrap())
        .await
        .is_none());
    // `done` is in; the sending task has not looked yet (one thread, no await since).
    handle.cancel();
    let sent = handle.finish().await.expect("done came before the cancel");
    assert_eq!(sent.id, id);
    // And the receiver hears no cancel.
    tokio::spawn(async move {
        while let Ok(msg) = reader.read_msg().await {
            let _ = files.route(msg).await;
        }
    });
    raw.assert_silent().await;
}

#[test]
fn a_receiver_limit_of_zero_counts_as_one() {
    assert_eq!(
        ReceiveOptions::default().max_concurrent(0).max_concurrent,
        1
    );
}

/// Accepts transfer `id` from offset 0 with a window and chunk size of the whole file.
async fn accept_whole(raw: &mut Raw, id: TransferId, size: u64) {
    raw.send(&Control::Accept {
        id,
        offset: 0,
        window: size,
        max_chunk: size,
    })
    .await;
}
