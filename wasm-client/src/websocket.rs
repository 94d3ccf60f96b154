//! The connection users hold: [`connect`], [`WebSocket`] and its [`Writer`] handles.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use bytes::Bytes;
use mywebsocket_proto::{CloseCode, Message, Utf8Bytes};
use serde::Serialize;

use crate::close::{check_close, CloseInfo, Initiator};
use crate::error::{Error, Result};
use crate::keep_alive;
use crate::options::Options;
use crate::reconnect::Reconnect;
use crate::socket::{End, Socket};
use crate::timer::{sleep, timeout};

/// Opens a connection to `url` (`ws://` or `wss://`) with the default [`Options`].
///
/// # Errors
/// As [`connect_with`].
pub async fn connect(url: &str) -> Result<WebSocket> {
    connect_with(url, Options::default()).await
}

/// Opens a connection to `url` with `options` (subprotocols, keep-alive, reconnection,
/// backpressure) and waits until it is open.
///
/// # Errors
/// [`Error::InvalidRequest`] for a URL or subprotocol list the browser rejects,
/// [`Error::ConnectFailed`] when the connection cannot be opened or the server refuses the
/// upgrade. Reconnection does not apply to this first connection.
pub async fn connect_with(url: &str, options: Options) -> Result<WebSocket> {
    let socket = open(url, &options).await?;
    Ok(WebSocket {
        writer: Writer {
            shared: Rc::new(Shared {
                url: url.to_owned(),
                options,
                socket: RefCell::new(socket),
                closing: Cell::new(false),
                reconnects: Cell::new(0),
            }),
        },
        failed_attempts: 0,
        gave_up: false,
    })
}

/// Opens one connection and starts its keep-alive.
async fn open(url: &str, options: &Options) -> Result<Rc<Socket>> {
    let socket = Rc::new(Socket::new(url, options)?);
    socket.opened().await?;
    if let Some(config) = &options.keep_alive {
        keep_alive::spawn(Rc::downgrade(&socket), config.clone());
    }
    Ok(socket)
}

/// What a [`WebSocket`] and its [`Writer`]s share.
struct Shared {
    url: String,
    options: Options,
    /// The current connection; replaced when reconnecting.
    socket: RefCell<Rc<Socket>>,
    /// Set by [`WebSocket::close`]: no reconnecting after that.
    closing: Cell<bool>,
    reconnects: Cell<u32>,
}

impl Shared {
    fn socket(&self) -> Rc<Socket> {
        Rc::clone(&self.socket.borrow())
    }

    /// Waits until the browser's send buffer is at most `max_buffered`, then sends. A close
    /// does not wait (the browser sends it after what it holds) and ends reconnecting.
    async fn write(&self, message: Message) -> Result<()> {
        if let Message::Close(frame) = &message {
            if let Some(frame) = frame {
                check_close(frame.code, frame.reason.as_str())?;
            }
            // As `WebSocket::close`, without the wait: no reconnecting after this.
            self.closing.set(true);
            return self.socket().send(&message);
        }
        loop {
            let socket = self.socket();
            if !socket.is_open() {
                return Err(Error::NotOpen);
            }
            if socket.buffered_amount() <= self.options.max_buffered {
                return socket.send(&message);
            }
            drop(socket);
            sleep(self.options.drain_poll_interval).await;
        }
    }
}

/// A WebSocket connection from the browser, with the same shape as the server's
/// `mywebsocket::WebSocket`: [`read_msg`](WebSocket::read_msg), the `write_*` methods and
/// [`close`](WebSocket::close), with the [`Message`] type shared with the server.
///
/// Dropping it closes the connection with 1000 without waiting for the handshake.
pub struct WebSocket {
    /// The connection's own write handle: the `write_*` methods go through it, so a
    /// `WebSocket` and its [`Writer`]s send the same way.
    writer: Writer,
    /// Reconnection attempts that failed since the last connection opened.
    failed_attempts: u32,
    gave_up: bool,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("url", &self.shared().url)
            .field("reconnects", &self.shared().reconnects.get())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// What this connection shares with its [`Writer`]s.
    fn shared(&self) -> &Shared {
        &self.writer.shared
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.shared().url
    }

    /// The subprotocol the server chose from [`Options::protocols`], if any.
    pub fn protocol(&self) -> Option<String> {
        self.shared().socket().protocol()
    }

    /// The extensions the server accepted, as the browser reports them (`WebSocket.extensions`):
    /// the server's `Sec-WebSocket-Extensions` response value, such as `permessage-deflate`,
    /// or an empty string. Browsers offer permessage-deflate themselves and compress and
    /// decompress transparently; this only says whether, and with which parameters, they do.
    pub fn extensions(&self) -> String {
        self.shared().socket().extensions()
    }

    /// How many times the connection has been re-established (see [`Reconnect`]).
    pub fn reconnects(&self) -> u32 {
        self.shared().reconnects.get()
    }

