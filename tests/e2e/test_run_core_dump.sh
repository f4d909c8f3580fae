#!/usr/bin/env bash
# A command that dies of a core-dumping signal (SIGSEGV, SIGABRT): `run`
# reports it (128+N, "killed by signal N") but the guard, which passes the
# signal on, never dumps its own core -- a copy of lockcoord's memory,
# passwords included.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Where this kernel writes core files: a directory to watch, or "" when
# cores go to a program (core_pattern "|...") and cannot be seen here.
core_dir() {
    local pattern
    pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null) || return 0
    case $pattern in
    '|'*) ;;
    */*) dirname "$pattern" ;;
    *) echo . ;; # relative: the dumping process's directory, the case's
    esac
}

cores_in() { # DIR: core files there newer than ./t0
    find "$1" -maxdepth 1 -type f -name 'core*' -newer t0 2>/dev/null
}

case_no_guard_core() {
    local name sig code dir
    name=$(lock_name core)
    dir=$(core_dir)
    # Cores on for lockcoord (so the guard would dump), off for the command.
    ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
    if [[ -z $dir || $(ulimit -c) == 0 ]]; then
        echo "    note: core files cannot be observed here (core_pattern '$(cat /proc/sys/kernel/core_pattern)', ulimit -c $(ulimit -c)); exit and record checked only"
    fi
    touch t0
    for sig in SEGV ABRT; do
        code=$((128 + $(kill -l "$sig")))
        assert_exit "$code" lc run "$name" -- sh -c "ulimit -c 0; kill -$sig \$\$"
        assert_exit 0 lc --json status "$name"
        assert_contains "$(json_get "$OUT" '.locks[0].last_error')" "killed by signal $((code - 128))"
        assert_exit "$code" lc --json run "$name" -- sh -c "ulimit -c 0; kill -$sig \$\$"
        assert_json "$OUT" .exit_code "$code"
        assert_contains "$(json_get "$OUT" .error)" "killed by signal $((code - 128))"
    done
    if [[ -n $dir && $(ulimit -c) != 0 ]]; then
        [[ -z $(cores_in "$dir") ]] || fail "core files were dumped: $(cores_in "$dir")"
    fi
}

e2e_init
for b in redis postgres; do
    run_case "$b" "a command killed by SIGSEGV/SIGABRT: 128+N, and no core of the guard" case_no_guard_core
done
e2e_finish
