#!/usr/bin/env bash
# Signals to `run` before its command starts: while it waits for the lock
# the wait ends at once with 128+N and nothing taken or recorded; between
# the acquire and the start the lease is given back and the command never
# starts; from then on the signal reaches the command. Never is a signal
# held back until the command has run, nor lost.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# hold NAME: takes the lock for 20 s with `acquire`; sets TOKEN and FENCE.
hold() {
    assert_exit 0 lc --json acquire "$1" --ttl 20s --owner e2e-holder
    jset TOKEN "$OUT" .token
    jset FENCE "$OUT" .fence
}

# One waiting run per signal: it must end within 2 s of the signal (it
# ends within milliseconds; without the fix it waited the full --wait and
# then ran the command).
case_signal_while_waiting() {
    local backend=$1 name app sig code json waiter
    name=$(lock_name waiting)
    hold "$name"
    for sig in TERM INT HUP; do
        code=$((128 + $(kill -l "$sig")))
        app="e2e-sigwait-$$-$RANDOM"
        json=()
        [[ $sig != INT ]] || json=(--json)
        PGAPPNAME=$app bg waiter lc "${json[@]}" run "$name" --wait 20s -- touch ran
        assert_until 5000 is_waiting "$backend" "$name" "$app"
        kill -"$sig" "$waiter"
        bg_wait_within 2000 "$waiter"
        assert_eq "$code" "$BG_RC" "exit after SIG$sig while waiting (stderr: $(cat waiter.err))"
        [[ ! -e ran ]] || fail "the command ran after SIG$sig"
        assert_contains "$(cat waiter.err)" "while waiting for the lock" "message after SIG$sig"
        if ((${#json[@]})); then
            assert_json "$(cat waiter.out)" .outcome interrupted
            assert_json "$(cat waiter.out)" .exit_code "$code"
            assert_json "$(cat waiter.out)" .fence null
        fi
    done
    # Nothing was taken, bumped or recorded: the holder's lease is as it was.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].health' held
    assert_json "$OUT" '.locks[0].owner' e2e-holder
    assert_json "$OUT" '.locks[0].fence' "$FENCE"
    assert_json "$OUT" '.locks[0].sync_count' 0
    assert_exit 0 lc release "$name" --token "$TOKEN"
}

# acquire_is_blocked BACKEND APP URL: the run's acquire has reached the
# server and waits there (Redis: a client paused on EVAL/EVALSHA;
# Postgres: a session of APP waiting for a row lock).
acquire_is_blocked() {
    if [[ $1 == redis ]]; then
        redis-cli -u "$3" --no-auth-warning CLIENT LIST | grep -q 'flags=b .*cmd=eval'
    else
        [[ $(pg_query "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$2' AND wait_event_type = 'Lock'") == 1 ]]
    fi
}

# pg_session_ready APP: the psql session holding the row lock is idle in
# its transaction (its FOR UPDATE went through).
pg_session_ready() {
    [[ $(pg_query "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND state = 'idle in transaction'") == 1 ]]
}

# The signal comes while the acquire is in flight, held at the server (a
# paused Redis, a row lock in Postgres): the acquire then succeeds, and the
# run must give the lease back without starting the command.
case_signal_during_acquire() {
    local backend=$1 name app url="" holder_app
    name=$(lock_name acquiring)
    app="e2e-sigacq-$$-$RANDOM"
    if [[ $backend == redis ]]; then
        url=$(redis_private) || exit 1
        CFG="$CASE_DIR/private.yaml"
        write_config "$CFG" redis "$url" "  command_timeout: 30s"
        assert_exit 0 lc run "$name" -- true # the lock exists, fence 1
        redis-cli -u "$url" CLIENT PAUSE 30000 WRITE >/dev/null
    else
        write_config "$CFG" postgres "" "  statement_timeout: 30s"
        assert_exit 0 lc run "$name" -- true # the row exists, fence 1
        holder_app="e2e-rowlock-$$-$RANDOM"
        mkfifo sql
        PGAPPNAME=$holder_app bg rowlock "$PSQL_BIN" "$LOCKCOORD_TEST_PG_CONNINFO" -XAtq -f sql
        exec 7>sql
        echo "BEGIN; SELECT name FROM lockcoord_locks WHERE name = '$name' FOR UPDATE;" >&7
        assert_until 5000 pg_session_ready "$holder_app"
    fi

    PGAPPNAME=$app bg runner lc run "$name" -- touch ran
    assert_until 5000 acquire_is_blocked "$backend" "$app" "$url"
    kill -TERM "$runner"
    if [[ $backend == redis ]]; then
        redis-cli -u "$url" CLIENT UNPAUSE >/dev/null
    else
        echo "COMMIT;" >&7
        exec 7>&-
    fi
    bg_wait_within 5000 "$runner"
    assert_eq 143 "$BG_RC" "exit after SIGTERM during the acquire (stderr: $(cat runner.err))"
    [[ ! -e ran ]] || fail "the command ran after SIGTERM"
    assert_contains "$(cat runner.err)" "before the command started" "message"

    # The lease was taken (fence 2) and given back at once, saying why.
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].fence' 2
    assert_ne held "$(json_get "$OUT" '.locks[0].health')" "health after the signal"
    assert_contains "$(json_get "$OUT" '.locks[0].last_error')" "before the command started"
    assert_exit 0 lc acquire "$name" --ttl 1s
}

# SIGTERM 0..25 ms after `run` starts, in 0.5 ms steps: whether it lands
# before, during or after the acquire or the spawn, the command never runs
# to its end. (It used to when the signal came just after the guard was
# forked and before it had forked the command: a window of a millisecond
# or two, a few ms after the start; the sweep crosses it wherever load puts
# it.)
# PID runs the lockcoord under test (it has exec'd).
is_lockcoord() {
    [[ $(readlink "/proc/$1/exe" 2>/dev/null) == "$(readlink -f "$LC")" ]]
}

case_signal_right_after_start() {
    local name us pid
    name=$(lock_name early)
    for us in $(seq 0 500 25000); do
        bg early lc run "$name" -- sh -c 'sleep 3; touch completed'
        pid=$early
        # From the exec of lockcoord on: a signal before it reaches the
        # shell's child, whose handling of it is bash's business.
        assert_until 5000 is_lockcoord "$pid"
        sleep "$(printf '0.%06d' "$us")"
        kill -TERM "$pid"
        bg_wait_within 5000 "$pid"
        assert_eq 143 "$BG_RC" "exit after SIGTERM at +$us us (stderr: $(cat early.err))"
        [[ ! -e completed ]] || fail "the command ran to its end after SIGTERM at +$us us"
    done
    # Every path gave the lock back.
    assert_exit 0 lc acquire "$name" --ttl 1s
}

e2e_init
for b in redis postgres; do
    run_case "$b" "SIGTERM/INT/HUP while waiting: 128+N at once, nothing taken" case_signal_while_waiting
    run_case "$b" "SIGTERM during the acquire: lease given back, command not started" case_signal_during_acquire
    run_case "$b" "SIGTERM right after start: never a completed command" case_signal_right_after_start
done
e2e_finish
