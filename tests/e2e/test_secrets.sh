#!/usr/bin/env bash
# Passwords never appear in any output (stderr, --json, config check), also
# for URLs and conninfo strings that no parser accepts; a conninfo libpq
# cannot parse is a config error (78); redis.url's query parameters (db,
# password, username) are used on both forms against a real server with a
# password, and unknown ones are refused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# assert_hidden SECRET...: none of them in $OUT or $ERR.
assert_hidden() {
    local s
    for s in "$@"; do
        [[ $OUT != *"$s"* && $ERR != *"$s"* ]] ||
            fail "'$s' appears in the output: stdout: $OUT stderr: $ERR"
    done
}

# expect_config_error FILE SECRET...: every command exits 78 at load, with
# and without --json, and no output holds a secret.
expect_config_error() {
    local f=$1 cmd
    shift
    for cmd in "status" "acquire $(lock_name sec)" "run $(lock_name sec) -- true" \
        "config check $f"; do
        # shellcheck disable=SC2086
        assert_exit 78 "$LC" -c "$f" $cmd
        assert_one_line "$ERR" "stderr of $cmd"
        [[ $ERR =~ $f:3:[0-9]+: ]] || fail "no $f:3:COL in: $ERR"
        assert_hidden "$@"
        # shellcheck disable=SC2086
        assert_exit 78 "$LC" -c "$f" --json $cmd
        assert_json "$OUT" .error config
        assert_hidden "$@"
    done
}

case_pg_malformed_conninfo() {
    local f="$CASE_DIR/bad.yaml" h=127.0.0.1
    write_config "$f" postgres "postgresql://user:Zq7Secret@[$h:5432/db"
    expect_config_error "$f" Zq7Secret
    assert_contains "$(json_get "$OUT" .message)" "postgresql://user:***@["
    write_config "$f" postgres "postgresql://user:Zq7Sec%zzret@$h/db"
    expect_config_error "$f" Zq7Sec
    write_config "$f" postgres "postgresql://user@$h/db?password=Zq7Sec%zret"
    expect_config_error "$f" Zq7Sec
    write_config "$f" postgres "host=$h password='Zq7 Secret"
    expect_config_error "$f" Zq7
    # libpq would read "Qx9" as the port: refused before it gets the chance.
    write_config "$f" postgres "postgresql://user:Qx9/Wz7@$h/db"
    expect_config_error "$f" Qx9 Wz7
    write_config "$f" postgres "host=$h port=5432 bogus=Zq7Secret"
    expect_config_error "$f" Zq7Secret
}

