#!/usr/bin/env bash
# Cluster tests of the hub: chat nodes as child processes sharing a private redis-server, then
# the same and the cluster's own cases (a master killed during traffic, a slot moved) on a
# private Redis Cluster (scripts/redis-cluster.sh: 3 masters + 3 replicas).
# Installs redis-server when missing, starts it on a free loopback port in its own temporary
# directory (restarted by a supervisor loop when a test shuts it down), and stops it on exit
# whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'cluster: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
command -v redis-server >/dev/null || apt_install redis-server

dir=$(mktemp -d /tmp/mywebsocket-cluster.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
supervisor=""

cleanup() {
    touch "$dir/stop"
    if [ -n "$supervisor" ]; then kill "$supervisor" 2>/dev/null || true; fi
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
    if [ -n "$supervisor" ]; then wait "$supervisor" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# The tests shut redis down (SHUTDOWN) to simulate an outage; this loop brings it back a
# second later with its data (append-only file, fsync on every write).
(
    while [ ! -f "$dir/stop" ]; do
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --pidfile "$dir/redis.pid" \
            --appendonly yes --appendfsync always --save '' --daemonize no \
            >>"$dir/redis.log" 2>&1 || true
        [ -f "$dir/stop" ] || sleep 1
    done
) &
supervisor=$!

for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
done

export REDIS_URL="redis://127.0.0.1:$port/"
echo "cluster: redis-server on $REDIS_URL"
nice -n 19 cargo build -p mywebsocket-chat --bins
# The hub's own Redis tests (per-room subscriptions), in-process against the same server,
# and the many-rooms fan-out smoke run (its own private redis-server, real chat nodes).
nice -n 19 cargo test -p mywebsocket-hub --test redis_rooms -- --ignored
nice -n 19 cargo test -p mywebsocket-bench --test fanout_rooms -- --ignored
status=0
nice -n 19 cargo test -p mywebsocket-chat --test cluster -- --test-threads=1 "$@" || status=$?
if [ "$status" -ne 0 ]; then
    # Real processes, real timeouts, two shared cores: one unexplained stall of the 300-client
    # test was seen in many runs. A second failure fails CI; a pass on retry is reported loudly.
    echo "cluster: FAILED, running the tests once more to tell a flake from a bug" >&2
    tail -n 30 "$dir/redis.log" || true
    status=0
    nice -n 19 cargo test -p mywebsocket-chat --test cluster -- --test-threads=1 "$@" || status=$?
    [ "$status" -eq 0 ] && echo "cluster: WARNING: passed only on the second run (flaky)" >&2
fi
if [ "$status" -ne 0 ]; then
    echo "cluster: tests failed; redis log:"
    tail -n 30 "$dir/redis.log" || true
    exit "$status"
fi

# On a Redis Cluster: the hub's Redis tests, the many-rooms fan-out smoke run, the chat's
# multi-node tests, the failovers and the slot migration. The tests take REDIS_CLUSTER_URLS over REDIS_URL.
on_cluster() {
    bash scripts/redis-cluster.sh bash -c '
        nice -n 19 cargo test -p mywebsocket-hub --test redis_rooms -- --ignored &&
        nice -n 19 cargo test -p mywebsocket-bench --test fanout_rooms -- --ignored &&
        nice -n 19 cargo test -p mywebsocket-chat --test cluster --test redis_cluster -- --test-threads=1 "$@"' \
        on-cluster "$@"
}
status=0
on_cluster "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "cluster: FAILED on the Redis Cluster, running once more to tell a flake from a bug" >&2
    status=0
    on_cluster "$@" || status=$?
    [ "$status" -eq 0 ] && echo "cluster: WARNING: the Redis Cluster run passed only on the second try (flaky)" >&2
fi
exit "$status"
