//! The read side of a connection: bytes in, events out.
//!
//! [`Decoder::feed`] takes frames from the front of a read buffer as they arrive. It checks
//! each header against the protocol rules and the [`Limits`] before any memory is reserved for
//! the payload, unmasks and UTF-8-validates payload bytes the moment they arrive (so invalid
//! text fails mid-frame), and reassembles fragmented messages.

use bytes::{Buf, Bytes, BytesMut};

use crate::close::CloseFrame;
use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::limits::Limits;
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::role::Role;
use crate::utf8::Utf8Validator;

/// Single-frame messages and control payloads shorter than this (or than a quarter of the read
/// buffer) are copied out of the read buffer into an allocation of their own; longer ones are
/// sliced from it without a copy (the buffer was reserved for them, so they hold little else).
/// Equal to the write path's copy threshold: below it a copy costs less than what it saves.
const OWN_ALLOCATION_BELOW: usize = 4 << 10;

/// The most the decoder reserves ahead of data for one frame. Beyond this the buffer grows as
/// bytes actually arrive, so a peer that announces a large frame and then trickles it does not
/// make us commit the whole size up front.
const MAX_RESERVE_AHEAD: usize = 1 << 20;

/// Something the peer sent.
///
/// `#[non_exhaustive]`: a later extension may add events (a match needs a `_` arm).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// A ping: answer it with a pong carrying the same payload (RFC 6455 §5.5.2).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame (`None`: it carried no status code). Echo it if we did not start the
    /// close, then end the connection (RFC 6455 §5.5.1).
    Close(Option<CloseFrame>),
}

/// The frame whose payload is arriving.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    len: usize,
    /// Payload bytes already unmasked and validated.
    processed: usize,
    /// Whether the payload is text to validate as it arrives (compressed text is validated
    /// after inflating).
    text: bool,
    /// Whether the payload belongs to a compressed message.
    compressed: bool,
}

/// The fragmented message in progress.
#[derive(Debug, Clone, Copy)]
struct InMessage {
    opcode: OpCode,
    compressed: bool,
}

/// Decodes frames into [`Event`]s for one connection.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    limits: Limits,
    /// Present once permessage-deflate was negotiated: RSV1 then marks compressed messages.
    inflater: Option<Inflater>,
    frame: Option<InFrame>,
    message: Option<InMessage>,
    assembly: BytesMut,
    /// The decompressed bytes of the compressed message in progress.
    inflated: Vec<u8>,
    utf8: Utf8Validator,
    closed: bool,
    error: Option<ProtocolError>,
}

