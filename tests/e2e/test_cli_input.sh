#!/usr/bin/env bash
# Input at the edges of the command line: durations out of range, zero and
# tiny durations, exit codes out of range, names and tokens that look like
# options, output that cannot be written, and text that is not clean UTF-8.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage_error() { # ARGS...: exit 64, one "lockcoord: " line, nothing on stdout
    assert_exit 64 lc "$@"
    assert_one_line "$ERR" "stderr of '$*'"
    assert_eq "" "$OUT" "stdout of '$*'"
}

assert_ready() { # NAME: nothing holds NAME
    assert_exit 0 lc --json status "$1"
    assert_json "$OUT" '.locks[0].health' ready
}

# Durations: at most 365d everywhere, refused by the parser with the limit
# named, and the longest ones work end to end.
case_duration_max() {
    local backend=$1 name token ms f="$CASE_DIR/long.yaml"
    name=$(lock_name max)
    usage_error acquire "$name" --ttl 3000000h
    assert_contains "$ERR" "at most 365d"
    usage_error acquire "$name" --ttl 366d
    usage_error acquire "$name" --wait 99999999h
    usage_error run "$name" --ttl 99999999h -- true
    assert_contains "$ERR" "at most 365d"
    usage_error run "$name" --timeout 400d -- true
    assert_ready "$name"

    assert_exit 0 lc --json acquire "$name" --ttl 365d
    jset token "$OUT" .token
    assert_exit 0 lc --json status "$name"
    jset ms "$OUT" '.locks[0].expires_in_ms'
    assert_lt $((364 * 86400000)) "$ms" "expires_in_ms of a 365d lease"
    assert_exit 0 lc renew "$name" --token "$token" --ttl 365d
    assert_exit 0 lc release "$name" --token "$token"
    assert_ready "$name"

    # In the config too (78), and the longest server timeouts still work.
    write_config "$f" "$backend"
    sed -i 's/^  ttl: 3s$/  ttl: 400d/' "$f"
    assert_exit 78 "$LC" -c "$f" acquire "$name"
    assert_contains "$ERR" "lock.ttl: duration '400d' is too large: at most 365d"
    if [[ $backend == redis ]]; then
        write_config "$f" redis "" "  command_timeout: 365d
  connect_timeout: 365d"
    else
        # The server's own limit for statement_timeout is INT_MAX ms.
        write_config "$f" postgres "" "  statement_timeout: 25d
  connect_timeout: 365d"
        assert_exit 78 "$LC" -c "$f" acquire "$name"
        assert_contains "$ERR" "postgres.statement_timeout: at most 2147483647ms"
        write_config "$f" postgres "" "  statement_timeout: 24d
  connect_timeout: 365d"
    fi
    assert_exit 0 "$LC" -c "$f" --json acquire "$name" --ttl 2s
    jset token "$OUT" .token
    assert_exit 0 "$LC" -c "$f" release "$name" --token "$token"
}

# Zero and tiny durations: refused with the minimum named (64 on the
# command line, 78 in the config), or honoured where 0s has a meaning.
case_duration_min() {
    local backend=$1 name t0 f="$CASE_DIR/short.yaml"
    name=$(lock_name min)
    usage_error acquire "$name" --ttl 0s
    assert_contains "$ERR" "--ttl: must be at least 10ms, got 0s"
    usage_error acquire "$name" --ttl 1ms
    assert_contains "$ERR" "at least 10ms"
    usage_error renew "$name" --token 0123456789abcdef0123456789abcdef --ttl 0s
    assert_contains "$ERR" "at least 10ms"
    usage_error run "$name" --ttl 9ms -- true
    usage_error run "$name" --renew-every 0s -- true
    assert_contains "$ERR" "--renew-every: must be at least 1ms"
    assert_ready "$name"
    write_config "$f" "$backend"
    sed -i 's/^  ttl: 3s$/  ttl: 0s/' "$f"
    assert_exit 78 "$LC" -c "$f" acquire "$name"
    assert_contains "$ERR" "lock.ttl: must be at least 10ms, got 0s"

    # 0s where it means something: no wait, no timeout, no kill grace.
    assert_exit 0 lc run "$name" --wait 0s --timeout 0s -- true
    t0=$(now_ms)
    assert_exit 124 lc run "$name" --timeout 300ms --kill-grace 0s -- \
        sh -c 'trap "" TERM; sleep 30'
    # The default grace would be 5s: SIGKILL came right after SIGTERM.
    assert_lt $(($(now_ms) - t0)) 3000 "ms until a TERM-proof command was killed"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' failed
    assert_json "$OUT" '.locks[0].last_exit' 137
}

