#!/usr/bin/env bash
# `run --conflict-exit-code N` on a held lock: run ends with N and never
# starts the command, for every N -- 0 included (the cron idiom), with and
# without --wait, in text and JSON.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# hold NAME: takes the lock for 20 s with `acquire`; sets TOKEN.
hold() {
    assert_exit 0 lc --json acquire "$1" --ttl 20s --owner e2e-holder
    jset TOKEN "$OUT" .token
}

assert_not_ran() {
    [[ ! -e ran ]] || fail "the command ran although the lock was held"
}

case_conflict_code_zero() {
    local name
    name=$(lock_name code0)
    hold "$name"

    assert_exit 0 lc run "$name" --conflict-exit-code 0 -- touch ran
    assert_not_ran
    assert_contains "$ERR" "held by e2e-holder" "conflict message"

    assert_exit 0 lc run "$name" --conflict-exit-code 0 --wait 300ms -- touch ran
    assert_not_ran
    assert_contains "$ERR" "held by e2e-holder" "conflict message after --wait"

    assert_exit 0 lc --json run "$name" --conflict-exit-code 0 -- touch ran
    assert_not_ran
    assert_json "$OUT" .error conflict
    assert_json "$OUT" .holder.owner e2e-holder

    assert_exit 0 lc --json run "$name" --conflict-exit-code 0 --wait 300ms -- touch ran
    assert_not_ran
    assert_json "$OUT" .error conflict

    # The holder's lease was not touched by any of them.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].owner' e2e-holder
    assert_exit 0 lc release "$name" --token "$TOKEN"
}

case_conflict_code_other() {
    local name code
    name=$(lock_name codeN)
    hold "$name"
    for code in 1 9 75 255; do
        assert_exit "$code" lc run "$name" --conflict-exit-code "$code" -- touch ran
        assert_not_ran
        assert_exit "$code" lc --json run "$name" --conflict-exit-code "$code" --wait 200ms -- touch ran
        assert_not_ran
        assert_json "$OUT" .error conflict
    done
    assert_exit 0 lc release "$name" --token "$TOKEN"
    # Free again: the same option runs the command normally.
    assert_exit 0 lc run "$name" --conflict-exit-code 0 -- touch ran
    assert_file ran "the command on a free lock"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "--conflict-exit-code 0 on a held lock exits 0, command not run" case_conflict_code_zero
    run_case "$b" "--conflict-exit-code 1/9/75/255 exit with that code, command not run" case_conflict_code_other
done
e2e_finish
