#!/usr/bin/env bash
# `status --check`: exit 0 while every lock shown is ready or held, exit 1
# naming the offenders when any is stale, failed, paused or overdue (a job
# with no successful run for two slots), with consecutive_failures and
# last_success_at in the JSON.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

failures_of() { # JOB: consecutive_failures, or -1
    local out
    out=$(lc --json status "$1" 2>/dev/null) || true
    json_get "$out" '.locks[0].consecutive_failures // -1'
}

failures_above() { # JOB N
    (($(failures_of "$1") > $2))
}

case_check_failing_job_overdue() {
    local b=$1 job n
    job=$(lock_name failing)
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1s
    exec: [\"sh\", \"-c\", \"exit 3\"]"
    bg d1 lc sync
    assert_until 20000 failures_above "$job" 1
    n=$(failures_of "$job")
    # Failures keep counting up, one slot after another.
    assert_until 20000 failures_above "$job" "$n"
    kill -TERM "$d1"
    bg_wait_within 20000 "$d1"
    sed -i 's/level: info/level: error/' "$CFG" # stderr: only what --check says

    assert_exit 1 lc --json status --check "$job"
    assert_json "$OUT" '.locks[0].overdue' true
    assert_json "$OUT" '.locks[0].last_success_at' null
    assert_lt 1 "$(json_get "$OUT" '.locks[0].consecutive_failures')" "consecutive_failures"
    assert_json "$OUT" '.check.ok' false
    assert_json "$OUT" '.check.offenders[0].name' "$job"
    assert_contains "$(json_get "$OUT" '.check.offenders[0].problems')" overdue
    assert_contains "$(json_get "$OUT" '.check.offenders[0].problems')" failed
    assert_exit 1 lc status --check "$job"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$job (failed,overdue)"
    assert_contains "$OUT" "OVERDUE"
    # Without --check, the same state is not an error.
    assert_exit 0 lc status "$job"
}

case_check_healthy_locks_exit_0() {
    local b=$1 job held
    job=$(lock_name okjob)
    held=$(lock_name held)
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    exec: [\"sh\", \"-c\", \"exit 0\"]"
    assert_exit 0 lc sync --once
    sed -i 's/level: info/level: error/' "$CFG" # stderr: only what --check says
    assert_exit 0 lc acquire "$held" --ttl 30s
    assert_exit 0 lc --json status --check "$job" "$held"
    assert_json "$OUT" '.check.ok' true
    assert_json "$OUT" '.check.offenders | length' 0
    assert_json "$OUT" '.locks[0].overdue' false
    assert_json "$OUT" '.locks[0].consecutive_failures' 0
    assert_ne null "$(json_get "$OUT" '.locks[0].last_success_at')" "last_success_at"
    assert_json "$OUT" '.locks[1].health' held
    assert_exit 0 lc status --check "$job" "$held"
    assert_eq "" "$ERR" "stderr"
}

is_stale() { # NAME
    local out
    out=$(lc --json status "$1" 2>/dev/null) || true
    [[ $(json_get "$out" '.locks[0].health') == stale ]]
}

case_check_names_stale_failed_paused() {
    local stale failed paused ok
    stale=$(lock_name stale)
    failed=$(lock_name failed)
    paused=$(lock_name paused)
    ok=$(lock_name ok)
    assert_exit 0 lc acquire "$stale" --ttl 200ms
    assert_exit 0 lc reset "$failed" --reason "broken"
    assert_exit 0 lc pause "$paused" --reason "later"
    assert_exit 0 lc run "$ok" -- true
    assert_until 20000 is_stale "$stale"
    assert_exit 1 lc --json status --check "$stale" "$failed" "$paused" "$ok"
    assert_json "$OUT" '.check.offenders | length' 3
    assert_json "$OUT" '[.check.offenders[].problems] | join(" ")' "stale failed paused"
    assert_exit 1 lc status --check "$stale" "$failed" "$paused" "$ok"
    assert_one_line "$ERR"
    assert_contains "$ERR" "3 of 4 not healthy"
    assert_contains "$ERR" "$stale (stale)"
    assert_contains "$ERR" "$failed (failed)"
    assert_contains "$ERR" "$paused (paused)"
    [[ $ERR != *"$ok"* ]] || fail "a healthy lock named as an offender: $ERR"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "a job failing every slot: overdue, failures grow, --check exits 1" case_check_failing_job_overdue
    run_case "$b" "ready and held locks: --check exits 0" case_check_healthy_locks_exit_0
    run_case "$b" "--check names stale, failed and paused locks" case_check_names_stale_failed_paused
done
e2e_finish
