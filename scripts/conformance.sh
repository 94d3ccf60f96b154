#!/usr/bin/env bash
# Runs Autobahn|Testsuite against MyWebsocket, both roles, and checks the
# results. Sets Autobahn up first if needed (scripts/autobahn-setup.sh).
#
# Usage: scripts/conformance.sh [quick|full]
#
#   quick (default)  sections 1-10 in both roles, all of 12 and 13 against the
#                    server, and only 12.1, 13.1 and 13.7 against the client
#   full             all 517 cases in both roles (12 and 13 take about 20
#                    minutes per role)
#
# 1. builds the conformance crate's binaries (cargo build --release -p conformance --bins);
# 2. starts echo_server on a free loopback port and runs
#    `wstest -m fuzzingclient` against it (reports: $AUTOBAHN_DIR/reports/server);
# 3. starts `wstest -m fuzzingserver` on another free loopback port and runs
#    autobahn_client against it (reports: $AUTOBAHN_DIR/reports/client);
# 4. runs autobahn_report over both index.json files: it prints the summary and
#    fails on any case whose behavior or behaviorClose is not OK or INFORMATIONAL.
#
# Exit status: 0 when everything passed, 1 when a case failed or a step broke,
# 2 on a usage error or unreadable results.
#
# Environment:
#   AUTOBAHN_DIR           build directory for the virtualenv, generated specs,
#                          logs and reports (default: <repo>/target/autobahn)
#   AUTOBAHN_CASES         run only these cases: comma-separated sections ("6"),
#                          section ranges ("1-10") or wstest patterns ("12.1.*");
#                          the mode's exclusions still apply
#   AUTOBAHN_TIMEOUT       seconds allowed for each role's run (default: 3600)
#   AUTOBAHN_AGENT         agent name the client reports as (default: mywebsocket)
#   AUTOBAHN_ROLES         which roles to test: server, client or server,client
#                          (default: both)
#   AUTOBAHN_ALLOW_UNIMPLEMENTED_COMPRESSION
#                          0 (default, since permessage-deflate landed): every
#                          UNIMPLEMENTED case fails; 1: UNIMPLEMENTED in sections
#                          12 and 13 is reported but does not fail (for testing a
#                          build without compression)
#   ECHO_SERVER_BIN, AUTOBAHN_CLIENT_BIN, AUTOBAHN_REPORT_BIN
#                          binaries to test and to report with (default:
#                          target/release/{echo_server,autobahn_client,autobahn_report});
#                          echo_server is run as `BIN 127.0.0.1:PORT`, the client
#                          as `BIN ws://127.0.0.1:PORT AGENT`
set -euo pipefail

