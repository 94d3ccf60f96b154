#!/usr/bin/env bash
# The one test command: installs what it needs (just, the wasm target, Autobahn), then runs
# every check CI runs. Usage: bash scripts/ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v just >/dev/null 2>&1; then
    echo "installing just with cargo"
    cargo install --locked just
fi
just ci
