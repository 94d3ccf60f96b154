#!/usr/bin/env bash
# The one test command: installs what it needs (just, the wasm target, Autobahn), then runs
# every check CI runs. Usage: bash scripts/ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# A CI build is never rebuilt in place: incremental state and release debug info would only
# fill the disk (several GB over the workspace's binaries).
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_RELEASE_DEBUG=0
if ! command -v just >/dev/null 2>&1; then
    echo "installing just with cargo"
    cargo install --locked just
fi
just ci
