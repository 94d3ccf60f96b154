//! One browser `WebSocket`: its event handlers, the messages they queue, and how it ended.
//!
//! The browser delivers everything through callbacks on the page's only thread. Each callback
//! updates a shared [`State`] and wakes the futures waiting on it; no callback ever awaits.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mywebsocket_proto::{CloseCode, Message};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent};

use crate::close::{check_close, CloseInfo, Initiator};
use crate::error::Error;
use crate::options::Options;
use crate::timer::now_ms;

/// How a connection ended.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// The browser closed it and reported how.
    Closed(CloseInfo),
    /// The keep-alive found the server silent for this long and dropped the connection.
    Dead(Duration),
}

impl From<End> for Error {
    fn from(end: End) -> Self {
        match end {
            End::Closed(info) => Error::Closed(info),
            End::Dead(silent_for) => Error::KeepAliveTimeout { silent_for },
        }
    }
}

#[derive(Debug)]
enum Phase {
    Connecting,
    Open,
    Ended(End),
}

/// What the event handlers share with the futures.
#[derive(Debug)]
struct State {
    phase: Phase,
    /// Messages received and not yet read. The browser's WebSocket API has no flow control
    /// for receiving, so this is as large as the server makes it.
    inbox: VecDeque<Message>,
    wakers: Vec<Waker>,
    /// When the last message arrived (or the connection opened), for the keep-alive.
    last_rx_ms: f64,
    /// Whether this page asked for the close, so that the close event is ours.
    close_requested: bool,
    /// The keep-alive's reply, not delivered to the application.
    swallow: Option<Message>,
}

impl State {
    fn register(&mut self, cx: &Context<'_>) {
        if !self.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            self.wakers.push(cx.waker().clone());
        }
    }

    fn take_wakers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wakers)
    }
}

/// Wakes outside the `RefCell` borrow, so that nothing woken can find the state borrowed.
fn update(state: &RefCell<State>, f: impl FnOnce(&mut State)) {
    let wakers = {
        let mut state = state.borrow_mut();
        f(&mut state);
        state.take_wakers()
    };
    wakers.into_iter().for_each(Waker::wake);
}

/// The event handlers, owned here for as long as the socket lives; dropping the [`Socket`]
/// detaches them from the browser first, so the browser never calls a freed closure.
struct Handlers {
    on_open: Closure<dyn FnMut(Event)>,
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// One connection attempt and, once open, the connection.
pub(crate) struct Socket {
    ws: web_sys::WebSocket,
    state: Rc<RefCell<State>>,
    _handlers: Handlers,
}

impl Socket {
    /// Creates the browser's socket, which starts connecting at once, and attaches the
    /// handlers.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the browser rejects the URL or the subprotocols.
    pub(crate) fn new(url: &str, options: &Options) -> Result<Self, Error> {
        let ws = if options.protocols.is_empty() {
            web_sys::WebSocket::new(url)
        } else {
            let protocols: js_sys::Array = options
                .protocols
                .iter()
                .map(|p| JsValue::from_str(p))
                .collect();
            web_sys::WebSocket::new_with_str_sequence(url, &protocols)
        }
        .map_err(|e| match Error::from_js(&e) {
            Error::Browser { message, .. } => Error::InvalidRequest(message),
            other => other,
        })?;
        // Binary messages as `ArrayBuffer`, copied straight into wasm memory, rather than the
        // default `Blob`, which would need an asynchronous read.
        ws.set_binary_type(BinaryType::Arraybuffer);

        let state = Rc::new(RefCell::new(State {
            phase: Phase::Connecting,
            inbox: VecDeque::new(),
            wakers: Vec::new(),
            last_rx_ms: now_ms(),
            close_requested: false,
            swallow: options.keep_alive.as_ref().and_then(|k| k.reply.clone()),
        }));
        let handlers = Handlers {
            on_open: Closure::new({
                let state = Rc::clone(&state);
                move |_: Event| {
                    update(&state, |s| {
                        if matches!(s.phase, Phase::Connecting) {
                            s.phase = Phase::Open;
                            s.last_rx_ms = now_ms();
                        }
                    });
                }
            }),
            on_message: Closure::new({
                let state = Rc::clone(&state);
                move |event: MessageEvent| {
                    let Some(message) = decode(&event.data()) else {
                        return;
                    };
                    update(&state, |s| {
                        if matches!(s.phase, Phase::Ended(_)) {
                            return;
                        }
                        s.last_rx_ms = now_ms();
                        if s.swallow.as_ref() != Some(&message) {
                            s.inbox.push_back(message);
                        }
                    });
                }
            }),
            on_close: Closure::new({
                let state = Rc::clone(&state);
                move |event: CloseEvent| {
                    update(&state, |s| {
                        if matches!(s.phase, Phase::Ended(_)) {
                            return;
                        }
                        s.phase = Phase::Ended(End::Closed(CloseInfo {
                            code: CloseCode::new(event.code()),
                            reason: event.reason(),
                            was_clean: event.was_clean(),
                            initiator: if s.close_requested {
                                Initiator::Local
                            } else {
                                Initiator::Remote
                            },
                        }));
                    });
                }
            }),
        };
        ws.set_onopen(Some(handlers.on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(handlers.on_message.as_ref().unchecked_ref()));
        // An `error` event is always followed by a `close` event, which carries what there is
        // to know; the `error` event itself says nothing (by design, for privacy).
        ws.set_onclose(Some(handlers.on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            state,
            _handlers: handlers,
        })
    }

    /// Waits until the connection is open.
    ///
    /// # Errors
    /// [`Error::ConnectFailed`] when it closed before opening.
    pub(crate) async fn opened(&self) -> Result<(), Error> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            match &state.phase {
                Phase::Open => Poll::Ready(Ok(())),
                Phase::Ended(End::Closed(info)) => {
                    Poll::Ready(Err(Error::ConnectFailed { code: info.code }))
                }
                Phase::Ended(End::Dead(_)) => Poll::Ready(Err(Error::ConnectFailed {
                    code: CloseCode::ABNORMAL,
                })),
                Phase::Connecting => {
                    state.register(cx);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The next message received, or how the connection ended once every message received
    /// before the end has been read.
    pub(crate) async fn next(&self) -> Result<Message, End> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Some(message) = state.inbox.pop_front() {
                return Poll::Ready(Ok(message));
            }
            if let Phase::Ended(end) = &state.phase {
                return Poll::Ready(Err(end.clone()));
            }
            state.register(cx);
            Poll::Pending
        })
        .await
    }

