#!/usr/bin/env bash
# Bad input exits 64 with one line on stderr; a bad config file exits 78
# with FILE:LINE:COL; a server that is down exits 69 with one line.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN=0123456789abcdef0123456789abcdef

usage_error() { # ARGS...: exit 64, one "lockcoord: " line, nothing on stdout
    assert_exit 64 lc "$@"
    assert_one_line "$ERR" "stderr of '$*'"
    assert_eq "" "$OUT" "stdout of '$*'"
}

case_usage_errors() {
    local name
    name=$(lock_name usage)
    usage_error frobnicate
    assert_contains "$ERR" "unknown command 'frobnicate'"
    usage_error run "$name" true
    assert_contains "$ERR" "missing '--'"
    usage_error run "$name" --
    usage_error acquire "$name" --ttl 30
    assert_contains "$ERR" "unit"
    usage_error run "$name" --timeout 5 -- true
    usage_error run "$name" --ttl 1s --renew-every 600ms -- true
    usage_error acquire 'e2e/bad name'
    usage_error acquire 'e2e/{tag}'
    usage_error acquire ''
    usage_error acquire "e2e/$(printf 'x%.0s' {1..200})"
    usage_error renew "$name"
    assert_contains "$ERR" "--token"
    usage_error release "$name"
    assert_contains "$ERR" "--token"
    usage_error checkpoint "$name" --token "$TOKEN"
    usage_error renew "$name" --token not-hex
    usage_error acquire "$name" --bogus
    usage_error acquire
    # With --json the error is one object on stdout.
    assert_exit 64 lc --json acquire "$name" --ttl 30
    assert_json "$OUT" .error usage
    assert_contains "$(json_get "$OUT" .message)" "--ttl"
    # Nothing was taken.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' ready
}

case_bad_config() {
    local backend=$1 f="$CASE_DIR/bad.yaml"
    printf 'backend: %s\nlock:\n  ttl: 30\n' "$backend" >"$f"
    assert_exit 78 "$LC" -c "$f" acquire "$(lock_name cfg)"
    assert_one_line "$ERR"
    [[ $ERR =~ $f:3:[0-9]+: ]] || fail "no $f:LINE:COL in: $ERR"
    printf 'backend: %s\nlock:\n  ttl: 3s\n  bogus_key: 1\n' "$backend" >"$f"
    assert_exit 78 "$LC" -c "$f" acquire "$(lock_name cfg)"
    assert_one_line "$ERR"
    [[ $ERR =~ $f:4:[0-9]+: ]] || fail "no $f:LINE:COL in: $ERR"
    assert_exit 78 "$LC" -c "$f" --json status
    assert_json "$OUT" .error config
    assert_exit 78 "$LC" -c "$CASE_DIR/missing.yaml" status
    assert_one_line "$ERR"
}

# A loopback port nothing listens on.
closed_port() {
    local p
    for p in $(shuf -i 20000-30000 -n 50); do
        if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no closed port found"
}

case_server_down() {
    local backend=$1 port f="$CASE_DIR/dead.yaml" t0
    port=$(closed_port) || exit 1
    if [[ $backend == redis ]]; then
        write_config "$f" redis "redis://127.0.0.1:$port/0"
    else
        write_config "$f" postgres "host=127.0.0.1 port=$port dbname=lockcoord_test user=postgres connect_timeout=2"
    fi
    t0=$(now_ms)
    for cmd in "acquire $(lock_name down)" "status" "run $(lock_name down) -- true"; do
        # shellcheck disable=SC2086
        assert_exit 69 "$LC" -c "$f" $cmd
        assert_one_line "$ERR" "stderr of $cmd"
        assert_contains "$ERR" "$port" "stderr of $cmd"
    done
    assert_lt $(($(now_ms) - t0)) 5000 "ms for three refused connections"
    assert_exit 69 "$LC" -c "$f" --json acquire "$(lock_name down)"
    assert_json "$OUT" .error unavailable
}

# The exit codes are written once in the command (--help prints them from
# that table) and once in the README: the two lists agree.
case_help_exit_codes() {
    local help readme
    assert_exit 0 "$LC" --help
    help=$(sed -n '/^Exit codes:/,$p' <<<"$OUT" | awk 'NR > 1 && NF { print $1 }' | sort)
    readme=$(sed -n '/^## Exit codes/,/^## [^E]/p' "$E2E_SRC/README.md" |
        awk -F'|' '$2 ~ /^ *[0-9]/ { gsub(/ /, "", $2); print $2 }' | sort)
    [[ -n $help ]] || fail "no exit codes in --help"
    assert_eq "$readme" "$help" "exit codes of the README vs --help"
}

e2e_init
run_case redis "--help lists the README's exit codes" case_help_exit_codes
for b in redis postgres; do
    run_case "$b" "usage errors exit 64 with one line" case_usage_errors
    run_case "$b" "bad config exits 78 with FILE:LINE:COL" case_bad_config
    run_case "$b" "server down exits 69 with one line" case_server_down
done
e2e_finish
