#!/usr/bin/env bash
# run passes the command's exit code through (128+N for signal N),
# forwards SIGTERM to the command, and gives it the LOCKCOORD_* variables.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_exit_codes() {
    local name
    name=$(lock_name codes)
    assert_exit 0 lc run "$name" -- true
    assert_exit 3 lc run "$name" -- sh -c 'exit 3'
    assert_exit 143 lc run "$name" -- sh -c 'kill -TERM $$'
    # Every path released the lease: it is free now.
    assert_exit 0 lc acquire "$name" --ttl 1s
}

case_sigterm_forwarded() {
    local name
    name=$(lock_name sigterm)
    bg holder lc run "$name" --ttl 3s -- \
        sh -c 'trap "touch marker; exit 7" TERM; touch started; while :; do sleep 0.05; done'
    assert_until 5000 file_exists started
    kill -TERM "$holder"
    bg_wait_within 3000 "$holder"
    assert_eq 7 "$BG_RC" "lockcoord's exit (stderr: $(cat holder.err))"
    assert_file marker "the command's SIGTERM marker"
    assert_exit 0 lc acquire "$name" --ttl 1s
}

env_of() { # VAR: its value in env.out
    sed -n "s/^$1=//p" env.out
}

case_environment() {
    local name token fence
    name=$(lock_name env)
    assert_exit 0 lc --json acquire "$name" --ttl 3s
    jset token "$OUT" .token
    jset fence "$OUT" .fence
    assert_exit 0 lc checkpoint "$name" --token "$token" --set "cursor 42/x"
    assert_exit 0 lc release "$name" --token "$token"

    assert_exit 0 lc run "$name" --owner e2e-owner -- sh -c 'env | grep "^LOCKCOORD_" > env.out'
    assert_eq "$name" "$(env_of LOCKCOORD_LOCK)" LOCKCOORD_LOCK
    [[ $(env_of LOCKCOORD_TOKEN) =~ ^[0-9a-f]{32}$ ]] || fail "LOCKCOORD_TOKEN: $(env_of LOCKCOORD_TOKEN)"
    assert_ne "$token" "$(env_of LOCKCOORD_TOKEN)" "LOCKCOORD_TOKEN (a new lease)"
    assert_eq $((fence + 1)) "$(env_of LOCKCOORD_FENCE)" LOCKCOORD_FENCE
    assert_eq e2e-owner "$(env_of LOCKCOORD_OWNER)" LOCKCOORD_OWNER
    assert_eq "cursor 42/x" "$(env_of LOCKCOORD_CHECKPOINT)" LOCKCOORD_CHECKPOINT

    # A lock that never had a checkpoint: the variable is there, empty.
    assert_exit 0 lc run "$(lock_name env-empty)" -- sh -c 'env | grep "^LOCKCOORD_" > env.out'
    grep -qx 'LOCKCOORD_CHECKPOINT=' env.out || fail "LOCKCOORD_CHECKPOINT not set empty: $(cat env.out)"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "exit codes 0, 3 and 128+15 pass through" case_exit_codes
    run_case "$b" "SIGTERM to lockcoord reaches the command (exit 7, marker)" case_sigterm_forwarded
    run_case "$b" "LOCKCOORD_LOCK/TOKEN/FENCE/OWNER/CHECKPOINT in the command's environment" case_environment
done
e2e_finish
