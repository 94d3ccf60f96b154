//! A client and a server `Connection` back to back in memory: no sockets, no runtime, a
//! simulated clock. Every close sequence, ping/pong ordering, protocol errors, timeouts, with
//! permessage-deflate on and off, and a property test over random interleavings.

mod close;
mod deflate;
mod errors;
mod ping;
mod props;
mod refused;
mod timeouts;
mod util;
