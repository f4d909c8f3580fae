#!/usr/bin/env bash
# `reset` while a `run` works: the evicted run notices at its next renewal,
# stops its command and exits 76; status shows the reset's reason.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_reset_evicts_run() {
    local name t_reset dt fence st
    name=$(lock_name reset)
    bg holder lc run "$name" --ttl 20s --renew-every 500ms --owner evicted -- \
        sh -c 'echo $$ > cmd.pid; echo "$LOCKCOORD_FENCE" > fence; touch started; exec sleep 30'
    assert_until 5000 file_exists started
    fence=$(cat fence)

    t_reset=$(now_ms)
    assert_exit 0 lc --json reset "$name" --reason "e2e: operator reset"
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .was_held true
    assert_json "$OUT" .previous.owner evicted
    assert_json "$OUT" .previous.fence "$fence"

    # The next renewal is at most renew_every (500 ms) away. Noticing the
    # reset there, not at the ttl (20 s) or the command's end (30 s), is
    # what a bound of 5 s proves, with room for a loaded machine.
    bg_wait_within 10000 "$holder"
    dt=$((BG_END - t_reset))
    assert_eq 76 "$BG_RC" "evicted run's exit (stderr: $(cat holder.err))"
    assert_lt "$dt" 5000 "ms from the reset to the run's exit (ttl 20 s)"
    pid_gone "$(cat cmd.pid)" || fail "the command outlived its lease"
    echo "    run exited $dt ms after the reset (renew_every 500 ms)"

    assert_exit 0 lc --json status "$name"
    st=$OUT
    assert_json "$st" '.locks[0].health' failed
    # The evicted run records its end too, quoting the reset's reason.
    assert_contains "$(json_get "$st" '.locks[0].last_error')" "e2e: operator reset" "last_error"
    assert_json "$st" '.locks[0].fence' "$fence"

    # The fence counter survives the reset: the next holder gets a higher one.
    assert_exit 0 lc --json acquire "$name" --ttl 1s
    assert_lt "$fence" "$(json_get "$OUT" .fence)" "fence after the reset"
}

case_reset_text() {
    local name
    name=$(lock_name reset-text)
    assert_exit 0 lc acquire "$name" --ttl 3s --owner someone
    assert_exit 0 lc reset "$name" --reason "stuck"
    assert_contains "$OUT" "was held by someone"
    assert_exit 0 lc reset "$name" --reason "again"
    assert_contains "$OUT" "was not held"
    assert_exit 64 lc reset "$name"
    assert_one_line "$ERR"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "reset during run: exit 76 within renew_every, reason in status" case_reset_evicts_run
    run_case "$b" "reset text output and --reason required" case_reset_text
done
e2e_finish
