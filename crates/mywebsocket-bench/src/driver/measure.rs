//! One measurement: one cell against one running server, yielding the cell's values in the
//! order of [`Cell::keys`].

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::cell::{window, Cell, BUSY_PAYLOAD, PAYLOADS};
use super::plan::Plan;
use crate::loadgen::conn::{connect, connect_many, Conn};
use crate::loadgen::echo::{self, EchoPlan};
use crate::loadgen::frames::{client_frame, payload, MASK_KEY, OP_BINARY, OP_TEXT};
use crate::loadgen::h2::{self as h2_load, Transport};
use crate::loadgen::{broadcast, latency, one_in_flight, setup};
use crate::process::ServerProcess;
use crate::servers::Impl;
use crate::stats::{median, percentile};

/// Measures `cell` against `server` (an instance of `which`).
///
/// # Errors
/// Why the measurement failed: a connection error, a bad echo, a stall, a crashed server.
pub(super) fn measure(
    rt: &Runtime,
    plan: &Plan,
    cell: &Cell,
    which: Impl,
    server: &ServerProcess,
) -> Result<Vec<f64>, String> {
    let addr = server.addr;
    match *cell {
        Cell::Echo {
            payload: len,
            conns,
        } => rt.block_on(async {
            let frame = client_frame(OP_BINARY, false, &payload(len), MASK_KEY);
            let echo_plan = Arc::new(EchoPlan::new(
                &frame,
                window(frame.len(), conns),
                Some(len as u64),
            ));
            let conns = connect_many(addr, conns, false).await?;
            let rates = echo::run(conns, echo_plan, plan.timing).await?;
            Ok(vec![rates.messages_per_s, rates.megabytes_per_s])
        }),
        Cell::OneInFlight {
            payload: len,
            conns,
        } => rt.block_on(async {
            let frame = Arc::new(client_frame(OP_BINARY, false, &payload(len), MASK_KEY));
            let conns = connect_many(addr, conns, false).await?;
            let cpu = || server.cpu_time();
            let timing = plan.one_in_flight_timing;
            let rates = one_in_flight::run(conns, frame, len as u64, timing, cpu).await?;
            Ok(vec![
                rates.messages_per_s,
                rates.p50_us,
                rates.p99_us,
                rates.server_cpu_us,
            ])
        }),
        Cell::Latency => rt.block_on(async {
            let mut conn = connect(addr, false).await.map_err(|e| e.to_string())?;
            let mut values = Vec::new();
            for len in PAYLOADS {
                let samples = latency::run(&mut conn, len, plan.latency_timing).await?;
                for q in [0.5, 0.99, 0.999] {
                    let ns = percentile(&samples, q).expect("at least one sample");
                    values.push(ns as f64 / 1e3);
                }
            }
            Ok(values)
        }),
        Cell::MemoryIdle { conns } => {
            let before = server.settled_rss_kib(Duration::from_secs(1))?;
            let open = rt.block_on(connect_many(addr, conns, false))?;
            let after = server.settled_rss_kib(Duration::from_secs(3));
            rt.block_on(async move { drop(open) });
            Ok(vec![kib_per_conn(before, after?, conns)])
        }
        Cell::MemoryBusy { conns } => {
            let before = server.settled_rss_kib(Duration::from_secs(1))?;
            let peak = rt.block_on(async {
                let frame = client_frame(OP_BINARY, false, &payload(BUSY_PAYLOAD), MASK_KEY);
                let echo_plan = Arc::new(EchoPlan::new(&frame, 16, Some(BUSY_PAYLOAD as u64)));
                let open = connect_many(addr, conns, false).await?;
                let run = tokio::spawn(echo::run(open, echo_plan, plan.timing));
                let mut peak = 0;
                while !run.is_finished() {
                    peak = peak.max(server.rss_kib()?);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                run.await.map_err(|e| e.to_string())??;
                Ok::<_, String>(peak)
            })?;
            Ok(vec![kib_per_conn(before, peak, conns)])
        }
        Cell::Broadcast { conns, rounds } => rt.block_on(async {
            let open = connect_many(addr, conns, false).await?;
            let cpu_before = server.cpu_time()?;
            let times = broadcast::run(open, rounds).await?;
            let cpu = server.cpu_time()?.saturating_sub(cpu_before);
            let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
            let last = median(&secs).ok_or("no round completed")?;
            let deliveries = (conns * times.len()) as f64;
            Ok(vec![
                conns as f64 / last,
                last * 1e3,
                cpu.as_secs_f64() * 1e6 / deliveries,
            ])
        }),
        Cell::Setup { parallel } => rt
            .block_on(setup::run(addr, parallel, plan.timing))
            .map(|rate| vec![rate]),
        Cell::Http2 {
            payload: len,
            streams,
            window,
        } => rt.block_on(async {
            let transport = if which.speaks_h2() {
                Transport::Http2
            } else {
                Transport::Http1
            };
            let sockets = h2_load::open(addr, transport, streams).await?;
            let cpu = || server.cpu_time();
            let timing = plan.one_in_flight_timing;
            let rates = h2_load::run(sockets, len, window, timing, cpu).await?;
            Ok(vec![
                rates.messages_per_s,
                rates.p50_us,
                rates.p99_us,
                rates.server_cpu_us,
            ])
        }),
        Cell::Compression { json_len, conns } => rt.block_on(async {
            let doc = crate::json::document(json_len);
            let open = connect_many(addr, conns, true).await?;
            let deflate = open.first().is_some_and(|c: &Conn| c.deflate);
            if open.iter().any(|c| c.deflate != deflate) {
                return Err("the server accepted compression on some connections only".into());
            }
            let should = matches!(which, Impl::MineDeflate | Impl::YawcDeflate);
            if deflate != should {
                return Err(format!(
                    "permessage-deflate negotiated: {deflate}, expected {should}"
                ));
            }
            let (frame, expect) = if deflate {
                let compressed = crate::json::compress_message(doc.as_bytes());
                (client_frame(OP_TEXT, true, &compressed, MASK_KEY), None)
            } else {
                (
                    client_frame(OP_TEXT, false, doc.as_bytes(), MASK_KEY),
                    Some(doc.len() as u64),
                )
            };
            // The window follows the JSON size, so every server gets the same number in flight.
            let echo_plan = Arc::new(EchoPlan::new(&frame, window(doc.len(), conns), expect));
            let rates = echo::run(open, echo_plan, plan.timing).await?;
            Ok(vec![
                rates.messages_per_s,
                rates.wire_down_per_msg,
                rates.wire_up_per_msg,
            ])
        }),
    }
}

fn kib_per_conn(before: u64, after: u64, conns: usize) -> f64 {
    after.saturating_sub(before) as f64 / conns.max(1) as f64
}
