//! What a run measures: the workload cells in order, their durations and repetitions.

use std::time::Duration;

use super::cell::{http2_cells, Cell, ONE_IN_FLIGHT, PAYLOADS};
use crate::loadgen::Timing;

/// A whole run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `full` or `smoke`.
    pub name: &'static str,
    /// The cells, in run order.
    pub cells: Vec<Cell>,
    /// Repetitions of each cell per server.
    pub reps: usize,
    /// Warm-up and measurement of throughput runs.
    pub timing: Timing,
    /// Warm-up and measurement of each latency payload size.
    pub latency_timing: Timing,
    /// Warm-up and measurement of one-in-flight runs.
    pub one_in_flight_timing: Timing,
}

impl Plan {
    /// The full comparison (about 10 minutes).
    pub fn full() -> Self {
        let mut cells = Vec::new();
        for payload in PAYLOADS {
            for conns in [1, 64, 1000] {
                cells.push(Cell::Echo { payload, conns });
                if payload == 16 && conns == 64 {
                    // Named by the issue's small-message target.
                    cells.push(Cell::Echo {
                        payload,
                        conns: 100,
                    });
                }
            }
        }
        cells.extend(ONE_IN_FLIGHT.map(|(payload, conns)| Cell::OneInFlight { payload, conns }));
        cells.extend([
            Cell::Latency,
            Cell::MemoryIdle { conns: 10_000 },
            Cell::MemoryBusy { conns: 1000 },
            Cell::Broadcast {
                conns: 1000,
                rounds: 5,
            },
            Cell::Broadcast {
                conns: 10_000,
                rounds: 5,
            },
            Cell::Setup { parallel: 32 },
            Cell::Compression {
                json_len: 1 << 10,
                conns: 64,
            },
            Cell::Compression {
                json_len: 64 << 10,
                conns: 64,
            },
        ]);
        cells.extend(http2_cells());
        Self {
            name: "full",
            cells,
            reps: 3,
            timing: Timing {
                warmup: Duration::from_millis(300),
                measure: Duration::from_millis(1000),
            },
            latency_timing: Timing {
                warmup: Duration::from_millis(100),
                measure: Duration::from_millis(600),
            },
            one_in_flight_timing: Timing {
                warmup: Duration::from_millis(300),
                measure: Duration::from_millis(1000),
            },
        }
    }

    /// Every workload once and briefly, to prove the harness works.
    pub fn smoke() -> Self {
        let mut cells = vec![
            Cell::Echo {
                payload: 16,
                conns: 100,
            },
            Cell::Echo {
                payload: 1 << 10,
                conns: 64,
            },
            Cell::Echo {
                payload: 16 << 10,
                conns: 1000,
            },
            Cell::Echo {
                payload: 1 << 20,
                conns: 1,
            },
            Cell::OneInFlight {
                payload: 20,
                conns: 100,
            },
            Cell::OneInFlight {
                payload: 16 << 10,
                conns: 500,
            },
            Cell::OneInFlight {
                payload: 1 << 20,
                conns: 10,
            },
            Cell::Latency,
            Cell::MemoryIdle { conns: 1000 },
            Cell::MemoryBusy { conns: 100 },
            Cell::Broadcast {
                conns: 1000,
                rounds: 2,
            },
            Cell::Setup { parallel: 32 },
            Cell::Compression {
                json_len: 1 << 10,
                conns: 8,
            },
            Cell::Compression {
                json_len: 64 << 10,
                conns: 8,
            },
        ];
        cells.extend(http2_cells());
        Self {
            name: "smoke",
            cells,
            reps: 1,
            timing: Timing {
                warmup: Duration::from_millis(100),
                measure: Duration::from_millis(250),
            },
            latency_timing: Timing {
                warmup: Duration::from_millis(20),
                measure: Duration::from_millis(100),
            },
            one_in_flight_timing: Timing {
                warmup: Duration::from_millis(30),
                measure: Duration::from_millis(100),
            },
        }
    }

    /// The most connections any cell opens at once.
    pub fn max_conns(&self) -> usize {
        self.cells
            .iter()
            .map(|c| match c {
                Cell::Echo { conns, .. }
                | Cell::OneInFlight { conns, .. }
                | Cell::MemoryIdle { conns }
                | Cell::MemoryBusy { conns }
                | Cell::Broadcast { conns, .. }
                | Cell::Compression { conns, .. }
                | Cell::Http2 { streams: conns, .. } => *conns,
                Cell::Setup { parallel } => *parallel,
                Cell::Latency => 1,
            })
            .max()
            .unwrap_or(0)
    }

    /// Caps every cell's connection count at `limit` (when file descriptors are short).
    pub fn cap_conns(&mut self, limit: usize) {
        for cell in &mut self.cells {
            match cell {
                Cell::Echo { conns, .. }
                | Cell::OneInFlight { conns, .. }
                | Cell::MemoryIdle { conns }
                | Cell::MemoryBusy { conns }
                | Cell::Broadcast { conns, .. }
                | Cell::Compression { conns, .. }
                | Cell::Http2 { streams: conns, .. } => *conns = (*conns).min(limit),
                Cell::Setup { .. } | Cell::Latency => {}
            }
        }
        self.cells.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Group;
    use crate::servers::Impl;

    #[test]
    fn the_full_plan_covers_the_issue() {
        let plan = Plan::full();
        assert!(plan.cells.contains(&Cell::Echo {
            payload: 16,
            conns: 100
        }));
        assert!(plan.cells.contains(&Cell::Echo {
            payload: 1 << 10,
            conns: 64
        }));
        assert_eq!(plan.max_conns(), 10_000);
        let echo_cells = plan
            .cells
            .iter()
            .filter(|c| c.group() == Group::Echo)
            .count();
        assert_eq!(echo_cells, 13);
        for (payload, conns) in [(20, 100), (16 << 10, 500), (1 << 20, 10)] {
            let cell = Cell::OneInFlight { payload, conns };
            assert!(plan.cells.contains(&cell));
            assert!(Plan::smoke().cells.contains(&cell));
            assert!(cell.servers().contains(&Impl::Uws));
            assert_eq!(cell.keys()[0].unit, "msg/s");
        }
    }

    #[test]
    fn the_http2_rows_run_in_both_plans_against_three_servers() {
        for plan in [Plan::full(), Plan::smoke()] {
            let cells: Vec<_> = plan
                .cells
                .iter()
                .filter(|c| c.group() == Group::Http2)
                .collect();
            assert_eq!(cells.len(), 3, "{}", plan.name);
            for cell in cells {
                assert_eq!(cell.servers(), &[Impl::MineH2, Impl::Mine, Impl::AxumH2]);
                assert_eq!(cell.keys().len(), 4);
            }
        }
        let cell = Cell::Http2 {
            payload: 20,
            streams: 64,
            window: 1,
        };
        assert_eq!(cell.keys()[2].row, "20 B × 64 WebSockets, 1 in flight p99");
    }
}
