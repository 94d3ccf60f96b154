//! The connection type users get from `accept`, `connect` and the hyper upgrade.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use mywebsocket_proto::deflate::{DeflateParams, Deflater, Inflater};
use mywebsocket_proto::{CloseCode, Message, Role, Utf8Bytes};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::queue::Shared;
use super::{split, write_task, Reader, WriteOptions, Writer};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::info::ConnectionInfo;

/// A WebSocket connection, server or client side.
///
/// Read with [`WebSocket::read_msg`]; write with the `write_*` methods; end it with
/// [`WebSocket::close`]. [`WebSocket::split`] gives a [`Reader`] and a cloneable [`Writer`]
/// for use from separate tasks. It is also a [`Stream`] of messages and a [`Sink`] for them;
/// as in tokio-tungstenite, the stream yields the peer's [`Message::Close`] before it ends,
/// and sending a `Message::Close` starts the closing handshake.
///
/// Writing happens on a small task spawned with the connection, so a `WebSocket` must be made
/// inside a tokio runtime.
#[derive(Debug)]
pub struct WebSocket {
    reader: Reader,
    writer: Writer,
    protocol: Option<String>,
    compressed: bool,
}

impl WebSocket {
    /// Wraps a stream on which the opening handshake has already happened (for example one
    /// upgraded by another HTTP stack). `role` is our end.
    ///
    /// [`WebSocket::connection_info`] is read from `stream` as
    /// [`ConnectionInfo`] says.
    pub fn from_upgraded<S>(stream: S, role: Role, config: Config) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::from_parts(stream, role, Arc::new(config), BytesMut::new(), None, None)
    }

    /// `buffered` holds bytes read past the handshake: they belong to the WebSocket stream.
    /// `deflate` holds the permessage-deflate parameters, if the handshake agreed on them.
    pub(crate) fn from_parts<S>(
        stream: S,
        role: Role,
        config: Arc<Config>,
        buffered: BytesMut,
        protocol: Option<String>,
        deflate: Option<DeflateParams>,
    ) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::from_parts_with_info(
            stream,
            role,
            config,
            buffered,
            protocol,
            deflate,
            ConnectionInfo::default(),
        )
    }

    /// [`WebSocket::from_parts`], with `info`'s fields taking the place of those read from the
    /// stream.
    pub(crate) fn from_parts_with_info<S>(
        stream: S,
        role: Role,
        config: Arc<Config>,
        buffered: BytesMut,
        protocol: Option<String>,
        deflate: Option<DeflateParams>,
        info: ConnectionInfo,
    ) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let info = ConnectionInfo::of(&stream).overridden_by(info);
        let (read, write) = split::split(stream);
        let deflater = deflate.as_ref().map(|params| Deflater::new(params, role));
        let shared = Arc::new(
            Shared::new(
                role,
                config.write_buffer_size,
                config.fragment_size,
                deflater,
            )
            .with_info(info),
        );
        tokio::spawn(write_task::run(
            Arc::clone(&shared),
            write,
            config.write_timeout,
            config.close_timeout,
        ));
        let mut reader = Reader::new(read, buffered, Arc::clone(&shared), config);
        if let Some(params) = &deflate {
            reader.enable_deflate(Inflater::new(params, role));
        }
        Self {
            compressed: deflate.is_some(),
            reader,
            writer: Writer::new(shared),
            protocol,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        self.writer.shared()
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// What the stream told when the connection was made: addresses and the TLS session, for
    /// the stream types [`ConnectionInfo`] lists.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.shared().info
    }

    /// The peer's address, when the stream told it; see [`ConnectionInfo`].
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.connection_info().peer_addr
    }

    /// Our end's address, when the stream told it; see [`ConnectionInfo`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.connection_info().local_addr
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Waits for the next text or binary message; see [`Reader::read_msg`].
    ///
    /// # Errors
    /// As [`Reader::read_msg`].
    ///
    /// # Cancel safety
    /// As [`Reader::read_msg`].
    pub async fn read_msg(&mut self) -> Result<Message> {
        self.reader.read_msg().await
    }

    /// Sends a text message; see [`Writer::write_string`].
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_string`].
    pub async fn write_string(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.writer.write_string(text).await
    }

    /// Sends a binary message; see [`Writer::write_binary`].
    ///
    /// # Errors
    /// As [`Writer::write_binary`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_binary`].
    pub async fn write_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.writer.write_binary(data).await
    }

    /// Sends `value` as JSON text; see [`Writer::write_json`].
    ///
    /// # Errors
    /// As [`Writer::write_json`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_json`].
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.writer.write_json(value).await
    }

    /// Sends a message; see [`Writer::write_message`]. A [`Message::Close`] starts the closing
    /// handshake, as [`Writer::close`] does; read on to see the peer's answer, or call
    /// [`WebSocket::close`], which also waits for it.
    ///
    /// # Errors
    /// As [`Writer::write_message`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message`].
    pub async fn write_message(&self, message: Message) -> Result<()> {
        self.writer.write_message(message).await
    }

    /// [`WebSocket::write_string`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_string_with`].
    pub async fn write_string_with(
        &self,
        text: impl Into<Utf8Bytes>,
        opts: &WriteOptions,
    ) -> Result<()> {
        self.writer.write_string_with(text, opts).await
    }

    /// [`WebSocket::write_binary`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_binary`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_binary_with`].
    pub async fn write_binary_with(
        &self,
        data: impl Into<Bytes>,
        opts: &WriteOptions,
    ) -> Result<()> {
        self.writer.write_binary_with(data, opts).await
    }

    /// [`WebSocket::write_json`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_json`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_json_with`].
    pub async fn write_json_with<T: Serialize + ?Sized>(
        &self,
        value: &T,
        opts: &WriteOptions,
    ) -> Result<()> {
        self.writer.write_json_with(value, opts).await
    }

    /// Sends a ping; see [`Writer::ping`].
    ///
    /// # Errors
    /// As [`Writer::ping`].
    ///
    /// # Cancel safety
    /// As [`Writer::ping`].
    pub async fn ping(&self, payload: impl Into<Bytes>) -> Result<()> {
        self.writer.ping(payload).await
    }

    /// Waits until everything queued has been written; see [`Writer::flush`].
    ///
    /// # Errors
    /// As [`Writer::flush`].
    ///
    /// # Cancel safety
    /// As [`Writer::flush`].
    pub async fn flush(&self) -> Result<()> {
        self.writer.flush().await
    }

    /// Performs the closing handshake: sends a close frame with `code` and `reason`, then
    /// reads (dropping any messages still arriving) until the peer answers, for at most the
    /// configured close timeout, counted from when the close frame is written (a close stuck
    /// behind data the peer does not read ends with the write timeout instead). Returns `Ok`
    /// once the handshake is complete or if the connection was already closed.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a code that may not be sent, [`Error::Timeout`] with
    /// [`TimeoutKind::Close`](crate::TimeoutKind::Close) if the peer does not answer in time (the socket is then closed),
    /// or the error that ended the connection meanwhile.
    ///
    /// # Cancel safety
    /// The first poll queues the close frame (as [`Writer::close`]); after that the future
    /// only reads, discarding messages. Dropped then, the close frame is still sent and later
    /// reads still enforce the close timeout; the messages it had read are gone (it discards
    /// them in any case). Call `close` again, or [`WebSocket::read_msg`] until
    /// [`Error::Closed`], to finish the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        match self.writer.close(code, reason).await {
            Ok(()) | Err(Error::AlreadyClosed) => {}
            Err(e) => return Err(e),
        }
        // The reader starts the close timeout once our close frame is written (the protocol
        // counts the peer's time to answer from then), enforces it while waiting for the
        // answer, and then a client's wait for the server to end TCP has its own deadline.
        loop {
            match self.reader.read_msg().await {
                Ok(_) => {}
                Err(Error::Closed { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// A new handle for sending, usable from other tasks while this `WebSocket` reads.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Splits into the receiving half and the (cloneable) sending half.
    pub fn split(self) -> (Reader, Writer) {
        (self.reader, self.writer)
    }
}

/// As the [`Reader`]'s: the messages, then the peer's close frame as [`Message::Close`]
/// once the closing handshake is done (whichever side started it), then the end.
impl Stream for WebSocket {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.reader).poll_next(cx)
    }
}

/// As the [`Writer`]'s: sending [`Message::Close`] starts the closing handshake, as
/// [`Writer::close`] does; closing the sink sends a 1000 close if none was sent, and flushes.
impl Sink<Message> for WebSocket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.writer).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<()> {
        Pin::new(&mut self.writer).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.writer).poll_close(cx)
    }
}