    /// Waits until the connection has ended.
    pub(crate) async fn ended(&self) -> End {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Phase::Ended(end) = &state.phase {
                return Poll::Ready(end.clone());
            }
            state.register(cx);
            Poll::Pending
        })
        .await
    }

    /// How the connection ended, if it has.
    pub(crate) fn end(&self) -> Option<End> {
        match &self.state.borrow().phase {
            Phase::Ended(end) => Some(end.clone()),
            Phase::Connecting | Phase::Open => None,
        }
    }

    /// Whether messages can be sent now.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state.borrow().phase, Phase::Open)
            && self.ws.ready_state() == web_sys::WebSocket::OPEN
    }

    /// The bytes handed to the browser and not yet sent.
    pub(crate) fn buffered_amount(&self) -> usize {
        usize::try_from(self.ws.buffered_amount()).unwrap_or(usize::MAX)
    }

    /// When a message last arrived, in [`now_ms`] time.
    pub(crate) fn last_rx_ms(&self) -> f64 {
        self.state.borrow().last_rx_ms
    }

    /// The subprotocol the server chose, if any.
    pub(crate) fn protocol(&self) -> Option<String> {
        Some(self.ws.protocol()).filter(|p| !p.is_empty())
    }

    /// The extensions the server accepted, as the browser reports them; empty for none.
    pub(crate) fn extensions(&self) -> String {
        self.ws.extensions()
    }

    /// Hands a message to the browser to send; a [`Message::Close`] starts the closing
    /// handshake with its code and reason (none: a close frame without a status code).
    ///
    /// # Errors
    /// [`Error::NotOpen`] unless the connection is open, [`Error::InvalidCloseCode`] for a
    /// close code a page may not send, or the browser's exception.
    pub(crate) fn send(&self, message: &Message) -> Result<(), Error> {
        if !self.is_open() {
            return Err(Error::NotOpen);
        }
        match message {
            Message::Text(text) => self.ws.send_with_str(text.as_str()),
            Message::Binary(data) => self.ws.send_with_u8_array(data),
            Message::Close(Some(frame)) => {
                check_close(frame.code, frame.reason.as_str())?;
                return self.start_close(frame.code, frame.reason.as_str());
            }
            Message::Close(None) => {
                self.state.borrow_mut().close_requested = true;
                // Without arguments the browser sends a close frame with no body.
                self.ws.close()
            }
            // `Message` is `#[non_exhaustive]`; every kind it has today is handled above.
            _ => {
                return Err(Error::Browser {
                    name: "NotSupportedError".into(),
                    message: "a kind of message this version cannot send".into(),
                })
            }
        }
        .map_err(|e| Error::from_js(&e))
    }

    /// Starts the closing handshake; the close event ends it.
    ///
    /// # Errors
    /// The browser's exception (the caller has checked the code and reason beforehand).
    pub(crate) fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.state.borrow_mut().close_requested = true;
        self.ws
            .close_with_code_and_reason(code.as_u16(), reason)
            .map_err(|e| Error::from_js(&e))
    }

    /// Ends the connection at once, without waiting for the browser's close event: for a
    /// connection that has stopped answering.
    pub(crate) fn abandon(&self, end: End, reason: &str) {
        update(&self.state, |s| {
            s.close_requested = true;
            if !matches!(s.phase, Phase::Ended(_)) {
                s.phase = Phase::Ended(end);
            }
        });
        // Still tell the server, in case the path is only slow.
        let _ = self
            .ws
            .close_with_code_and_reason(CloseCode::NORMAL.as_u16(), reason);
    }

    /// The keep-alive's verdict: nothing arrived for `silent_for`.
    pub(crate) fn declare_dead(&self, silent_for: Duration) {
        self.abandon(End::Dead(silent_for), "keep-alive timeout");
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // A page that drops its connection is done with it; without this the browser keeps it
        // open until the page goes away.
        if matches!(
            self.ws.ready_state(),
            web_sys::WebSocket::CONNECTING | web_sys::WebSocket::OPEN
        ) {
            let _ = self.ws.close_with_code(CloseCode::NORMAL.as_u16());
        }
    }
}

/// A message from a `message` event's data: a string for text, an `ArrayBuffer` for binary
/// (the socket's `binaryType`). Anything else cannot come from a WebSocket and is ignored.
fn decode(data: &JsValue) -> Option<Message> {
    if let Some(text) = data.as_string() {
        return Some(Message::text(text));
    }
    let buffer = data.dyn_ref::<js_sys::ArrayBuffer>()?;
    Some(Message::binary(js_sys::Uint8Array::new(buffer).to_vec()))
}
