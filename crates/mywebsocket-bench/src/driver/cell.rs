//! The workload cells: what one measurement runs (kind, payload, connections), and the sizes
//! and labels they share.

use crate::results::{Better, Group, MetricKey};
use crate::servers::{Impl, Mode};

/// The echo payload sizes (workload 1) and latency payload sizes (workload 2).
pub const PAYLOADS: [usize; 4] = [16, 1 << 10, 16 << 10, 1 << 20];

/// One workload variant, run once per server per repetition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Pipelined echo of `payload`-byte binary messages on `conns` connections.
    Echo {
        /// Payload bytes per message.
        payload: usize,
        /// Connections.
        conns: usize,
    },
    /// Echo of `payload`-byte binary messages on `conns` connections, each with exactly one
    /// message in flight: the next is sent when the echo of the last is in.
    OneInFlight {
        /// Payload bytes per message.
        payload: usize,
        /// Connections.
        conns: usize,
    },
    /// One connection, one message in flight, each size of [`PAYLOADS`] in turn.
    Latency,
    /// Resident memory per connection with `conns` open and idle.
    MemoryIdle {
        /// Connections.
        conns: usize,
    },
    /// Resident memory per connection with `conns` echoing 1 KiB messages.
    MemoryBusy {
        /// Connections.
        conns: usize,
    },
    /// One message to `conns` connections, `rounds` times.
    Broadcast {
        /// Connections.
        conns: usize,
        /// Broadcasts per measurement.
        rounds: usize,
    },
    /// Handshakes with `parallel` connects in flight.
    Setup {
        /// Simultaneous connect-handshake-reset loops.
        parallel: usize,
    },
    /// Echo of a `json_len`-byte JSON document on `conns` connections, compression offered.
    Compression {
        /// Size of the JSON document.
        json_len: usize,
        /// Connections.
        conns: usize,
    },
    /// Echo of `payload`-byte binary messages on `streams` WebSockets, `window` in flight on
    /// each, through MyWebsocket's client: as streams of one HTTP/2 connection for the servers
    /// that speak it ([`Impl::speaks_h2`]), one TCP connection each over HTTP/1.1 otherwise.
    Http2 {
        /// Payload bytes per message.
        payload: usize,
        /// WebSockets.
        streams: usize,
        /// Messages in flight per WebSocket (1: the next is sent when the echo is in).
        window: usize,
    },
}

/// The one-in-flight rows of the full plan, `(payload, conns)`: request/response traffic at
/// the sizes uWebSockets' load test is usually run with.
pub const ONE_IN_FLIGHT: [(usize, usize); 3] = [(20, 100), (16 << 10, 500), (1 << 20, 10)];

/// WebSockets per HTTP/2 connection in the HTTP/2 rows: the most MyWebsocket's server allows
/// at once on one connection (`mywebsocket::h2::MAX_STREAMS`, its
/// `SETTINGS_MAX_CONCURRENT_STREAMS`), so the one-in-flight shapes run with 64 WebSockets
/// instead of 100 or 500.
pub const H2_STREAMS: usize = mywebsocket::h2::MAX_STREAMS as usize;

/// The HTTP/2 rows, `(payload, window)` on [`H2_STREAMS`] WebSockets: the one-in-flight shapes
/// at 20 B and 16 KiB, and the pipelined 16 B shape of the echo table (64 in flight each).
pub const HTTP2: [(usize, usize); 3] = [(20, 1), (16 << 10, 1), (16, 64)];

/// The payload of the busy-memory workload.
pub const BUSY_PAYLOAD: usize = 1 << 10;

