# Recipes for everything a contributor runs. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the unit, integration and doc tests.
default: test

# Everything CI checks, in the order that fails fastest.
ci: fmt-check clippy release-checks test fuzz wasm files cluster chat-browser conformance browser browser-h2 h2-interop bench-smoke soak

# Unit, end-to-end and doc tests of the whole workspace.
test:
    cargo test --workspace

# Floods, slowloris, endless heads, idle peers, oversize frames, non-reading clients (also in `test`).
# Only the attack and graceful-shutdown tests.
attack:
    cargo test -p mywebsocket-tests --test 'attack_*' --test shutdown

# Prints a Markdown table; about a minute; each process needs about 11,000 descriptors.
# The README's Reliability figures: idle connections held (plain, and offering Chromium's
# permessage-deflate, idle and after one message), slowloris closed, non-reading memory.
reliability idle="10000" slowloris="5000" non_reading="100":
    nice cargo build --release -p mywebsocket --example echo_server
    nice cargo build --release -p mywebsocket-tests --bin reliability
    target/release/reliability target/release/examples/echo_server {{idle}} {{slowloris}} {{non_reading}}

# Every fuzz target for SECS seconds each (libFuzzer; installs nightly and cargo-fuzz).
fuzz secs="30":
    bash scripts/fuzz.sh {{secs}}

# 2,000 connections churning for SECS seconds; fails on memory growth or leaked descriptors.
# Writes target/soak/report.md and report.svg.
soak secs="60":
    bash scripts/soak.sh {{secs}}

# Formatting, as CI checks it.
fmt-check:
    cargo fmt --all -- --check

# Format the workspace.
fmt:
    cargo fmt --all

# Lints, warnings denied.
clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# What users of the published crates depend on (about 5 minutes): the MSRV, the feature matrix,
# docs without warnings, `cargo publish --dry-run` in dependency order. CHECK: msrv, features,
# docs, publish or all.
release-checks check="all":
    bash scripts/release-checks.sh {{check}}

# The protocol crate builds for the browser.
wasm:
    rustup target add wasm32-unknown-unknown
    cargo build -p mywebsocket-proto --target wasm32-unknown-unknown

# The echo server example on ADDR.
example addr="127.0.0.1:9001":
    cargo run --release -p mywebsocket --example echo_server -- {{addr}}

# The echo client example against URL.
client url="ws://127.0.0.1:9001":
    cargo run --release -p mywebsocket --example echo_client -- {{url}}

# Autobahn|Testsuite, server and client (MODE: quick or full).
conformance mode="quick":
    bash scripts/conformance.sh {{mode}}

# All 517 Autobahn cases in both roles (about 40 minutes on 2 cores).
conformance-full:
    bash scripts/conformance.sh full

# Hub cluster tests: chat nodes sharing a private redis-server (installed when missing), then a
# private Redis Cluster (3 masters + 3 replicas): a master killed and a slot moved during traffic.
cluster *args:
    bash scripts/cluster.sh {{args}}

# Runs ARGS (a command) against a private 6-node Redis Cluster on loopback (REDIS_CLUSTER_URLS).
redis-cluster *args:
    bash scripts/redis-cluster.sh {{args}}

# Browser client tests in headless Chromium against the real server; installs what is missing.
browser *args:
    bash scripts/browser.sh {{args}}

# WebSockets over HTTP/2 (RFC 8441) in headless Chromium: the page over h2, then a same-origin
# wss:// that must arrive as an extended CONNECT on that connection (checked by the server).
browser-h2 *args:
    bash scripts/browser-h2.sh {{args}}

# WebSockets over HTTP/2 from an independent client (Python's h2, written from the README) against
# the echo example over h2c: 71 checks of frames, flow control, closes, errors and shutdown.
h2-interop:
    bash scripts/h2-interop.sh

