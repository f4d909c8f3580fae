#!/usr/bin/env bash
# lockcoord itself frozen (SIGSTOP) while `run --ttl 600ms` works: its
# keeper cannot renew nor stop the command, so the guard does -- it knows
# the lease's local deadline (moved at every renewal through shared
# memory) and SIGTERMs the command when it passes, before another holder
# can get the lock. On SIGCONT, lockcoord reports the loss truthfully (not
# "no reply to the renewal sent 0 ms ago") and exits 76. Its history
# shows the lost run once, as the frozen holder's own (its fence, owner
# and start), not as the next holder's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# bash, for $EPOCHREALTIME: the times are taken without forking `date`.
WORK='echo $$ > cmd.pid; echo $LOCKCOORD_FENCE > fence; trap "t=\${EPOCHREALTIME/./}; echo \${t:0:-3} > stopped; exit 143" TERM; touch started; while :; do sleep 0.01; done'
GOT='t=${EPOCHREALTIME/./}; echo ${t:0:-3} > got'
TTL_MS=600

is_stopped() { # PID
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]
}

case_frozen_lockcoord() {
    local name t stopped got
    name=$(lock_name frozen-self)
    bg holder lc run "$name" --ttl "${TTL_MS}ms" -- bash -c "$WORK"
    assert_until 5000 file_exists started
    sleep 0.3 # on purpose: a renewal or two (every 200 ms) before the freeze

    t=$(now_ms)
    kill -STOP "$holder"
    register_frozen "$holder"
    # Another holder waits for the lock; it gets it once the server lets
    # the lease expire (no release comes: lockcoord is frozen).
    bg waiter lc run "$name" --wait 10s -- bash -c "$GOT"

    # Without the guard's own watch the command runs on for as long as
    # lockcoord is frozen. Bound: twice the ttl (it comes at the deadline,
    # under 600 ms after the freeze).
    assert_until $((2 * TTL_MS)) file_exists stopped
    stopped=$(cat stopped)
    is_stopped "$holder" || fail "lockcoord was not frozen when the command was stopped"
    assert_until 2000 pid_gone "$(cat cmd.pid)"
    echo "    command stopped $((stopped - t)) ms after lockcoord was frozen (ttl $TTL_MS ms)"
    assert_lt $((stopped - t)) $((2 * TTL_MS)) "ms from the freeze to the command's SIGTERM"

    # The bound that matters: stopped before anyone else held the lock.
    bg_wait_within 10000 "$waiter"
    assert_eq 0 "$BG_RC" "waiter's exit (stderr: $(cat waiter.err))"
    got=$(cat got)
    echo "    the waiter got the lock $((got - stopped)) ms after the command was stopped"
    assert_lt "$stopped" "$got" "command stopped vs the next holder's start"

    kill -CONT "$holder"
    bg_wait_within 5000 "$holder"
    assert_eq 76 "$BG_RC" "lockcoord's exit after SIGCONT (stderr: $(cat holder.err))"
    assert_contains "$(cat holder.err)" "lease lost" "lockcoord's message"
    assert_contains "$(cat holder.err)" "the guard stopped the command" "lockcoord's message"
    [[ $(cat holder.err) != *"no reply to the renewal sent 0 ms ago"* ]] || fail "misleading reason: $(cat holder.err)"
    [[ $(cat holder.err) != *unreachable* ]] || fail "misleading reason: $(cat holder.err)"
    echo "    lockcoord said: $(grep '^lockcoord:' holder.err)"

    # The waiter's acquire found the frozen lease stale and wrote it down as
    # abandoned; the lost run's record took that entry's place.
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" '.runs | length' 2
    assert_json "$OUT" '[.runs[].outcome] | join(" ")' "ok lost"
    assert_json "$OUT" '.runs[1].fence' "$(cat fence)"
    assert_json "$OUT" '.runs[1].owner' "$(hostname):$holder"
    assert_json "$OUT" '.runs[0].owner' "$(hostname):$waiter"
    assert_json "$OUT" '.runs[0].fence > .runs[1].fence' true
    assert_json "$OUT" '.runs[1].started_at < .runs[0].started_at' true
    # Counted from the frozen run's start: at least the ttl it outlived.
    assert_json "$OUT" ".runs[1].duration_ms >= $TTL_MS" true
}

e2e_init
for b in redis postgres; do
    run_case "$b" "lockcoord frozen: its guard stops the command at the deadline" case_frozen_lockcoord
done
e2e_finish
