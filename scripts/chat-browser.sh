#!/usr/bin/env bash
# The chat page in two headless Chromium sessions on a two-node cluster (see
# crates/mywebsocket-chat/tests/chat_browser/main.rs), installing whatever is missing first.
#
# Usage: scripts/chat-browser.sh
#
# 1. installs redis-server, chromium and chromium-driver with apt-get when missing
#    (scripts/lib.sh: an install that fails, e.g. on an archive missing mid-update, is retried
#    with a fresh index); fails when they cannot be had: nothing is skipped;
# 2. runs the test, which starts its own redis-server (free loopback port, own temporary
#    directory), two chat nodes and chromedriver, and stops them whatever the outcome.
#
# Screenshots (PNG) go to target/chat-browser/ (or $CHAT_BROWSER_OUT).
# Environment: CHROMEDRIVER, CHROMIUM, REDIS_SERVER name other binaries to use.
# Exit status: that of cargo test (0 when the test passed), 1 when installing failed.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf 'chat-browser: %s\n' "$*" >&2; }

# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v "${CHROMEDRIVER:-chromedriver}" >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]} > 0)); then
    apt_install "${missing[@]}" || exit 1
fi
CHROMEDRIVER=$(command -v "${CHROMEDRIVER:-chromedriver}")
export CHROMEDRIVER
log "using $(redis-server --version | head -n 1)"
log "using $("$CHROMEDRIVER" --version | head -n 1)"

started=$SECONDS
# The test stops every process it starts (kill-on-drop guards), also when it fails.
nice -n 19 cargo test -p mywebsocket-chat --test chat_browser -- --ignored --nocapture
log "passed in $((SECONDS - started)) s, build included; screenshots in ${CHAT_BROWSER_OUT:-${CARGO_TARGET_DIR:-target}/chat-browser}/"
