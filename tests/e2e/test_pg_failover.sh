#!/usr/bin/env bash
# A Postgres primary with a streaming standby (scripts/servers.sh
# pg-standby-start), reached through a multi-host conninfo with
# target_session_attrs=read-write. While a `run` holds a lock the primary is
# stopped and the standby promoted (pg_ctl promote):
#  - with a synchronous standby, or an asynchronous one that had the
#    lease, the keeper's next renewal reconnects to the new primary and the
#    lease survives: the command completes, the run is recorded there;
#  - with an asynchronous standby that had not received the acquire, the
#    new primary does not know the lease: the holder's next renewal there
#    finds it lost and its command is stopped (exit 76), well before its
#    ttl; a second holder can take the lock meanwhile, for at most that
#    long (what the README says about asynchronous replication).
# And the warning about asynchronous standbys: once per process, not with
# a synchronous standby, not on a server without standbys, not when
# silenced. Each case starts its own servers in its case directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TTL_MS=6000
RENEW=300ms
WARNING='replicates asynchronously'

# ha_start MODE: a primary and a standby in $CASE_DIR/ha (stopped at
# cleanup); sets HA (the multi-host conninfo), P1 and P2 (their ports).
ha_start() {
    echo "$CASE_DIR/ha/standby" >>"$CASE_DIR/.pg"
    echo "$CASE_DIR/ha/primary" >>"$CASE_DIR/.pg"
    HA=$("$SERVERS" pg-standby-start "$CASE_DIR/ha" "$1") ||
        fail "could not start a primary with a $1 standby"
    P1=$(cat "$CASE_DIR/ha/primary/pg.port")
    P2=$(cat "$CASE_DIR/ha/standby/pg.port")
}

sql_at() { # PORT SQL: one value, from database lockcoord_test on PORT
    "$PSQL_BIN" "host=127.0.0.1 port=$1 dbname=lockcoord_test user=postgres" -XAtq -c "$2" 2>&1
}

# use_ha [EXTRA_YAML_LINES]: this case's config on the topology, logging
# warnings (the replication warning is what some cases check).
use_ha() {
    CFG="$CASE_DIR/ha.yaml"
    write_config "$CFG" postgres "$HA" "${1:-}"
    sed -i 's/^  level: error$/  level: warn/' "$CFG"
}

warnings_in() { # FILE: how many replication warnings it has
    grep -c "$WARNING" "$1"
}

lock_status_at() { # PORT NAME: the row's status on that server ("" if none)
    sql_at "$1" "SELECT status FROM lockcoord_locks WHERE name = '$2'"
}

has_status() { # PORT NAME STATUS
    [[ $(lock_status_at "$1" "$2") == "$3" ]]
}

renewed_at() { # PORT NAME TIMESTAMP: the lease's expiry there moved past TIMESTAMP
    [[ $(sql_at "$1" "SELECT lease_expires_at > '$3'::timestamptz FROM lockcoord_locks WHERE name = '$2'") == t ]]
}

no_standby() { # PORT: the primary there streams to nobody
    [[ $(sql_at "$1" "SELECT count(*) FROM pg_stat_replication") == 0 ]]
}

# Stops the primary, promotes the standby; sets T_FAILOVER (when the
# primary began to stop) and T_PROMOTED (when the standby took writes).
failover() {
    T_FAILOVER=$(now_ms)
    "$SERVERS" pg-stop "$CASE_DIR/ha/primary" || fail "pg-stop of the primary"
    "$SERVERS" pg-promote "$CASE_DIR/ha" || fail "pg-promote"
    T_PROMOTED=$(now_ms)
}

# The command of a holder: its fence, a marker once started, then it waits
# for the case's "go"; on SIGTERM it notes when it was stopped.
HOLD='echo "$LOCKCOORD_FENCE" > fence$1; trap "date +%s%3N > stopped$1; exit 143" TERM
date +%s%3N > started$1; while [ ! -e go$1 ]; do sleep 0.02; done; touch finished$1'

start_holder() { # VAR NAME N [RUN OPTIONS...]: holder N of NAME in the background
    local var=$1 name=$2 n=$3
    shift 3
    bg "$var" lc run "$name" --ttl "${TTL_MS}ms" --renew-every "$RENEW" "$@" -- sh -c "$HOLD" sh "$n"
}

