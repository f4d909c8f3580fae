#!/usr/bin/env bash
# Durations of weeks (--timeout 25d, --kill-grace 25d) are longer than one
# poll() can wait (INT_MAX ms, under 25 days): run must cut its waits short
# and wait again, not turn them into a negative timeout (wait forever).
# Observed through the timeout argument of the poll() that lockcoord's main
# thread sleeps in (/proc/PID/syscall; x86_64, where that argument is in
# plain sight -- elsewhere only the run's outcome is checked).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INT_MAX=2147483647

# poll_arg PID: the timeout (a signed 32-bit int) of the poll() the main
# thread of PID sleeps in; fails while it is in another call.
poll_arg() {
    local nr args t
    read -r nr _ _ t args <"/proc/$1/syscall" 2>/dev/null || return 1
    [[ $nr == 7 ]] || return 1 # poll on x86_64
    t=$((t & 0xffffffff))
    ((t > INT_MAX)) && t=$((t - 0x100000000))
    echo "$t"
}

sleeps_in_poll() { # PID
    poll_arg "$1" >/dev/null
}

check_poll() { # PID WHAT: the poll timeout is the saturated INT_MAX
    local t
    [[ $(uname -m) == x86_64 ]] || { echo "    note: not x86_64, poll's timeout not observed ($2)"; return 0; }
    assert_until 5000 sleeps_in_poll "$1"
    t=$(poll_arg "$1")
    echo "    poll timeout while $2: $t ms"
    assert_eq "$INT_MAX" "$t" "poll timeout while $2 (negative: waits forever)"
}

case_weeks_long_timeout_and_grace() {
    local name
    name=$(lock_name long)
    # The command ignores the first SIGTERM, so the kill grace is waited for.
    bg holder lc run "$name" --timeout 25d --kill-grace 25d -- \
        sh -c 'trap "touch termed" TERM; touch started; while :; do sleep 0.05; done'
    assert_until 5000 file_exists started
    check_poll "$holder" "the 25-day timeout runs"

    kill -TERM "$holder" # forwarded: the kill grace of 25 days starts
    assert_until 3000 file_exists termed
    check_poll "$holder" "the 25-day kill grace runs"

    kill -KILL "$holder" # the guard takes the command with it
    bg_wait "$holder"
}

# The same durations on a command that ends on its own: nothing changes.
case_weeks_long_timeout_command_ends() {
    local name
    name=$(lock_name long-ends)
    assert_exit 0 lc run "$name" --timeout 25d --kill-grace 25d -- sh -c 'exit 0'
    assert_exit 3 lc run "$name" --timeout 30d -- sh -c 'exit 3'
}

e2e_init
for b in redis postgres; do
    run_case "$b" "--timeout/--kill-grace 25d: poll waits INT_MAX ms, not forever" case_weeks_long_timeout_and_grace
    run_case "$b" "--timeout 25d/30d on a command that ends: its exit code" case_weeks_long_timeout_command_ends
done
e2e_finish
