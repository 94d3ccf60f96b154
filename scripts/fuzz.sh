#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds (default 30) and fails on the first crash.
# Installs what it needs: the nightly toolchain and cargo-fuzz. See fuzz/README.md.
set -euo pipefail
secs="${1:-30}"
cd "$(dirname "$0")/.."

rustup toolchain install nightly --profile minimal
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked cargo-fuzz
fi

# Our crates forbid `unsafe`, so what fuzzing finds is panics, limits broken and wrong answers;
# without a sanitizer the targets run 10-40x faster. FUZZ_SANITIZER=address turns ASan back on.
sanitizer="${FUZZ_SANITIZER:-none}"
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -O -s "$sanitizer"
# One target per core at a time: on 2 cores CI's five targets take 3 slots of SECS.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
jobs="${FUZZ_JOBS:-$(nproc)}"
mkdir -p target/fuzz-logs
run() {
    local target="$1" work="target/fuzz-corpus/$1"
    # New inputs go to a scratch corpus; the committed seeds in fuzz/corpus stay as they are.
    mkdir -p "$work"
    cargo +nightly fuzz run -O -s "$sanitizer" "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
        >"target/fuzz-logs/$target.log" 2>&1
}
failed=()
pids=()
names=()
for target in $targets; do
    echo "== fuzz $target for ${secs}s"
    run "$target" &
    pids+=($!)
    names+=("$target")
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        if ! wait "${pids[0]}"; then failed+=("${names[0]}"); fi
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then failed+=("${names[$i]}"); fi
done
for target in $targets; do
    grep -E "^(Done|stat::number_of_executed_units)" "target/fuzz-logs/$target.log" | sed "s/^/$target: /" || true
done
if [ "${#failed[@]}" -gt 0 ]; then
    for target in "${failed[@]}"; do
        echo "fuzz target $target failed (reproducer in fuzz/artifacts/$target/):" >&2
        tail -n 40 "target/fuzz-logs/$target.log" >&2
    done
    exit 1
fi
echo "fuzzing: no crash in $(wc -w <<<"$targets") targets, ${secs}s each"
