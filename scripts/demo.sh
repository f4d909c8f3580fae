#!/usr/bin/env bash
# scripts/demo.sh -- shows lockcoord at work on a fresh Debian 12 machine or
# a developer's: installs what is missing, builds build/, starts throwaway
# Redis and PostgreSQL on loopback (or uses LOCKCOORD_TEST_REDIS_URL /
# LOCKCOORD_TEST_PG_CONNINFO), then runs the steps below, printing each
# command before its output.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEP_RC=0

# show_command ARGS...: the command as one would type it, quoting only the
# arguments that need it.
show_command() {
    local a out=()
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+=("$a")
        else
            out+=("'${a//\'/\'\\\'\'}'")
        fi
    done
    echo "${out[*]}"
}

# step TITLE CMD [ARGS...]: shows the title and the command, runs it, and
# shows its exit status when it is not 0. Never fails the demo: the status
# is in STEP_RC for the next line to look at.
step() {
    local title=$1
    shift
    printf '\n--- %s\n$ %s\n' "$title" "$(show_command "$@")"
    STEP_RC=0
    "$@" || STEP_RC=$?
    ((STEP_RC == 0)) || echo "(exit $STEP_RC)"
}

# step_expect CODE TITLE CMD [ARGS...]: a step that must exit with CODE
# (0 for success, 75 for a conflict...); anything else stops the demo.
step_expect() {
    local want=$1
    shift
    step "$@"
    ((STEP_RC == want)) || lc_die "step '$1' exited $STEP_RC, expected $want"
}

# The demo's own files (configs, logs); removed with the servers.
DEMO_DIR=""

# demo_config BACKEND: writes $DEMO_DIR/BACKEND.yaml pointing at the
# throwaway server, with short ttls so the demo moves quickly.
demo_config() {
    local backend=$1 file="$DEMO_DIR/$1.yaml"
    {
        echo "backend: $backend"
        if [[ $backend == redis ]]; then
            printf 'redis:\n  url: "%s"\n  key_prefix: demo\n' "$LOCKCOORD_TEST_REDIS_URL"
        else
            printf 'postgres:\n  conninfo: "%s"\n  table: demo_locks\n' "$LOCKCOORD_TEST_PG_CONNINFO"
        fi
        printf 'lock:\n  ttl: 2s\n  renew_every: 500ms\n  retry_min: 100ms\n  retry_max: 500ms\n'
    } >"$file"
    echo "$file"
}

# The main job on one backend: two contenders, a conflict report, a waiter
# woken by the release, a killed holder whose lock comes back by itself, a
# failed run, status, and the operator's reset.
demo_backend() {
    local backend=$1
    LOCKCOORD_CONFIG=$(demo_config "$backend")
    export LOCKCOORD_CONFIG
    lc_say "The main job on $backend (config: $LOCKCOORD_CONFIG)"
    step_expect 0 "Create the schema / load the scripts" lockcoord migrate

    # Contender A holds the lock for a while, in the background.
    lockcoord run nightly-sync -- sh -c 'echo "A: syncing under fence $LOCKCOORD_FENCE"; sleep 2; echo "A: done"' &
    local a=$!
    wait_held nightly-sync
    step_expect 75 "Contender B finds it held: exit 75, with the holder" \
        lockcoord run nightly-sync -- echo "B: never printed"
    step_expect 75 "The same conflict as JSON (like an HTTP 409)" \
        lockcoord --json acquire nightly-sync
    step_expect 0 "Health while A works" lockcoord status nightly-sync
    step_expect 0 "Contender B waits instead: it starts the moment A releases" \
        lockcoord run nightly-sync --wait 10s -- sh -c 'echo "B: syncing under fence $LOCKCOORD_FENCE"'
    wait "$a"

    # A holder that dies without releasing: its lease runs out by itself.
    lockcoord run import-job -- sleep 60 &
    local dead=$!
    wait_held import-job
    kill -9 "$dead"
    wait "$dead" 2>/dev/null || true
    step_expect 0 "The holder was killed with -9; its lock is still held until the ttl (2s) lapses" \
        lockcoord status import-job
    step_expect 0 "No manual reset: the next run reclaims it when the lease expires" \
        lockcoord run import-job --wait 10s -- sh -c 'echo "reclaimed with fence $LOCKCOORD_FENCE"'

    step_expect 3 "A run that fails is recorded" lockcoord run report-job -- sh -c 'echo "report: upstream said 503" >&2; exit 3'

    step_expect 0 "Someone holds a lock for an hour" lockcoord acquire migration-lock --ttl 1h --owner alice@laptop
    step_expect 0 "The operator's fix, instead of UPDATE ... SET status = 'idle'" \
        lockcoord reset migration-lock --reason "alice's laptop went to sleep mid-migration"
    step_expect 0 "Every lock, with its health" lockcoord status

    step_expect 0 "Operating: pause a job on every machine for an hour" \
        lockcoord pause nightly-sync --reason "vendor API down, ticket 4711" --for 1h
    step_expect 75 "A paused lock is refused everywhere, saying who and why" \
        lockcoord run nightly-sync -- echo "never printed"
    step_expect 0 "Lift the pause" lockcoord resume nightly-sync
    step_expect 1 "For a monitor: exit 1 naming what is failed, stale, paused or overdue" \
        lockcoord status --check report-job migration-lock nightly-sync
    step_expect 0 "What ran, where, for how long (the killed holder is 'abandoned')" \
        lockcoord history import-job
}

