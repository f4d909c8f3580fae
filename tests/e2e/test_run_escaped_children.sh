#!/usr/bin/env bash
# Descendants of the command that left its process group -- a new session
# (setsid), a new group (job control's setpgid), orphaned by a double
# fork -- do not outlive the run: not when the command exits, not when it
# times out, not after `kill -9` of lockcoord. The guard is a child
# subreaper: orphans reparent to it, and it kills them all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The command starts three escapees, each writing its own pid:
# - sid.pid: a new session, still the command's child;
# - pg.pid: a new process group (bash job control), orphaned at once;
# - dbl.pid: a new session, orphaned by a double fork.
# It waits until all three are up, then runs $1 (a shell line). Each also
# registers itself for the case's cleanup (should the test fail).
escape() {
    cat <<EOF
setsid sh -c 'echo \$\$ >> .pids; echo \$\$ > sid.tmp; mv sid.tmp sid.pid; exec sleep 300' &
bash -c 'set -m; sh -c "echo \\\$\\\$ >> .pids; echo \\\$\\\$ > pg.tmp; mv pg.tmp pg.pid; exec sleep 300" & exit 0'
( setsid sh -c 'echo \$\$ >> .pids; echo \$\$ > dbl.tmp; mv dbl.tmp dbl.pid; exec sleep 300' & )
while [ ! -e sid.pid ] || [ ! -e pg.pid ] || [ ! -e dbl.pid ]; do sleep 0.01; done
echo \$\$ > cmd.pid
touch started
$1
EOF
}

ESCAPEES="sid pg dbl"

# The escapees are alive and really out of the command's process group.
check_escaped() {
    local f p cmdpg
    cmdpg=$(ps -o pgid= -p "$(cat cmd.pid)" | tr -d ' ')
    for f in $ESCAPEES; do
        p=$(cat "$f.pid")
        pid_alive "$p" || fail "escapee $f ($p) is not running"
        assert_ne "$cmdpg" "$(ps -o pgid= -p "$p" | tr -d ' ')" "process group of escapee $f"
    done
}

assert_escapees_gone() { # WITHIN_MS
    local f
    for f in $ESCAPEES; do
        assert_until "$1" pid_gone "$(cat "$f.pid")"
    done
}

# The command exits 0 on its own and leaves the escapees running: they are
# gone when lockcoord returns (the guard reaps them before it exits).
case_command_exits() {
    local name
    name=$(lock_name escape-exit)
    assert_exit 0 lc run "$name" -- sh -c "$(escape 'sh -c "exit 0"')"
    assert_escapees_gone 0
}

# The timeout stops the command (SIGTERM): its escapees go with it.
case_command_times_out() {
    local name
    name=$(lock_name escape-timeout)
    bg holder lc run "$name" --timeout 1s -- sh -c "$(escape 'sleep 30')"
    assert_until 5000 file_exists started
    check_escaped
    bg_wait_within 5000 "$holder"
    assert_eq 124 "$BG_RC" "lockcoord's exit (stderr: $(cat holder.err))"
    assert_escapees_gone 0
}

# kill -9 of lockcoord: the guard learns it (PR_SET_PDEATHSIG) and kills
# the command and every escapee.
case_kill_9() {
    local name
    name=$(lock_name escape-kill9)
    bg holder lc run "$name" --ttl 3s -- sh -c "$(escape 'sleep 30')"
    assert_until 5000 file_exists started
    check_escaped
    kill -KILL "$holder"
    bg_wait "$holder"
    assert_until 2000 pid_gone "$(cat cmd.pid)"
    assert_escapees_gone 2000
}

e2e_init
for b in redis postgres; do
    run_case "$b" "escapees of a command that exits are gone when run returns" case_command_exits
    run_case "$b" "escapees of a command stopped by --timeout are gone" case_command_times_out
    run_case "$b" "escapees are gone after kill -9 of lockcoord" case_kill_9
done
e2e_finish