impl Decoder {
    /// A decoder for the connection end `role` (it decodes what the *peer* sends).
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            role,
            limits,
            inflater: None,
            frame: None,
            message: None,
            assembly: BytesMut::new(),
            inflated: Vec::new(),
            utf8: Utf8Validator::new(),
            closed: false,
            error: None,
        }
    }

    /// The limits in force.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Turns on permessage-deflate (RFC 7692) after it was negotiated: messages whose first
    /// frame has RSV1 set are decompressed with `inflater`, their decompressed size counted
    /// against the message limit as it grows.
    pub fn enable_deflate(&mut self, inflater: Inflater) {
        self.inflater = Some(inflater);
    }

    /// Whether a frame has started arriving and is not complete yet.
    pub const fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// Whether a close frame has been received: nothing more will be decoded.
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// Takes the next event from the front of `buf`.
    ///
    /// Consumed bytes are removed from `buf`; a partial frame stays (its payload unmasked as far
    /// as it has arrived). Returns `Ok(None)` when more bytes are needed, and always after a
    /// close frame. A message's payload is split off `buf` without copying when it came in one
    /// frame.
    ///
    /// # Errors
    /// The [`ProtocolError`] the peer committed; its [`close_code`](ProtocolError::close_code)
    /// is the code to fail the connection with. The error is sticky: every later call returns
    /// it again.
    pub fn feed(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.closed {
            return Ok(None);
        }
        let result = self.decode(buf);
        if let Err(err) = result {
            self.error = Some(err);
        }
        result
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            let frame = match &mut self.frame {
                Some(frame) => frame,
                None => {
                    let Some((header, header_len)) = FrameHeader::parse(buf)? else {
                        return Ok(None);
                    };
                    let (len, text, compressed) = self.check(&header)?;
                    buf.advance(header_len);
                    if text && header.opcode == OpCode::Text {
                        self.utf8.reset();
                    }
                    self.frame.insert(InFrame {
                        header,
                        len,
                        processed: 0,
                        text,
                        compressed,
                    })
                }
            };
            let available = buf.len().min(frame.len);
            if frame.processed < available {
                let fresh = &mut buf[frame.processed..available];
                if let Some(key) = frame.header.mask {
                    apply_mask(fresh, key, frame.processed);
                }
                if frame.text && !frame.compressed {
                    self.utf8
                        .feed(fresh)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                frame.processed = available;
            }
            if available < frame.len {
                // Limits were checked with the header, so this is bounded; the extra header
                // room lets the next frame's header arrive with the same read.
                let missing = frame.len - available;
                buf.reserve(missing.min(MAX_RESERVE_AHEAD) + MAX_HEADER_LEN);
                return Ok(None);
            }
            let frame = self
                .frame
                .take()
                .expect("a frame is in progress: matched above");
            if frame.compressed {
                // Only inflated from: borrowed, so the read buffer is never shared for it.
                let result = self.complete_compressed(&frame, &buf[..frame.len]);
                buf.advance(frame.len);
                match result? {
                    Some(event) => return Ok(Some(event)),
                    None => continue,
                }
            }
            let h = frame.header;
            let standalone = h.fin && h.opcode != OpCode::Continuation;
            let payload = if standalone
                && (frame.len < OWN_ALLOCATION_BELOW || frame.len < buf.capacity() / 4)
            {
                // A slice would keep the whole read buffer alive for as long as the message
                // lives: a peer sending small messages that we queue (an echo to a peer that
                // does not read) would pin a buffer per message, far beyond the write budget
                // that counts only the message's bytes. (Fragments are copied into the
                // message being assembled anyway.)
                let payload = Bytes::copy_from_slice(&buf[..frame.len]);
                buf.advance(frame.len);
                payload
            } else {
                buf.split_to(frame.len).freeze()
            };
            if let Some(event) = self.complete(frame, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// Checks a header against RFC 6455 and the limits; returns the payload length, whether
    /// the payload is text and whether it is compressed.
    fn check(&self, h: &FrameHeader) -> Result<(usize, bool, bool), ProtocolError> {
        if h.rsv2 || h.rsv3 || (h.rsv1 && self.inflater.is_none()) {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrameFromServer),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooBig { len: h.payload_len });
            }
            if h.rsv1 {
                return Err(ProtocolError::ReservedBits);
            }
            // At most 125 by the check above.
            return Ok((h.payload_len as usize, false, false));
        }
        let (text, compressed) = match (h.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(m)) => {
                if h.rsv1 {
                    // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
                    return Err(ProtocolError::ReservedBits);
                }
                (m.opcode == OpCode::Text, m.compressed)
            }
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (op, None) => (op == OpCode::Text, h.rsv1),
        };
        if h.payload_len > self.limits.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooBig {
                size: h.payload_len,
                limit: self.limits.max_frame_size,
            });
        }
        // A compressed message's size is checked as it inflates.
        let size = self.assembly.len() as u64 + h.payload_len;
        if !compressed && size > self.limits.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                size,
                limit: self.limits.max_message_size,
            });
        }
        // At most max_frame_size, a usize, by the check above.
        Ok((h.payload_len as usize, text, compressed))
    }

    fn complete(&mut self, frame: InFrame, payload: Bytes) -> Result<Option<Event>, ProtocolError> {
        let h = frame.header;
        let event = match h.opcode {
            OpCode::Ping => Event::Ping(payload),
            OpCode::Pong => Event::Pong(payload),
            OpCode::Close => {
                let close = CloseFrame::parse(payload)?;
                self.closed = true;
                Event::Close(close)
            }
            OpCode::Text | OpCode::Binary if h.fin => {
                Event::Message(self.finish_message(h.opcode, payload)?)
            }
            OpCode::Text | OpCode::Binary => {
                self.message = Some(InMessage {
                    opcode: h.opcode,
                    compressed: false,
                });
                self.assembly.reserve(payload.len());
                self.assembly.extend_from_slice(&payload);
                return Ok(None);
            }
            OpCode::Continuation => {
                self.assembly.reserve(payload.len());
                self.assembly.extend_from_slice(&payload);
                if !h.fin {
                    return Ok(None);
                }
                let message = self
                    .message
                    .take()
                    .expect("checked: a message is in progress");
                let whole = self.assembly.split().freeze();
                Event::Message(self.finish_message(message.opcode, whole)?)
            }
        };
        Ok(Some(event))
    }

    /// A frame of a compressed message: inflate it, validate inflated text as it appears.
    fn complete_compressed(
        &mut self,
        frame: &InFrame,
        payload: &[u8],
    ) -> Result<Option<Event>, ProtocolError> {
        let h = frame.header;
        let opcode = match h.opcode {
            OpCode::Continuation => self.message.map_or(OpCode::Binary, |m| m.opcode),
            op => op,
        };
        let inflater = self
            .inflater
            .as_mut()
            .expect("checked: compressed frames need a negotiated inflater");
        let limit = self.limits.max_message_size;
        let before = self.inflated.len();
        inflater.inflate(payload, &mut self.inflated, limit)?;
        if h.fin {
            inflater.finish_message(&mut self.inflated, limit)?;
        }
        if opcode == OpCode::Text {
            self.utf8
                .feed(&self.inflated[before..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !h.fin {
            self.message = Some(InMessage {
                opcode,
                compressed: true,
            });
            return Ok(None);
        }
        self.message = None;
        let mut whole = std::mem::take(&mut self.inflated);
        if whole.capacity() > 2 * whole.len() {
            // The output buffer grows by doubling from 4 KiB: right-size it, or a small message
            // would keep kilobytes of spare capacity alive for as long as it lives.
            whole.shrink_to_fit();
        }
        let whole = Bytes::from(whole);
        Ok(Some(Event::Message(self.finish_message(opcode, whole)?)))
    }

    fn finish_message(&mut self, opcode: OpCode, payload: Bytes) -> Result<Message, ProtocolError> {
        if opcode == OpCode::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Message::Text(Utf8Bytes::from_validated(payload)))
        } else {
            Ok(Message::Binary(payload))
        }
    }
}

#[cfg(test)]
mod tests;
