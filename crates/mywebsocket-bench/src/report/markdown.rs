//! `report.md`: one table per workload group, one row per workload, a column per server and
//! MyWebsocket's ratio to each of the others.

use std::fmt::Write;

use super::format::{cell, number, ratio, short};
use crate::instructions::Count;
use crate::micro::MicroResult;
use crate::results::{Better, Entry, Group, MetricKey, Results};
use crate::servers::Impl;
use crate::stats::median;

/// A group's heading and what its numbers mean.
fn describe(group: Group) -> (&'static str, &'static str) {
    match group {
        Group::Echo => (
            "1. Echo throughput: messages/s",
            "Every connection keeps a window of binary messages in flight and sends the next \
             ones as echoes return: 1 to 64 messages, at most 2 MiB per connection and 256 MiB \
             across all (so 64 at 16 B and 1 KiB, 16 at 16 KiB × 1,000 conns, 2 at 1 MiB up to \
             128 conns, 1 at 1 MiB × 1,000). Higher is better.",
        ),
        Group::EchoBytes => (
            "1. Echo throughput: MB/s",
            "The same runs, in megabytes (10⁶ B) of echoed payload per second, one direction.",
        ),
        Group::OneInFlight => (
            "1b. Echo with one message in flight per connection",
            "Request/response traffic: every connection sends one binary message, waits for its \
             echo, then sends the next (as uWebSockets' `load_test.c` does). Rows: messages/s \
             over all connections (higher is better); the p50 and p99 round trip of the \
             messages echoed in the measured interval, µs; and the server process's CPU time \
             (user + system, all threads, from `/proc/PID/task/*/schedstat`) in that interval \
             divided by the messages, µs per message (lower is better for both). The load \
             generator shares the two cores with the server, so a server that uses less CPU \
             leaves more to the load generator. `uws` is uWebSockets (C++) through \
             uWebSockets.js v20.30.0 (npm `@trufflesuite/uws-js-unofficial`, its native addon) \
             under Node, echoing with compression off, as its EchoServer example does. \
             \"best Rust peer\" is the best of tokio-tungstenite, fastwebsockets, \
             tokio-websockets and yawc in that row.",
        ),
        Group::Latency => (
            "2. Latency: one message in flight",
            "Round trip of one binary message on one connection, microseconds; nearest-rank \
             percentiles of every round trip in the measured interval (at 1 MiB there are few \
             enough that p99.9 is close to the maximum). Lower is better.",
        ),
        Group::Memory => (
            "3. Memory per connection",
            "Growth of the server process's resident memory (`VmRSS` in `/proc/PID/status`) \
             divided by the connections: idle = after every handshake completed and the figure \
             stopped changing; busy = the peak while every connection echoes 1 KiB messages with \
             16 in flight. Kernel socket buffers are not included. Lower is better. (`tcp` grows a \
             buffer of up to 128 KiB per connection for speed; its memory is no target.)",
        ),
        Group::Broadcast => (
            "4. Broadcast",
            "One connection sends a 64-byte message; the server sends it to every connection, \
             itself included. Time from sending until the last copy arrived (median of the \
             rounds), connections ÷ that time, and the server's CPU time over all rounds per \
             delivery. MyWebsocket frames the message once \
             (`PreparedMessage`, as its hub does) and writes it through a clone of each \
             connection's `Writer`. The peers have no cloneable writer, so each connection gets \
             the nearest equivalent: a writer task owning the write half (tungstenite, \
             tokio-websockets and yawc: `StreamExt::split`; fastwebsockets: `split` with its \
             `FragmentCollectorRead`; TCP: `into_split`) fed through an unbounded tokio mpsc \
             channel of `Bytes`.",
        ),
        Group::Setup => (
            "5. Connection setup",
            "TCP connect, upgrade request, `101` response received, connection reset; 32 such \
             loops at once. Higher is better.",
        ),
        Group::Compression => (
            "6. permessage-deflate on JSON",
            "Echo of a generated JSON document (an API's list of user records). The load \
             generator offers `permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover` and sends the document compressed once in advance \
             (flate2, raw deflate, sync flush); a server that declines gets it uncompressed. \
             Bytes per message are as counted on the sockets, frame headers included. \
             Both compressing servers use zlib level 1 (yawc's preset; MyWebsocket's default \
             is level 2, which on this JSON sends about 22% fewer bytes at about two thirds \
             of level 1's messages/s).",
        ),
        Group::Http2 => (
            "7. WebSockets over HTTP/2 (RFC 8441)",
            "`mywebsocket-h2`: MyWebsocket's bench server taking cleartext HTTP/2 with prior \
             knowledge (`mywebsocket::h2::serve_connection`, as the `echo_server` example \
             does), the load generator opening every WebSocket as an extended CONNECT stream of \
             ONE HTTP/2 connection (`mywebsocket::h2::Http2Connection`). `mywebsocket (HTTP/1.1)`: \
             the same library and echo over HTTP/1.1, one TCP connection per WebSocket. \
             `axum-h2`: axum 0.8's own `axum::extract::ws::WebSocketUpgrade` \
             (tokio-tungstenite) under `axum::serve`, which enables extended CONNECT, over one \
             HTTP/2 connection like ours, with hyper's HTTP/2 defaults (1 MiB stream and \
             connection windows; ours: 256 KiB per stream, 16 MiB per connection). All three are driven by MyWebsocket's own client \
             (no heartbeat, no compression), not by the raw-frame load generator of the other \
             tables, so these figures compare with each other only. 64 WebSockets: the most \
             our server allows on one connection (`SETTINGS_MAX_CONCURRENT_STREAMS`). Rows \
             with 1 in flight are the one-in-flight pattern (send, wait for the echo, send the \
             next), with 64 in flight the pipelined echo; round trips are timed from just \
             before each message is written. msg/s: higher is better; p50, p99 (µs) and the \
             server's CPU per message (µs): lower is better.",
        ),
    }
}

