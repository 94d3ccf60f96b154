//! SIGTERM: every client gets 1001 Going Away, after the messages already sent to it, and
//! the process exits 0 within its shutdown grace.

mod common;

use std::time::Duration;

use common::{join, next_of, read_to_end, Node};
use mywebsocket::{connect, CloseCode, Error, Initiator};

/// The grace given to the node; the test allows it this plus time to start and exit.
const GRACE_MS: u64 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_connection_with_1001_and_exits_0() {
    let mut node = Node::start("http", &["--shutdown-grace-ms", &GRACE_MS.to_string()]);
    let url = format!("ws://{}/ws", node.addr);
    let (mut alice, _) = connect(&url).await.expect("alice connects");
    let (mut bob, _) = connect(&url).await.expect("bob connects");
    join(&mut alice, "room", "alice").await;
    join(&mut bob, "room", "bob").await;
    alice
        .write_json(&serde_json::json!({ "type": "publish", "room": "room", "text": "last words" }))
        .await
        .expect("publish");
    // The message is delivered to alice, so it is in the node's queues for bob too; bob
    // reads it only after the signal.
    assert_eq!(next_of(&mut alice, "message").await["text"], "last words");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &node.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed: {status}");

    assert_eq!(next_of(&mut bob, "message").await["text"], "last words");
    for (name, ws) in [("alice", &mut alice), ("bob", &mut bob)] {
        match read_to_end(ws, Duration::from_millis(GRACE_MS)).await {
            Error::Closed {
                frame: Some(frame),
                initiator: Initiator::Remote,
            } => assert_eq!(frame.code, CloseCode::GOING_AWAY, "{name}"),
            other => panic!("{name}: expected 1001 from the server, got {other:?}"),
        }
    }
    // Both clients answered the close, so the node need not wait out its grace.
    let exit = tokio::task::spawn_blocking(move || {
        let exit = node.wait_exit(Duration::from_millis(GRACE_MS + 2000));
        (node, exit)
    })
    .await
    .expect("wait for the node");
    let status = exit.1.expect("the node exits within its grace");
    assert!(status.success(), "the node exited with {status}");
    // A connection attempt now finds nobody.
    assert!(connect(&url).await.is_err());
}
