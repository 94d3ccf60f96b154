#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) from an independent client: Python's `h2` package (hyper-h2)
# in a virtualenv under target/h2-interop-venv, against the echo_server example over cleartext
# HTTP/2 with prior knowledge. scripts/h2_interop.py starts the server on a free port, prints one
# PASS/FAIL line per check, kills the server at the end and exits 1 on any FAIL.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "h2-interop: $*" >&2; }
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

target="${CARGO_TARGET_DIR:-target}"
venv=target/h2-interop-venv

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    # Debian's python3 has no ensurepip without python3-venv.
    if ! python3 -m venv "$venv"; then
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
fi
# 4.x: extended CONNECT (`:protocol`) is accepted in requests.
"$venv/bin/pip" install --quiet --disable-pip-version-check 'h2>=4.1,<5'

nice cargo build --release -p mywebsocket --example echo_server
exec "$venv/bin/python" scripts/h2_interop.py "$target/release/examples/echo_server"
