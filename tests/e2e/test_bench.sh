#!/usr/bin/env bash
# `lockcoord bench`: the shape of its output (the JSON object, the table),
# the reference and its ratio, contend's mutual-exclusion check, renew's
# leases given back, and bad input. Runs are short (300 ms): speed is
# measured by the command, never asserted here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Redis runs under a key prefix of their own, so the benchmark's locks
# stay out of other tests' listings.
bench_config() {
    if [[ $1 == redis ]]; then
        write_config "$CFG" redis "" "  key_prefix: e2e-bench-$$-$RANDOM"
    fi
}

# assert_positive JSON FILTER: a number above zero.
assert_positive() {
    local v
    jset v "$1" "$2"
    jq -e "$2 | type == \"number\" and . > 0" <<<"$1" >/dev/null ||
        fail "json $2: expected a number above 0, got '$v'"
}

assert_latency() { # JSON OBJECT_FILTER
    local k
    for k in p50_ms p99_ms max_ms; do
        jq -e "$2 | .$k | type == \"number\" and . >= 0" <<<"$1" >/dev/null ||
            fail "json $2 | .$k: not a number >= 0 in $1"
    done
    jq -e "$2 | .p50_ms <= .p99_ms and .p99_ms <= .max_ms" <<<"$1" >/dev/null ||
        fail "json $2: expected p50 <= p99 <= max in $1"
}

case_cycles_json() {
    bench_config "$1"
    assert_exit 0 lc --json bench cycles --duration 300ms --reference
    [[ -z $ERR ]] || fail "stderr is not empty when piped: $ERR"
    assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c '')" "lines of output"
    assert_json "$OUT" .mode cycles
    assert_json "$OUT" .backend "$1"
    assert_json "$OUT" .clients 1
    assert_json "$OUT" .duration_ms 300
    assert_positive "$OUT" .ops_per_s
    assert_positive "$OUT" .cycles
    assert_latency "$OUT" .
    assert_latency "$OUT" .acquire
    assert_latency "$OUT" .release
    assert_positive "$OUT" .reference_ops_per_s
    assert_positive "$OUT" .ratio
    assert_positive "$OUT" .reference.cycles
    assert_latency "$OUT" .reference
    assert_latency "$OUT" .reference.acquire
    assert_json_keys "$OUT" .reference floor ops_per_s
}

case_cycles_clients_no_reference() {
    bench_config "$1"
    assert_exit 0 lc bench cycles --clients 3 --duration 300ms --json
    assert_json "$OUT" .clients 3
    assert_positive "$OUT" .ops_per_s
    assert_json "$OUT" .reference_ops_per_s null
    assert_json "$OUT" .ratio null
    assert_json "$OUT" .reference null
}

case_contend_exclusion() {
    bench_config "$1"
    assert_exit 0 lc --json bench contend --clients 4 --hold 1ms --duration 300ms --reference
    assert_json "$OUT" .mode contend
    assert_json "$OUT" .clients 4
    assert_json "$OUT" .hold_ms 1
    assert_json "$OUT" .mutual_exclusion ok
    assert_json "$OUT" .overlaps 0
    assert_json "$OUT" .fence_regressions 0
    assert_positive "$OUT" .acquisitions
    assert_positive "$OUT" .holders
    assert_json "$OUT" '.acquisitions_per_client | length' 4
    assert_json "$OUT" '(.acquisitions_per_client | add) == .acquisitions' true
    assert_json "$OUT" '.wait_max_ms >= .wait_mean_ms' true
    assert_latency "$OUT" .
    assert_positive "$OUT" .ratio
    assert_json "$OUT" '.reference.acquisitions_per_client | length' 4
    # Nothing is left held.
    assert_exit 0 lc --json status lockcoord-bench.contend
    assert_json "$OUT" '.locks[0].health' ready
}

case_renew_ticks() {
    bench_config "$1"
    assert_exit 0 lc --json bench renew --leases 50 --duration 300ms --reference
    assert_json "$OUT" .mode renew
    assert_json "$OUT" .leases 50
    assert_positive "$OUT" .ticks
    assert_positive "$OUT" .calls_per_tick
    assert_positive "$OUT" .ops_per_s
    assert_latency "$OUT" .
    assert_positive "$OUT" .ratio
    assert_json "$OUT" .reference.calls_per_tick 1
    # Every lease was given back.
    assert_exit 0 lc --json status lockcoord-bench.renew.1 lockcoord-bench.renew.50
    assert_json "$OUT" '[.locks[].health] | unique | join(",")' ready
}

case_table() {
    bench_config "$1"
    assert_exit 0 lc bench cycles --duration 200ms --reference
    [[ -z $ERR ]] || fail "stderr is not empty when piped: $ERR"
    [[ $OUT != *$'\r'* ]] || fail "a progress line in piped output: $OUT"
    assert_contains "$OUT" "cycles on $1: 1 client"
    assert_contains "$OUT" "lockcoord "
    assert_contains "$OUT" "reference "
    assert_contains "$OUT" "ratio: "
    assert_exit 0 lc bench contend --clients 2 --duration 200ms
    assert_contains "$OUT" "mutual exclusion: ok"
}

case_bad_input() {
    local args
    for args in "cycles --clients 0" "cycles --duration 0" "cycles --duration 0s" \
        "renew --leases -1" "renew --leases 1.5" "fly" "" "cycles --hold 1s" \
        "renew --clients 2" "contend --leases 5" "cycles --clients 257" "cycles extra"; do
        # shellcheck disable=SC2086 # the words are the arguments
        assert_exit 64 lc bench $args
        assert_one_line "$ERR" "bench $args"
        [[ -z $OUT ]] || fail "bench $args: stdout: $OUT"
    done
    assert_exit 64 lc --json bench cycles --clients 0
    assert_json "$OUT" .error usage
}

case_unreachable() {
    write_config "$CFG" "$1" "$([[ $1 == redis ]] && echo redis://127.0.0.1:1/0 || echo "host=127.0.0.1 port=1 dbname=x")"
    assert_exit 69 lc bench cycles --duration 100ms
    assert_one_line "$ERR"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "cycles --json --reference: the object, latencies, the ratio" case_cycles_json
    run_case "$b" "cycles --clients 3 without a reference: ratio null" case_cycles_clients_no_reference
    run_case "$b" "contend: mutual exclusion ok, acquisitions per client, nothing left held" case_contend_exclusion
    run_case "$b" "renew --leases 50 --reference: ticks, calls per tick, leases given back" case_renew_ticks
    run_case "$b" "the table, no progress line when piped" case_table
    run_case "$b" "bad input: one-line usage errors, exit 64" case_bad_input
    run_case "$b" "server down: exit 69, one line" case_unreachable
done
e2e_finish