# The receiver's port (tests/tools/http_receiver.py), once started.
RECEIVER_PORT=""

# start_receiver: a local HTTP server standing in for the sync function:
# it records every request and answers with a cursor after 400 ms.
start_receiver() {
    echo '{"*": {"cursor": "auto", "delay_ms": 400}}' >"$DEMO_DIR/rules.json"
    python3 "$LC_ROOT/tests/tools/http_receiver.py" --log "$DEMO_DIR/requests.log" \
        --control "$DEMO_DIR/rules.json" >"$DEMO_DIR/receiver.port" &
    LC_BG_PIDS+=("$!")
    local i=0
    while [[ ! -s $DEMO_DIR/receiver.port ]] && ((i++ < 200)); do sleep 0.05; done
    RECEIVER_PORT=$(head -n 1 "$DEMO_DIR/receiver.port")
    [[ -n $RECEIVER_PORT ]] || lc_die "the receiver did not start"
}

# show_log FILE LABEL: a daemon's log lines, labelled.
show_log() {
    sed "s/^lockcoord: /  [$2] /" "$1"
}

# The main job of `lockcoord sync` on one backend: the same config on two
# "nodes", a job every 2s; one runs each slot, the other skips it (held
# elsewhere); the node running it is killed with -9 and the other takes
# the job over once the lease lapses; then status.
demo_sync() {
    local backend=$1 cfg="$DEMO_DIR/$1-sync.yaml" a b holder i
    demo_config "$backend" >/dev/null
    {
        cat "$DEMO_DIR/$backend.yaml"
        printf 'owner: "${NODE:-operator}"\nlog:\n  level: info\njobs:\n'
        printf '  - name: demo-sync\n    every: 2s\n    timeout: 10s\n'
        printf '    http:\n      url: "http://127.0.0.1:%s/%s/sync?since={{checkpoint}}"\n' \
            "$RECEIVER_PORT" "$backend"
        printf '      checkpoint_from: cursor\n'
    } >"$cfg"
    lc_say "lockcoord sync on $backend: the same config on two nodes (config: $cfg)"
    sed -n '/^jobs:/,$p' "$cfg"
    NODE=node-a lockcoord -c "$cfg" sync 2>"$DEMO_DIR/$backend-a.log" &
    a=$!
    NODE=node-b lockcoord -c "$cfg" sync 2>"$DEMO_DIR/$backend-b.log" &
    b=$!
    LC_BG_PIDS+=("$a" "$b")
    sleep 5 # let them work a few slots
    printf '\n--- Five seconds of both nodes: one runs each slot, the other finds it held\n'
    show_log "$DEMO_DIR/$backend-a.log" node-a
    show_log "$DEMO_DIR/$backend-b.log" node-b
    printf '\n--- What the receiver saw (fence strictly increasing, one request at a time)\n'
    jq -r --arg p "/$backend/" 'select(.event == "request" and (.path | startswith($p)))
        | "  \(.path)  fence \(.headers["lockcoord-fence"])  key \(.headers["idempotency-key"])"' \
        "$DEMO_DIR/requests.log"

    # Kill -9 whichever node is running the job now (wait for a run).
    for ((i = 0; i < 100; i++)); do
        holder=$(lockcoord -c "$cfg" --json status demo-sync 2>/dev/null |
            jq -r '.locks[0] | select(.held_for_ms != null) | .owner')
        [[ -n $holder ]] && break
        sleep 0.05
    done
    local victim=$b
    [[ $holder == node-a ]] && victim=$a || holder=node-b
    kill -9 "$victim"
    wait "$victim" 2>/dev/null || true
    printf '\n--- %s was killed with -9 in the middle of a run\n' "$holder"
    step_expect 0 "Its lease is still held until its ttl (2s) lapses" lockcoord -c "$cfg" status demo-sync
    sleep 4
    printf '\n--- The other node took the job over, no manual step\n'
    if [[ $holder == node-a ]]; then show_log "$DEMO_DIR/$backend-b.log" node-b | tail -n 4; else
        show_log "$DEMO_DIR/$backend-a.log" node-a | tail -n 4; fi
    step_expect 0 "Status: the run's record and when the job is next due" \
        lockcoord -c "$cfg" status demo-sync
    kill -TERM "$a" "$b" 2>/dev/null || true
    wait "$a" "$b" 2>/dev/null || true
}

