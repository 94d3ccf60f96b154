//! The Autobahn testee client: drives `wstest -m fuzzingserver` by echoing every case.
//!
//! `cargo run --release -p conformance --bin autobahn_client -- ws://127.0.0.1:PORT AGENT`

use mywebsocket::{connect_config, Config, DeflateConfig, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "mywebsocket".into());
    // permessage-deflate on, offering `client_no_context_takeover` too: Autobahn's 13.2-13.7
    // servers accept only offers that allow them to ask for it.
    let config = || {
        Config::default().deflate(Some(
            DeflateConfig::default().client_no_context_takeover(true),
        ))
    };
    let connect = |url: String| connect_config_owned(url, config());

    let (mut ws, _) = connect(format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.read_msg().await?.as_text().map(str::parse) {
        Some(Ok(n)) => n,
        _ => return Err(Error::InvalidInput("getCaseCount did not answer a number")),
    };
    drain(ws).await;
    println!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match connect(url).await {
            Ok((mut ws, _)) => {
                while let Ok(msg) = ws.read_msg().await {
                    if ws.write_message(msg).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }

    let (ws, _) = connect(format!("{base}/updateReports?agent={agent}")).await?;
    drain(ws).await;
    println!("reports updated for {agent}");
    Ok(())
}

async fn connect_config_owned(
    url: String,
    config: Config,
) -> Result<(mywebsocket::WebSocket, mywebsocket::http::Response<()>), Error> {
    connect_config(&url, config).await
}

/// Reads until the server closes, so the closing handshake completes.
async fn drain(mut ws: mywebsocket::WebSocket) {
    while ws.read_msg().await.is_ok() {}
}