case_pg_unreachable_with_password() {
    local f="$CASE_DIR/down.yaml" port
    port=$(shuf -i 20000-30000 -n 1)
    while (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    write_config "$f" postgres "postgresql://app:Zq7Secret@127.0.0.1:$port/db?connect_timeout=2"
    assert_exit 69 "$LC" -c "$f" status
    assert_hidden Zq7Secret
    assert_exit 69 "$LC" -c "$f" --json status
    assert_hidden Zq7Secret
    assert_exit 0 "$LC" config check "$f"
    assert_contains "$OUT" "postgresql://app:***@127.0.0.1"
    assert_hidden Zq7Secret
}

case_redis_unknown_query_refused() {
    local f="$CASE_DIR/bad.yaml"
    write_config "$f" redis "${LOCKCOORD_TEST_REDIS_URL%%\?*}?pasword=Zq7Secret"
    expect_config_error "$f" Zq7Secret
    assert_contains "$(json_get "$OUT" .message)" "unknown query parameter 'pasword'"
    write_config "$f" redis "unix:///nonexistent/r.sock?Zq7Secret"
    expect_config_error "$f" Zq7Secret
    write_config "$f" redis "redis://:Zq7/Secret@127.0.0.1:6379/0"
    expect_config_error "$f" Zq7 Secret
}

# A unix socket URL with ?password= is valid now: config check passes and
# hides it; a command fails on the missing socket (69), not on the URL.
case_redis_unix_password_valid() {
    local f="$CASE_DIR/u.yaml"
    write_config "$f" redis "unix://$CASE_DIR/none.sock?password=Zq7Secret&db=2"
    assert_exit 0 "$LC" config check "$f"
    assert_contains "$OUT" "none.sock?password=***&db=2"
    assert_hidden Zq7Secret
    assert_exit 69 "$LC" -c "$f" status
    assert_hidden Zq7Secret
    assert_exit 69 "$LC" -c "$f" --json status
    assert_hidden Zq7Secret
}

# redis-cli against the private server: ARGS...
pcli() {
    REDISCLI_AUTH=Zq7Secret redis-cli --no-auth-warning -s "$SOCK" "$@" 2>&1
}

# The lock key of $1 exists in db $2 (and only there).
key_in_db() {
    local key="lockcoord:{$1}:lock" db n
    for db in 0 2 3 4; do
        n=$(pcli -n "$db" EXISTS "$key")
        if [[ $db == "$2" ]]; then
            [[ $n == 1 ]] || fail "$key not in db $db ($n)"
        else
            [[ $n == 0 ]] || fail "$key also in db $db"
        fi
    done
}

# acquire_in URL DB: an acquire through URL lands in db DB.
acquire_in() {
    local f="$CASE_DIR/p.yaml" name
    name=$(lock_name "db$2")
    write_config "$f" redis "$1"
    assert_exit 0 "$LC" -c "$f" --json acquire "$name" --ttl 30s
    assert_hidden Zq7Secret
    key_in_db "$name" "$2"
}

case_redis_password_and_db_from_query() {
    local url port f="$CASE_DIR/p.yaml"
    SOCK="$CASE_DIR/r.sock"
    echo "$CASE_DIR/redis" >>"$CASE_DIR/.redis"
    url=$("$SERVERS" redis-start "$CASE_DIR/redis" --requirepass Zq7Secret --unixsocket "$SOCK" \
        --unixsocketperm 700) || fail "could not start a private redis"
    port=${url#redis://127.0.0.1:}
    port=${port%%/*}
    acquire_in "redis://127.0.0.1:$port?password=Zq7Secret&db=3" 3
    acquire_in "redis://127.0.0.1:$port/4?password=Zq7Secret" 4
    acquire_in "redis://:Zq7Secret@127.0.0.1:$port/2" 2
    acquire_in "unix://$SOCK?password=Zq7Secret&db=2" 2
    acquire_in "unix://:Zq7Secret@$SOCK?db=3" 3
    # Redis 6 ACL users: AUTH user password.
    pcli ACL SETUSER app on '>Zq7AppPw' '~*' '&*' '+@all' >/dev/null
    acquire_in "redis://127.0.0.1:$port/4?username=app&password=Zq7AppPw" 4
    acquire_in "unix://app:Zq7AppPw@$SOCK?db=0" 0
    # Wrong or missing password: unavailable, and said so without it.
    write_config "$f" redis "unix://$SOCK?password=Zq7Wrong"
    assert_exit 69 "$LC" -c "$f" status
    assert_contains "$ERR" "authentication failed"
    assert_hidden Zq7Wrong
    assert_exit 69 "$LC" -c "$f" --json status
    assert_json "$OUT" .error unavailable
    assert_hidden Zq7Wrong
    write_config "$f" redis "redis://127.0.0.1:$port/0"
    assert_exit 69 "$LC" -c "$f" status
}

e2e_init
run_case postgres "unparsable conninfo: 78, no password in any output" case_pg_malformed_conninfo
run_case postgres "unreachable server: no password in any output" case_pg_unreachable_with_password
run_case redis "unknown query parameters and bad URLs: 78, no password" case_redis_unknown_query_refused
run_case redis "unix:// with ?password= is valid, and hidden" case_redis_unix_password_valid
run_case redis "db, password, username from the URL, both forms" case_redis_password_and_db_from_query
e2e_finish