# The daemon's metrics and health over HTTP: the Postgres sync config's
# job on one node with `sync --listen`, scraped once it has run.
demo_metrics() {
    local cfg="$DEMO_DIR/postgres-sync.yaml" port d i
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    lc_say "lockcoord sync --listen 127.0.0.1:$port: /metrics for Prometheus, /healthz for monitors"
    NODE=node-a lockcoord -c "$cfg" sync --listen "127.0.0.1:$port" 2>"$DEMO_DIR/metrics.log" &
    d=$!
    LC_BG_PIDS+=("$d")
    for ((i = 0; i < 200; i++)); do
        curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null |
            grep -q '^lockcoord_runs_total{job="demo-sync",outcome="ok"} [1-9]' && break
        sleep 0.05
    done
    printf '\n$ curl -s 127.0.0.1:%s/metrics | grep ...\n' "$port"
    curl -s "http://127.0.0.1:$port/metrics" |
        grep -E '^lockcoord_(runs_total\{.*outcome="(ok|failed)"|runs_skipped_total\{.*reason="(held|not_due)"|lease_renewals_total|jobs_running|run_duration_seconds_count)'
    printf '\n$ curl -s 127.0.0.1:%s/healthz\n' "$port"
    curl -s -w '  (HTTP %{http_code})\n' "http://127.0.0.1:$port/healthz"
    kill -TERM "$d" 2>/dev/null || true
    wait "$d" 2>/dev/null || true
}

# wait_held NAME: until NAME is held (a background contender has started).
wait_held() {
    local i
    for ((i = 0; i < 200; i++)); do
        lockcoord --json status "$1" 2>/dev/null | grep -q '"health":"held"' && return 0
        sleep 0.05
    done
    lc_die "lock $1 was never held"
}

main() {
    lc_install_deps
    lc_build build RelWithDebInfo
    # The demo's Redis persists every write, as production should (see
    # README): then lockcoord has no persistence warning to print.
    LC_REDIS_ARGS=(--appendonly yes --appendfsync always)
    lc_start_servers
    lc_cleanup_on_exit # also with servers of one's own: the daemons and the receiver stop
    DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lockcoord-demo.XXXXXX")
    LC_TEMP_DIRS+=("$DEMO_DIR")
    # Steps read as the user would type them.
    export PATH="$LC_ROOT/build:$PATH"
    cd "$LC_ROOT"

    step_expect 0 "Check the Redis example config" lockcoord config check examples/redis.yaml
    step_expect 0 "Check the Postgres example config" lockcoord config check examples/postgres.yaml
    start_receiver
    demo_sync redis
    demo_sync postgres
    demo_backend redis
    demo_backend postgres
    demo_metrics

    lc_say "Demo done"
}

main "$@"