    /// The bytes written and not yet sent by the browser (`bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.shared().socket().buffered_amount()
    }

    /// How the current connection ended, once the browser has reported it: the code and
    /// reason of the close frame, whether the closing handshake completed, and who started it.
    pub fn close_info(&self) -> Option<CloseInfo> {
        match self.shared().socket().end()? {
            End::Closed(info) => Some(info),
            End::Dead(_) => None,
        }
    }

    /// A handle for writing, for use by other tasks (`spawn_local`) while this one reads.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Waits for the next text or binary message. Messages that arrived before the
    /// connection ended are all returned before the end is reported.
    ///
    /// With [`Options::reconnect`], a connection that ends is replaced here, and messages from
    /// the new connection follow. Cancel-safe: dropping the future loses no message.
    ///
    /// # Errors
    /// [`Error::Closed`] once the connection is closed, with the code and reason (the server's
    /// when it closed), [`Error::KeepAliveTimeout`] when the keep-alive found the connection
    /// dead, [`Error::ReconnectFailed`] when reconnection gave up. Every call after the end
    /// returns the same error.
    pub async fn read_msg(&mut self) -> Result<Message> {
        loop {
            let socket = self.shared().socket();
            let end = match socket.next().await {
                Ok(message) => return Ok(message),
                Err(end) => end,
            };
            if self.gave_up {
                return Err(Error::ReconnectFailed {
                    attempts: self.failed_attempts,
                });
            }
            let policy = match (&self.shared().options.reconnect, &end) {
                (Some(policy), End::Dead(_)) => policy.clone(),
                (Some(policy), End::Closed(info)) if Reconnect::applies_to(info) => policy.clone(),
                _ => return Err(end.into()),
            };
            if self.shared().closing.get() {
                return Err(end.into());
            }
            self.reconnect(&policy).await?;
        }
    }

    /// Opens a new connection after waiting as `policy` says, until one opens or the policy
    /// gives up.
    async fn reconnect(&mut self, policy: &Reconnect) -> Result<()> {
        loop {
            if policy
                .max_attempts
                .is_some_and(|max| self.failed_attempts >= max)
            {
                self.gave_up = true;
                return Err(Error::ReconnectFailed {
                    attempts: self.failed_attempts,
                });
            }
            sleep(policy.delay(self.failed_attempts, js_sys::Math::random())).await;
            match open(&self.shared().url, &self.shared().options).await {
                Ok(socket) => {
                    *self.shared().socket.borrow_mut() = socket;
                    let shared = self.shared();
                    shared.reconnects.set(shared.reconnects.get() + 1);
                    self.failed_attempts = 0;
                    return Ok(());
                }
                Err(Error::ConnectFailed { .. }) => self.failed_attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a text message; see [`Writer::write_string`].
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    pub async fn write_string(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.writer.write_string(text).await
    }

    /// Sends a binary message; see [`Writer::write_binary`].
    ///
    /// # Errors
    /// As [`Writer::write_binary`].
    pub async fn write_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.writer.write_binary(data).await
    }

    /// Sends `value` as JSON text; see [`Writer::write_json`].
    ///
    /// # Errors
    /// As [`Writer::write_json`].
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.writer.write_json(value).await
    }

    /// Sends a message; see [`Writer::write_message`]. A [`Message::Close`] starts the
    /// closing handshake without waiting for it to finish; [`WebSocket::read_msg`] then
    /// returns [`Error::Closed`] when it has.
    ///
    /// # Errors
    /// As [`Writer::write_message`].
    pub async fn write_message(&self, message: Message) -> Result<()> {
        self.writer.write_message(message).await
    }

    /// Performs the closing handshake: sends a close frame with `code` and `reason`, then
    /// waits for the server's answer, at most [`Options::close_timeout`]. Afterwards
    /// [`WebSocket::close_info`] tells how it went, and no reconnection happens. Returns `Ok`
    /// at once if the connection had already ended.
    ///
    /// # Errors
    /// [`Error::InvalidCloseCode`] for a code other than 1000 and 3000-4999 (browsers allow
    /// no other), [`Error::CloseReasonTooLong`] past 123 bytes, [`Error::CloseTimeout`] when
    /// the server did not answer in time (the connection is then dropped).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        check_close(code, reason)?;
        self.shared().closing.set(true);
        let socket = self.shared().socket();
        if socket.end().is_some() {
            return Ok(());
        }
        socket.start_close(code, reason)?;
        match timeout(self.shared().options.close_timeout, socket.ended()).await {
            Some(_) => Ok(()),
            None => {
                socket.abandon(
                    End::Closed(CloseInfo {
                        code: CloseCode::ABNORMAL,
                        reason: String::new(),
                        was_clean: false,
                        initiator: Initiator::Local,
                    }),
                    reason,
                );
                Err(Error::CloseTimeout)
            }
        }
    }
}

/// A handle for sending on a [`WebSocket`], from [`WebSocket::writer`]. Cloning it is cheap;
/// it follows the connection across reconnections.
#[derive(Clone)]
pub struct Writer {
    shared: Rc<Shared>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Sends a text message.
    ///
    /// Returns once the browser has taken the message. While the browser holds more than
    /// [`Options::max_buffered`] bytes not yet sent, it first waits for that to drain
    /// (backpressure).
    ///
    /// # Errors
    /// [`Error::NotOpen`] when no connection is open (closing, closed, or reconnecting), or
    /// the browser's exception.
    pub async fn write_string(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.shared.write(Message::Text(text.into())).await
    }

    /// Sends a binary message; see [`Writer::write_string`].
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    pub async fn write_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.shared.write(Message::Binary(data.into())).await
    }

    /// Serializes `value` with serde_json and sends it as a text message.
    ///
    /// # Errors
    /// [`Error::Json`] if serialization fails, otherwise as [`Writer::write_string`].
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.shared
            .write(Message::text(serde_json::to_string(value)?))
            .await
    }

    /// Sends a message; see [`Writer::write_string`].
    ///
    /// A [`Message::Close`] closes the browser's socket with its code and reason, as
    /// [`WebSocket::close`] does but without waiting for the server's answer, and, as there,
    /// ends reconnecting. `Message::Close(None)` sends a close frame without a status code.
    /// Browsers let a page send only 1000 and 3000-4999.
    ///
    /// # Errors
    /// As [`Writer::write_string`]; for a close, [`Error::InvalidCloseCode`] for a code a page
    /// may not send.
    pub async fn write_message(&self, message: Message) -> Result<()> {
        self.shared.write(message).await
    }
}
