#!/usr/bin/env bash
# `run` whose connections the server closes while the command works: by an
# idle timeout (Redis `timeout 1`, Postgres idle_session_timeout), by
# CLIENT KILL / pg_terminate_backend, or by a restart. The keeper and the
# final release reconnect: the run exits with the command's code, is
# recorded, and the lock is free right after. Each case uses a PRIVATE
# server (killing connections on the shared one would hit other tests).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# redis_with ARGS...: a private redis started with ARGS; prints its URL.
redis_with() {
    echo "$CASE_DIR/redis" >>"$CASE_DIR/.redis"
    "$SERVERS" redis-start "$CASE_DIR/redis" "$@" || fail "could not start a private redis"
}

use_server() { # BACKEND ENDPOINT
    CFG="$CASE_DIR/private.yaml"
    write_config "$CFG" "$1" "$2"
}

# The run was recorded as a success and nothing holds the lock.
assert_recorded_and_free() { # NAME SYNC_COUNT
    local st
    assert_exit 0 lc --json status "$1"
    st=$OUT
    assert_json "$st" '.locks[0].health' ready
    assert_json "$st" '.locks[0].sync_count' "$2"
    assert_json "$st" '.locks[0].last_exit' 0
    assert_json "$st" '.locks[0].last_error' null
}

assert_run_ok() { # NAME CMD...
    local name=$1
    shift
    assert_exit 0 lc run "$name" --ttl 3s -- "$@"
    assert_eq "" "$ERR" "run's stderr"
}

# A run whose command waits for the case to say "go"; the case breaks
# connections meanwhile (from outside: the command's own children would
# not outlive it).
GATED='touch started; while [ ! -e go ]; do sleep 0.02; done'
start_gated() { # NAME
    bg holder lc run "$1" --ttl 3s -- sh -c "$GATED"
    assert_until 5000 file_exists started
}

finish_gated() {
    touch go
    bg_wait_within 10000 "$holder"
    assert_eq 0 "$BG_RC" "run's exit (stderr: $(cat holder.err))"
    assert_eq "" "$(cat holder.err)" "run's stderr"
}

redis_clients() { # URL: connections on the server (the asking one included)
    redis-cli -u "$1" INFO clients | tr -d '\r' | sed -n 's/^connected_clients://p'
}

clients_at_least() { # URL N
    local n
    n=$(redis_clients "$1")
    [[ -n $n ]] && ((n >= $2))
}

case_redis_idle_timeout() {
    local url name
    url=$(redis_with --timeout 1 --loglevel verbose) || exit 1
    use_server redis "$url"
    name=$(lock_name idle)
    # Idle for 3 s, the main connection is closed after 1-2 s.
    assert_run_ok "$name" sleep 3
    assert_recorded_and_free "$name" 1
    assert_eq 0 "$(redis-cli -u "$url" EXISTS "lockcoord:{$name}:lock")" "lock key after the run"
    grep -q 'Closing idle client' "$CASE_DIR/redis/redis.log" ||
        fail "the server closed no idle client: the case did not test what it says"
}

case_redis_client_kill() {
    local url name
    url=$(redis_with) || exit 1
    use_server redis "$url"
    name=$(lock_name kill)
    start_gated "$name"
    # The main connection and the keeper's (after its first renewal).
    assert_until 5000 clients_at_least "$url" 3
    assert_eq 2 "$(redis-cli -u "$url" CLIENT KILL TYPE normal)" "connections killed"
    assert_until 5000 clients_at_least "$url" 2 # the keeper is back
    finish_gated
    assert_recorded_and_free "$name" 1
}

case_redis_restart() {
    local url name args=(--appendonly yes --appendfsync always)
    url=$(redis_with "${args[@]}") || exit 1
    use_server redis "$url"
    name=$(lock_name restart)
    start_gated "$name"
    assert_until 5000 clients_at_least "$url" 3
    # The same port and data (every write persisted): the lease survives.
    "$SERVERS" redis-stop "$CASE_DIR/redis" || fail "redis-stop"
    "$SERVERS" redis-start "$CASE_DIR/redis" "${args[@]}" >/dev/null || fail "redis-start"
    assert_until 5000 clients_at_least "$url" 2
    finish_gated
    assert_recorded_and_free "$name" 1
}

# The persistence warning is about the server: a run's two clients (its
# own and the keeper's, which reconnects after CLIENT KILL) print it once.
case_redis_persistence_warning_once() {
    local url name
    url=$(redis_with) || exit 1
    use_server redis "$url"
    sed -i 's/^  level: error$/  level: warn/' "$CFG"
    name=$(lock_name warn)
    start_gated "$name"
    assert_until 5000 clients_at_least "$url" 3
    assert_eq 2 "$(redis-cli -u "$url" CLIENT KILL TYPE normal)" "connections killed"
    assert_until 5000 clients_at_least "$url" 2
    touch go
    bg_wait_within 10000 "$holder"
    assert_eq 0 "$BG_RC" "run's exit (stderr: $(cat holder.err))"
    assert_eq 1 "$(grep -c 'appendfsync always' holder.err)" "persistence warnings (stderr: $(cat holder.err))"
}

pg_sessions() { # CONNINFO [PIDS]: lockcoord's sessions, other than PIDS (a,b,...)
    "$PSQL_BIN" "$1" -XAtq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lockcoord' AND pid NOT IN (${2:-0})"
}

sessions_gone() { # CONNINFO PIDS: none of PIDS (a,b,...) is left
    [[ $("$PSQL_BIN" "$1" -XAtq -c "SELECT count(*) FROM pg_stat_activity WHERE pid IN ($2)") == 0 ]]
}

sessions_at_least() { # CONNINFO N [PIDS]
    local n
    n=$(pg_sessions "$1" "${3:-}")
    [[ -n $n ]] && ((n >= $2))
}

case_postgres_idle_and_terminated() {
    local conninfo name n old
    echo "$CASE_DIR/pg" >>"$CASE_DIR/.pg"
    conninfo=$("$SERVERS" pg-start "$CASE_DIR/pg" -c idle_session_timeout=1000) ||
        fail "could not start a private postgres"
    use_server postgres "$conninfo"
    name=$(lock_name pg)
    assert_run_ok "$name" sleep 3
    assert_recorded_and_free "$name" 1
    grep -q 'idle-session timeout' "$CASE_DIR/pg/pg.log" ||
        fail "the server ended no idle session: the case did not test what it says"

    start_gated "$name"
    assert_until 5000 sessions_at_least "$conninfo" 2
    old=$("$PSQL_BIN" "$conninfo" -XAtq -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'lockcoord'")
    # The idle timeout may end the idle main session first: whatever is
    # left of both is terminated, and none of them survives.
    n=$("$PSQL_BIN" "$conninfo" -XAtq -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid IN ($old)")
    ((n >= 1)) || fail "no session terminated (got '$n')"
    assert_until 5000 sessions_gone "$conninfo" "$old"
    assert_until 5000 sessions_at_least "$conninfo" 1 "$old" # the keeper is back
    finish_gated
    assert_recorded_and_free "$name" 2
}

e2e_init
run_case redis "server idle timeout closes connections during run: recorded, lock free" case_redis_idle_timeout
run_case redis "CLIENT KILL during run: recorded, lock free" case_redis_client_kill
run_case redis "server restart (same port, persisted) during run: recorded, lock free" case_redis_restart
run_case redis "a run's clients and reconnects warn about persistence once" case_redis_persistence_warning_once
run_case postgres "idle_session_timeout, pg_terminate_backend during run: recorded, lock free" case_postgres_idle_and_terminated
e2e_finish
