//! The load generator: a minimal, fast WebSocket client written for measuring servers, not
//! for talking to arbitrary ones.
//!
//! It does its own handshake ([`conn`]), sends frames built and masked once up front
//! ([`frames`]), keeps many messages in flight per connection ([`echo`]) or exactly one ([`one_in_flight`]) and counts what comes
//! back by parsing frame headers and skipping payloads ([`counter`]), so its cost per message is
//! a few comparisons. That it is not the bottleneck is measured in every run: it drives the raw
//! TCP echo well above the fastest WebSocket server (the report's headroom line).
//!
//! The HTTP/2 workload is the exception: [`h2`] drives MyWebsocket's own client, over one
//! HTTP/2 connection or over HTTP/1.1.

pub mod broadcast;
pub mod conn;
pub mod counter;
pub mod echo;
pub mod frames;
pub mod h2;
pub mod latency;
pub mod one_in_flight;
pub mod setup;

use std::time::Duration;

/// How long one run warms up and then measures.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Traffic before counting starts.
    pub warmup: Duration,
    /// Traffic counted.
    pub measure: Duration,
}

/// The longest any single wait for the server may take before the run is declared failed.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(20);