# The standby had the lease, so the new primary keeps renewing it.
case_failover_keeps_lease() {
    local mode=$1 name exp fence st
    ha_start "$mode"
    use_ha
    name=$(lock_name "ha-$mode")
    start_holder holder "$name" 1
    assert_until 10000 file_written started1
    # Synchronous: there at commit. Asynchronous: replayed a moment later.
    assert_until 10000 has_status "$P2" "$name" running
    exp=$(sql_at "$P2" "SELECT lease_expires_at FROM lockcoord_locks WHERE name = '$name'")
    failover
    # The keeper's renewals now reach the new primary.
    assert_until "$TTL_MS" renewed_at "$P2" "$name" "$exp"
    echo "    a renewal reached the new primary $(($(now_ms) - T_PROMOTED)) ms after the promotion"
    # Held there: a second run is refused and its command never starts.
    assert_exit 75 lc run "$name" -- touch second-ran
    [[ ! -e second-ran ]] || fail "a second command ran while the lease was held"
    touch go1
    bg_wait_within 15000 "$holder"
    assert_eq 0 "$BG_RC" "holder's exit (stderr: $(cat holder.err))"
    assert_file finished1 "the command's end"
    [[ ! -e stopped1 ]] || fail "the command was stopped"
    # Recorded on the new primary (the only server left), fence unchanged.
    fence=$(cat fence1)
    assert_exit 0 lc --json status "$name"
    st=$OUT
    assert_json "$st" '.locks[0].health' ready
    assert_json "$st" '.locks[0].sync_count' 1
    assert_json "$st" '.locks[0].last_exit' 0
    assert_json "$st" '.locks[0].fence' "$fence"
    assert_eq idle "$(lock_status_at "$P2" "$name")" "the row on the new primary"
    if [[ $mode == sync ]]; then
        assert_eq 0 "$(warnings_in holder.err)" "replication warnings with a synchronous standby"
    else
        assert_eq 1 "$(warnings_in holder.err)" "replication warnings of one run (two connections)"
    fi
}

case_failover_sync() {
    case_failover_keeps_lease sync
}

case_failover_async_replicated() {
    case_failover_keeps_lease async
}

# The acquire never reached the standby (replication was cut first): after
# the failover the lock is free on the new primary. The holder's next
# renewal finds its lease gone and its command is stopped; a second holder
# that took the lock meanwhile overlapped it by less than the ttl.
case_failover_async_lost_acquire() {
    local name t_stop t_start2 f1 f2
    ha_start async
    use_ha "  warn_async_replication: false"
    name=$(lock_name ha-lost)
    assert_exit 0 lc migrate
    # The table reached the standby (an error would not be empty).
    assert_until 10000 has_status "$P2" "$name" ""
    # Replication cut: the standby streams from a port nobody listens on.
    sql_at "$P2" "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=postgres'" >/dev/null
    sql_at "$P2" "SELECT pg_reload_conf()" >/dev/null
    assert_until 10000 no_standby "$P1"
    start_holder holder "$name" 1
    assert_until 10000 file_written started1
    assert_eq running "$(lock_status_at "$P1" "$name")" "the lease on the primary"
    assert_eq "" "$(lock_status_at "$P2" "$name")" "the lease on the standby (not replicated)"
    failover
    # The new primary hands the lock out again at once.
    start_holder second "$name" 2 --wait 20s
    bg_wait_within $((TTL_MS + 5000)) "$holder"
    assert_eq 76 "$BG_RC" "holder's exit (stderr: $(cat holder.err))"
    assert_contains "$(cat holder.err)" "lost" "holder's stderr"
    assert_file stopped1 "the first command's stop"
    [[ ! -e finished1 ]] || fail "the first command ran to its end"
    t_stop=$(cat stopped1)
    # Its last renewal was before the primary stopped.
    assert_lt $((t_stop - T_FAILOVER)) "$TTL_MS" "ms from the primary's stop to the first command's stop"
    assert_until 10000 file_written started2
    t_start2=$(cat started2)
    echo "    failover took $((T_PROMOTED - T_FAILOVER)) ms; from its start, the first command" \
        "stopped after $((t_stop - T_FAILOVER)) ms, the second started after $((t_start2 - T_FAILOVER)) ms"
    # Two holders at once for at most the first's renewal interval; never
    # past its ttl.
    assert_lt $((t_stop - t_start2)) "$TTL_MS" "ms the two commands overlapped"
    # The fence the old primary handed out was lost with it: the second
    # holder may get the same number again (the README's warning).
    f1=$(cat fence1)
    f2=$(cat fence2)
    assert_ge "$f1" "$f2" "first holder's fence vs the second's"
    touch go2
    bg_wait_within 15000 "$second"
    assert_eq 0 "$BG_RC" "second holder's exit (stderr: $(cat second.err))"
}

