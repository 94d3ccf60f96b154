//! Instruction counts for fixed workloads, measured with callgrind: stable between runs and
//! machines where wall-clock numbers are not, so they compare commits.
//!
//! Each workload runs in its own `bench-instructions NAME` process under
//! `valgrind --tool=callgrind`; the count of the `baseline` workload (start, exit) is
//! subtracted, and the rest divided by the workload's unit count.

use std::path::Path;
use std::process::Command;

use bytes::BytesMut;
use mywebsocket::{Config, Upgrader};
use mywebsocket_proto::{apply_mask, Decoder, Limits, Role, Utf8Validator};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::loadgen::counter::FrameCounter;
use crate::loadgen::frames::{client_frame, payload, repeated, MASK_KEY, OP_BINARY};

/// A fixed workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Its name on the command line.
    pub name: &'static str,
    /// How many units it processes (the count is reported per unit).
    pub units: u64,
    /// What a unit is.
    pub unit: &'static str,
    /// What it does.
    pub what: &'static str,
}

/// Every workload; the first is the baseline subtracted from the others.
pub const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "baseline",
        units: 1,
        unit: "run",
        what: "process start and exit (subtracted from the others)",
    },
    Workload {
        name: "mask",
        units: 100,
        unit: "64 KiB",
        what: "`apply_mask` over 64 KiB, 100 times",
    },
    Workload {
        name: "utf8",
        units: 100,
        unit: "64 KiB",
        what: "`Utf8Validator` over 64 KiB of mixed text, 100 times",
    },
    Workload {
        name: "decode",
        units: 100_000,
        unit: "frame",
        what: "`Decoder::feed` (server role) over 100,000 masked 16 B binary frames",
    },
    Workload {
        name: "echo16",
        units: 20_000,
        unit: "message",
        what: "MyWebsocket echo server over an in-memory pipe, 20,000 × 16 B, pipelined",
    },
    Workload {
        name: "echo16k",
        units: 2_000,
        unit: "message",
        what: "the same with 2,000 × 16 KiB",
    },
];

/// Runs workload `name` in this process.
///
/// # Errors
/// An unknown name, or a failure of the echo workloads.
pub fn run_workload(name: &str) -> Result<(), String> {
    let workload = WORKLOADS
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| format!("unknown workload {name}"))?;
    match workload.name {
        "baseline" => Ok(()),
        "mask" => {
            let mut buf = vec![0x5a; crate::micro::BUF_LEN];
            for i in 0..workload.units {
                apply_mask(&mut buf, MASK_KEY, i as usize);
            }
            std::hint::black_box(&buf);
            Ok(())
        }
        "utf8" => {
            let text = crate::micro::mixed_text(crate::micro::BUF_LEN);
            for _ in 0..workload.units {
                let mut validator = Utf8Validator::new();
                validator
                    .feed(std::hint::black_box(&text))
                    .map_err(|_| "invalid")?;
                validator.finish().map_err(|_| "invalid")?;
            }
            Ok(())
        }
        "decode" => decode(workload.units),
        "echo16" => echo(16, workload.units),
        "echo16k" => echo(16 << 10, workload.units),
        _ => unreachable!("every listed workload is matched"),
    }
}

fn decode(frames: u64) -> Result<(), String> {
    let frame = client_frame(OP_BINARY, false, &payload(16), MASK_KEY);
    let mut buf = BytesMut::from(&repeated(&frame, frames as usize)[..]);
    let mut decoder = Decoder::new(Role::Server, Limits::default());
    let mut messages = 0;
    while let Some(event) = decoder.feed(&mut buf).map_err(|e| e.to_string())? {
        std::hint::black_box(&event);
        messages += 1;
    }
    if messages == frames {
        Ok(())
    } else {
        Err(format!("decoded {messages} of {frames} frames"))
    }
}

/// A MyWebsocket echo server on one end of an in-memory pipe, the load generator's frames on
/// the other, on a single-threaded runtime so the count does not depend on scheduling.
fn echo(payload_len: usize, messages: u64) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(256 << 10);
        let upgrader = Upgrader::new(Config::default().no_heartbeat().deflate(None));
        let server = tokio::spawn(async move {
            let mut ws = upgrader.accept(server).await?;
            while let Ok(msg) = ws.read_msg().await {
                ws.write_message(msg).await?;
            }
            Ok::<_, mywebsocket::Error>(())
        });
        let addr = "127.0.0.1:80".parse().expect("a valid address");
        let (mut read, mut write) = tokio::io::split(client);
        write
            .write_all(&crate::loadgen::conn::request(addr, false))
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = read.read_u8().await.map_err(|e| e.to_string())?;
            head.push(byte);
        }
        let frame = client_frame(OP_BINARY, false, &payload(payload_len), MASK_KEY);
        let batch = repeated(&frame, 64);
        let writer = async move {
            let mut sent = 0;
            while sent < messages {
                let n = (messages - sent).min(64);
                write.write_all(&batch[..n as usize * frame.len()]).await?;
                sent += n;
            }
            Ok::<_, std::io::Error>(write)
        };
        let reader = async move {
            let mut counter = FrameCounter::new(Some(payload_len as u64));
            let mut buf = vec![0; 64 << 10];
            let mut received = 0;
            while received < messages {
                let n = read.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                received += counter
                    .feed(&buf[..n])
                    .map_err(std::io::Error::other)?
                    .messages;
            }
            Ok::<_, std::io::Error>(received)
        };
        let (write, received) = tokio::join!(writer, reader);
        drop(write);
        let received = received.map_err(|e| e.to_string())?;
        server.abort();
        if received == messages {
            Ok(())
        } else {
            Err(format!("echoed {received} of {messages} messages"))
        }
    })
}

/// One workload's count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Count {
    /// The workload's name.
    pub name: String,
    /// What it does.
    pub what: String,
    /// Instructions, baseline subtracted.
    pub instructions: u64,
    /// Instructions per unit.
    pub per_unit: f64,
    /// What a unit is.
    pub unit: String,
}

/// Runs every workload of `bin` (the `bench-instructions` binary) under callgrind.
///
/// # Errors
/// If valgrind is missing or a workload fails.
pub fn measure(bin: &Path) -> Result<Vec<Count>, String> {
    let mut baseline = 0;
    let mut counts = Vec::new();
    for workload in WORKLOADS {
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(bin)
            .arg(workload.name)
            .output()
            .map_err(|e| format!("running valgrind (is it installed?): {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{} failed under callgrind:\n{stderr}",
                workload.name
            ));
        }
        let total = parse_collected(&stderr)
            .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))?;
        if workload.name == "baseline" {
            baseline = total;
            continue;
        }
        let instructions = total.saturating_sub(baseline);
        counts.push(Count {
            name: workload.name.to_owned(),
            what: workload.what.to_owned(),
            instructions,
            per_unit: instructions as f64 / workload.units as f64,
            unit: workload.unit.to_owned(),
        });
    }
    Ok(counts)
}

/// The total from callgrind's `==PID== Collected : N` line.
fn parse_collected(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs() {
        for workload in WORKLOADS {
            run_workload(workload.name).unwrap();
        }
        assert!(run_workload("nope").is_err());
    }

    #[test]
    fn reads_callgrinds_total() {
        let stderr = "==12== Events    : Ir\n==12== Collected : 1234567\n==12==\n";
        assert_eq!(parse_collected(stderr), Some(1_234_567));
    }
}
