#!/usr/bin/env bash
# status shows each health -- ready, held, failed, stale -- with the
# fields the README documents, in JSON and as text.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATUS=""
status_of() { # NAME: STATUS = the lock's JSON object
    assert_exit 0 lc --json status "$1"
    jset STATUS "$OUT" '.locks[0]'
    assert_json_keys "$STATUS" . name health owner fence held_for_ms expires_in_ms sync_count \
        last_started_at last_completed_at last_error last_exit checkpoint
}

health_is() { # NAME HEALTH
    local h
    h=$("$LC" -c "$CFG" --json status "$1" | jq -r '.locks[0].health')
    [[ $h == "$2" ]]
}

assert_text() { # NAME HEADLINE
    assert_exit 0 lc status "$1"
    assert_contains "$(head -n 1 <<<"$OUT")" "$2" "status text"
}

case_ready() {
    local name
    name=$(lock_name ready)
    assert_exit 0 lc run "$name" --owner e2e-ready -- true
    status_of "$name"
    assert_json "$STATUS" .name "$name"
    assert_json "$STATUS" .health ready
    assert_json "$STATUS" .owner e2e-ready
    assert_json "$STATUS" .fence 1
    assert_json "$STATUS" .sync_count 1
    assert_json "$STATUS" .last_error null
    assert_json "$STATUS" .last_exit 0
    assert_json "$STATUS" .held_for_ms null
    assert_json "$STATUS" .expires_in_ms null
    assert_ne null "$(json_get "$STATUS" .last_completed_at)" last_completed_at
    assert_text "$name" "Ready to sync"
}

case_held() {
    local name token fence ms
    name=$(lock_name held)
    bg holder lc run "$name" --ttl 3s --owner e2e-runner -- sh -c 'touch started; while [ ! -e go ]; do sleep 0.01; done'
    assert_until 5000 file_exists started
    status_of "$name"
    assert_json "$STATUS" .health held
    assert_json "$STATUS" .owner e2e-runner
    assert_json "$STATUS" .fence 1
    assert_json "$STATUS" .sync_count 0
    jset ms "$STATUS" .expires_in_ms
    assert_lt 0 "$ms" expires_in_ms
    assert_lt "$ms" 3001 expires_in_ms
    jset ms "$STATUS" .held_for_ms
    assert_ge "$ms" 0 held_for_ms
    assert_text "$name" "Sync in progress"
    touch go
    bg_wait_within 3000 "$holder"
    assert_eq 0 "$BG_RC" "run's exit"

    # Held after a bare acquire too.
    assert_exit 0 lc --json acquire "$name" --ttl 3s --owner e2e-acquirer
    jset token "$OUT" .token
    jset fence "$OUT" .fence
    status_of "$name"
    assert_json "$STATUS" .health held
    assert_json "$STATUS" .owner e2e-acquirer
    assert_json "$STATUS" .fence "$fence"
    assert_exit 0 lc release "$name" --token "$token"
    status_of "$name"
    assert_json "$STATUS" .health ready
    assert_json "$STATUS" .sync_count 2
}

case_failed() {
    local name
    name=$(lock_name failed)
    assert_exit 5 lc run "$name" -- sh -c 'exit 5'
    status_of "$name"
    assert_json "$STATUS" .health failed
    assert_json "$STATUS" .last_exit 5
    assert_contains "$(json_get "$STATUS" .last_error)" "exit status 5" last_error
    assert_json "$STATUS" .sync_count 1
    assert_text "$name" "Last sync failed"
    # A later clean run makes it ready again.
    assert_exit 0 lc run "$name" -- true
    status_of "$name"
    assert_json "$STATUS" .health ready
    assert_json "$STATUS" .last_error null
}

# A holder that vanished without releasing: the row/key stays "running"
# with an expired lease until someone reclaims it.
case_stale() {
    local name t0
    name=$(lock_name stale)
    t0=$(now_ms)
    assert_exit 0 lc acquire "$name" --ttl 300ms --owner e2e-vanished
    assert_until 10000 health_is "$name" stale
    assert_ge $(($(now_ms) - t0)) 300 "ms until stale"
    status_of "$name"
    assert_json "$STATUS" .owner e2e-vanished
    assert_json "$STATUS" .held_for_ms null
    assert_text "$name" "Stale lock"
    # The next acquire reclaims it, with a higher fence.
    assert_exit 0 lc --json acquire "$name" --ttl 1s
    assert_json "$OUT" .fence 2
}

case_list_all() {
    local a b
    a=$(lock_name list-a)
    b=$(lock_name list-b)
    assert_exit 0 lc run "$a" -- true
    assert_exit 1 lc run "$b" -- false
    assert_exit 0 lc --json status
    assert_json "$OUT" "[.locks[] | select(.name == \"$a\")][0].health" ready
    assert_json "$OUT" "[.locks[] | select(.name == \"$b\")][0].health" failed
    assert_exit 0 lc status
    assert_contains "$OUT" "$a: ready"
    assert_contains "$OUT" "$b: failed"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "status: ready after a clean run" case_ready
    run_case "$b" "status: held during a run and after acquire" case_held
    run_case "$b" "status: failed after a failing run" case_failed
    run_case "$b" "status: stale after an unreleased lease expires" case_stale
    run_case "$b" "status without NAME lists every lock" case_list_all
done
e2e_finish