# The old primary is frozen (SIGSTOP), not stopped: its connection stays
# open and it still accepts TCP connections, but never answers. The
# keeper's renewal there gives up at the statement deadline, its reconnect
# skips the frozen host after connect_timeout and reaches the new primary
# well inside the ttl: the lease is kept. The final release, on the run's
# other connection (to the frozen server), gets no answer: the lease is
# left to expire.
case_failover_frozen_primary() {
    local name pids t0 exp
    ha_start sync
    use_ha "  statement_timeout: 500ms
  connect_timeout: 1s"
    name=$(lock_name ha-frozen)
    bg holder lc run "$name" --ttl 15s --renew-every 500ms -- sh -c "$HOLD" sh 1
    assert_until 10000 file_written started1
    assert_until 10000 has_status "$P2" "$name" running
    pids="$("$SERVERS" pg-pid "$CASE_DIR/ha/primary") $(ps -o pid= --ppid "$("$SERVERS" pg-pid "$CASE_DIR/ha/primary")")"
    # shellcheck disable=SC2086 # a list of pids
    register_frozen $pids
    # shellcheck disable=SC2086
    kill -STOP $pids
    t0=$(now_ms)
    "$SERVERS" pg-promote "$CASE_DIR/ha" || fail "pg-promote"
    exp=$(sql_at "$P2" "SELECT lease_expires_at FROM lockcoord_locks WHERE name = '$name'")
    # statement deadline (1.5 s) + connect_timeout (libpq: 2 s at least)
    # + a renewal interval, with room to spare inside the 15 s ttl.
    assert_until 12000 renewed_at "$P2" "$name" "$exp"
    echo "    a renewal reached the new primary $(($(now_ms) - t0)) ms after the freeze"
    touch go1
    bg_wait_within 15000 "$holder"
    assert_eq 0 "$BG_RC" "holder's exit (stderr: $(cat holder.err))"
    assert_file finished1 "the command's end"
    [[ ! -e stopped1 ]] || fail "the command was stopped"
    # The run's own connection still went to the frozen server: its
    # release got no answer, and is not sent twice (it may have run there).
    assert_contains "$(cat holder.err)" "the lease expires by itself" "holder's stderr"
}

# The warning: once per process, with the setting that fixes it; silenced
# by postgres.warn_async_replication: false; not on a server with no
# standby (the shared test server).
case_warning() {
    local name
    ha_start async
    use_ha
    name=$(lock_name warn)
    assert_exit 0 lc status "$name"
    assert_eq 1 "$(warnings_in "$CASE_DIR/.err")" "replication warnings of status"
    assert_contains "$ERR" "synchronous_standby_names is empty, synchronous_commit is on" "the warning"
    assert_contains "$ERR" "postgres 127.0.0.1:$P1: 1 standby replicates asynchronously" "the warning"
    assert_contains "$ERR" "set synchronous_standby_names on the primary" "the warning"
    # A run opens two connections (its own and the keeper's): still one line.
    assert_exit 0 lc run "$name" -- true
    assert_eq 1 "$(warnings_in "$CASE_DIR/.err")" "replication warnings of run"
    use_ha "  warn_async_replication: false"
    assert_exit 0 lc run "$name" -- true
    assert_eq "" "$ERR" "stderr with the warning silenced"
    assert_exit 0 lc config check
    assert_contains "$OUT" "warn_async_replication: false" "config check"
    # Without standbys: nothing to lose in a failover, nothing said.
    CFG="$CASE_DIR/single.yaml"
    write_config "$CFG" postgres
    sed -i 's/^  level: error$/  level: warn/' "$CFG"
    assert_exit 0 lc run "$name" -- true
    assert_eq "" "$ERR" "stderr on a server without standbys"
}

# synchronous_standby_names set but synchronous_commit local: commits do
# not wait for the standby, so the warning names synchronous_commit.
case_warning_sync_commit_local() {
    local name
    ha_start sync
    use_ha
    name=$(lock_name warn-local)
    assert_exit 0 lc status "$name"
    assert_eq "" "$ERR" "stderr with a synchronous standby"
    sql_at "$P1" "ALTER ROLE postgres SET synchronous_commit = local" >/dev/null
    assert_exit 0 lc status "$name"
    assert_eq 1 "$(warnings_in "$CASE_DIR/.err")" "replication warnings with synchronous_commit local"
    assert_contains "$ERR" "synchronous_standby_names is 'lockcoord_standby', synchronous_commit is local" "the warning"
}

e2e_init
run_case postgres "failover with a synchronous standby: lease kept, renewed on the new primary" case_failover_sync
run_case postgres "failover with a caught-up asynchronous standby: lease kept" case_failover_async_replicated
run_case postgres "failover losing an unreplicated acquire: holder stopped before its ttl" case_failover_async_lost_acquire
run_case postgres "failover from a frozen primary: reconnect bounded, lease kept" case_failover_frozen_primary
run_case postgres "asynchronous standby: one warning per process, silenced by config" case_warning
run_case postgres "synchronous_commit local: the warning names it" case_warning_sync_commit_local
e2e_finish
