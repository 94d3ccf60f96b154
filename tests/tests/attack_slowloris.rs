//! Slowloris: a thousand connections that trickle an endless HTTP head. They must not keep a
//! normal client from connecting and echoing promptly, and each must be closed when the
//! handshake timeout passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mywebsocket::{CloseCode, Config, Message, Upgrader};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{bounded, connect_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

const SLOW_CLIENTS: usize = 1000;
/// Long enough for all the slow clients to connect on a busy 2-core machine before the first
/// of them times out.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often each slow client sends one more byte of its head.
const TRICKLE: Duration = Duration::from_millis(250);
/// The bound the issue sets for a normal client's connect and echo during the attack.
const PROMPT: Duration = Duration::from_millis(100);
/// How late after the timeout a slow client may see its connection closed: 1000 sockets
/// close in the same instant, on a debug build.
const CLOSE_SLACK: Duration = Duration::from_secs(3);

/// Each test opens a few thousand sockets (both ends are in this process).
fn raise_fd_limit() {
    rlimit::increase_nofile_limit(20_000).expect("raise RLIMIT_NOFILE");
}

/// Slow clients connecting at the same time: more would overflow the listen backlog while the
/// debug-built accept loop catches up, and the kernel would drop connections the test counts.
const CONNECTING_AT_ONCE: usize = 64;

/// One slowloris client: sends a request line, then one header byte every [`TRICKLE`],
/// never ending the head. Reports when it started trickling, then returns how long after it
/// began connecting, and after it was connected, the server closed the connection.
async fn slowloris(
    addr: std::net::SocketAddr,
    connecting: Arc<Semaphore>,
    started: mpsc::Sender<()>,
) -> (Duration, Duration) {
    let permit = connecting.acquire_owned().await.expect("semaphore open");
    // The server's clock starts between these two instants.
    let connecting_at = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let connected = Instant::now();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("first bytes");
    started.send(()).await.expect("test still waiting");
    drop(permit);
    let mut ticks = tokio::time::interval(TRICKLE);
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if tcp.write_all(b"a").await.is_err() {
                    return (connecting_at.elapsed(), connected.elapsed());
                }
            }
            // The server sends nothing before it closes; end of stream or reset both end it.
            read = tcp.read(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => return (connecting_at.elapsed(), connected.elapsed()),
                    Ok(_) => panic!("the server answered a request that never ended its head"),
                }
            }
        }
    }
}

/// Connects, echoes one message and closes; returns how long the connect and echo took.
async fn normal_client(addr: std::net::SocketAddr) -> Duration {
    let start = Instant::now();
    let mut ws = connect_client(addr, Config::default()).await;
    ws.write_string("hello").await.unwrap();
    assert_eq!(ws.read_msg().await.unwrap(), Message::text("hello"));
    let took = start.elapsed();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_do_not_block_others_and_are_closed_at_the_handshake_timeout() {
    raise_fd_limit();
    bounded(async {
        let upgrader = Upgrader::new(Config::default().handshake_timeout(HANDSHAKE_TIMEOUT));
        let (addr, _server) = spawn_echo_server_many(upgrader).await;

        let (started_tx, mut started_rx) = mpsc::channel(SLOW_CLIENTS);
        let connecting = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
        let slow: Vec<_> = (0..SLOW_CLIENTS)
            .map(|_| {
                let (connecting, started) = (Arc::clone(&connecting), started_tx.clone());
                tokio::spawn(slowloris(addr, connecting, started))
            })
            .collect();
        drop(started_tx);
        let attack_began = Instant::now();
        for _ in 0..SLOW_CLIENTS {
            started_rx
                .recv()
                .await
                .expect("a slow client failed to start");
        }
        let all_connected = attack_began.elapsed();
        assert!(
            all_connected < HANDSHAKE_TIMEOUT,
            "connecting {SLOW_CLIENTS} clients took {all_connected:?}: the attack never ran in full"
        );

        // During the attack: a normal client still connects and echoes promptly. The median
        // of five, so that one scheduling hiccup of this shared machine does not decide.
        let mut took = Vec::new();
        for _ in 0..5 {
            took.push(normal_client(addr).await);
        }
        assert!(
            attack_began.elapsed() < HANDSHAKE_TIMEOUT,
            "the normal clients ran after the attack had ended"
        );
        took.sort();
        eprintln!("normal client connect + echo during the attack: {took:?}");
        assert!(took[2] < PROMPT, "connect + echo took {took:?}");

        // Every slow client is closed at the timeout: not before, and not much after.
        let mut closed = Vec::new();
        for task in slow {
            closed.push(task.await.expect("slow client"));
        }
        let earliest = closed.iter().map(|c| c.0).min().expect("clients");
        let latest = closed.iter().map(|c| c.1).max().expect("clients");
        eprintln!("slow clients closed between {earliest:?} and {latest:?} after connecting");
        assert!(earliest >= HANDSHAKE_TIMEOUT, "{earliest:?}");
        assert!(latest <= HANDSHAKE_TIMEOUT + CLOSE_SLACK, "{latest:?}");
    })
    .await;
}
