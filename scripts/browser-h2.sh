#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) in a real browser: headless Chromium loads a page over
# HTTPS + HTTP/2 from our server and opens a same-origin wss:// WebSocket, which must arrive
# as an extended CONNECT on the page's HTTP/2 connection and echo a message
# (tests/src/bin/browser_h2.rs), installing Chromium first when it is missing.
#
# Usage: scripts/browser-h2.sh [ARGS...]   (passed to browser_h2, e.g. `--no-extended-connect`
#        for the control run that must fall back to HTTP/1.1, or `-- --some-chromium-flag`)
#
# 1. installs Debian's chromium when `chromium` is not on PATH (apt-get, retried when an
#    archive is missing);
# 2. builds the browser_h2 binary of mywebsocket-tests;
# 3. runs it: it serves the page and the WebSocket on 127.0.0.1:0, runs Chromium in a process
#    group of its own (killed when it ends, however it ends), and prints one line saying over
#    which protocol the WebSocket arrived and whether the echo came back.
#
# Exit status: that of browser_h2 (0 when the WebSocket came over HTTP/2 with the echo ok),
# 1 when a step before it failed.
#
# Environment:
#   CHROMIUM              the browser to run (default: chromium on PATH)
#   BROWSER_H2_TIMEOUT    seconds the browser may take to report (default: 60)
#   BROWSER_LOG_DIR       where Chromium's output goes (default: target/browser)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$HOME/.cargo/bin:$PATH"

target_dir=${CARGO_TARGET_DIR:-$repo_root/target}
log_dir=${BROWSER_LOG_DIR:-$target_dir/browser}
browser_timeout=${BROWSER_H2_TIMEOUT:-60}

if [[ ${1:-} == -- ]]; then
    shift
fi

log() { printf 'browser-h2: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"

step_started=$SECONDS
step_done() { log "$1 ($((SECONDS - step_started)) s)"; step_started=$SECONDS; }

# --- 1. chromium -------------------------------------------------------------------------------

if [[ -z ${CHROMIUM:-} ]] && ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium || {
        log "install chromium (or set CHROMIUM to a Chromium binary)"
        exit 1
    }
    step_done "chromium installed"
fi

# --- 2. the binary -----------------------------------------------------------------------------

log "building browser_h2"
nice cargo build -p mywebsocket-tests --bin browser_h2
step_done "browser_h2 built"

# --- 3. the run --------------------------------------------------------------------------------

mkdir -p "$log_dir"
export BROWSER_H2_LOG=$log_dir/chromium-h2.log
export BROWSER_H2_TIMEOUT=$browser_timeout
status=0
# browser_h2 gives up after BROWSER_H2_TIMEOUT by itself; this bound is for a hang elsewhere.
# TERM lets it kill Chromium's process group on the way out.
timeout --kill-after=10 $((browser_timeout + 60)) "$target_dir/debug/browser_h2" "$@" || status=$?
if ((status == 124)); then
    log "browser_h2 did not finish within $((browser_timeout + 60)) s"
fi
step_done "browser_h2 finished with status $status (chromium's log: ${BROWSER_H2_LOG#"$repo_root"/})"
exit "$status"
