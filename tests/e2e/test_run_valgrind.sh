#!/usr/bin/env bash
# `lockcoord run` under valgrind's memcheck: no definite leak and no
# memory error on the main paths -- the command runs (its exit code passes
# through), and a conflict. Valgrind lacks pidfd_open (ENOSYS), as kernels
# before 5.3 do: `run` then watches its guard process through a thread
# that waits for its exit, which these runs go through too.
# Valgrind cannot run an AddressSanitizer build (ASan's LeakSanitizer
# checks leaks in that build's e2e runs): there the cases pass at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# vg ARGS...: lockcoord ARGS under memcheck; a finding exits 1.
vg() {
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
        "$LC" -c "$CFG" "$@"
}

asan_build() {
    grep -qa __asan_init "$LC"
}

case_run_true() {
    asan_build && return 0
    assert_exit 0 vg run "$(lock_name vg)" -- true
}

case_exit_code_passes() {
    asan_build && return 0
    assert_exit 3 vg run "$(lock_name vgexit)" -- sh -c 'echo "$LOCKCOORD_FENCE" > fence; exit 3'
    [[ -s fence ]] || fail "the command did not run"
}

case_conflict() {
    asan_build && return 0
    local name
    name=$(lock_name vgconflict)
    bg holder lc run "$name" --ttl 3s -- sh -c 'touch started; while [ ! -e go ]; do sleep 0.01; done'
    assert_until 5000 file_exists started
    assert_exit 75 vg run "$name" -- touch ran
    [[ ! -e ran ]] || fail "the second command ran"
    assert_contains "$ERR" "held by"
    touch go
    bg_wait_within 5000 "$holder"
    assert_eq 0 "$BG_RC" "holder's exit"
}

e2e_init
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
for b in redis postgres; do
    run_case "$b" "run -- true under valgrind: exit 0, no leak or memory error" case_run_true
    run_case "$b" "run under valgrind: the command's exit code passes through" case_exit_code_passes
    run_case "$b" "run under valgrind against a held lock: conflict (75), nothing leaked" case_conflict
done
e2e_finish
