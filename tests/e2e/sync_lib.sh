# shellcheck shell=bash
# tests/e2e/sync_lib.sh -- what the `lockcoord sync` tests share (sourced
# after lib.sh): a recording receiver (tests/tools/http_receiver.py) as the
# far end of http jobs, configs with jobs, and questions about what the
# receiver saw.

RECEIVER="$E2E_SRC/tests/tools/http_receiver.py"

port_known() {
    [[ -s $CASE_DIR/receiver.out ]]
}

# start_receiver: a receiver for this case; sets PORT. Its log is
# $CASE_DIR/recv.log, its rules $CASE_DIR/control.json (see set_rules).
start_receiver() {
    : >"$CASE_DIR/recv.log"
    echo '{}' >"$CASE_DIR/control.json"
    bg receiver python3 "$RECEIVER" --log "$CASE_DIR/recv.log" --control "$CASE_DIR/control.json"
    assert_until 10000 port_known
    PORT=$(head -n 1 "$CASE_DIR/receiver.out")
    [[ $PORT =~ ^[0-9]+$ ]] || fail "receiver printed no port: $(cat "$CASE_DIR/receiver.out")"
}

# set_rules JSON: the receiver's rules from now on (atomically).
set_rules() {
    printf '%s\n' "$1" >"$CASE_DIR/control.json.new"
    mv "$CASE_DIR/control.json.new" "$CASE_DIR/control.json"
}

# sync_config FILE BACKEND LOCK_YAML JOBS_YAML: a config for BACKEND whose
# lock: section is LOCK_YAML (indented lines) and jobs: JOBS_YAML, logging
# at info so the engine's lines are in the daemons' stderr.
sync_config() {
    local file=$1 backend=$2 lock=$3 jobs=$4
    {
        echo "backend: $backend"
        if [[ $backend == redis ]]; then
            printf 'redis:\n  url: "%s"\n' "$LOCKCOORD_TEST_REDIS_URL"
        else
            printf 'postgres:\n  conninfo: "%s"\n' "$LOCKCOORD_TEST_PG_CONNINFO"
        fi
        printf 'lock:\n%s\n' "$lock"
        printf 'jobs:\n%s\n' "$jobs"
        printf 'log:\n  level: info\n'
    } >"$file"
}

# requests [PATH_PREFIX]: the receiver's request records (one JSON object a
# line), in the order they arrived, for paths starting with PATH_PREFIX.
requests() {
    jq -c --arg p "${1:-/}" 'select(.event == "request" and (.path | startswith($p)))' \
        "$CASE_DIR/recv.log"
}

request_count() { # [PATH_PREFIX]
    requests "${1:-/}" | grep -c '' || true
}

# A file's line count is at least N.
requests_at_least() { # N [PATH_PREFIX]
    (($(request_count "${2:-/}") >= $1))
}

# The most requests of one path that were ever in flight at once.
max_inflight() { # [PATH_PREFIX]
    requests "${1:-/}" | jq -s 'map(.inflight_path) | max // 0'
}

# Fails unless Lockcoord-Fence strictly increases from run to run (the
# attempts of one run, with one slot key, share their fence).
assert_fences_increase() { # [PATH_PREFIX]
    local bad
    bad=$(requests "${1:-/}" | jq -s '[.[] | {f: (.headers["lockcoord-fence"] | tonumber),
            k: .headers["idempotency-key"]}]
        | reduce .[] as $r ([]; if length > 0 and .[-1].k == $r.k and .[-1].f == $r.f
                                then . else . + [$r] end)
        | map(.f) as $f | [range(1; $f | length) | select($f[.] <= $f[. - 1])] | length')
    assert_eq 0 "$bad" "runs whose fence did not go up ($(requests "${1:-/}" | jq -c '.headers["lockcoord-fence"]' | tr '\n' ' '))"
}

# Fails when an Idempotency-Key (LOCK:SLOT) was sent for two runs: a retry
# within a run repeats its key, so keys are counted per fence.
assert_slots_unique() { # [PATH_PREFIX]
    local dup
    dup=$(requests "${1:-/}" | jq -rs 'map({k: .headers["idempotency-key"], f: .headers["lockcoord-fence"]})
        | unique | group_by(.k) | map(select(length > 1) | .[0].k) | join(" ")')
    assert_eq "" "$dup" "slots run twice"
}

# The shortest time between the starts of two requests, in ms.
min_gap_ms() { # [PATH_PREFIX]
    requests "${1:-/}" | jq -s '[.[].t] | sort | [range(1; length) as $i | (.[$i] - .[$i - 1])]
        | (min // 1000000) * 1000 | floor'
}

# lc_status_json NAME: `status --json` of one lock; sets ST.
status_of() {
    assert_exit 0 lc --json status "$1"
    # shellcheck disable=SC2034 # read by the callers
    ST=$OUT
}

# A daemon's stderr has a line with TEXT.
log_has() { # VAR TEXT
    grep -qF -- "$2" "$CASE_DIR/$1.err"
}
