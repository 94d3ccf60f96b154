//! Talks to an echo server: sends a text, a binary and a JSON message, prints the echoes,
//! and closes.
//!
//! `cargo run --release -p mywebsocket --example echo_client -- ws://127.0.0.1:9001`

use mywebsocket::{connect, CloseCode};

#[tokio::main]
async fn main() -> Result<(), mywebsocket::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let (mut ws, _) = connect(&url).await?;
    println!("connected to {url}");

    ws.write_string("hello").await?;
    ws.write_binary(vec![1u8, 2, 3]).await?;
    ws.write_json(&serde_json::json!({ "greeting": "hi", "n": 42 }))
        .await?;
    for _ in 0..3 {
        println!("echoed: {:?}", ws.read_msg().await?);
    }

    ws.close(CloseCode::NORMAL, "bye").await?;
    println!("closed");
    Ok(())
}
