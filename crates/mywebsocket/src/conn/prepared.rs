//! Messages framed once and sent to many connections: the broadcast fast path.
//!
//! A server frame is not masked (RFC 6455 §5.1), so its header and payload are the same bytes
//! for every recipient. [`PreparedMessage`] encodes them once; [`Writer::write_prepared`]
//! queues a clone of the frames (an `Arc` increment per frame) instead of framing the message
//! again for each connection.

use bytes::Bytes;
use mywebsocket_proto::{Fragments, Frame, FrameHeader, Message, OpCode};

use super::options::WriteOptions;
use super::queue::EncodedMessage;
use super::Writer;
use crate::error::{Error, Result};

/// The default fragment size of a [`PreparedMessage`], as
/// [`Config::fragment_size`](crate::Config::fragment_size)'s default: 1 MiB.
const DEFAULT_FRAGMENT_SIZE: usize = 1 << 20;

/// A message framed once, as a server sends it, to be written to many connections.
///
/// Cloning is cheap (reference counts only). Connections that cannot use the shared frames,
/// clients (which must mask every frame) and connections that compress this message, fall back
/// to framing it themselves, so a prepared message can be written to any connection.
///
/// ```
/// use mywebsocket::{Message, PreparedMessage, Upgrader};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mywebsocket::Error> {
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
/// let server = tokio::spawn(async move {
///     let ws = Upgrader::default().accept(server_io).await?;
///     let prepared = PreparedMessage::new(Message::text("to everyone"));
///     ws.writer().write_prepared(&prepared).await?;
///     ws.writer().flush().await?;
///     Ok::<_, mywebsocket::Error>(ws)
/// });
/// let request = http::Request::get("ws://example.com/").body(()).unwrap();
/// let (mut ws, _) = mywebsocket::connect_with(client_io, request, Default::default()).await?;
/// assert_eq!(ws.read_msg().await?, Message::text("to everyone"));
/// # drop(server.await.unwrap()?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    opcode: OpCode,
    payload: Bytes,
    frames: PreparedFrames,
}

#[derive(Debug, Clone)]
enum PreparedFrames {
    One(Frame),
    Many(std::sync::Arc<[Frame]>),
    /// A message that is not data (a [`Message::Close`]): kept as given, never framed, and
    /// refused by [`Writer::write_prepared`].
    NotData(Message),
}

impl PreparedMessage {
    /// Frames `message` for a server, in fragments of at most 1 MiB.
    ///
    /// A [`Message::Close`] is not framed: closing is per connection (each one has its own
    /// handshake to run), so [`Writer::write_prepared`] refuses it with
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) and sends nothing. Close each
    /// connection with [`Writer::close`] or [`Writer::write_message`] instead.
    pub fn new(message: Message) -> Self {
        Self::with_fragment_size(message, DEFAULT_FRAGMENT_SIZE)
    }

    /// Frames `message` for a server, in fragments of at most `fragment_size` payload bytes
    /// (at least 1).
    pub fn with_fragment_size(message: Message, fragment_size: usize) -> Self {
        let fragment_size = fragment_size.max(1);
        let (opcode, payload) = match message {
            Message::Text(t) => (OpCode::Text, t.into_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            other => {
                return Self {
                    opcode: OpCode::Close,
                    payload: Bytes::new(),
                    frames: PreparedFrames::NotData(other),
                }
            }
        };
        let frames = if payload.len() <= fragment_size {
            let header = FrameHeader::new(opcode, payload.len() as u64);
            PreparedFrames::One(Frame::new(header, payload.clone()))
        } else {
            let list: Vec<Frame> =
                Fragments::new(opcode, payload.clone(), fragment_size, false, || None).collect();
            PreparedFrames::Many(list.into())
        };
        Self {
            opcode,
            payload,
            frames,
        }
    }

    /// The message's payload length in bytes (0 for a close, as [`Message::len`]).
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The bytes the message takes on the wire as a server sends it (headers included); 0
    /// for a close, which is never sent as a prepared message.
    pub fn wire_len(&self) -> usize {
        match &self.frames {
            PreparedFrames::One(f) => f.wire_len(),
            PreparedFrames::Many(list) => list.iter().map(Frame::wire_len).sum(),
            PreparedFrames::NotData(_) => 0,
        }
    }

    /// Whether this holds a [`Message::Close`], which [`Writer::write_prepared`] refuses.
    pub fn is_close(&self) -> bool {
        matches!(&self.frames, PreparedFrames::NotData(m) if m.is_close())
    }

    /// The message itself (shares the payload).
    pub fn to_message(&self) -> Message {
        if let PreparedFrames::NotData(message) = &self.frames {
            return message.clone();
        }
        match self.opcode {
            OpCode::Text => Message::Text(
                mywebsocket_proto::Utf8Bytes::try_from(self.payload.clone())
                    .expect("a prepared text message was valid UTF-8 when it was made"),
            ),
            _ => Message::Binary(self.payload.clone()),
        }
    }

    /// The frames to queue; `None` for a message that is not data.
    fn encoded(&self) -> Option<EncodedMessage> {
        match &self.frames {
            PreparedFrames::One(f) => Some(EncodedMessage::One(f.clone())),
            PreparedFrames::Many(list) => Some(EncodedMessage::Many(list.to_vec())),
            PreparedFrames::NotData(_) => None,
        }
    }
}