# release --exit takes an exit status, 0..255, and nothing else.
case_exit_range() {
    local name token n
    name=$(lock_name exit)
    assert_exit 0 lc --json acquire "$name" --ttl 5s
    jset token "$OUT" .token
    for n in 4294967297 256 -1 -2147483648 9223372036854775808 1x ""; do
        usage_error release "$name" --token "$token" --exit "$n"
        assert_contains "$ERR" "--exit: expected an exit status 0..255, got '$n'"
    done
    # Nothing was recorded, the lease is still held.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].sync_count' 0
    assert_exit 0 lc release "$name" --token "$token" --exit 255
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].last_exit' 255
}

# Names after "--", JSON usage errors without a command, the status
# limit, token format, and an option whose value went missing.
case_cli_odds() {
    local name token names=() i
    name="-$(lock_name dash)"
    usage_error acquire "$name"
    assert_contains "$ERR" "unknown option '-e' (a NAME that starts with '-' goes after '--')"
    assert_exit 0 lc --json acquire --ttl 5s -- "$name"
    assert_json "$OUT" .lock "$name"
    jset token "$OUT" .token
    assert_exit 0 lc --json status -- "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_exit 0 lc renew --token "$token" -- "$name"
    assert_exit 0 lc checkpoint --token "$token" --set x -- "$name"
    assert_exit 0 lc release --token "$token" -- "$name"
    assert_exit 0 lc reset --reason "e2e" -- "$name"
    usage_error acquire -- "$name" extra
    assert_contains "$ERR" "unexpected argument 'extra'"

    # lockcoord --json without a command: a JSON usage error.
    assert_exit 64 "$LC" --json
    assert_json "$OUT" .error usage
    assert_contains "$(json_get "$OUT" .message)" "COMMAND is required"
    assert_exit 64 "$LC"
    assert_contains "$ERR" "usage: lockcoord"

    # status takes at most 256 names, says so, and documents it.
    for i in $(seq 1 257); do names+=("e2e/n$i"); done
    usage_error status "${names[@]}"
    assert_contains "$ERR" "too many arguments (at most 256)"
    assert_exit 0 lc status "${names[@]:0:256}"
    assert_exit 0 lc status --help
    assert_contains "$OUT" "at most 256 NAMEs"

    # Tokens: 32 lowercase hex characters, or 64 before any server.
    name=$(lock_name token)
    usage_error renew "$name" --token abc
    assert_contains "$ERR" "expected 32 lowercase hex characters, got 3"
    usage_error release "$name" --token 0123456789ABCDEF0123456789abcdef
    assert_exit 64 lc --json release "$name" --token abc
    assert_json "$OUT" .error invalid

    # A value that went missing is said so, not parsed as a duration.
    usage_error run "$(lock_name odd)" --ttl -- true
    assert_contains "$ERR" "option '--ttl' needs a value"
    usage_error acquire "$(lock_name odd)" --ttl --wait 5s
    assert_contains "$ERR" "option '--ttl' needs a value, got the option '--wait'"
    usage_error release "$(lock_name odd)" --token --
    assert_contains "$ERR" "option '--token' needs a value"
}

