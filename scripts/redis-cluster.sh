#!/usr/bin/env bash
# Runs a command against a private Redis Cluster on loopback: 6 redis-server nodes (3 masters,
# 3 replicas) in one temporary directory, each restarted by a supervisor loop when a test shuts
# it down or crashes it, all stopped on exit whatever the outcome (Ctrl-C included).
# Installs redis-server (and redis-cli) when missing.
#
# Usage: bash scripts/redis-cluster.sh CMD [ARGS...]
# CMD runs in the caller's directory with
#   REDIS_CLUSTER_URLS  redis://127.0.0.1:P1,redis://127.0.0.1:P2,... (all 6 nodes, no trailing /)
#   REDIS_CLUSTER_DIR   the temporary directory; node P lives in $REDIS_CLUSTER_DIR/P (redis.log,
#                       nodes.conf, redis.pid, appendonlydir)
# and the script exits with CMD's status.
#
# Node timeout 1 s, any replica promotable: after a master is killed (SHUTDOWN NOSAVE,
# DEBUG SEGFAULT) its replica takes over within a few seconds, and the killed node is restarted
# with its nodes.conf as soon as that happened (a killed replica: a second later), rejoining as a
# replica of the promoted one.
set -euo pipefail

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
if [ "$#" -eq 0 ]; then
    echo "usage: bash scripts/redis-cluster.sh CMD [ARGS...]" >&2
    exit 2
fi
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
fi

nodes=6
dir=$(mktemp -d /tmp/mywebsocket-rcluster.XXXXXX)
supervisors=()
ports=()

node_logs() {
    local port
    for port in "${ports[@]}"; do
        [ -f "$dir/$port/redis.log" ] || continue
        echo "----- node $port: last 20 lines of $dir/$port/redis.log" >&2
        tail -n 20 "$dir/$port/redis.log" >&2 || true
    done
}

# shellcheck disable=SC2317 # (run by the EXIT trap, which shellcheck 0.9 does not see)
cleanup() {
    trap '' INT TERM HUP PIPE
    touch "$dir/stop"
    local pid port i alive
    # Each supervisor leads its own process group: killing the group reaches its redis-server
    # (and a pending `sleep`) too, even one forked an instant ago. The supervisor then waits for
    # its server. Bounded: TERM again at 2 s, KILL at 5 s, give up at 10 s.
    for i in $(seq 100); do
        alive=0
        for pid in "${supervisors[@]}"; do
            kill -0 -- "-$pid" 2>/dev/null || continue
            alive=1
            case $i in
                1 | 20) kill -TERM -- "-$pid" 2>/dev/null || true ;;
                50) kill -KILL -- "-$pid" 2>/dev/null || true ;;
            esac
        done
        if [ "$i" -eq 20 ]; then
            for port in "${ports[@]}"; do
                pid=$(cat "$dir/$port/redis.pid" 2>/dev/null) || continue
                if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
                    kill -TERM "$pid" 2>/dev/null || true
                fi
            done
        fi
        [ "$i" -eq 50 ] && [ "$alive" -eq 1 ] && log "redis-servers still running after 5 s, killing them"
        [ "$alive" -eq 0 ] && break
        [ "$i" -eq 100 ] && log "processes left in the process groups ${supervisors[*]}"
        sleep 0.1
    done
    for pid in "${supervisors[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# Ports P with P and P + 10000 (the cluster bus) free on 127.0.0.1, below 55536, all distinct,
# outside the kernel's ephemeral range when possible (so that an outgoing connection cannot take
# a node's port while the node is down).
mapfile -t ports < <(python3 - "$nodes" <<'EOF'
import random, socket, sys

n = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
except OSError:
    lo, hi = 32768, 60999

def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()

candidates = list(range(20000, 45001))
outside = [p for p in candidates if not (lo <= p <= hi or lo <= p + 10000 <= hi)]
random.shuffle(outside)
rest = sorted(set(candidates) - set(outside))
random.shuffle(rest)
taken, chosen = set(), []
for p in outside + rest:
    if p in taken or p + 10000 in taken or not free(p) or not free(p + 10000):
        continue
    chosen.append(p)
    taken.update((p, p + 10000))
    if len(chosen) == n:
        break
if len(chosen) < n:
    sys.exit("no free ports")
print("\n".join(map(str, chosen)))
EOF
)
if [ "${#ports[@]}" -ne "$nodes" ]; then
    log "could not find $nodes free port pairs"
    exit 1
fi

extra=()
if [ "$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')" -ge 7 ]; then
    # Redis 7 refuses DEBUG unless enabled (tests crash a master with DEBUG SEGFAULT). On SIGTERM
    # (cleanup) a master would wait up to 10 s for lagging replicas, and a node writing its
    # initial AOF (just after a full sync) would refuse to exit ("Writing initial AOF, can't exit").
    extra+=(--enable-debug-command local --shutdown-on-sigterm nosave now force)
fi

# A node: redis-server in a loop, restarted a second after it exits (a master: once its replica
# has taken over, see failover_wait) unless the stop file exists.
# A TERM (cleanup kills the node's process group, which reaches the server too) only stops the
# loop: the supervisor waits for its server and reaps it, so that once cleanup has waited for the
# supervisors no server is left, not even as a zombie.
supervise() {
    local port=$1 d=$dir/$1 status child
    trap 'touch "$dir/stop"' TERM
    while [ ! -f "$dir/stop" ]; do
        redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
            --dir "$d" --pidfile "$d/redis.pid" --daemonize no \
            --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
            --appendonly yes --appendfsync always --save '' \
            --repl-diskless-sync-delay 0 "${extra[@]}" \
            >>"$d/redis.log" 2>&1 &
        child=$!
        # Forked after cleanup's kill: the stop file is already there.
        if [ -f "$dir/stop" ]; then kill -TERM "$child" 2>/dev/null || true; fi
        # `wait` returns early when the TERM trap runs: wait until the server is reaped.
        while :; do
            status=0
            wait "$child" || status=$?
            kill -0 "$child" 2>/dev/null || break
        done
        [ -f "$dir/stop" ] && break
        echo "supervisor: redis-server exited with status $status" >>"$d/redis.log"
        sleep 1
        failover_wait "$port" "$d"
        echo "supervisor: restarting redis-server" >>"$d/redis.log"
    done
}

