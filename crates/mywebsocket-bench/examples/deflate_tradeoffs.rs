//! Bytes on the wire and compression time for the permessage-deflate settings that decide a
//! connection's memory: the window kept between messages (`retained_window`) and the window
//! asked of the client (`client_max_window_bits`). Prints a Markdown table.
//!
//! `cargo run --release -p mywebsocket-bench --example deflate_tradeoffs`

use std::time::Instant;

use mywebsocket_bench::json::document;
use mywebsocket_proto::deflate::{negotiate, DeflateConfig, Deflater};
use mywebsocket_proto::Role;

/// Chat messages of 100-500 bytes, as the chat app's clients send them.
fn chat_messages(count: usize) -> Vec<Vec<u8>> {
    const WORDS: [&str; 16] = [
        "hello", "anyone", "around", "the", "deploy", "is", "done", "thanks", "see", "you",
        "tomorrow", "lunch", "meeting", "at", "noon", "great",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let words = 10 + (next() % 70) as usize;
            let text: Vec<&str> = (0..words).map(|_| WORDS[(next() % 16) as usize]).collect();
            format!(
                r#"{{"type":"message","room":"lobby","from":"user-{}","id":"{:016x}","ts":{},"text":"{}"}}"#,
                next() % 50,
                next(),
                1_765_000_000_000u64 + i as u64 * 1_337,
                text.join(" ")
            )
            .into_bytes()
        })
        .collect()
}

fn measure(
    label: &str,
    offer: &str,
    config: DeflateConfig,
    role: Role,
    messages: &[Vec<u8>],
    connections: usize,
) {
    let agreed = negotiate([offer], &config).expect("acceptable offer");
    let (params, response) = (agreed.params, agreed.response_header);
    let mut ends: Vec<Deflater> = (0..connections)
        .map(|_| Deflater::new(&params, role))
        .collect();
    let rounds = 20;
    let mut wire = 0usize;
    let mut raw = 0usize;
    let start = Instant::now();
    for round in 0..rounds {
        for message in messages {
            for end in ends.iter_mut() {
                let out = end.compress(message);
                if round == 0 {
                    wire += out.len();
                    raw += message.len();
                }
            }
        }
    }
    let per_message = start.elapsed() / (rounds * messages.len() * connections) as u32;
    println!(
        "| {label} | `{response}` | {connections} | {:.1}% | {:.2} µs |",
        100.0 * wire as f64 / raw as f64,
        per_message.as_secs_f64() * 1e6
    );
}

fn main() {
    let chat = chat_messages(200);
    let big: Vec<Vec<u8>> = (0..4).map(|_| document(64 << 10).into_bytes()).collect();
    let chromium = "permessage-deflate; client_max_window_bits";
    println!("| workload | response to Chromium's offer | connections interleaved | wire / raw | time per message |");
    println!("|---|---|--:|--:|--:|");
    for (name, messages) in [("chat JSON", &chat), ("64 KiB JSON", &big)] {
        for conns in [1, 64] {
            for retained in [32 << 10, 8 << 10, 4 << 10, 1 << 10] {
                let config = DeflateConfig::default().retained_window(retained);
                measure(
                    &format!("{name}, server → client, retained {} KiB", retained >> 10),
                    chromium,
                    config,
                    Role::Server,
                    messages,
                    conns,
                );
            }
            measure(
                &format!("{name}, server → client, no context takeover"),
                chromium,
                DeflateConfig::default().server_no_context_takeover(true),
                Role::Server,
                messages,
                conns,
            );
        }
        for bits in [15, 14, 13, 12, 11] {
            let config = DeflateConfig::default().client_max_window_bits(bits);
            measure(
                &format!("{name}, client → server, client window {bits} bits"),
                chromium,
                config,
                Role::Client,
                messages,
                1,
            );
        }
    }
}