usage() { sed -n '5,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

mode=${1:-quick}
case $mode in
quick | full) ;;
-h | --help)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac
if (($# > 1)); then
    usage >&2
    exit 2
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

export AUTOBAHN_DIR=${AUTOBAHN_DIR:-$repo_root/target/autobahn}
autobahn_dir=$AUTOBAHN_DIR
release_dir=${CARGO_TARGET_DIR:-$repo_root/target}/release
echo_server_bin=${ECHO_SERVER_BIN:-$release_dir/echo_server}
client_bin=${AUTOBAHN_CLIENT_BIN:-$release_dir/autobahn_client}
report_bin=${AUTOBAHN_REPORT_BIN:-$release_dir/autobahn_report}
agent=${AUTOBAHN_AGENT:-mywebsocket}
cases=${AUTOBAHN_CASES:-}
timeout_secs=${AUTOBAHN_TIMEOUT:-3600}
allow_unimplemented=${AUTOBAHN_ALLOW_UNIMPLEMENTED_COMPRESSION:-0}
roles=${AUTOBAHN_ROLES:-server,client}

reports=$autobahn_dir/reports
logs=$autobahn_dir/logs

log() { printf 'conformance: %s\n' "$*" >&2; }

# Every process started here, stopped on exit whatever happens.
pids=()

# Stops one process: TERM, then KILL after 5 s.
stop() {
    local pid=$1 deadline=$((SECONDS + 5))
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        stop "$pid"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port on 127.0.0.1 (the kernel picks it; it is released at once).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until PID accepts connections on 127.0.0.1:PORT.
wait_for_port() {
    local port=$1 pid=$2 name=$3 deadline=$((SECONDS + 30))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening on 127.0.0.1:$port"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "$name did not listen on 127.0.0.1:$port within 30 s"
            return 1
        fi
        sleep 0.1
    done
}

# Runs a command in the background so that signals reach the traps at once,
# bounded by AUTOBAHN_TIMEOUT; returns its exit status.
run_bounded() {
    local status=0
    timeout "$timeout_secs" "$@" &
    local pid=$!
    pids+=("$pid")
    wait "$pid" || status=$?
    if ((status == 124)); then
        log "$1 timed out after ${timeout_secs} s"
    fi
    return "$status"
}

show_log() {
    log "last lines of $1:"
    tail -n 20 "$1" >&2 || true
}

# Writes a spec from a template and prints how many cases it selects.
generate_spec() {
    local template=$1 spec=$2 url=$3 outdir=$4
    "$venv_python" scripts/autobahn-spec.py "$template" "$spec" \
        --mode "$mode" --url "$url" --outdir "$outdir" --cases "$cases"
}

for tool in python3 timeout; do
    command -v "$tool" >/dev/null || {
        log "$tool is required"
        exit 1
    }
done

wstest=$(scripts/autobahn-setup.sh)
venv_python=$(dirname "$wstest")/python
wstest_cmd=("$venv_python" scripts/autobahn-wstest.py)

log "building the conformance binaries"
cargo build --release -p conformance --bins
for bin in "$echo_server_bin" "$client_bin" "$report_bin"; do
    if [[ ! -x $bin ]]; then
        log "$bin does not exist: build it or point ECHO_SERVER_BIN / AUTOBAHN_CLIENT_BIN / AUTOBAHN_REPORT_BIN at one"
        exit 1
    fi
done

for role in server client; do
    if [[ $roles == *$role* ]]; then
        rm -rf "${reports:?}/$role"
    fi
done
mkdir -p "$reports/server" "$reports/client" "$logs"
broken=0

# --- our server, tested by `wstest -m fuzzingclient` ---------------------------
if [[ $roles == *server* ]]; then
    port=$(free_port)
    server_spec=$autobahn_dir/fuzzingclient.json
    server_cases=$(generate_spec conformance/autobahn/fuzzingclient.json "$server_spec" \
        "ws://127.0.0.1:$port" "$reports/server")
    log "server: $server_cases cases ($mode${cases:+, cases $cases}) against $echo_server_bin on 127.0.0.1:$port"
    started=$SECONDS
    "$echo_server_bin" "127.0.0.1:$port" >"$logs/echo_server.log" 2>&1 &
    echo_pid=$!
    pids+=("$echo_pid")
    if wait_for_port "$port" "$echo_pid" echo_server; then
        if ! run_bounded "${wstest_cmd[@]}" -m fuzzingclient -s "$server_spec" >"$logs/fuzzingclient.log" 2>&1; then
            log "wstest -m fuzzingclient failed"
            show_log "$logs/fuzzingclient.log"
            broken=1
        fi
        if ! kill -0 "$echo_pid" 2>/dev/null; then
            log "echo_server died during the run"
            show_log "$logs/echo_server.log"
            broken=1
        fi
    else
        show_log "$logs/echo_server.log"
        broken=1
    fi
    stop "$echo_pid"
    log "server: done in $((SECONDS - started)) s"
fi

# --- our client, tested by `wstest -m fuzzingserver` ---------------------------
if [[ $roles == *client* ]]; then
    port=$(free_port)
    client_spec=$autobahn_dir/fuzzingserver.json
    client_cases=$(generate_spec conformance/autobahn/fuzzingserver.json "$client_spec" \
        "ws://127.0.0.1:$port" "$reports/client")
    log "client: $client_cases cases ($mode${cases:+, cases $cases}) for $client_bin against wstest on 127.0.0.1:$port"
    started=$SECONDS
    # -u 0: no embedded web server (it would listen on port 8080, all interfaces).
    "${wstest_cmd[@]}" -m fuzzingserver -s "$client_spec" -u 0 >"$logs/fuzzingserver.log" 2>&1 &
    wstest_pid=$!
    pids+=("$wstest_pid")
    if wait_for_port "$port" "$wstest_pid" "wstest -m fuzzingserver"; then
        if ! run_bounded "$client_bin" "ws://127.0.0.1:$port" "$agent" >"$logs/autobahn_client.log" 2>&1; then
            log "autobahn_client failed"
            show_log "$logs/autobahn_client.log"
            broken=1
        fi
        if ! kill -0 "$wstest_pid" 2>/dev/null; then
            log "wstest -m fuzzingserver died during the run"
            show_log "$logs/fuzzingserver.log"
            broken=1
        fi
    else
        show_log "$logs/fuzzingserver.log"
        broken=1
    fi
    stop "$wstest_pid"
    log "client: done in $((SECONDS - started)) s"
fi

# --- the verdict ----------------------------------------------------------------
report_args=()
[[ $roles == *server* ]] && report_args+=(--server "$reports/server")
[[ $roles == *client* ]] && report_args+=(--client "$reports/client")
[[ ${server_cases:-} =~ ^[0-9]+$ ]] && report_args+=(--expect-server-cases "$server_cases")
[[ ${client_cases:-} =~ ^[0-9]+$ ]] && report_args+=(--expect-client-cases "$client_cases")
[[ $allow_unimplemented == 1 ]] && report_args+=(--allow-unimplemented-compression)

report_status=0
"$report_bin" "${report_args[@]}" || report_status=$?
log "HTML reports: $reports/server/index.html and $reports/client/index.html"
log "logs: $logs"
if ((report_status != 0)); then
    exit "$report_status"
fi
if ((broken)); then
    log "FAIL: a step of the run broke (see above), even though the results present pass"
    exit 1
fi
