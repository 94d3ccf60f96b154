#!/usr/bin/env bash
# Runs the file-transfer conformance table (docs/file-transfer-conformance.json) against
# every implementation and prints one table: case → result per implementation.
#
# Usage: scripts/files-conformance.sh [rust] [chat] [browser]   (default: all three)
#
#   rust     `ft-testee` (mywebsocket-files' Transfers) connects to the runner, both roles;
#   chat     the runner connects to a fresh mywebsocket-chat node's /files (receiver only);
#   browser  the wasm client's `Files` in headless Chromium (wasm-client/tests/files_conformance.rs)
#            connects to the runner, both roles; needs what `just browser` installs.
#
# Every process it starts is stopped when it exits, however it exits. Reports go to
# target/files-conformance/NAME.json. Exit status 1 when a case failed that is not listed in
# docs/file-transfer-conformance-known-failures.txt (or a listed one passed).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
export PATH="$HOME/.cargo/bin:$PATH"
target=${CARGO_TARGET_DIR:-$repo_root/target}
out=$target/files-conformance
bin=$target/release
known=$repo_root/docs/file-transfer-conformance-known-failures.txt
which=("$@")
((${#which[@]})) || which=(rust chat browser)

log() { printf 'files-conformance: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
source "$repo_root/scripts/lib.sh"

work=$(mktemp -d)
pids=()
groups=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$? pid
    for pid in "${groups[@]}"; do
        kill -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$out"
rm -f "$out"/*.json
log "building the runner, the Rust testee and the chat"
nice cargo build --release -p mywebsocket-files-conformance --bins
nice cargo build --release -p mywebsocket-chat --bin mywebsocket-chat

# Starts `ft-conformance run --listen` for NAME and runs the testee command with the
# runner's URL in FT_CONFORMANCE_RUNNER. Returns the runner's status.
run_listen() {
    local name=$1 fifo="$work/$1.out" line url fd status=0
    shift
    mkfifo "$fifo"
    "$bin/ft-conformance" run --name "$name" --listen --known-failures "$known" \
        --report "$out/$name.json" >"$fifo" &
    local runner=$!
    pids+=("$runner")
    exec {fd}<"$fifo"
    if ! read -r -t 60 line <&"$fd"; then
        log "$name: the runner printed no address"
        return 1
    fi
    url=${line#listening on }
    cat <&"$fd" &
    pids+=("$!")
    log "$name: runner on $url"
    # In the background, so that a signal to this script stops both at once (a foreground
    # child would delay the trap until it exits).
    # In a session of its own, so that cleanup stops what it started too (wasm-pack's
    # chromedriver and Chromium).
    FT_CONFORMANCE_RUNNER=$url setsid "$@" &
    local testee=$!
    groups+=("$testee")
    if ! wait "$testee"; then
        # The runner would wait for connections that never come.
        log "$name: the testee failed"
        kill "$runner" 2>/dev/null || true
        status=1
    fi
    wait "$runner" || status=$?
    exec {fd}<&-
    return "$status"
}

run_rust() {
    run_listen rust "$bin/ft-testee"
}

run_chat() {
    local fifo="$work/chat.out" line addr fd node status=0
    mkfifo "$fifo"
    "$bin/mywebsocket-chat" --listen 127.0.0.1:0 --max-file-bytes 16777216 \
        >"$fifo" 2>"$out/chat.log" &
    node=$!
    pids+=("$node")
    exec {fd}<"$fifo"
    if ! read -r -t 30 line <&"$fd"; then
        log "chat: the node printed no address (log: $out/chat.log)"
        return 1
    fi
    cat <&"$fd" >/dev/null &
    pids+=("$!")
    addr=${line#listening on http://}
    addr=${addr%% *}
    log "chat: node on $addr"
    "$bin/ft-conformance" run --name chat --connect "ws://$addr/files" --download-link \
        --known-failures "$known" --report "$out/chat.json" &
    local runner=$!
    pids+=("$runner")
    wait "$runner" || status=$?
    kill "$node" 2>/dev/null || true
    wait "$node" 2>/dev/null || true
    exec {fd}<&-
    return "$status"
}

run_browser() {
    # What scripts/browser.sh installs, when missing.
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    command -v wasm-pack >/dev/null 2>&1 ||
        nice cargo install --locked wasm-pack --version "${WASM_PACK_VERSION:-0.15.1}"
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt_install chromium chromium-driver || return 1
    fi
    export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
    # wasm-pack builds every test target; the other browser tests need an address to build
    # (they do not run: only files_conformance_testee matches the filter).
    export MYWEBSOCKET_TESTSERVER=${MYWEBSOCKET_TESTSERVER:-127.0.0.1:9}
    run_listen browser timeout 1200 nice wasm-pack test --headless --chrome \
        --chromedriver "${CHROMEDRIVER:-$(command -v chromedriver)}" wasm-client --test files_conformance
}

failed=0
for name in "${which[@]}"; do
    started=$SECONDS
    "run_$name" || failed=1
    log "$name: $((SECONDS - started)) s"
done
reports=()
for name in "${which[@]}"; do
    [[ -f $out/$name.json ]] && reports+=("$out/$name.json")
done
if ((${#reports[@]})); then
    "$bin/ft-conformance" table "${reports[@]}" | tee "$out/table.md" || failed=1
fi
exit "$failed"