/// The Markdown report.
pub fn render_markdown(
    results: &Results,
    micro: &[MicroResult],
    instructions: Option<&[Count]>,
) -> String {
    let mut out = String::new();
    let m = &results.meta;
    let _ = writeln!(out, "# MyWebsocket benchmarks\n");
    let _ = writeln!(
        out,
        "{} · {} · {} · commit {} · {} run: {} repetition(s), {:.1} s warm-up + {:.1} s \
         measured per throughput run · took {:.0} s.\n",
        m.date, m.machine, m.rustc, m.commit, m.mode, m.reps, m.warmup_s, m.measure_s, m.elapsed_s
    );
    let _ = writeln!(
        out,
        "Each cell is the median of the repetitions, ± half their range as a share of the \
         median. Servers run one at a time, each in a fresh process, interleaved (every server \
         once, then every server again), all on the same tokio runtime (multi-thread, 2 \
         workers); the load generator runs on the same kind of runtime on the same machine, \
         over 127.0.0.1. \"ours ÷ X\" is MyWebsocket's median divided by X's: above 1 is \
         better for throughput, below 1 for latency, memory and bytes. `tcp` is a plain TCP \
         echo, the ceiling no WebSocket server can pass.\n"
    );
    for note in &results.notes {
        let _ = writeln!(out, "> {note}\n");
    }
    headroom(&mut out, results);
    for group in Group::ALL {
        table(&mut out, results, group);
    }
    micro_section(&mut out, micro);
    instruction_section(&mut out, instructions);
    failures(&mut out, results);
    out
}