/// `bytes` as `16 B`, `1 KiB`, `1 MiB`.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// `n` with thousands separated by commas.
pub fn count_label(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in flight across all connections of a run, beyond which windows shrink.
pub const IN_FLIGHT_TOTAL: usize = 256 << 20;

/// Bytes in flight on one connection: two 1 MiB messages and their headers, so even those
/// overlap on a single connection.
pub const IN_FLIGHT_PER_CONN: usize = (2 << 20) + 128;

/// Messages kept in flight per connection for frames of `frame_len` bytes on `conns`
/// connections: as many as fit in [`IN_FLIGHT_PER_CONN`] and in a share of
/// [`IN_FLIGHT_TOTAL`], at least 1 and at most 64.
pub fn window(frame_len: usize, conns: usize) -> usize {
    let budget = IN_FLIGHT_PER_CONN.min(IN_FLIGHT_TOTAL / conns.max(1));
    (budget / frame_len.max(1)).clamp(1, 64)
}

impl Cell {
    /// The servers it runs against.
    pub fn servers(&self) -> &'static [Impl] {
        match self {
            Cell::Compression { .. } => &Impl::COMPRESSION,
            Cell::OneInFlight { .. } => &Impl::ONE_IN_FLIGHT,
            Cell::Http2 { .. } => &Impl::HTTP2,
            _ => &Impl::PLAIN,
        }
    }

    /// The mode the servers run in.
    pub fn mode(&self) -> Mode {
        match self {
            Cell::Broadcast { .. } => Mode::Broadcast,
            _ => Mode::Echo,
        }
    }

    /// The report group it belongs to.
    pub fn group(&self) -> Group {
        match self {
            Cell::Echo { .. } => Group::Echo,
            Cell::OneInFlight { .. } => Group::OneInFlight,
            Cell::Latency => Group::Latency,
            Cell::MemoryIdle { .. } | Cell::MemoryBusy { .. } => Group::Memory,
            Cell::Broadcast { .. } => Group::Broadcast,
            Cell::Setup { .. } => Group::Setup,
            Cell::Compression { .. } => Group::Compression,
            Cell::Http2 { .. } => Group::Http2,
        }
    }

    /// A short name for progress lines.
    pub fn label(&self) -> String {
        match self {
            Cell::Echo { payload, conns } => {
                format!(
                    "echo {} × {} conns",
                    size_label(*payload),
                    count_label(*conns)
                )
            }
            Cell::OneInFlight { payload, conns } => format!(
                "one in flight {} × {} conns",
                size_label(*payload),
                count_label(*conns)
            ),
            Cell::Latency => "latency".into(),
            Cell::MemoryIdle { conns } => format!("memory idle × {}", count_label(*conns)),
            Cell::MemoryBusy { conns } => format!("memory busy × {}", count_label(*conns)),
            Cell::Broadcast { conns, .. } => format!("broadcast to {}", count_label(*conns)),
            Cell::Setup { parallel } => format!("setup, {parallel} parallel"),
            Cell::Compression { json_len, conns } => format!(
                "deflate JSON {} × {} conns",
                size_label(*json_len),
                count_label(*conns)
            ),
            Cell::Http2 { .. } => format!("HTTP/2 {}", http2_row(self)),
        }
    }

    /// The metrics a measurement yields, in the order of its values.
    pub fn keys(&self) -> Vec<MetricKey> {
        use Better::{Higher, Lower};
        match self {
            Cell::Echo { payload, conns } => {
                let row = format!("{} × {} conns", size_label(*payload), count_label(*conns));
                vec![
                    MetricKey::new(Group::Echo, &row, "msg/s", Higher),
                    MetricKey::new(Group::EchoBytes, &row, "MB/s", Higher),
                ]
            }
            Cell::OneInFlight { payload, conns } => {
                let row = format!("{} × {} conns", size_label(*payload), count_label(*conns));
                vec![
                    MetricKey::new(Group::OneInFlight, &row, "msg/s", Higher),
                    MetricKey::new(Group::OneInFlight, format!("{row} p50"), "µs", Lower),
                    MetricKey::new(Group::OneInFlight, format!("{row} p99"), "µs", Lower),
                    MetricKey::new(
                        Group::OneInFlight,
                        format!("{row} server CPU"),
                        "µs/msg",
                        Lower,
                    ),
                ]
            }
            Cell::Latency => PAYLOADS
                .iter()
                .flat_map(|&p| {
                    ["p50", "p99", "p99.9"].map(|q| {
                        MetricKey::new(
                            Group::Latency,
                            format!("{} {q}", size_label(p)),
                            "µs",
                            Lower,
                        )
                    })
                })
                .collect(),
            Cell::MemoryIdle { conns } => vec![MetricKey::new(
                Group::Memory,
                format!("idle, {} conns", count_label(*conns)),
                "KiB/conn",
                Lower,
            )],
            Cell::MemoryBusy { conns } => vec![MetricKey::new(
                Group::Memory,
                format!(
                    "busy, {} conns echoing {}",
                    count_label(*conns),
                    size_label(BUSY_PAYLOAD)
                ),
                "KiB/conn",
                Lower,
            )],
            Cell::Broadcast { conns, .. } => {
                let row = format!("to {} conns", count_label(*conns));
                vec![
                    MetricKey::new(Group::Broadcast, format!("{row}: deliveries"), "/s", Higher),
                    MetricKey::new(
                        Group::Broadcast,
                        format!("{row}: last arrival"),
                        "ms",
                        Lower,
                    ),
                    MetricKey::new(
                        Group::Broadcast,
                        format!("{row}: server CPU"),
                        "µs/delivery",
                        Lower,
                    ),
                ]
            }
            Cell::Setup { parallel } => vec![MetricKey::new(
                Group::Setup,
                format!("{parallel} connecting at once"),
                "handshakes/s",
                Higher,
            )],
            Cell::Compression { json_len, conns } => {
                let row = format!(
                    "JSON {} × {} conns",
                    size_label(*json_len),
                    count_label(*conns)
                );
                vec![
                    MetricKey::new(Group::Compression, row.clone(), "msg/s", Higher),
                    MetricKey::new(
                        Group::Compression,
                        format!("{row}: server→client"),
                        "B/msg",
                        Lower,
                    ),
                    MetricKey::new(
                        Group::Compression,
                        format!("{row}: client→server"),
                        "B/msg",
                        Lower,
                    ),
                ]
            }
            Cell::Http2 { .. } => {
                let row = http2_row(self);
                vec![
                    MetricKey::new(Group::Http2, &row, "msg/s", Higher),
                    MetricKey::new(Group::Http2, format!("{row} p50"), "µs", Lower),
                    MetricKey::new(Group::Http2, format!("{row} p99"), "µs", Lower),
                    MetricKey::new(Group::Http2, format!("{row} server CPU"), "µs/msg", Lower),
                ]
            }
        }
    }
}

