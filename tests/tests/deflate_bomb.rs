//! Decompression bombs (RFC 7692 §8): a few KiB of deflate data that inflate to many times
//! the message limit must end the connection with 1009 and `Error::MessageTooBig`, having
//! cost no more memory than the limit, in both roles and when the bomb is fragmented.
//!
//! Memory is measured by a counting global allocator, which is why these tests have a file
//! (a test binary) of their own. The counters are per thread: each `#[tokio::test]` runs its
//! current-thread runtime, our connection's reader and its writer task on the test's thread,
//! so tests running in parallel do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mywebsocket::{Config, Error, Message, Upgrader, WebSocket};
use mywebsocket_tests::{
    bounded, connect_client, deflate_message, encode_frame, listen, raw_frame, rsv1_frame,
    spawn_accept, RawPeer, Task,
};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;

/// The message limit of the end under attack.
const LIMIT: usize = 1 << 20;

/// What the end under attack may allocate beyond the limit while it reads a bomb: read
/// buffer growth for the compressed frame and bookkeeping (zlib's inflate state is allocated
/// with the connection, before the measurement). Measured: about 5 KiB. An inflater that did
/// not stop at the limit would allocate the whole 8 MiB; one that grew its buffer by doubling
/// past the limit, 2 MiB.
const MARGIN: usize = 128 << 10;

/// How much the bomb inflates to: eight times the limit.
const BOMB_SIZE: usize = 8 << 20;

const KEY: Option<[u8; 4]> = Some([0x0b, 0x0a, 0x0d, 0x0e]);

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of memory from other threads
    /// count too; only differences over a short window are used).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The most `LIVE` has been since the last [`reset_peak`].
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Passes every call to [`System`] and counts the bytes per thread.
struct CountingAllocator;

fn count(delta: isize) {
    // `try_with`: the thread-locals have no destructor, but be safe during thread teardown.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).expect("allocation sizes fit in isize")
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counting touches only const-initialized thread-locals
// without destructors, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through here) with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size` is valid for
        // `layout`'s alignment.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as a resize: large blocks are moved by remapping pages, not by holding
            // both copies.
            count(size(new_size) - size(layout.size()));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Starts a measurement: returns this thread's live bytes now, and sets the peak to them.
fn reset_peak() -> isize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(live));
    live
}

/// The most this thread had allocated since `baseline` was taken with [`reset_peak`].
fn peak_since(baseline: isize) -> usize {
    usize::try_from(PEAK.with(Cell::get) - baseline).unwrap_or(0)
}

/// [`BOMB_SIZE`] zeros, compressed at level 9 as one permessage-deflate message (context
/// reset, sync flush, tail stripped), with flate2 directly.
fn bomb() -> Vec<u8> {
    let mut deflater =
        flate2::Compress::new_with_window_bits(flate2::Compression::best(), false, 15);
    let bomb = deflate_message(&mut deflater, &vec![0u8; BOMB_SIZE]);
    assert!(
        bomb.len() < 16 << 10,
        "{BOMB_SIZE} zeros compress to a few KiB, not {}",
        bomb.len()
    );
    bomb
}

/// The bomb as frames: one, or `pieces` fragments with RSV1 on the first only.
fn bomb_frames(bomb: &[u8], pieces: usize, mask: Option<[u8; 4]>) -> Vec<u8> {
    let chunk = bomb.len().div_ceil(pieces);
    let mut wire = Vec::new();
    for (i, piece) in bomb.chunks(chunk).enumerate() {
        let fin = (i + 1) * chunk >= bomb.len();
        let frame: Frame = if i == 0 {
            rsv1_frame(fin, OpCode::Data(Data::Binary), piece.to_vec(), mask)
        } else {
            raw_frame(fin, OpCode::Data(Data::Continue), piece.to_vec(), mask)
        };
        wire.extend_from_slice(&encode_frame(frame));
    }
    wire
}

/// Reads the bomb at `ws` and checks the error and the memory it cost.
async fn read_bomb(ws: &mut WebSocket, what: &str) {
    let baseline = reset_peak();
    let err = ws.read_msg().await.unwrap_err();
    let peak = peak_since(baseline);
    assert!(
        matches!(err, Error::MessageTooBig { size, limit: LIMIT } if size > LIMIT as u64),
        "{what}: {err:?}"
    );
    assert!(
        peak <= LIMIT + MARGIN,
        "{what}: reading the bomb allocated {peak} bytes at its peak; the limit is {LIMIT}"
    );
}

/// Our server with the limit and compression on, and a raw client that negotiated it.
async fn server_and_raw_client() -> (WebSocket, RawPeer) {
    let config = Config::default().no_heartbeat().max_message_size(LIMIT);
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let (peer, headers) = RawPeer::connect_with(
        addr,
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        &[],
    )
    .await;
    assert!(
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-extensions")
                && v == "permessage-deflate"),
        "compression not negotiated: {headers:?}"
    );
    let server = accept.join().await.expect("our server's handshake");
    assert!(server.is_compressed());
    (server, peer)
}

/// Sends the bomb in `fragments` frames from a raw client; our server must fail the read
/// within the limit (`what` names the case) and close with 1009.
async fn bomb_to_our_server(fragments: usize, what: &str) {
    let wire = bomb_frames(&bomb(), fragments, KEY);
    let (mut server, mut peer) = server_and_raw_client().await;
    peer.send_bytes(&wire).await;
    read_bomb(&mut server, what).await;
    assert_eq!(peer.read_close().await.0, 1009);
    peer.expect_eof().await;
}

#[tokio::test]
async fn bomb_to_our_server_closes_with_1009_within_the_limit() {
    bounded(bomb_to_our_server(1, "one frame")).await;
}

#[tokio::test]
async fn fragmented_bomb_to_our_server_closes_with_1009_within_the_limit() {
    // Every fragment is a few hundred bytes, far under the limit; the message is not.
    bounded(bomb_to_our_server(16, "16 fragments")).await;
}

#[tokio::test]
async fn bomb_to_our_client_closes_with_1009_within_the_limit() {
    bounded(async {
        let wire = bomb_frames(&bomb(), 1, None);
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            RawPeer::accept_with(
                &listener,
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                &wire,
            )
            .await
            .0
        });
        let config = Config::default().no_heartbeat().max_message_size(LIMIT);
        let mut client = connect_client(addr, config).await;
        assert!(client.is_compressed());
        let mut peer = server.join().await;
        read_bomb(&mut client, "to our client").await;
        assert_eq!(peer.read_close().await.0, 1009);
    })
    .await;
}

/// The measurement itself: a legitimate compressed message of exactly the limit is read,
/// and the counter sees at least that much allocated, so the bound above can fail.
#[tokio::test]
async fn message_of_exactly_the_limit_inflates_and_is_counted() {
    bounded(async {
        let mut deflater =
            flate2::Compress::new_with_window_bits(flate2::Compression::best(), false, 15);
        let compressed = deflate_message(&mut deflater, &vec![0u8; LIMIT]);
        let wire = bomb_frames(&compressed, 1, KEY);
        let (mut server, mut peer) = server_and_raw_client().await;
        peer.send_bytes(&wire).await;
        let baseline = reset_peak();
        let message = server.read_msg().await.expect("a message at the limit");
        let peak = peak_since(baseline);
        assert_eq!(message, Message::binary(vec![0u8; LIMIT]));
        assert!(
            peak >= LIMIT,
            "the counter missed the inflated message: peak {peak}"
        );
    })
    .await;
}