# Output that cannot be written: exit 74 with one line on stderr, and
# acquire gives back the lease whose token was lost.
case_output_unwritable() {
    local name rc fd pid
    name=$(lock_name full)
    for json in "" --json; do
        rc=0
        # shellcheck disable=SC2086
        lc $json acquire "$name" --ttl 30s >/dev/full 2>"$CASE_DIR/full.err" || rc=$?
        assert_eq 74 "$rc" "exit of acquire $json > /dev/full"
        assert_one_line "$(cat "$CASE_DIR/full.err")" "stderr of acquire $json > /dev/full"
        assert_contains "$(cat "$CASE_DIR/full.err")" "could not write the output"
        assert_contains "$(cat "$CASE_DIR/full.err")" "the lease was released"
        assert_exit 0 lc --json status "$name"
        assert_json "$OUT" '.locks[0].held_for_ms' null
        assert_contains "$(json_get "$OUT" '.locks[0].last_error')" "could not write its output"
    done
    # The lock is free: the next acquire gets it at once.
    assert_exit 0 lc --json acquire "$name" --ttl 2s --wait 0s
    assert_exit 0 lc release "$name" --token "$(json_get "$OUT" .token)"

    # A pipe whose reader is gone: EPIPE, not death by SIGPIPE.
    exec {fd}> >(exit 0)
    pid=$!
    wait "$pid" 2>/dev/null
    rc=0
    lc acquire "$name" --ttl 30s >&"$fd" 2>"$CASE_DIR/pipe.err" || rc=$?
    exec {fd}>&-
    assert_eq 74 "$rc" "exit of acquire into a closed pipe"
    assert_contains "$(cat "$CASE_DIR/pipe.err")" "Broken pipe; the lease was released"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].held_for_ms' null

    # Every other command: 74 when its output is lost.
    for args in "status $name" "--json status" "config check" "--help" "status --help"; do
        rc=0
        # shellcheck disable=SC2086
        lc $args >/dev/full 2>"$CASE_DIR/full.err" || rc=$?
        assert_eq 74 "$rc" "exit of '$args' > /dev/full"
        assert_one_line "$(cat "$CASE_DIR/full.err")" "stderr of '$args' > /dev/full"
    done
}

# Text in: one line of valid UTF-8, refused with 64 (78 in the config)
# before any server. Text out: what a backend holds may have been written
# by another tool, so the terminal gets it escaped and JSON stays valid.
case_text_edges() {
    local backend=$1 name token f="$CASE_DIR/owner.yaml"
    name=$(lock_name text)
    usage_error acquire "$name" --owner $'\e[31mEVIL'
    assert_contains "$ERR" "--owner: control character U+001B at byte 0"
    usage_error run "$name" --owner $'a\xffb' -- true
    assert_contains "$ERR" "--owner: not valid UTF-8 at byte 1 (0xff)"
    assert_ready "$name"
    assert_exit 0 lc --json acquire "$name" --ttl 30s
    jset token "$OUT" .token
    usage_error release "$name" --token "$token" --error $'bad \xc3('
    assert_contains "$ERR" "--error: not valid UTF-8"
    usage_error release "$name" --token "$token" --error $'two\nlines'
    usage_error checkpoint "$name" --token "$token" --set $'\e]0;title\a'
    usage_error reset "$name" --reason $'\e[2J'
    # Nothing reached the backend: still held, nothing recorded.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].sync_count' 0
    assert_exit 0 lc release "$name" --token "$token" --error "caf$(printf '\xc3\xa9') 503"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].last_error' "café 503"

    printf 'backend: %s\nredis:\n  url: "%s"\npostgres:\n  conninfo: "%s"\nowner: "x\\e[31m"\n' \
        "$backend" "$LOCKCOORD_TEST_REDIS_URL" "$LOCKCOORD_TEST_PG_CONNINFO" >"$f"
    assert_exit 78 "$LC" -c "$f" acquire "$name"
    assert_one_line "$ERR"
    [[ $ERR =~ $f:6:[0-9]+:\ owner:\ control\ character\ U\+001B ]] || fail "no $f:6:COL in: $ERR"
}

# Plants hostile bytes as NAME's owner, last error and checkpoint, the way
# another tool could (Postgres, a UTF8 database, takes no invalid UTF-8).
plant_hostile() { # BACKEND NAME
    if [[ $1 == redis ]]; then
        redis_cmd HSET "lockcoord:{$2}:meta" owner $'\e[31mEVIL\xff' \
            last_error $'\e]0;pwned\a' checkpoint $'cp\xc3' >/dev/null
    else
        pg_query "UPDATE lockcoord_locks SET owner = E'\\x1b[31mEVIL\\u009b',
            last_error = E'\\x1b]0;pwned\\x07', checkpoint = E'cp\\x1b[2J' WHERE name = '$2'" >/dev/null
    fi
}

