//! The wire format of frames (RFC 6455 §5): headers, opcodes, and frames ready to send.

mod header;
mod opcode;
mod outgoing;

pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use opcode::OpCode;
pub use outgoing::{Fragments, Frame};

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
