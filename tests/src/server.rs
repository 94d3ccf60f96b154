//! A server for many connections at once, for the attack and shutdown tests.

use std::net::SocketAddr;

use mywebsocket::Upgrader;
use tokio::task::JoinSet;

use crate::{echo, listen, Task};

/// Our echo server for any number of connections, all accepted with `upgrader` (a clone of
/// it, so the caller's copy sees the same connection count). Dropping the task stops the
/// accept loop and every connection.
pub async fn spawn_echo_server_many(upgrader: Upgrader) -> (SocketAddr, Task<()>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        // Owned by the task, so aborting it aborts every connection too.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let upgrader = upgrader.clone();
                    connections.spawn(async move {
                        if let Ok(ws) = upgrader.accept(tcp).await {
                            echo(ws).await;
                        }
                    });
                }
                Some(_) = connections.join_next() => {}
            }
        }
    });
    (addr, task)
}