no_escape_bytes() { # TEXT WHAT: no ESC, BEL or invalid UTF-8 reached the terminal
    [[ $1 != *$'\e'* && $1 != *$'\a'* && $1 != *$'\xc2\x9b'* ]] || fail "$2: raw control bytes in: $(printf '%q' "$1")"
    iconv -f UTF-8 -t UTF-8 <<<"$1" >/dev/null 2>&1 || fail "$2: invalid UTF-8 in: $(printf '%q' "$1")"
}

case_text_hostile_data() {
    local backend=$1 name token
    name=$(lock_name hostile)
    assert_exit 0 lc --json acquire "$name" --ttl 30s
    jset token "$OUT" .token
    plant_hostile "$backend" "$name"

    assert_exit 0 lc status "$name"
    no_escape_bytes "$OUT" "status"
    assert_contains "$OUT" 'owner:          \x1b[31mEVIL'
    assert_contains "$OUT" 'last error:     \x1b]0;pwned\x07'
    assert_exit 0 lc status
    no_escape_bytes "$OUT" "status of every lock"
    assert_exit 0 lc --json status "$name"
    jq -e . >/dev/null <<<"$OUT" || fail "status --json is not valid JSON: $(printf '%q' "$OUT")"
    assert_contains "$(json_get "$OUT" '.locks[0].owner')" "EVIL"

    # The conflict names the holder: escaped on the terminal, valid JSON.
    assert_exit 75 lc acquire "$name"
    no_escape_bytes "$ERR" "conflict"
    assert_one_line "$ERR"
    assert_contains "$ERR" 'held by \x1b[31mEVIL'
    assert_exit 75 lc --json acquire "$name"
    jq -e . >/dev/null <<<"$OUT" || fail "conflict --json is not valid JSON: $(printf '%q' "$OUT")"

    # reset names the previous holder.
    assert_exit 0 lc reset "$name" --reason "e2e hostile"
    no_escape_bytes "$OUT" "reset"
    assert_contains "$OUT" 'was held by \x1b[31mEVIL'
}

is_held() { # NAME
    [[ $(json_get "$(lc --json status "$1")" '.locks[0].health') == held ]]
}

# Another tool takes the lock over and writes a hostile owner: the reason
# `run` gives for the loss names it escaped.
case_text_hostile_takeover() {
    local backend=$1 name pid
    name=$(lock_name takeover)
    bg pid lc run "$name" --ttl 900ms -- sleep 30
    assert_until 5000 is_held "$name"
    if [[ $backend == redis ]]; then
        redis_cmd HSET "lockcoord:{$name}:meta" owner $'\e[31mEVIL\xff' fence 99 >/dev/null
        redis_cmd DEL "lockcoord:{$name}:lock" >/dev/null
    else
        pg_query "UPDATE lockcoord_locks SET token = 'someone-else', fence = 99,
            owner = E'\\x1b[31mEVIL\\u009b' WHERE name = '$name'" >/dev/null
    fi
    bg_wait_within 10000 "$pid"
    assert_eq 76 "$BG_RC" "exit of the run taken over"
    no_escape_bytes "$(cat "$CASE_DIR/pid.err")" "stderr of run"
    assert_contains "$(cat "$CASE_DIR/pid.err")" 'taken over by \x1b[31mEVIL'
}

e2e_init
for b in redis postgres; do
    run_case "$b" "durations: at most 365d, the longest work" case_duration_max
    run_case "$b" "durations: zero and tiny ones refused or honoured" case_duration_min
    run_case "$b" "release --exit: 0..255 only" case_exit_range
    run_case "$b" "CLI odds: --, --json alone, status limit, tokens" case_cli_odds
    run_case "$b" "unwritable output: exit 74, acquire releases" case_output_unwritable
    run_case "$b" "text in: one line of UTF-8, else 64 / 78" case_text_edges
    run_case "$b" "text out: hostile backend data escaped, JSON valid" case_text_hostile_data
    run_case "$b" "text out: a hostile new holder named escaped by run" case_text_hostile_takeover
done
e2e_finish
