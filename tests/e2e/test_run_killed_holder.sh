#!/usr/bin/env bash
# `kill -9` of the lockcoord holding a lock: its command (and the
# command's own children) die with it (well before their own 30 s end), and another `run`
# gets the lock once the ttl lapses -- not before.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The command and a grandchild, both recorded.
WORK='echo $$ > cmd.pid; sleep 30 & echo $! > gc.pid; touch started; sleep 30'

case_kill_9_holder() {
    local name holder cmd gc guard t_kill t_status st expires got
    name=$(lock_name killed)
    bg holder lc run "$name" --ttl 1s -- sh -c "$WORK"
    assert_until 5000 file_exists started
    cmd=$(cat cmd.pid)
    gc=$(cat gc.pid)
    guard=$(ps -o pgid= -p "$cmd" | tr -d ' ')
    assert_ne "" "$guard" "process group of the command"
    assert_ne "$$" "$guard" "the command's own process group"
    pid_alive "$gc" || fail "the grandchild is not running"

    t_kill=$(now_ms)
    kill -KILL "$holder"
    bg_wait "$holder"
    # How long the lease still lives, on the server's clock: the lock
    # cannot be free before t_status + expires_in_ms.
    t_status=$(now_ms)
    assert_exit 0 lc --json status "$name"
    st=$OUT
    assert_json "$st" '.locks[0].health' held
    jset expires "$st" '.locks[0].expires_in_ms'

    bg waiter lc run "$name" --wait 20s -- sh -c 'date +%s%3N > got'

    # The command and its child would sleep 30 s on their own: gone well
    # before that means they died with lockcoord.
    assert_until 5000 pid_gone "$cmd"
    assert_until 5000 pid_gone "$gc"
    assert_until 5000 group_gone "$guard"
    echo "    command group gone $(($(now_ms) - t_kill)) ms after the kill (bound 5000)"

    bg_wait_within 20000 "$waiter"
    assert_eq 0 "$BG_RC" "waiter's exit (stderr: $(cat waiter.err))"
    got=$(cat got)
    # The lease lapses ttl after its last renewal, which was at most
    # renew_every (ttl/3 = 333 ms) before the kill: not before
    # t_kill + 667 ms, and not before what status reported.
    assert_ge "$got" $((t_status + expires - 5)) "waiter start vs the lease's expiry per status"
    assert_ge $((got - t_kill)) 600 "ms from the kill to the waiter's start"
    echo "    waiter started $((got - t_kill)) ms after the kill (status said expires in $expires ms)"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "kill -9 of the holder: command dies, lock comes back after the ttl" case_kill_9_holder
done
e2e_finish
