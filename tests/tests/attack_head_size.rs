//! A head that never ends, sent fast by many clients at once: each is refused at
//! `Config::max_head_size` with 431, long before the handshake timeout.

use std::time::Instant;

use mywebsocket::{Config, Upgrader};
use mywebsocket_tests::bounded;
use mywebsocket_tests::server::spawn_echo_server_many;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_heads_sent_fast_are_refused_with_431_at_the_size_limit() {
    bounded(async {
        const CLIENTS: usize = 100;
        let upgrader = Upgrader::new(Config::default());
        let max_head = upgrader.config().max_head_size;
        let (addr, _server) = spawn_echo_server_many(upgrader).await;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(async move {
                    let start = Instant::now();
                    let tcp = TcpStream::connect(addr).await.expect("connect");
                    let (mut read, mut write) = tcp.into_split();
                    // Writes until the server closes; the head would never end.
                    let flood = tokio::spawn(async move {
                        write
                            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                            .await?;
                        // One header line that never ends.
                        write.write_all(b"X-Flood: ").await?;
                        loop {
                            write.write_all(&[b'a'; 1024]).await?;
                        }
                        #[allow(unreachable_code)]
                        Ok::<(), std::io::Error>(())
                    });
                    let mut reply = Vec::new();
                    // A reset after the reply (the server closes with our flood unread) also
                    // ends the read; what arrived before it is kept.
                    let _ = read.read_to_end(&mut reply).await;
                    flood.abort();
                    (start.elapsed(), reply)
                })
            })
            .collect();
        for client in clients {
            let (took, reply) = client.await.expect("client");
            let reply = String::from_utf8_lossy(&reply);
            assert!(
                reply.starts_with("HTTP/1.1 431 "),
                "expected 431, got {reply:?}"
            );
            assert!(reply.contains(&format!("{max_head}")), "{reply}");
            // Refused for its size, not left to time out.
            assert!(took < Config::default().handshake_timeout, "{took:?}");
        }
    })
    .await;
}
