//! The `Sink` of a connection keeps its waits apart: a `poll_close` after a `poll_flush` (or a
//! `poll_ready`) that returned `Pending` still queues and sends the close frame, and
//! `poll_ready` does not allocate while the write queue has room.
//!
//! Most tests run over `tokio::io::duplex` with a small buffer, so a peer that does not read
//! blocks our writes deterministically; the peer is tokio-tungstenite on the other end.
//! Allocations are counted per thread by this binary's global allocator, so tests running in
//! parallel do not see each other's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use futures_util::{Sink, SinkExt, StreamExt};
use mywebsocket::{Config, Message, Role, Upgrader, WebSocket};
use mywebsocket_tests::{bounded, our_server_and_tungstenite_client, pattern, Task};
use tokio::io::DuplexStream;
use tokio_tungstenite::WebSocketStream;

/// Counts the allocations made on each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: an allocation while the thread's locals are torn down goes uncounted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made on this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counting touches only a `Cell` in a thread local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The duplex's buffer in each direction: far below the messages written, so a peer that does
/// not read leaves our writes blocked.
const PIPE: usize = 4 << 10;

/// A message much larger than [`PIPE`].
const LARGE: usize = 256 << 10;

/// Our connection in `role` (no heartbeat: nothing is written but what a test sends) and a
/// tokio-tungstenite peer in the other role, over an in-memory pipe.
async fn pair(role: Role, config: Config) -> (WebSocket, WebSocketStream<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let ws = WebSocket::from_upgraded(ours, role, config.no_heartbeat());
    let peer_role = match role {
        Role::Server => tungstenite::protocol::Role::Client,
        _ => tungstenite::protocol::Role::Server,
    };
    let peer = WebSocketStream::from_raw_socket(theirs, peer_role, None).await;
    (ws, peer)
}

/// Polls the sink's `poll_flush` once.
async fn poll_flush_once(ws: &mut WebSocket) -> Poll<mywebsocket::Result<()>> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *ws).poll_flush(cx))).await
}

/// Polls the sink's `poll_ready` once.
async fn poll_ready_once(ws: &mut WebSocket) -> Poll<mywebsocket::Result<()>> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *ws).poll_ready(cx))).await
}

/// The peer, in a task of its own: reads a binary message of `pattern(len, seed)` for each of
/// `expected`, then a close frame with code 1000, then reads on (tungstenite answers the close
/// meanwhile) until the connection ends.
fn spawn_peer(mut peer: WebSocketStream<DuplexStream>, expected: Vec<(usize, u8)>) -> Task<()> {
    Task::spawn(async move {
        peer_reads_data_then_close(&mut peer, &expected).await;
    })
}

async fn peer_reads_data_then_close(
    peer: &mut WebSocketStream<DuplexStream>,
    expected: &[(usize, u8)],
) {
    for &(len, seed) in expected {
        match peer.next().await {
            Some(Ok(tungstenite::Message::Binary(data))) => {
                assert_eq!(data.len(), len, "the data message, whole");
                assert!(
                    data[..] == pattern(len, seed)[..],
                    "the data message's bytes"
                );
            }
            other => panic!("expected the binary message, got {other:?}"),
        }
    }
    match peer.next().await {
        Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1000, "{frame:?}");
        }
        other => panic!("expected the close frame after the data, got {other:?}"),
    }
    while let Some(Ok(_)) = peer.next().await {}
}

/// Our side reads the peer's answer to our close, and the end of the stream.
async fn we_see_the_close_answer(ws: &mut WebSocket) {
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, mywebsocket::CloseCode::NORMAL);
        }
        other => panic!("expected the peer's close answer, got {other:?}"),
    }
    assert!(ws.next().await.is_none(), "the stream ends after the close");
}

/// `poll_flush` returns `Pending` (the peer is not reading a large message) and is not polled
/// again, as when `SinkExt::flush` loses a `select!`; then `SinkExt::close`. The close frame
/// must be queued and sent behind the data: with one untagged wait for all three operations,
/// the close completed on the old flush wait and the close frame was never queued.
async fn close_after_cancelled_flush(role: Role) {
    bounded(async {
        let (mut ws, peer) = pair(role, Config::default()).await;
        ws.feed(Message::binary(pattern(LARGE, 1))).await.unwrap();
        assert!(
            poll_flush_once(&mut ws).await.is_pending(),
            "the peer is not reading: the flush cannot finish"
        );

        // Now the peer reads.
        let peer = spawn_peer(peer, vec![(LARGE, 1)]);
        SinkExt::close(&mut ws).await.expect("poll_close");
        assert!(
            ws.writer().is_closed(),
            "poll_close returned without queueing the close frame"
        );
        we_see_the_close_answer(&mut ws).await;
        peer.join().await;
    })
    .await;
}

#[tokio::test]
async fn server_close_after_cancelled_flush_sends_the_close_after_the_data() {
    close_after_cancelled_flush(Role::Server).await;
}

#[tokio::test]
async fn client_close_after_cancelled_flush_sends_the_close_after_the_data() {
    close_after_cancelled_flush(Role::Client).await;
}

