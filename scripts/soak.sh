#!/usr/bin/env bash
# Soak: 2,000 connections churning for SECS seconds (default 60) against the echo server,
# failing on memory growth after warm-up or leaked descriptors. Report in target/soak/.
set -euo pipefail
secs="${1:-60}"
cd "$(dirname "$0")/.."
# 2,000 client sockets here plus 2,000 in the server, each process under this limit.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nice cargo build --release -p mywebsocket-bench --bin soak --bin bench-server
# The soak binary starts the server itself and kills it when it ends, whatever the outcome.
target/release/soak --secs "$secs" --out target/soak