impl Writer {
    /// Sends a message framed once by [`PreparedMessage`]: on a server connection that does not
    /// compress it, the frames are shared, not encoded again. Waits for room in the write
    /// buffer like [`Writer::write_message`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a prepared [`Message::Close`] (nothing is sent, and the
    /// connection stays open; see [`PreparedMessage::new`]), otherwise as
    /// [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_prepared(&self, message: &PreparedMessage) -> Result<()> {
        let shared = self.shared();
        let opts = WriteOptions::default();
        // Checked before the fallback below, which would otherwise start a close.
        if matches!(message.frames, PreparedFrames::NotData(_)) {
            return Err(not_data());
        }
        if shared.role.masks_outgoing() || shared.should_compress(message.len(), &opts) {
            return self.write_message_with(message.to_message(), &opts).await;
        }
        let mut encoded = message.encoded().ok_or_else(not_data)?;
        loop {
            if shared.push_data(&mut encoded, false)? {
                return Ok(());
            }
            shared.wait_for_space().await?;
        }
    }
}

fn not_data() -> Error {
    Error::InvalidInput(
        "a close cannot be written as a prepared message: close each connection itself",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{connect_with, Config, DeflateConfig, Upgrader};

    async fn pair(
        server_config: Config,
        client_config: Config,
    ) -> (crate::WebSocket, crate::WebSocket) {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let server =
            tokio::spawn(async move { Upgrader::new(server_config).accept(server_io).await });
        let request = http::Request::get("ws://example.com/").body(()).unwrap();
        let (client, _) = connect_with(client_io, request, client_config)
            .await
            .unwrap();
        (server.await.unwrap().unwrap(), client)
    }

    #[test]
    fn frames_are_identical_to_normal_server_framing() {
        let msg = Message::binary(vec![7u8; 300]);
        let prepared = PreparedMessage::with_fragment_size(msg, 100);
        let PreparedFrames::Many(list) = &prepared.frames else {
            panic!("300 bytes in 100-byte fragments are several frames")
        };
        let expected: Vec<Frame> = Fragments::new(
            OpCode::Binary,
            Bytes::from(vec![7u8; 300]),
            100,
            false,
            || None,
        )
        .collect();
        assert_eq!(list.len(), 3);
        for (a, b) in list.iter().zip(&expected) {
            assert_eq!(a.to_bytes(), b.to_bytes());
        }
        assert_eq!(
            prepared.wire_len(),
            expected.iter().map(Frame::wire_len).sum::<usize>()
        );
    }

    #[test]
    fn single_frame_shares_the_payload() {
        let payload = Bytes::from_static(b"shared");
        let prepared = PreparedMessage::new(Message::Binary(payload.clone()));
        let PreparedFrames::One(frame) = &prepared.frames else {
            panic!("a small message is one frame")
        };
        assert_eq!(frame.payload().as_ptr(), payload.as_ptr());
        assert_eq!(frame.head(), &[0x82, 6]);
    }

    #[tokio::test]
    async fn server_sends_prepared_to_many_connections() {
        let prepared = PreparedMessage::with_fragment_size(Message::text("héllo ".repeat(50)), 64);
        for _ in 0..3 {
            let (server, mut client) = pair(Config::default(), Config::default()).await;
            server.writer().write_prepared(&prepared).await.unwrap();
            server.writer().write_prepared(&prepared).await.unwrap();
            assert_eq!(client.read_msg().await.unwrap(), prepared.to_message());
            assert_eq!(client.read_msg().await.unwrap(), prepared.to_message());
        }
    }

    #[tokio::test]
    async fn prepared_close_is_refused_and_the_connection_stays_open() {
        let close = Message::close(mywebsocket_proto::CloseCode::GOING_AWAY, "shutdown");
        let prepared = PreparedMessage::new(close.clone());
        assert!(prepared.is_close());
        assert_eq!((prepared.len(), prepared.wire_len()), (0, 0));
        assert_eq!(prepared.to_message(), close);
        assert!(!PreparedMessage::new(Message::text("x")).is_close());
        for masked in [false, true] {
            let (server, client) = pair(Config::default(), Config::default()).await;
            let (writer, mut reader) = if masked {
                (client.writer(), server)
            } else {
                (server.writer(), client)
            };
            let err = writer.write_prepared(&prepared).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err}");
            assert!(!writer.is_closed());
            writer.write_string("still open").await.unwrap();
            assert_eq!(
                reader.read_msg().await.unwrap(),
                Message::text("still open")
            );
        }
    }

    #[tokio::test]
    async fn client_falls_back_to_masked_framing() {
        let (mut server, client) = pair(Config::default(), Config::default()).await;
        let prepared = PreparedMessage::new(Message::text("from a client"));
        client.writer().write_prepared(&prepared).await.unwrap();
        // The server rejects unmasked client frames, so receiving it proves it was masked.
        assert_eq!(
            server.read_msg().await.unwrap(),
            Message::text("from a client")
        );
    }

    #[tokio::test]
    async fn compressing_connection_falls_back_to_deflate() {
        let deflate = Config::default().deflate(Some(DeflateConfig::default().threshold(0)));
        let (server, mut client) = pair(deflate.clone(), deflate).await;
        let prepared = PreparedMessage::new(Message::text("compress me ".repeat(20)));
        server.writer().write_prepared(&prepared).await.unwrap();
        assert_eq!(client.read_msg().await.unwrap(), prepared.to_message());
    }
}
