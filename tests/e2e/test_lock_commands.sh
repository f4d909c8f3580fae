#!/usr/bin/env bash
# acquire, renew, release and checkpoint: the JSON shapes the README documents,
# the text output, and exit 76 for a token that is not (or no longer) the
# holder's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OTHER=0123456789abcdef0123456789abcdef

case_json_shapes() {
    local name token fence ms
    name=$(lock_name shapes)
    assert_exit 0 lc --json acquire "$name" --ttl 2s --owner e2e-shapes
    assert_json_keys "$OUT" . lock token fence ttl_ms owner
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .ttl_ms 2000
    assert_json "$OUT" .owner e2e-shapes
    assert_json "$OUT" '.fence | type' number
    jset token "$OUT" .token
    jset fence "$OUT" .fence
    [[ $token =~ ^[0-9a-f]{32}$ ]] || fail "token is not 32 hex characters: $token"

    assert_exit 0 lc --json renew "$name" --token "$token" --ttl 30s
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .ok true
    assert_json "$OUT" .ttl_ms 30000
    assert_exit 0 lc --json status "$name"
    jset ms "$OUT" '.locks[0].expires_in_ms'
    # Over the acquire's 2 s by far: the renewal's ttl took effect.
    assert_lt 20000 "$ms" "expires_in_ms after renew --ttl 30s"

    assert_exit 0 lc --json checkpoint "$name" --token "$token" --set "page=7"
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .ok true
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].checkpoint' "page=7"

    assert_exit 0 lc --json release "$name" --token "$token"
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" .ok true
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' ready
    assert_json "$OUT" '.locks[0].fence' "$fence"
}

case_text_output() {
    local name token
    name=$(lock_name text)
    assert_exit 0 lc acquire "$name" --ttl 2s --owner e2e-text
    assert_contains "$OUT" "lock:  $name"
    assert_contains "$OUT" "owner: e2e-text"
    token=$(sed -n 's/^token: //p' <<<"$OUT")
    [[ $token =~ ^[0-9a-f]{32}$ ]] || fail "no token line in: $OUT"
    assert_exit 0 lc renew "$name" --token "$token"
    assert_contains "$OUT" "renewed $name"
    assert_exit 0 lc release "$name" --token "$token" --error "e2e: it broke" --exit 2
    assert_contains "$OUT" "released $name"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' failed
    assert_json "$OUT" '.locks[0].last_error' "e2e: it broke"
    assert_json "$OUT" '.locks[0].last_exit' 2
}

case_wrong_token() {
    local name token
    name=$(lock_name wrong)
    assert_exit 0 lc --json acquire "$name" --ttl 3s
    jset token "$OUT" .token
    assert_exit 76 lc renew "$name" --token "$OTHER"
    assert_one_line "$ERR"
    assert_exit 76 lc --json renew "$name" --token "$OTHER"
    assert_json "$OUT" .error lost
    assert_exit 76 lc release "$name" --token "$OTHER"
    assert_exit 76 lc checkpoint "$name" --token "$OTHER" --set nope
    # The holder is untouched by all that.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].checkpoint' null
    assert_exit 0 lc release "$name" --token "$token"
    # Released: the old token is no longer the holder's.
    assert_exit 76 lc renew "$name" --token "$token"
    assert_exit 76 lc release "$name" --token "$token"
    # Nor after its lease lapsed.
    assert_exit 0 lc --json acquire "$name" --ttl 200ms
    jset token "$OUT" .token
    sleep 0.3 # on purpose: let the ttl pass
    assert_exit 76 lc renew "$name" --token "$token"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "acquire/renew/checkpoint/release JSON shapes" case_json_shapes
    run_case "$b" "text output and release --error/--exit" case_text_output
    run_case "$b" "wrong, released or expired token exits 76" case_wrong_token
done
e2e_finish
