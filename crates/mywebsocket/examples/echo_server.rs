//! An echo server: every text and binary message comes back as it was sent.
//!
//! `cargo run --release -p mywebsocket --example echo_server -- 127.0.0.1:9001`

use mywebsocket::{Error, Upgrader};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    let upgrader = Upgrader::default();
    loop {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let upgrader = upgrader.clone();
        tokio::spawn(async move {
            let mut ws = match upgrader.accept(tcp).await {
                Ok(ws) => ws,
                Err(e) => return eprintln!("{peer}: {e}"),
            };
            loop {
                match ws.read_msg().await {
                    Ok(msg) => {
                        if let Err(e) = ws.write_message(msg).await {
                            break eprintln!("{peer}: {e}");
                        }
                    }
                    Err(Error::Closed { .. }) => break,
                    Err(e) => break eprintln!("{peer}: {e}"),
                }
            }
        });
    }
}
