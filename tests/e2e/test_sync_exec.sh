#!/usr/bin/env bash
# `lockcoord sync` with exec jobs: two daemons never run the command at
# once and pass it the LOCKCOORD_* environment; a command past its timeout
# is stopped (SIGTERM, SIGKILL after kill_grace) and recorded `timeout`; a
# reset stops the command within renew_every plus a margin, recorded
# `lost`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# Each run appends "start FENCE" and "end FENCE" to runs.log.
RUN_CMD='echo "start $LOCKCOORD_FENCE $LOCKCOORD_JOB $LOCKCOORD_SLOT" >> runs.log; sleep 0.3; echo "end $LOCKCOORD_FENCE" >> runs.log'

lines_at_least() { # N FILE
    [[ -f $2 ]] && (($(grep -c '' "$2") >= $1))
}

case_exec_two_daemons_one_at_a_time() {
    local b=$1 job prev=0 open="" kind fence rest
    job=$(lock_name exec)
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1s
    exec: [\"sh\", \"-c\", $(jq -Rn --arg c "$RUN_CMD" '$c')]"
    bg d1 lc sync
    bg d2 lc sync
    assert_until 15000 lines_at_least 8 runs.log
    kill -TERM "$d1" "$d2"
    bg_wait_within 10000 "$d1"
    assert_eq 0 "$BG_RC" "daemon 1's exit"
    bg_wait_within 10000 "$d2"
    assert_eq 0 "$BG_RC" "daemon 2's exit"
    # start/end strictly alternate, and fences go up.
    while read -r kind fence rest; do
        if [[ $kind == start ]]; then
            [[ -z $open ]] || fail "run $fence started while run $open was running: $(cat runs.log)"
            ((fence > prev)) || fail "fence $fence after $prev"
            [[ $rest == "$job 20"*Z ]] || fail "environment of run $fence: '$rest'"
            open=$fence
            prev=$fence
        else
            [[ $fence == "$open" ]] || fail "end of $fence while $open ran"
            open=""
        fi
    done <runs.log
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' ok
    assert_json "$ST" '.locks[0].last_exit' 0
}

case_exec_timeout() {
    local b=$1 job t0 took
    job=$(lock_name exectimeout)
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    timeout: 1s
    kill_grace: 500ms
    exec: [\"sh\", \"-c\", \"trap '' TERM; sleep 30\"]"
    t0=$(now_ms)
    assert_exit 1 lc sync --once
    took=$(($(now_ms) - t0))
    echo "    sync --once took $took ms (timeout 1s, kill grace 500ms, SIGTERM ignored)"
    assert_ge "$took" 1400 "ms until the command was killed"
    assert_lt "$took" 8000 "ms until the command was killed"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' timeout
    assert_json "$ST" '.locks[0].held_for_ms' null
}

cmd_gone() {
    [[ -f cmd.pid ]] && pid_gone "$(cat cmd.pid)"
}

case_exec_reset_stops_command() {
    local b=$1 job t_reset t_gone
    job=$(lock_name execreset)
    sync_config "$CFG" "$b" $'  ttl: 1500ms\n  renew_every: 300ms' "  - name: $job
    every: 1h
    exec: [\"sh\", \"-c\", \"echo \$\$ > cmd.pid; exec sleep 30\"]"
    bg d lc sync
    assert_until 10000 file_exists cmd.pid
    t_reset=$(now_ms)
    assert_exit 0 lc reset "$job" --reason "operator test"
    assert_until 10000 cmd_gone
    t_gone=$(now_ms)
    echo "    command gone $((t_gone - t_reset)) ms after the reset (renew_every 300ms)"
    assert_lt $((t_gone - t_reset)) 2300 "ms from the reset to the command's end"
    assert_until 5000 log_has d "lost"
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' lost
}

e2e_init
for b in redis postgres; do
    run_case "$b" "exec job, two daemons: one command at a time, LOCKCOORD_* set" \
        case_exec_two_daemons_one_at_a_time
    run_case "$b" "exec job past its timeout: killed after the grace, timeout" case_exec_timeout
    run_case "$b" "reset stops a running command within renew_every + margin, lost" \
        case_exec_reset_stops_command
done
e2e_finish
