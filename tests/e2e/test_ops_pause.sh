#!/usr/bin/env bash
# `pause` and `resume`: a paused lock is refused to `run` (exit 75, JSON
# error `paused`) and its `sync` job is skipped (logged) on every machine;
# a run in progress finishes unless --stop; --for lifts itself; `status`
# shows who paused it and why; bad input is a usage error.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

case_pause_refuses_run() {
    local name
    name=$(lock_name pause)
    assert_exit 0 lc --json pause "$name" --reason "db upgrade"
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .paused.reason "db upgrade"
    assert_json "$OUT" .paused.until null

    assert_exit 75 lc run "$name" -- true
    assert_one_line "$ERR"
    assert_contains "$ERR" "paused by "
    assert_contains "$ERR" ": db upgrade"
    assert_exit 75 lc --json run "$name" -- true
    assert_json "$OUT" .error paused
    assert_contains "$(json_get "$OUT" .message)" "db upgrade"
    # A wait does not wait out a pause.
    assert_exit 75 lc run "$name" --wait 30s -- true
    assert_exit 75 lc acquire "$name"
    assert_exit 7 lc run "$name" --conflict-exit-code 7 -- true

    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' paused
    assert_json "$OUT" '.locks[0].paused.reason' "db upgrade"
    assert_json "$OUT" '.locks[0].paused.until' null
    assert_ne "" "$(json_get "$OUT" '.locks[0].paused.by')" "paused.by"
    assert_exit 0 lc status "$name"
    assert_contains "$OUT" "paused:"
    assert_contains "$OUT" "db upgrade"

    assert_exit 0 lc --json resume "$name"
    assert_json "$OUT" .was_paused true
    assert_exit 0 lc resume "$name"
    assert_contains "$OUT" "was not paused"
    assert_exit 0 lc run "$name" -- true
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].paused' null
    assert_json "$OUT" '.locks[0].health' ready
}

run_allowed() { # NAME
    local rc=0
    lc run "$1" -- true >/dev/null 2>&1 || rc=$?
    ((rc == 0))
}

case_pause_for_lifts_itself() {
    local name
    name=$(lock_name pausefor)
    assert_exit 0 lc --json pause "$name" --reason "one second" --for 1s
    assert_ne null "$(json_get "$OUT" .paused.until)" "paused.until"
    assert_exit 75 lc run "$name" -- true
    # Lifted on the backend's clock after 1 s; 20 s leaves room for load.
    assert_until 20000 run_allowed "$name"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].paused' null
}

case_pause_lets_running_run_finish() {
    local name
    name=$(lock_name pauserun)
    bg holder lc run "$name" --ttl 3s --renew-every 500ms -- \
        sh -c 'touch started; while [ ! -e go ]; do sleep 0.05; done; echo done > finished'
    assert_until 10000 file_exists started
    assert_exit 0 lc pause "$name" --reason "maintenance"
    assert_contains "$OUT" "goes on to its end"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].paused.reason' maintenance
    # Several renewals (every 500 ms) pass while paused: the run keeps its lease.
    sleep 1.2
    touch go
    bg_wait_within 20000 "$holder"
    assert_eq 0 "$BG_RC" "run's exit (stderr: $(cat holder.err))"
    assert_file finished
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' paused
    assert_json "$OUT" '.locks[0].last_outcome' ok
    assert_exit 75 lc run "$name" -- true
}

case_pause_stop_ends_run() {
    local name
    name=$(lock_name pausestop)
    bg holder lc run "$name" --ttl 20s --renew-every 500ms --owner stopped -- \
        sh -c 'touch started; exec sleep 60'
    assert_until 10000 file_exists started
    assert_exit 0 lc --json pause "$name" --reason "runaway" --stop
    assert_json "$OUT" .stopped true
    assert_json "$OUT" .previous.owner stopped
    # Stopped at its next renewal (500 ms), not at its ttl (20 s) or end (60 s).
    bg_wait_within 15000 "$holder"
    assert_eq 76 "$BG_RC" "stopped run's exit"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' paused
    assert_contains "$(json_get "$OUT" '.locks[0].last_error')" "runaway"
}

case_pause_skips_sync_job() {
    local b=$1 job
    job=$(lock_name pausejob)
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1s
    exec: [\"sh\", \"-c\", \"echo run >> runs.log\"]"
    assert_exit 0 lc pause "$job" --reason "vendor outage"
    assert_exit 75 lc sync --once
    assert_contains "$ERR" "skipped"
    assert_contains "$ERR" "vendor outage"
    [[ ! -e runs.log ]] || fail "a paused job ran: $(cat runs.log)"

    bg d1 lc sync
    assert_until 10000 log_has d1 "vendor outage"
    [[ ! -e runs.log ]] || fail "a paused job ran under the daemon: $(cat runs.log)"
    assert_exit 0 lc resume "$job"
    # Runs at a slot after the resume: every 1s, checked at most every ttl.
    assert_until 20000 file_exists runs.log
    kill -TERM "$d1"
    bg_wait_within 20000 "$d1"
    assert_eq 0 "$BG_RC" "daemon's exit"
}

case_pause_bad_input() {
    local name
    name=$(lock_name pausebad)
    assert_exit 64 lc pause "$name"
    assert_one_line "$ERR"
    assert_contains "$ERR" "--reason"
    assert_exit 64 lc pause "$name" --reason ""
    assert_exit 64 lc pause "$name" --reason why --for 0s
    assert_one_line "$ERR"
    assert_contains "$ERR" "--for"
    assert_exit 64 lc pause "$name" --reason why --for 0
    assert_one_line "$ERR"
    assert_exit 64 lc pause "bad name" --reason why
    assert_exit 64 lc pause
    assert_exit 64 lc resume
    assert_exit 64 lc --json pause "$name"
    assert_json "$OUT" .error usage
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].paused' null
}

e2e_init
for b in redis postgres; do
    run_case "$b" "pause refuses run (75, JSON paused), status shows it, resume" case_pause_refuses_run
    run_case "$b" "pause --for lifts itself on the backend's clock" case_pause_for_lifts_itself
    run_case "$b" "pause leaves a running run to finish" case_pause_lets_running_run_finish
    run_case "$b" "pause --stop ends the running run" case_pause_stop_ends_run
    run_case "$b" "sync skips a paused job, runs it after resume" case_pause_skips_sync_job
    run_case "$b" "pause bad input: usage errors" case_pause_bad_input
done
e2e_finish
