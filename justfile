# Recipes for everything a contributor runs. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the unit, integration and doc tests.
default: test

# Everything CI checks, in the order that fails fastest.
ci: fmt-check clippy test wasm conformance browser

# Unit, end-to-end and doc tests of the whole workspace.
test:
    cargo test --workspace

# Formatting, as CI checks it.
fmt-check:
    cargo fmt --all -- --check

# Format the workspace.
fmt:
    cargo fmt --all

# Lints, warnings denied.
clippy:
    cargo clippy --workspace --all-targets -- -D warnings

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

# Browser client tests in headless Chromium against the real server; installs what is missing.
browser *args:
    bash scripts/browser.sh {{args}}
