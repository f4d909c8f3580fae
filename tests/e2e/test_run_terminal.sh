#!/usr/bin/env bash
# `run` on a terminal (a pty from `script`): the command's process group is
# the terminal's foreground group while it runs, so a command that reads
# the terminal gets its input (it used to stop forever on SIGTTIN); the
# terminal goes back to lockcoord's group afterwards; and Ctrl-Z / `fg`
# under an interactive shell stop and resume the job as a whole.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v script >/dev/null || { echo "script (util-linux/bsdutils) is not installed" >&2; exit 1; }

# on_tty CMD: runs CMD (a shell line) under `script` on a new pty, its
# output in tty.out. Input goes through fd 8 (a fifo), with `keys`.
on_tty() {
    mkfifo tty.in
    script -qfec "$1" /dev/null <tty.in >tty.out 2>&1 &
    TTY_PID=$!
    echo "$TTY_PID" >>"$CASE_DIR/.pids"
    exec 8>tty.in
}

keys() { # FORMAT [ARGS...]: typed on the terminal (printf)
    # shellcheck disable=SC2059
    printf "$@" >&8
}

tty_says() { # TEXT: the terminal showed TEXT
    grep -q "$1" tty.out
}

# stat_field PID N: field N of /proc/PID/stat, counted after the command
# name (1 = state, 3 = pgrp, 6 = tpgid: the terminal's foreground group).
stat_field() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    awk -v n="$2" '{print $n}' <<<"$s"
}

in_foreground() { # PID: its group is the terminal's foreground group
    local pg tp
    pg=$(stat_field "$1" 3) && tp=$(stat_field "$1" 6) && [[ -n $pg && $pg == "$tp" ]]
}

is_stopped() { # PID
    [[ $(stat_field "$1" 1) == T ]]
}

is_running() { # PID: alive and not stopped
    local st
    st=$(stat_field "$1" 1) && [[ $st != T && $st != Z ]]
}

finish_tty() {
    exec 8>&-
    bg_wait_within 5000 "$TTY_PID"
}

case_command_reads_terminal() {
    local name cmd
    name=$(lock_name tty)
    on_tty "$LC -c $CFG run $name -- sh -c 'echo \$\$ > cmd.pid; read a; echo got:\$a'; echo rc=\$?; read b; echo back:\$b"
    assert_until 5000 file_written cmd.pid
    cmd=$(cat cmd.pid)
    assert_until 3000 in_foreground "$cmd"
    keys 'hello\n'
    assert_until 5000 tty_says "got:hello"
    assert_until 5000 tty_says "rc=0"
    # The terminal is lockcoord's group's again: the shell reads it.
    keys 'again\n'
    assert_until 5000 tty_says "back:again"
    finish_tty
    assert_eq 0 "$BG_RC" "script's exit (output: $(cat tty.out))"
}

# A shell with job control on the pty: Ctrl-Z (STOP = "tty", the whole
# foreground group gets SIGTSTP) or a SIGSTOP of the command alone (STOP =
# "kill": the guard sees it stop) stops the whole job, the command and
# lockcoord; `fg` gives the terminal back to the command.
job_stop_and_fg() { # STOP
    local name cmd lcpid
    name=$(lock_name ttyjob)
    on_tty "bash --norc --noprofile -i"
    keys '%s\n' "$LC -c $CFG run $name --ttl 10s -- sh -c 'echo \$\$ > cmd.pid; read a; echo got:\$a'"
    assert_until 5000 file_written cmd.pid
    cmd=$(cat cmd.pid)
    assert_until 3000 in_foreground "$cmd"
    lcpid=$(pgrep -f -n -- "-c $CFG run $name") || fail "no lockcoord process"
    echo "$lcpid" >>"$CASE_DIR/.pids" # a stopped job may outlive its shell

    if [[ $1 == tty ]]; then
        keys '\032' # Ctrl-Z
    else
        kill -STOP "$cmd"
    fi
    assert_until 3000 is_stopped "$cmd"
    assert_until 3000 is_stopped "$lcpid"
    assert_until 3000 tty_says "Stopped"

    keys 'fg\n'
    assert_until 3000 is_running "$cmd"
    assert_until 3000 in_foreground "$cmd"
    keys 'hello\n'
    assert_until 5000 tty_says "got:hello"
    assert_until 5000 pid_gone "$lcpid"
    keys 'exit\n'
    finish_tty
    # The run ended well and was recorded so.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' ready
    assert_json "$OUT" '.locks[0].last_exit' 0
}

case_ctrl_z_and_fg() {
    job_stop_and_fg tty
}

case_sigstop_and_fg() {
    job_stop_and_fg kill
}

# Without job control (`script -c` runs a plain sh: lockcoord's group is
# orphaned and cannot be stopped), Ctrl-Z must not leave the command
# stopped for good: it goes on and gets its input.
case_ctrl_z_without_job_control() {
    local name cmd
    name=$(lock_name ttynojob)
    on_tty "$LC -c $CFG run $name -- sh -c 'echo \$\$ > cmd.pid; read a; echo got:\$a'"
    assert_until 5000 file_written cmd.pid
    cmd=$(cat cmd.pid)
    assert_until 3000 in_foreground "$cmd"
    keys '\032'
    keys 'hello\n'
    assert_until 5000 tty_says "got:hello"
    finish_tty
    assert_eq 0 "$BG_RC" "script's exit (output: $(cat tty.out))"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "a command reading the terminal gets its input; the terminal comes back" case_command_reads_terminal
    run_case "$b" "Ctrl-Z stops the job, fg resumes the command in the foreground" case_ctrl_z_and_fg
    run_case "$b" "SIGSTOP of the command stops the job, fg resumes it" case_sigstop_and_fg
    run_case "$b" "Ctrl-Z without job control does not stop the command for good" case_ctrl_z_without_job_control
done
e2e_finish
