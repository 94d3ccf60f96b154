#!/usr/bin/env bash
# Installs the uWebSockets peer of `just bench` into DIR (default target/peers/uws): copies
# echo.js, package.json and package-lock.json there, runs `npm ci`, and checks that the native
# addon loads. On success DIR/ready exists; on failure DIR/unavailable.txt says why and the script
# still exits 0, so `bench` leaves out the uws column with that reason instead of failing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-target/peers/uws}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
rm -f "$dir/ready" "$dir/unavailable.txt"

unavailable() {
    echo "uws peer: $*" >&2
    echo "$*" >"$dir/unavailable.txt"
    exit 0
}

command -v node >/dev/null || unavailable "node is not installed"
command -v npm >/dev/null || unavailable "npm is not installed"
cp "$here/echo.js" "$here/package.json" "$here/package-lock.json" "$dir/"

# npm ci starts from scratch every time; skip it when the same lock file is installed already.
if ! cmp -s "$here/package-lock.json" "$dir/node_modules/.installed-lock.json" 2>/dev/null; then
    log="$dir/npm-ci.log"
    if ! (cd "$dir" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund) >"$log" 2>&1; then
        unavailable "npm ci failed (no access to the npm registry?), see $log: $(tail -n 1 "$log")"
    fi
    cp "$here/package-lock.json" "$dir/node_modules/.installed-lock.json"
fi

check='const a = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
require(`@trufflesuite/uws-js-unofficial/binaries/${a}`);'
if ! out="$(cd "$dir" && node -e "$check" 2>&1)"; then
    unavailable "the uWebSockets.js addon does not load on node $(node --version): $(echo "$out" | grep -m1 -i error)"
fi
touch "$dir/ready"
echo "uws peer: installed in $dir (node $(node --version))"
