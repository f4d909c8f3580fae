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
    assert_lt "$dt" 5000 "ms until the conflict was reported (the holder keeps the lock until told to stop)"
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

# What this proves: the waiter is woken by the release notification, not
# by polling. The waiter's config makes polling slow on purpose (retry_min
# 10s: its first backoff sleep is 5-10 s), so a start within 1 s of the
# release can only come from the notification -- and 1 s is far above
# the few ms a handoff takes, so a loaded machine cannot break it either.
# (How fast the handoff is, is measured by `lockcoord bench`, not here.)
#
# The first lockcoord releases only after its command has exited, so its
# release happens after first_end (the command's last action);
# second_start is the waiter command's first action. The waiter must be
# waiting for real: we wait until it listens for the release notification
# (Redis: a subscriber on the lock's channel; Postgres: its session sent
# LISTEN) and then hold the lock a little longer, so that it sits in its
# backoff sleep when the release comes.
case_wait_handoff() {
    local backend=$1 name app t_end t_start
    name=$(lock_name handoff)
    app="e2e-waiter-$$-$RANDOM"
    sed -e 's/^  retry_min: .*/  retry_min: 10s/' -e 's/^  retry_max: .*/  retry_max: 20s/' \
        "$CFG" >slow-poll.yaml
    start_holder "$name"

    PGAPPNAME=$app bg waiter "$LC" -c slow-poll.yaml run "$name" --wait 60s --ttl 3s -- \
        sh -c 'date +%s%3N > second_start; echo "$LOCKCOORD_FENCE" > second_fence'
    assert_until 5000 is_waiting "$backend" "$name" "$app"
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
    assert_lt $((t_start - t_end)) 1000 "ms from the first's release to the waiter's start (polling alone: >= 5000)"
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
    assert_lt "$dt" 5000 "ms waited (the holder keeps the lock until told to stop)"
    assert_contains "$ERR" "held by first-holder"
    [[ ! -e second_ran ]] || fail "the second command ran"
    touch go
    bg_wait_within 3000 "$first"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "second run exits 75 at once and names the holder" case_conflict_at_once
    run_case "$b" "run --wait is woken by the release, not by polling" case_wait_handoff
    run_case "$b" "run --wait gives up with 75 after the wait" case_wait_gives_up
done
e2e_finish
