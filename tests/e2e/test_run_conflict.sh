#!/usr/bin/env bash
# Two `run`s of one lock: the second gets the conflict at once (exit 75,
# the holder named, text and JSON); with --wait it runs as soon as the
# first releases, woken by the release notification.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The first holder's command: records its fence, then works until the
# case creates ./go; its last action records the time it ended.
HOLD='echo "$LOCKCOORD_FENCE" > fence; touch started; while [ ! -e go ]; do sleep 0.01; done; date +%s%3N > first_end'

start_holder() { # NAME
    bg first lc run "$1" --ttl 3s --owner first-holder -- sh -c "$HOLD"
    assert_until 5000 file_exists started
}

case_conflict_at_once() {
    local name t0 dt fence
    name=$(lock_name conflict)
    start_holder "$name"
    fence=$(cat fence)

    t0=$(now_ms)
    assert_exit 75 lc run "$name" --ttl 3s -- touch second_ran
    dt=$(($(now_ms) - t0))
    assert_lt "$dt" 1000 "ms until the conflict was reported"
    [[ ! -e second_ran ]] || fail "the second command ran"
    assert_one_line "$ERR" "conflict message"
    assert_contains "$ERR" "held by first-holder (fence $fence" "conflict message"

    assert_exit 75 lc --json run "$name" --ttl 3s -- touch second_ran
    assert_json "$OUT" .error conflict
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .holder.owner first-holder
    assert_json "$OUT" .holder.fence "$fence"
    assert_json_keys "$OUT" .holder acquired_at expires_in_ms
    assert_json_keys "$OUT" . message

    assert_exit 9 lc run "$name" --conflict-exit-code 9 -- touch second_ran
    [[ ! -e second_ran ]] || fail "the second command ran"

    touch go
    bg_wait_within 3000 "$first"
    assert_eq 0 "$BG_RC" "first run's exit"
}

# Why this measures what it claims: the first lockcoord releases only after
# its command has exited, so its release happens after first_end (the
# command's last action). second_start is the waiter command's first
# action, after the waiter acquired and forked it. second_start - first_end
# is therefore an upper bound of "release -> second command started"
# (it also contains the release's own round trip and the first command's
# exit): asserting it below 50 ms asserts the handoff below 50 ms.
#
# The waiter must be waiting for real: we wait until it listens for the
# release notification (Redis: a subscriber on the lock's channel;
# Postgres: its session sent LISTEN), then hold the lock 300 ms longer on
# purpose, so it sits in its backoff sleep (retry_min 200ms, growing to
# 400 ms and more). Woken by polling alone it would start a backoff period
# after the release: typically 100-400 ms, well over 50 ms.
case_wait_handoff() {
    local backend=$1 name app t_end t_start
    name=$(lock_name handoff)
    app="e2e-waiter-$$-$RANDOM"
    start_holder "$name"

    PGAPPNAME=$app bg waiter lc run "$name" --wait 5s --ttl 3s -- \
        sh -c 'date +%s%3N > second_start; echo "$LOCKCOORD_FENCE" > second_fence'
    assert_until 3000 is_waiting "$backend" "$name" "$app"
    sleep 0.3 # on purpose: the waiter is now in its backoff sleep
    [[ ! -e second_start ]] || fail "the waiter ran while the lock was held"
    touch go

    bg_wait_within 4000 "$first"
    assert_eq 0 "$BG_RC" "first run's exit"
    bg_wait_within 4000 "$waiter"
    assert_eq 0 "$BG_RC" "waiter's exit (stderr: $(cat waiter.err))"
    t_end=$(cat first_end)
    t_start=$(cat second_start)
    assert_ge "$t_start" "$t_end" "waiter start vs first end"
    assert_lt $((t_start - t_end)) 50 "ms from the first's release to the waiter's start"
    assert_lt "$(cat fence)" "$(cat second_fence)" "fences of the first and the waiter"
    echo "    handoff: waiter started $((t_start - t_end)) ms after the first command ended"
}

# --wait shorter than the holder's work: the conflict after the wait.
case_wait_gives_up() {
    local name t0 dt
    name=$(lock_name giveup)
    start_holder "$name"
    t0=$(now_ms)
    assert_exit 75 lc run "$name" --wait 400ms -- touch second_ran
    dt=$(($(now_ms) - t0))
    assert_ge "$dt" 400 "ms waited"
    assert_lt "$dt" 2000 "ms waited"
    assert_contains "$ERR" "held by first-holder"
    [[ ! -e second_ran ]] || fail "the second command ran"
    touch go
    bg_wait_within 3000 "$first"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "second run exits 75 at once and names the holder" case_conflict_at_once
    run_case "$b" "run --wait starts < 50 ms after the release" case_wait_handoff
    run_case "$b" "run --wait gives up with 75 after the wait" case_wait_gives_up
done
e2e_finish