fn table(out: &mut String, results: &Results, group: Group) {
    let keys = results.keys(group);
    if keys.is_empty() {
        return;
    }
    let servers = results.servers(group);
    let ours = servers
        .iter()
        .copied()
        .find(|s| Impl::from_name(s).is_some_and(Impl::is_ours));
    let others: Vec<&str> = servers
        .iter()
        .copied()
        .filter(|s| Some(*s) != ours)
        .collect();
    let (title, text) = describe(group);
    let _ = writeln!(out, "## {title}\n\n{text}\n");
    // One-in-flight rows compare with the best Rust peer and with uWebSockets only.
    let compared: Vec<&str> = if group == Group::OneInFlight {
        let mut compared = vec![BEST_RUST_PEER];
        compared.extend(others.iter().copied().filter(|s| *s == Impl::Uws.name()));
        compared
    } else {
        others.clone()
    };
    let mut header = String::from("| workload | unit |");
    let mut rule = String::from("|---|---|");
    for s in &servers {
        let _ = write!(header, " {} |", column(group, s));
        rule.push_str("--:|");
    }
    if let Some(ours) = ours {
        for s in &compared {
            let _ = write!(
                header,
                " {} ÷ {} |",
                ours_label(group, ours),
                ratio_label(group, s)
            );
            rule.push_str("--:|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for key in keys {
        let mut row = format!("| {} | {} |", key.row, key.unit);
        for s in &servers {
            let _ = write!(row, " {} |", cell(results.get(key, s)));
        }
        if let Some(ours) = ours {
            for s in &compared {
                let theirs = if *s == BEST_RUST_PEER {
                    best_rust_peer(results, key, &servers)
                } else {
                    results.get(key, s)
                };
                let _ = write!(row, " {} |", ratio(results.get(key, ours), theirs));
            }
        }
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// A server's column heading in `group`: in the HTTP/2 table, plain `mywebsocket` is the
/// HTTP/1.1 comparison.
fn column(group: Group, server: &str) -> String {
    if group == Group::Http2 && server == Impl::Mine.name() {
        format!("{server} (HTTP/1.1)")
    } else {
        server.to_owned()
    }
}

/// Who "ours" is in a ratio heading of `group`.
fn ours_label(group: Group, ours: &str) -> &'static str {
    if group == Group::Http2 && ours == Impl::MineH2.name() {
        "ours-h2"
    } else {
        "ours"
    }
}

/// The other side of a ratio heading of `group`.
fn ratio_label(group: Group, server: &str) -> String {
    if group == Group::Http2 && server == Impl::Mine.name() {
        "ours-h1".to_owned()
    } else {
        server.to_owned()
    }
}

/// The column of the best Rust peer's ratio.
const BEST_RUST_PEER: &str = "best Rust peer";

/// The entry of the Rust peer with the best median for `key` among `servers`.
fn best_rust_peer<'a>(
    results: &'a Results,
    key: &MetricKey,
    servers: &[&str],
) -> Option<&'a Entry> {
    servers
        .iter()
        .filter(|s| Impl::from_name(s).is_some_and(Impl::is_rust_peer))
        .filter_map(|s| {
            let entry = results.get(key, s)?;
            Some((entry, median(&entry.samples)?))
        })
        .max_by(|a, b| match key.better {
            Better::Higher => a.1.total_cmp(&b.1),
            Better::Lower => b.1.total_cmp(&a.1),
        })
        .map(|(entry, _)| entry)
}

/// The load generator's headroom: the TCP ceiling over the fastest WebSocket server, for every
/// higher-is-better row that the TCP server ran (echo, broadcast, setup).
fn headroom(out: &mut String, results: &Results) {
    let mut rows = Vec::new();
    for group in [
        Group::Echo,
        Group::OneInFlight,
        Group::Broadcast,
        Group::Setup,
    ] {
        for key in results.keys(group) {
            if key.better != Better::Higher {
                continue;
            }
            let med = |s: &str| results.get(key, s).and_then(|e| median(&e.samples));
            let Some(tcp) = med(Impl::Tcp.name()) else {
                continue;
            };
            let best = results
                .servers(group)
                .into_iter()
                .filter(|s| *s != Impl::Tcp.name())
                .filter_map(|s| Some((s, med(s)?)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((best, rate)) = best {
                rows.push((group, key, best, rate, tcp));
            }
        }
    }
    // The pipelined echo rows when there are any (the headline stays comparable between runs),
    // otherwise the one-in-flight rows.
    let headline = if rows.iter().any(|r| r.0 == Group::Echo) {
        Group::Echo
    } else {
        Group::OneInFlight
    };
    let echo_rows = rows.iter().filter(|r| r.0 == headline);
    let Some(worst) = echo_rows.min_by(|a, b| (a.4 / a.3).total_cmp(&(b.4 / b.3))) else {
        return;
    };
    let worst_ratio = worst.4 / worst.3;
    let _ = writeln!(
        out,
        "## Load generator headroom\n\nThe same load generator drives the raw TCP echo at \
         **{worst_ratio:.2}×** the fastest WebSocket server's messages/s in its tightest echo row \
         ({}{}). Where this is well above 1, the load generator is not what limits the WebSocket \
         servers; where it is near 1, the cell measures the load generator, the kernel or the \
         two shared cores as much as the servers. With large messages the ratio is small by nature: \
         copying in the kernel and in the load generator, on the same two cores, bounds the \
         ceiling itself. For broadcast and setup `tcp` has no framing or parsing to skip, so it \
         is only a reference there. Per row:\n",
        if worst.0 == Group::OneInFlight {
            "one in flight "
        } else {
            ""
        },
        worst.1.row
    );
    let _ = writeln!(
        out,
        "| workload | unit | fastest WebSocket server | its rate | tcp | tcp ÷ fastest |\n\
         |---|---|---|--:|--:|--:|"
    );
    for (group, key, best, rate, tcp) in &rows {
        let name = match group {
            Group::Echo => "echo",
            Group::OneInFlight => "one in flight",
            Group::Broadcast => "broadcast",
            _ => "setup",
        };
        let _ = writeln!(
            out,
            "| {name} {} | {} | {best} | {} | {} | {:.2}× |",
            key.row,
            key.unit,
            number(*rate),
            number(*tcp),
            tcp / rate
        );
    }
    out.push('\n');
}

fn micro_section(out: &mut String, micro: &[MicroResult]) {
    let _ = writeln!(out, "## Microbenchmarks (criterion)\n");
    if micro.is_empty() {
        let _ = writeln!(
            out,
            "Not run: `cargo bench -p mywebsocket-bench --bench micro` writes them to \
             `target/criterion`.\n"
        );
        return;
    }
    let _ = writeln!(out, "| benchmark | median | throughput |\n|---|--:|--:|");
    for r in micro {
        let speed = r
            .gigabytes_per_s()
            .map_or("–".to_owned(), |g| format!("{g:.2} GB/s"));
        let _ = writeln!(
            out,
            "| {} | {} ns | {speed} |",
            r.bench.what,
            number(r.median_ns)
        );
    }
    let gbps = |id: &str| {
        micro
            .iter()
            .find(|r| r.bench.id == id)
            .and_then(MicroResult::gigabytes_per_s)
    };
    if let (Some(mask), Some(copy)) = (gbps("apply_mask_64k"), gbps("memcpy_64k")) {
        let _ = writeln!(
            out,
            "\nMasking runs at **{:.0}%** of memcpy speed on 64 KiB.",
            mask / copy * 100.0
        );
    }
    out.push('\n');
}

fn instruction_section(out: &mut String, counts: Option<&[Count]>) {
    let _ = writeln!(out, "## Instruction counts (callgrind)\n");
    let Some(counts) = counts else {
        let _ = writeln!(out, "Not run: `just bench-instructions` measures them.\n");
        return;
    };
    let _ = writeln!(
        out,
        "Fixed single-threaded workloads, counted by `valgrind --tool=callgrind` with process \
         start and exit subtracted: stable across runs, for comparing commits.\n\n\
         | workload | instructions | per unit |\n|---|--:|--:|"
    );
    for c in counts {
        let _ = writeln!(
            out,
            "| {} | {} | {} per {} |",
            c.what,
            number(c.instructions as f64),
            number(c.per_unit),
            c.unit
        );
    }
    out.push('\n');
}

fn failures(out: &mut String, results: &Results) {
    // One line per server and error, naming the rows it affected.
    let mut lines: Vec<(String, String, Vec<String>)> = Vec::new();
    for e in results.entries.iter().filter(|e| !e.errors.is_empty()) {
        let error = short(&e.errors.join("; "));
        let row = format!("{} ({})", e.key.row, e.key.unit);
        match lines.iter_mut().find(|l| l.0 == e.server && l.1 == error) {
            Some(line) => line.2.push(row),
            None => lines.push((e.server.clone(), error, vec![row])),
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "## ¹ Failed measurements\n");
    for (server, error, rows) in lines {
        let _ = writeln!(out, "- {server}, {}: {error}", rows.join(", "));
    }
    out.push('\n');
}