# Writes target/bench/report.md, report.svg and results.json; run it on a quiet machine.
# Benchmarks against tokio-tungstenite, fastwebsockets, tokio-websockets, yawc and a TCP echo (~14 min),
# with uWebSockets (through uWebSockets.js from npm, installed into target/peers/uws; left out with
# a note if npm or its addon is not available) in the one-in-flight rows,
# and file-transfer throughput beside a raw-TCP file copy (bench-files, ~1 min).
bench:
    nice cargo build --release -p mywebsocket-bench --bins --benches
    bash crates/mywebsocket-bench/peers/uws/install.sh target/peers/uws
    nice cargo bench -p mywebsocket-bench --bench micro
    if command -v valgrind >/dev/null; then target/release/bench instructions; else echo "valgrind missing: no instruction counts (just bench-instructions installs it)"; fi
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; target/release/bench --uws target/peers/uws
    target/release/bench-files

# Writes target/bench-smoke/report.md; asserts nothing about speed.
# Every benchmark workload for a moment, to prove the harness works. uWebSockets runs only if
# `just bench` installed it (its npm package is 41 MB; the smoke does not download it).
bench-smoke:
    nice cargo build --release -p mywebsocket-bench --bins --benches
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; target/release/bench --smoke --out target/bench-smoke --uws target/peers/uws
    target/release/bench-instructions all
    target/release/bench-files --smoke
    nice cargo bench -p mywebsocket-bench --bench micro -- --test

# Instruction counts of fixed workloads under callgrind: stable between runs, for comparing commits.
bench-instructions:
    command -v valgrind >/dev/null || (log() { echo "bench: $*"; }; source scripts/lib.sh; apt_install valgrind)
    nice cargo build --release -p mywebsocket-bench --bins --benches
    target/release/bench instructions

# Broadcast fan-out: deliveries/s and send-to-receipt latency for 1,000 and 10,000 subscribers
# of one room, one node in memory against three nodes through a private redis-server (installed
# when missing). Writes target/bench/fanout.md. ARGS go to bench-fanout (e.g. --smoke).
# `--rooms`: many rooms (Zipf sizes) over several nodes; per node, the messages received from
# Redis against the deliveries made (per-room subscriptions); writes target/bench/fanout-rooms.md.
bench-fanout *args:
    command -v redis-server >/dev/null || (log() { echo "bench-fanout: $*"; }; source scripts/lib.sh; apt_install redis-server)
    nice cargo build --release -p mywebsocket-chat -p mywebsocket-bench --bin mywebsocket-chat --bin bench-fanout
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; target/release/bench-fanout {{args}}

# `bench-fanout --rooms` through a private Redis Cluster (scripts/redis-cluster.sh: 3 masters +
# 3 replicas on loopback, redis-server installed when missing) instead of one redis-server: the
# same per-node table, Redis CPU and bytes per master, the replicas' CPU apart. Writes
# target/bench/fanout-rooms-cluster.md. ARGS go to bench-fanout --rooms --cluster (e.g. --smoke).
bench-fanout-cluster *args:
    nice cargo build --release -p mywebsocket-chat -p mywebsocket-bench --bin mywebsocket-chat --bin bench-fanout
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; bash scripts/redis-cluster.sh target/release/bench-fanout --rooms --cluster {{args}}

# File transfer: every test in release, incl. 1 GiB each way in two processes and the chat
# latency bound, then the conformance table (docs/file-transfer-conformance.md) against the
# Rust implementation, the chat's /files and the browser engine (~4 minutes with the builds).
files:
    nice cargo build --release -p mywebsocket-files --example ft_peer
    FT_PEER_BIN="$PWD/target/release/examples/ft_peer" nice cargo test --release -p mywebsocket-files -- --include-ignored --nocapture
    bash scripts/files-conformance.sh rust chat browser

# The chat page in two headless Chromiums on two nodes through Redis; installs what is missing.
chat-browser:
    bash scripts/chat-browser.sh
