//! The benchmark harness of MyWebsocket: echo servers for MyWebsocket and its peers, a load
//! generator that speaks just enough WebSocket to measure them, the workloads, and the report.
//!
//! ```text
//! bench (driver) ──spawns──▶ bench-server --impl NAME   one process per measurement, 127.0.0.1 only
//!    │           └──spawns──▶ node peers/uws/echo.js    uWebSockets, installed by peers/uws/install.sh
//!    │  load generator: pre-built masked frames, many in flight or one per connection,
//!    │  counts echoed messages by parsing frame headers itself
//!    └──▶ target/bench/report.md, report.svg, results.json
//! ```
//!
//! Every server runs on the same tokio runtime ([`runtime`]): multi-threaded with two workers.
//! `just bench` runs the full comparison, `just bench-smoke` runs every workload briefly.
//!
//! ```
//! use mywebsocket_bench::loadgen::counter::FrameCounter;
//! use mywebsocket_bench::loadgen::frames::client_frame;
//!
//! // Two masked 5-byte binary frames, as the load generator sends them.
//! let frame = client_frame(0x2, false, b"hello", [1, 2, 3, 4]);
//! let mut wire = frame.clone();
//! wire.extend_from_slice(&frame);
//! let mut counter = FrameCounter::new(Some(5));
//! let tally = counter.feed(&wire).unwrap();
//! assert_eq!(tally.messages, 2);
//! ```

#![forbid(unsafe_code)]

pub mod cli;
pub mod driver;
pub mod fanout;
pub mod instructions;
pub mod json;
pub mod loadgen;
pub mod micro;
pub mod process;
pub mod report;
pub mod results;
pub mod servers;
pub mod soak;
pub mod stats;

/// The runtime every server and the load generator run on: multi-threaded with two workers (the
/// benchmark machine has two cores), I/O and timers enabled. The same for every implementation,
/// so no server gets a better scheduler than another.
///
/// # Errors
/// The operating system's error if the runtime cannot start its threads.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
}

/// Worker threads of [`runtime`].
pub const WORKER_THREADS: usize = 2;
