//! Where a case's connections come from: a testee connecting to the runner (`--listen`), or
//! the runner connecting to a receiver's URL (`--connect`).

use std::time::Duration;

use mywebsocket::Upgrader;
use mywebsocket_files_conformance::{Instructions, ReceiverConfig, SendFile};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::cases::{Case, Defaults};
use crate::peer::Peer;

/// How the runner reaches the testee.
pub(crate) enum Source {
    /// The testee connects once per connection of a case and reads the instructions first.
    Listen {
        listener: TcpListener,
        defaults: Defaults,
        /// How long to wait for the next connection (the first one waits longer: a browser
        /// testee is still being built and loaded when the runner starts).
        wait: Duration,
    },
    /// The runner connects to a receiver that only receives and takes no instructions.
    Connect { url: String, defaults: Defaults },
}

impl Source {
    pub(crate) fn defaults(&self) -> &Defaults {
        match self {
            Self::Listen { defaults, .. } | Self::Connect { defaults, .. } => defaults,
        }
    }

    /// Why `case` cannot run against this testee, if it cannot.
    pub(crate) fn not_applicable(&self, case: &Case) -> Option<&'static str> {
        match self {
            Self::Listen { .. } => None,
            Self::Connect { .. } if case.role == crate::cases::Role::Sender => {
                Some("the testee only receives")
            }
            Self::Connect { .. } if !case.receiver.is_empty() => {
                Some("needs receiver settings the testee does not take")
            }
            Self::Connect { .. } => None,
        }
    }

    /// Opens connection number `connection` of `case`.
    pub(crate) async fn open(&mut self, case: &Case, connection: u32) -> Result<Peer, String> {
        match self {
            Self::Connect { url, .. } => {
                let (ws, _) = mywebsocket::connect(url)
                    .await
                    .map_err(|e| format!("connecting to {url}: {e}"))?;
                Ok(Peer::new(ws))
            }
            Self::Listen {
                listener,
                defaults,
                wait,
            } => {
                let (tcp, _) = tokio::time::timeout(*wait, listener.accept())
                    .await
                    .map_err(|_| format!("the testee did not connect within {} s", wait.as_secs()))?
                    .map_err(|e| format!("accept: {e}"))?;
                *wait = Duration::from_secs(30);
                tcp.set_nodelay(true).map_err(|e| e.to_string())?;
                let ws = Upgrader::default()
                    .accept(tcp)
                    .await
                    .map_err(|e| format!("upgrade: {e}"))?;
                let instructions = instructions(case, connection, defaults)?;
                let mut peer = Peer::new(ws);
                peer.text(serde_json::to_string(&instructions).expect("plain data"))
                    .await?;
                Ok(peer)
            }
        }
    }

    /// Tells a listening testee that every case ran.
    pub(crate) async fn finish(&mut self) {
        if let Self::Listen { listener, wait, .. } = self {
            if let Ok(Ok((tcp, _))) = tokio::time::timeout(*wait, listener.accept()).await {
                if let Ok(ws) = Upgrader::default().accept(tcp).await {
                    let mut peer = Peer::new(ws);
                    let _ = peer.text(r#"{"conformance":"end"}"#.to_owned()).await;
                    peer.close().await;
                }
            }
        }
    }
}

fn instructions(case: &Case, connection: u32, defaults: &Defaults) -> Result<Instructions, String> {
    let num = |key: &str| case.receiver.get(key).and_then(Value::as_u64);
    let send =
        case.send
            .iter()
            .map(|name| {
                let size = *case.transfers.get(name).ok_or_else(|| {
                    format!("the case sends {name:?} but declares no such transfer")
                })?;
                Ok(SendFile {
                    name: format!("{name}.bin"),
                    size,
                    media_type: "application/octet-stream".into(),
                })
            })
            .collect::<Result<_, String>>()?;
    Ok(Instructions {
        conformance: "case".into(),
        case: case.id.clone(),
        connection,
        receiver: ReceiverConfig {
            max_file_size: Some(defaults.max_file_size),
            max_concurrent: Some(defaults.max_concurrent),
            window: num("window"),
            max_chunk: num("max_chunk"),
        },
        // Only the first connection sends: a reconnect is about resuming a receiver.
        send: if connection == 1 { send } else { Vec::new() },
    })
}