# Before a master that has a replica comes back, its replica must have taken over: a master back
# within the node timeout (or before the election, ~2-3 s) would simply resume, and no failover
# would happen. So after a master's exit, wait (at most 10 s) until, in the view of a live node,
# it owns no slots any more or it has no live replica left.
failover_wait() {
    local port=$1 d=$2 me other view i
    me=$(awk '$3 ~ /myself/ && $3 ~ /master/ { print $1 }' "$d/nodes.conf" 2>/dev/null) || return 0
    [ -n "$me" ] || return 0
    for i in $(seq 90); do
        [ -f "$dir/stop" ] && return 0
        view=""
        for other in "${ports[@]}"; do
            [ "$other" = "$port" ] && continue
            view=$(redis-cli -p "$other" cluster nodes 2>/dev/null | tr -d '\r') && [ -n "$view" ] && break
        done
        if [ -n "$view" ]; then
            awk -v me="$me" '
                $1 == me && NF > 8 { slots = 1 }
                $4 == me && $3 !~ /fail/ { replica = 1 }
                END { exit !(!slots || !replica) }' <<<"$view" && return 0
        fi
        sleep 0.1
    done
    echo "supervisor: no failover within 10 s" >>"$d/redis.log"
}

# Job control on while the supervisors start: each gets its own process group, which cleanup
# kills whole, and which a Ctrl-C at the terminal does not reach.
set -m
for port in "${ports[@]}"; do
    mkdir "$dir/$port"
    supervise "$port" </dev/null &
    supervisors+=("$!")
done
set +m

started=$(date +%s%N)
for port in "${ports[@]}"; do
    for i in $(seq 100); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
        if [ "$i" -eq 100 ]; then
            log "node $port did not answer PING within 10 s"
            node_logs
            exit 1
        fi
        sleep 0.1
    done
done

addresses=()
for port in "${ports[@]}"; do addresses+=("127.0.0.1:$port"); done
if ! redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log" 2>&1; then
    log "redis-cli --cluster create failed:"
    cat "$dir/create.log" >&2
    node_logs
    exit 1
fi

# Every node: state ok, all slots assigned and ok, 6 known nodes, and in its view 3 masters and
# 3 replicas, none failing, all links up; no AOF rewrite under way (a replica rewrites its AOF
# after the initial sync, and meanwhile refuses SHUTDOWN: "Writing initial AOF, can't exit").
# Every master: its replica connected and in sync.
cluster_ready() {
    local port info view
    for port in "${ports[@]}"; do
        info=$(redis-cli -p "$port" info persistence 2>/dev/null | tr -d '\r') || return 1
        grep -qx 'loading:0' <<<"$info" || return 1
        grep -qx 'aof_rewrite_in_progress:0' <<<"$info" || return 1
        grep -qx 'aof_rewrite_scheduled:0' <<<"$info" || return 1
        info=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r') || return 1
        grep -qx 'cluster_state:ok' <<<"$info" || return 1
        grep -qx 'cluster_slots_assigned:16384' <<<"$info" || return 1
        grep -qx 'cluster_slots_ok:16384' <<<"$info" || return 1
        grep -qx "cluster_known_nodes:$nodes" <<<"$info" || return 1
        view=$(redis-cli -p "$port" cluster nodes 2>/dev/null | tr -d '\r') || return 1
        awk -v half=$((nodes / 2)) '
            $3 ~ /fail|handshake|noaddr/ || $8 != "connected" { bad = 1 }
            $3 ~ /(^|,)master(,|$)/ { m++ }
            $3 ~ /(^|,)slave(,|$)/ { s++ }
            END { exit !(!bad && m == half && s == half) }' <<<"$view" || return 1
    done
    while read -r port; do
        info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r') || return 1
        grep -qx 'connected_slaves:1' <<<"$info" || return 1
        grep -q '^slave0:.*state=online' <<<"$info" || return 1
    done < <(awk '$3 ~ /(^|,)master(,|$)/ { split($2, a, "[:@]"); print a[2] }' <<<"$view")
}
for i in $(seq 300); do
    cluster_ready && break
    if [ "$i" -eq 300 ]; then
        log "cluster not ready within 30 s; cluster nodes as seen by ${ports[0]}:"
        redis-cli -p "${ports[0]}" cluster nodes >&2 || true
        node_logs
        exit 1
    fi
    sleep 0.1
done

urls=()
for port in "${ports[@]}"; do urls+=("redis://127.0.0.1:$port"); done
REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
export REDIS_CLUSTER_URLS
export REDIS_CLUSTER_DIR=$dir
ms=$((($(date +%s%N) - started) / 1000000))
log "ready in $((ms / 1000)).$(printf %03d $((ms % 1000))) s ($(redis-server --version | sed -n 's/.* v=\([^ ]*\) .*/\1/p'))"
log "REDIS_CLUSTER_URLS=$REDIS_CLUSTER_URLS"
log "REDIS_CLUSTER_DIR=$REDIS_CLUSTER_DIR"

status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then
    log "command failed (status $status); node logs:"
    node_logs
fi
exit "$status"
