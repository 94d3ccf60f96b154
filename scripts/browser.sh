#!/usr/bin/env bash
# Runs the browser tests of the wasm client (wasm-client/) in headless Chromium against
# the real server, installing whatever is missing first.
#
# Usage: scripts/browser.sh [ARGS...]   (passed to `cargo test`, e.g. a test name filter)
#
# 1. installs what is missing: the wasm32-unknown-unknown target (rustup), wasm-pack
#    (cargo install --locked), Debian's chromium and chromium-driver (apt-get, retried when
#    an archive is missing); wasm-pack itself installs the matching wasm-bindgen-cli with
#    cargo the first time;
# 2. builds and starts mywebsocket-testserver on a free loopback port, reading the address
#    from its first line of output; it is stopped when this script exits, however it exits
#    (it also exits by itself when its stdin, a pipe from this script, closes);
# 3. runs `wasm-pack test --headless --chrome wasm-client` with the address in
#    MYWEBSOCKET_TESTSERVER, which the tests read at compile time.
#
# Exit status: that of wasm-pack (0 when every test passed), 1 when a step before it failed.
#
# Environment:
#   CHROMEDRIVER               chromedriver to use (default: the one on PATH)
#   WASM_PACK_VERSION          wasm-pack version to install if missing (default: 0.15.1)
#   WASM_BINDGEN_TEST_TIMEOUT  seconds the whole browser run may take (default: 600)
#   BROWSER_TEST_TIMEOUT       seconds wasm-pack may take, builds included (default: 2400)
#   BROWSER_LOG_DIR            where the test server's log goes (default: target/browser)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$HOME/.cargo/bin:$PATH"

wasm_pack_version=${WASM_PACK_VERSION:-0.15.1}
log_dir=${BROWSER_LOG_DIR:-${CARGO_TARGET_DIR:-$repo_root/target}/browser}
run_timeout=${BROWSER_TEST_TIMEOUT:-2400}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}

if [[ ${1:-} == -- ]]; then
    shift
fi
extra_args=("$@")

log() { printf 'browser: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"

# --- 1. tools ------------------------------------------------------------------------------

step_started=$SECONDS
step_done() { log "$1 ($((SECONDS - step_started)) s)"; step_started=$SECONDS; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
    step_done "wasm32 target added"
fi

if ! command -v wasm-pack >/dev/null 2>&1; then
    log "installing wasm-pack $wasm_pack_version with cargo (several minutes)"
    nice cargo install --locked wasm-pack --version "$wasm_pack_version"
    step_done "wasm-pack installed"
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver || {
        log "install chromium and chromedriver, and put chromedriver on PATH (or set CHROMEDRIVER)"
        exit 1
    }
    step_done "chromium installed"
fi
export CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)}
log "using $(chromium --version 2>/dev/null | head -n 1), $("$CHROMEDRIVER" --version | head -n 1)"

# --- 2. the test server ----------------------------------------------------------------------

log "building mywebsocket-testserver"
nice cargo build -p mywebsocket-testserver
server_bin=${CARGO_TARGET_DIR:-$repo_root/target}/debug/mywebsocket-testserver
step_done "test server built"
mkdir -p "$log_dir"
server_log=$log_dir/testserver.log

server_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n $server_pid ]]; then
        # Closing its stdin asks it to exit; TERM, then KILL, if it does not.
        exec {server_in}>&- 2>/dev/null || true
        local deadline=$((SECONDS + 5))
        while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill "$server_pid" 2>/dev/null || true
        sleep 0.2
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        log "test server stopped (log: ${server_log#"$repo_root"/})"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A coprocess: its stdin is a pipe from this shell (closed when the shell ends, so the
# server cannot outlive it) and its stdout a pipe to it, for the address line.
coproc SERVER { exec "$server_bin" --exit-on-stdin-eof 2>"$server_log"; }
# shellcheck disable=SC2153 # SERVER_PID is set by coproc
server_pid=$SERVER_PID
server_in=${SERVER[1]}
if ! read -r -t 30 line <&"${SERVER[0]}"; then
    log "the test server printed no address within 30 s; its log:"
    tail -n 20 "$server_log" >&2 || true
    exit 1
fi
addr=${line#listening on }
if [[ ! $addr =~ ^127\.0\.0\.1:[0-9]+$ ]]; then
    log "unexpected first line from the test server: $line"
    exit 1
fi
export MYWEBSOCKET_TESTSERVER=$addr
log "test server listening on $addr (pid $server_pid)"

# --- 3. the tests ----------------------------------------------------------------------------

log "running wasm-pack test --headless --chrome wasm-client"
status=0
timeout "$run_timeout" nice wasm-pack test --headless --chrome --chromedriver "$CHROMEDRIVER" \
    wasm-client ${extra_args[@]+-- "${extra_args[@]}"} || status=$?
if ((status == 124)); then
    log "wasm-pack test timed out after $run_timeout s"
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the test server died during the run; its log:"
    tail -n 20 "$server_log" >&2 || true
    ((status != 0)) || status=1
fi
step_done "wasm-pack test finished with status $status"
exit "$status"