/// The row name of an HTTP/2 cell: `20 B × 64 WebSockets, 1 in flight`.
fn http2_row(cell: &Cell) -> String {
    let Cell::Http2 {
        payload,
        streams,
        window,
    } = cell
    else {
        unreachable!("only HTTP/2 cells have HTTP/2 rows")
    };
    format!(
        "{} × {} WebSockets, {window} in flight",
        size_label(*payload),
        count_label(*streams)
    )
}

/// The HTTP/2 cells.
pub(super) fn http2_cells() -> impl Iterator<Item = Cell> {
    HTTP2.into_iter().map(|(payload, window)| Cell::Http2 {
        payload,
        streams: H2_STREAMS,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(size_label(16), "16 B");
        assert_eq!(size_label(16 << 10), "16 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(count_label(10_000), "10,000");
        assert_eq!(count_label(64), "64");
    }

    #[test]
    fn windows_bound_bytes_in_flight() {
        assert_eq!(window(22, 1000), 64);
        assert_eq!(window(1030, 1000), 64);
        assert_eq!(window((16 << 10) + 8, 1), 64);
        assert_eq!(window((16 << 10) + 8, 1000), 16);
        assert_eq!(window((1 << 20) + 14, 1), 2);
        assert_eq!(window((1 << 20) + 14, 64), 2);
        assert_eq!(window((1 << 20) + 14, 1000), 1);
    }
}
