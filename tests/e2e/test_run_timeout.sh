#!/usr/bin/env bash
# run --timeout: the command is stopped (SIGTERM, SIGKILL after
# --kill-grace), exit 124, the lease released and the run recorded failed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_timeout() {
    local name t0 dt st
    name=$(lock_name timeout)
    t0=$(now_ms)
    assert_exit 124 lc run "$name" --timeout 500ms -- sh -c 'echo $$ > cmd.pid; exec sleep 10'
    dt=$(($(now_ms) - t0))
    assert_ge "$dt" 500 "ms until the timeout"
    assert_lt "$dt" 5000 "ms until the timeout (the command alone: 10 s)"
    assert_contains "$ERR" "timed out"
    pid_gone "$(cat cmd.pid)" || fail "the command outlived the timeout"

    assert_exit 0 lc --json status "$name"
    st=$OUT
    assert_ne held "$(json_get "$st" '.locks[0].health')" "health after the timeout"
    assert_json "$st" '.locks[0].health' failed
    assert_contains "$(json_get "$st" '.locks[0].last_error')" "timed out"
    assert_json "$st" '.locks[0].sync_count' 1
    # Released: another holder gets it at once.
    assert_exit 0 lc acquire "$name" --ttl 1s
}

# The command ignores SIGTERM: SIGKILL after the grace. Total: timeout
# (300 ms) + grace (500 ms) = 800 ms at least.
case_kill_grace() {
    local name t0 dt
    name=$(lock_name grace)
    t0=$(now_ms)
    assert_exit 124 lc run "$name" --timeout 300ms --kill-grace 500ms -- \
        sh -c 'echo $$ > cmd.pid; trap "" TERM; while :; do sleep 0.1; done'
    dt=$(($(now_ms) - t0))
    assert_ge "$dt" 800 "ms until the kill"
    assert_lt "$dt" 8000 "ms until the kill (the command ignores SIGTERM forever)"
    pid_gone "$(cat cmd.pid)" || fail "the command survived SIGKILL"
    echo "    stopped after $dt ms (timeout 300 ms + grace 500 ms)"
    assert_exit 0 lc acquire "$name" --ttl 1s
}

e2e_init
for b in redis postgres; do
    run_case "$b" "--timeout 500ms on sleep 10: exit 124, released, recorded failed" case_timeout
    run_case "$b" "command ignoring SIGTERM is killed after --kill-grace" case_kill_grace
done
e2e_finish
