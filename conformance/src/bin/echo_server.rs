//! The Autobahn testee server: echoes every message, on the `mywebsocket` server API with
//! every extension the library supports enabled.
//!
//! `cargo run --release -p conformance --bin echo_server -- 127.0.0.1:PORT`

use mywebsocket::{Config, Upgrader};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let upgrader = Upgrader::new(Config::default());
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let upgrader = upgrader.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = upgrader.accept(tcp).await else {
                return;
            };
            while let Ok(msg) = ws.read_msg().await {
                if ws.write_message(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
