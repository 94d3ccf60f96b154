//! A raw peer: a hand-written client or server speaking the protocol message by message, as
//! an implementation in another language would, against a `Transfers` end.

use std::time::Duration;

use bytes::Bytes;
use mywebsocket::{connect, Upgrader, WebSocket};
use mywebsocket_files::{chunk_buffer, Control, Reason, ReceiveOptions, TransferId};
use sha2::{Digest, Sha256};

use super::{listen, start_end, End};

/// A raw peer: reads and writes messages, speaks the protocol only as each test spells it.
pub struct Raw {
    pub ws: WebSocket,
}

impl Raw {
    pub async fn text(&mut self, text: impl Into<String>) {
        self.ws.write_string(text.into()).await.unwrap();
    }

    pub async fn send(&mut self, control: &Control) {
        self.text(control.to_text()).await;
    }

    pub async fn binary(&mut self, data: Bytes) {
        self.ws.write_binary(data).await.unwrap();
    }

    /// The next control message, as JSON (ids that are not `TransferId`s included).
    pub async fn next_json(&mut self) -> serde_json::Value {
        let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.read_msg())
            .await
            .expect("an answer within 10 s")
            .expect("the connection stays up");
        serde_json::from_str(msg.as_text().expect("a text message")).unwrap()
    }

    pub async fn next(&mut self) -> Control {
        serde_json::from_value(self.next_json().await).unwrap()
    }

    /// Sends an offer that is always rejected and checks that its reject is the very next
    /// message: nothing was sent in between.
    pub async fn assert_silent(&mut self) {
        let probe = TransferId::random();
        self.text(format!(r#"{{"ft":"offer","id":"{probe}"}}"#))
            .await;
        match self.next().await {
            Control::Reject {
                id,
                reason: Reason::BadOffer,
                ..
            } if id == probe => {}
            other => panic!("expected silence, then the probe's reject; got {other:?}"),
        }
    }
}

/// A raw client and a `Transfers` server receiving into a fresh directory.
pub async fn raw_to_receiver(options: ReceiveOptions) -> (Raw, End, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (listener, url) = listen().await;
    let options = options.dest_dir(dir.path());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        start_end(Upgrader::default().accept(tcp).await.unwrap(), options)
    });
    let (ws, _) = connect(&url).await.unwrap();
    (Raw { ws }, server.await.unwrap(), dir)
}

/// A `Transfers` client (the sender under test) and a raw server.
pub async fn sender_to_raw() -> (End, Raw) {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        Upgrader::default().accept(tcp).await.unwrap()
    });
    let (ws, _) = connect(&url).await.unwrap();
    let client = start_end(ws, ReceiveOptions::default());
    (
        client,
        Raw {
            ws: server.await.unwrap(),
        },
    )
}

pub fn sha_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

pub fn offer(id: TransferId, content: &[u8]) -> Control {
    Control::Offer {
        id,
        name: "data.bin".into(),
        size: content.len() as u64,
        media_type: String::new(),
        sha256: sha_hex(content),
    }
}

pub fn chunk(id: TransferId, offset: u64, data: &[u8]) -> Bytes {
    let mut chunk = chunk_buffer(id, offset, data.len());
    chunk.extend_from_slice(data);
    chunk.freeze()
}

/// Offers `content` and reads the `accept`.
pub async fn offered(raw: &mut Raw, content: &[u8]) -> TransferId {
    let id = TransferId::random();
    raw.send(&offer(id, content)).await;
    match raw.next().await {
        Control::Accept { id: accepted, .. } if accepted == id => id,
        other => panic!("expected accept, got {other:?}"),
    }
}
