#!/usr/bin/env bash
# `lockcoord sync` stopping and dying: SIGTERM in the middle of a job (exit
# 0 within shutdown_grace plus a margin, the run `interrupted`, nothing
# held, the other daemon runs the next slot), a second SIGTERM, kill -9 of
# the daemon running a job (another runs the next slot once the ttl lapses),
# the exit codes of --once, and bad job configs (78 with file:line:col).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# The pid of the daemon that holds NAME now (owners are host:pid).
holder_pid() {
    local st
    st=$(lc --json status "$1" 2>/dev/null) || return 1
    jq -r '.locks[0] | select(.held_for_ms != null) | .owner | sub(".*:"; "")' <<<"$st"
}

# Sets VAR to the pid of whichever of d1 and d2 holds NAME.
which_daemon() { # VAR NAME
    local p
    p=$(holder_pid "$2")
    if [[ $p == "$d1" ]]; then
        printf -v "$1" d1
    elif [[ $p == "$d2" ]]; then
        printf -v "$1" d2
    else
        fail "neither daemon holds $2 (holder pid '$p', daemons $d1 $d2)"
    fi
}

case_sigterm_mid_job() {
    local b=$1 job t_term took who other pid
    job=$(lock_name term)
    start_receiver
    set_rules '{"/term": {"sequence": [{"hang": true}, {"status": 200}]}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 5s
    http:
      url: \"http://127.0.0.1:$PORT/term\""
    printf 'sync:\n  shutdown_grace: 1s\n' >>"$CFG"
    bg d1 lc sync
    bg d2 lc sync
    assert_until 10000 requests_at_least 1
    which_daemon who "$job"
    [[ $who == d1 ]] && other=d2 || other=d1
    pid=${!who}
    t_term=$(now_ms)
    kill -TERM "$pid"
    bg_wait_within 10000 "$pid"
    took=$((BG_END - t_term))
    echo "    $who exited $took ms after SIGTERM (shutdown_grace 1s)"
    assert_eq 0 "$BG_RC" "exit after SIGTERM (stderr: $(tail -n 3 "$who.err"))"
    assert_ge "$took" 900 "ms until exit (the grace is waited for)"
    assert_lt "$took" 5000 "ms until exit (grace + margin)"
    log_has "$who" "interrupted" || fail "no 'interrupted' line: $(cat "$who.err")"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' interrupted
    assert_json "$ST" '.locks[0].held_for_ms' null
    # The other daemon runs the next slot.
    assert_until 15000 requests_at_least 2
    assert_until 5000 log_has "$other" "ok in"
    assert_fences_increase
    kill -TERM "${!other}"
    bg_wait_within 10000 "${!other}"
    assert_eq 0 "$BG_RC" "the other daemon's exit"
}

case_second_sigterm_stops_at_once() {
    local b=$1 job t_term
    job=$(lock_name term2)
    start_receiver
    set_rules '{"/t2": {"hang": true}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    http:
      url: \"http://127.0.0.1:$PORT/t2\""
    bg d1 lc sync --shutdown-grace 60s
    assert_until 10000 requests_at_least 1
    kill -TERM "$d1"
    assert_until 5000 log_has d1 "may finish within 1m"
    t_term=$(now_ms)
    kill -TERM "$d1"
    bg_wait_within 10000 "$d1"
    assert_eq 0 "$BG_RC" "exit after two SIGTERMs"
    assert_lt $((BG_END - t_term)) 5000 "ms from the second SIGTERM to the exit"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' interrupted
    assert_json "$ST" '.locks[0].held_for_ms' null
}

second_request_time() {
    [[ $(request_count) -ge 2 ]]
}

case_kill_9_next_slot_after_ttl() {
    local b=$1 job who pid t_kill t2 owner2
    job=$(lock_name kill9)
    start_receiver
    set_rules '{"/k9": {"sequence": [{"hang": true}, {"status": 200}]}}'
    sync_config "$CFG" "$b" $'  ttl: 1s\n  renew_every: 300ms' "  - name: $job
    every: 1s
    http:
      url: \"http://127.0.0.1:$PORT/k9\""
    bg d1 lc sync
    bg d2 lc sync
    assert_until 10000 requests_at_least 1
    which_daemon who "$job"
    pid=${!who}
    t_kill=$(now_ms)
    kill -KILL "$pid"
    bg_wait "$pid"
    assert_until 15000 second_request_time
    t2=$(requests | jq -s '.[1].t * 1000 | floor')
    echo "    the next slot ran $((t2 - t_kill)) ms after kill -9 (ttl 1s, renew_every 300ms)"
    # The lease lapses ttl after its last renewal, at most renew_every
    # before the kill: not sooner than 700 ms after it.
    assert_ge $((t2 - t_kill)) 600 "ms from the kill to the next run"
    assert_fences_increase
    status_of "$job"
    jset owner2 "$ST" '.locks[0].owner'
    [[ $owner2 != *":$pid" ]] || fail "the killed daemon still shows as the owner: $owner2"
}

case_once_exit_codes() {
    local b=$1 job tok
    job=$(lock_name once)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    http:
      url: \"http://127.0.0.1:$PORT/once\""
    assert_exit 0 lc sync --once
    assert_eq 1 "$(request_count)" "runs"
    assert_exit 0 lc sync --once # not due for an hour
    assert_contains "$ERR" "not due"
    assert_eq 1 "$(request_count)" "runs"
    assert_exit 0 lc --json acquire "$job" --ttl 10s
    jset tok "$OUT" .token
    assert_exit 75 lc sync --once --now
    assert_contains "$ERR" "held elsewhere"
    assert_exit 0 lc release "$job" --token "$tok"
    assert_exit 0 lc sync --once --now --job "$job"
    assert_eq 2 "$(request_count)" "runs with --now"
    assert_exit 78 lc sync --once --job no-such-job
    assert_contains "$ERR" "no job named 'no-such-job'"
}

case_bad_job_config_78() {
    local b=$1
    sync_config "$CFG" "$b" $'  ttl: 3s' $'  - name: a\n    cron: "0 25 * * *"\n    exec: [./sync.sh]'
    assert_exit 78 lc sync --once
    assert_one_line "$ERR"
    assert_contains "$ERR" "$CFG:8:11: jobs[0].cron: cron field 2 (hour): 25 is out of range 0-23"
    sync_config "$CFG" "$b" $'  ttl: 3s' $'  - name: a\n    every: 5m'
    assert_exit 78 lc sync
    assert_contains "$ERR" "$CFG:7:5: jobs[0]: job 'a' needs exec or http (exactly one)"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "SIGTERM mid-job: exit 0 within the grace, interrupted, the other daemon goes on" \
        case_sigterm_mid_job
    run_case "$b" "a second SIGTERM stops the running job at once" \
        case_second_sigterm_stops_at_once
    run_case "$b" "kill -9 of the daemon running a job: another runs the next slot after the ttl" \
        case_kill_9_next_slot_after_ttl
    run_case "$b" "--once exits 75 when held elsewhere, 0 when run or not due; unknown --job 78" \
        case_once_exit_codes
    run_case "$b" "bad job configs: 78 with file:line:col" case_bad_job_config_78
done
e2e_finish
