//! The runner's end of one connection: messages in, classified; messages out, logged.

use std::time::Duration;

use bytes::Bytes;
use mywebsocket::WebSocket;
use serde_json::{Map, Value};

/// How long the runner waits for an answer the spec requires. Generous: the chat may hold an
/// `accept` for up to 10 s while a lost connection's task lets go of a part file.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// A message from the testee.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A control message (text starting `{"ft":`), parsed as a JSON object.
    Control(Map<String, Value>),
    /// A binary message starting with the chunk magic.
    Chunk(Bytes),
    /// Anything else: the application's.
    App,
}

/// One connection to the testee, with a transcript for failure reports.
pub(crate) struct Peer {
    /// `None` once dropped for a reconnect.
    ws: Option<WebSocket>,
    /// The last messages each way, newest last.
    pub(crate) transcript: Vec<String>,
    /// The application's text messages read so far (the chat's download links).
    pub(crate) app_texts: Vec<String>,
}

impl Peer {
    pub(crate) fn new(ws: WebSocket) -> Self {
        Self {
            ws: Some(ws),
            transcript: Vec::new(),
            app_texts: Vec::new(),
        }
    }

    fn ws(&mut self) -> Result<&mut WebSocket, String> {
        self.ws
            .as_mut()
            .ok_or_else(|| "the connection was dropped".to_owned())
    }

    /// Drops the connection without a closing handshake: to the testee, a lost connection.
    pub(crate) fn cut(&mut self) {
        self.ws = None;
    }

    fn log(&mut self, line: String) {
        let mut line = line;
        if line.len() > 300 {
            let mut cut = 300;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        self.transcript.push(line);
    }

    pub(crate) async fn text(&mut self, text: String) -> Result<(), String> {
        self.log(format!("→ {text}"));
        self.ws()?
            .write_string(text)
            .await
            .map_err(|e| format!("sending failed: {e}"))
    }

    pub(crate) async fn binary(&mut self, data: Bytes, what: String) -> Result<(), String> {
        self.log(format!("→ {what}"));
        self.ws()?
            .write_binary(data)
            .await
            .map_err(|e| format!("sending failed: {e}"))
    }

    /// The next message, or an error if none comes within [`ANSWER_TIMEOUT`].
    pub(crate) async fn next(&mut self) -> Result<Incoming, String> {
        let msg = match tokio::time::timeout(ANSWER_TIMEOUT, self.ws()?.read_msg()).await {
            Err(_) => return Err(format!("no message within {} s", ANSWER_TIMEOUT.as_secs())),
            Ok(Err(e)) => return Err(format!("the connection ended: {e}")),
            Ok(Ok(msg)) => msg,
        };
        if let Some(text) = msg.as_text() {
            if text.starts_with(r#"{"ft":"#) {
                self.log(format!("← {text}"));
                return match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(map)) => Ok(Incoming::Control(map)),
                    _ => Err(format!(
                        "the testee sent a malformed control message: {text}"
                    )),
                };
            }
            self.log(format!("← (application) {text}"));
            self.app_texts.push(text.to_owned());
            return Ok(Incoming::App);
        }
        let data = Bytes::copy_from_slice(msg.as_bytes());
        if data.starts_with(&mywebsocket_files::CHUNK_MAGIC) {
            let offset = data
                .get(20..28)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
            self.log(format!(
                "← chunk id {} offset {offset:?} data {} bytes",
                data.get(4..20).map(hex::encode).unwrap_or_default(),
                data.len().saturating_sub(28)
            ));
            return Ok(Incoming::Chunk(data));
        }
        self.log(format!("← (application, binary) {} bytes", data.len()));
        Ok(Incoming::App)
    }

    /// Closes cleanly (best effort, bounded) and drops the connection.
    pub(crate) async fn close(mut self) {
        if let Some(ws) = self.ws.as_mut() {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                ws.close(mywebsocket::CloseCode::NORMAL, "case over"),
            )
            .await;
        }
    }
}