/// `poll_ready` returns `Pending` (the queue is full and the peer is not reading), then
/// `SinkExt::close`: the close is queued behind the data, not taken as the end of the wait
/// for room.
#[tokio::test]
async fn close_after_pending_ready_sends_the_close_after_the_data() {
    bounded(async {
        let config = Config::default().write_buffer_size(PIPE);
        let (mut ws, peer) = pair(Role::Server, config).await;
        ws.feed(Message::binary(pattern(LARGE, 2))).await.unwrap();
        assert!(
            poll_ready_once(&mut ws).await.is_pending(),
            "the queue is over its limit and the peer is not reading"
        );

        let peer = spawn_peer(peer, vec![(LARGE, 2)]);
        SinkExt::close(&mut ws).await.expect("poll_close");
        assert!(
            ws.writer().is_closed(),
            "poll_close returned without queueing the close frame"
        );
        we_see_the_close_answer(&mut ws).await;
        peer.join().await;
    })
    .await;
}

/// A flush started before `start_send` does not cover the new message: after
/// `poll_flush` → `Pending`, `start_send`, the next flush waits for both messages.
#[tokio::test]
async fn flush_after_start_send_covers_the_new_message() {
    bounded(async {
        let (mut ws, mut peer) = pair(Role::Server, Config::default()).await;
        ws.feed(Message::binary(pattern(LARGE, 3))).await.unwrap();
        assert!(poll_flush_once(&mut ws).await.is_pending());
        ws.feed(Message::binary(pattern(LARGE, 4))).await.unwrap();

        let reader = async {
            for seed in [3, 4] {
                match peer.next().await {
                    Some(Ok(tungstenite::Message::Binary(data))) => {
                        assert!(data[..] == pattern(LARGE, seed)[..]);
                    }
                    other => panic!("expected message {seed}, got {other:?}"),
                }
            }
        };
        let (flushed, ()) = tokio::join!(SinkExt::flush(&mut ws), reader);
        flushed.unwrap();
        // Both messages are on the pipe: nothing of ours is left to write.
        assert!(poll_flush_once(&mut ws).await.is_ready());
    })
    .await;
}

/// `poll_ready` with room in the queue is `Ready` at once and allocates nothing, call after
/// call; when the queue is full it waits, and polling that wait again allocates nothing more.
#[tokio::test]
async fn poll_ready_does_not_allocate() {
    bounded(async {
        let config = Config::default().write_buffer_size(64 << 10);
        let (mut ws, mut peer) = pair(Role::Server, config).await;

        let (before, after) = poll_fn(|cx| {
            let before = allocations();
            for _ in 0..1000 {
                match Pin::new(&mut ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    other => panic!("the queue has room: {other:?}"),
                }
            }
            Poll::Ready((before, allocations()))
        })
        .await;
        assert_eq!(
            after - before,
            0,
            "1000 poll_ready calls with room allocated"
        );

        // Fill the queue past its limit; the peer does not read, so it stays full.
        ws.feed(Message::binary(pattern(LARGE, 5))).await.unwrap();
        let (first, repeated) = poll_fn(|cx| {
            let start = allocations();
            assert!(Pin::new(&mut ws).poll_ready(cx).is_pending());
            let after_first = allocations();
            for _ in 0..100 {
                assert!(Pin::new(&mut ws).poll_ready(cx).is_pending());
            }
            Poll::Ready((after_first - start, allocations() - after_first))
        })
        .await;
        assert!(first <= 1, "the first wait made {first} allocations");
        assert_eq!(repeated, 0, "polling the same wait again allocated");

        // Once the peer reads, the wait ends and the message is delivered.
        let (ready, received) =
            tokio::join!(poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)), peer.next());
        ready.unwrap();
        match received {
            Some(Ok(tungstenite::Message::Binary(data))) => assert_eq!(data.len(), LARGE),
            other => panic!("expected the binary message, got {other:?}"),
        }
    })
    .await;
}

/// The ordinary sequence over TCP: `poll_ready`, `start_send`, `poll_flush`, `poll_close`;
/// the peer (tokio-tungstenite) receives the message and then our close, and answers it.
#[tokio::test]
async fn ready_send_flush_close_over_tcp() {
    bounded(async {
        let (mut ws, mut peer) = our_server_and_tungstenite_client(Upgrader::default()).await;
        let peer_task = Task::spawn(async move {
            let mut seen = Vec::new();
            while let Some(Ok(msg)) = peer.next().await {
                seen.push(msg);
            }
            seen
        });

        poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx))
            .await
            .unwrap();
        Pin::new(&mut ws)
            .start_send(Message::text("hello"))
            .unwrap();
        poll_fn(|cx| Pin::new(&mut ws).poll_flush(cx))
            .await
            .unwrap();
        poll_fn(|cx| Pin::new(&mut ws).poll_close(cx))
            .await
            .unwrap();
        we_see_the_close_answer(&mut ws).await;

        let seen = peer_task.join().await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], tungstenite::Message::text("hello"));
        match &seen[1] {
            tungstenite::Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
            other => panic!("expected our close, got {other:?}"),
        }
    })
    .await;
}
