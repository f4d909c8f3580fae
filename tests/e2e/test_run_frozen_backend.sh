#!/usr/bin/env bash
# The backend frozen with SIGSTOP while `run --ttl 3s` holds its lock: the
# command is stopped and lockcoord exits 76 before the ttl has passed since
# the last renewal that reached the server -- i.e. before the server could
# hand the lock to anyone else. Each case freezes a PRIVATE server.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# bash, for $EPOCHREALTIME: the trap records the time without forking
# `date`, which under load would add its own milliseconds to the measure.
# The shell waits in the `wait` builtin, which a trapped signal interrupts
# at once (a foreground `sleep` would hold the trap back until it ends).
WORK='echo $$ > cmd.pid; trap "t=\${EPOCHREALTIME/./}; echo \${t:0:-3} > stopped; exit 143" TERM; touch started; while :; do sleep 60 & wait $!; done'
TTL_MS=3000

# How the timestamps make the claim sound:
# - The server logs every command it receives with its own time (Redis
#   MONITOR, microseconds; Postgres log_statement=all with %m, ms; the
#   prefix avoids shell characters: pg_ctl passes options through sh), on
#   this host's clock. After the freeze nothing more reaches it, so the
#   last logged lease command (acquire or renewal) at time R is the last
#   successful renewal, and the lease's expiry on the server is R + ttl
#   (Redis: PX ttl at R; Postgres: now() + ttl, now() <= the log time, so
#   R + ttl is at or after the real expiry by under a millisecond).
# - The command records when SIGTERM reached it (its trap reads
#   $EPOCHREALTIME: at or after the signal). lockcoord's exit time is when the shell's `wait`
#   returned: at or after the real exit. Both are checked from the safe side.
#
# What is asserted:
# 1. the command was stopped before R + ttl: the safety property (the
#    server cannot hand the lock to anyone before R + ttl);
# 2. lockcoord exited 76 before T + ttl, T the freeze (the issue's words;
#    weaker than 1 since R < T);
# 3. lockcoord exited at most TEARDOWN_MS after R + ttl: it does not hang
#    around once the lease is lost. The keeper's local deadline is the
#    renewal's send time + ttl - (1% of ttl + 2 ms), so at most R + 2968
#    ms: 32 ms before the server's expiry, for stopping the command. With a
#    1 s ttl that margin is 12 ms, and with both cores busy the command
#    stopped as late as R + 999 ms: too close to be a test that never
#    flakes, hence 3 s. Measured with both cores busy (stress-ng --cpu 2),
#    ASan build: the command stops at R + 2968..2983 ms, lockcoord exits
#    20..70 ms after that (reaping, closing, LeakSanitizer's scan); the
#    teardown bound is several times that. Only a command that dies on
#    SIGTERM lets lockcoord exit this early at all (a command that ignores
#    it keeps lockcoord for --kill-grace), so the bound that matters is 1.
TEARDOWN_MS=300
check_exit_times() { # T_FREEZE LAST_RENEWAL_MS
    local t=$1 r=$2 stopped
    assert_eq 76 "$BG_RC" "lockcoord's exit (stderr: $(cat holder.err))"
    pid_gone "$(cat cmd.pid)" || fail "the command still runs after lockcoord exited"
    assert_file stopped "the command's SIGTERM record"
    stopped=$(cat stopped)
    assert_ge "$t" "$r" "the last renewal vs the freeze"
    echo "    last renewal R = T-$((t - r)) ms (T: freeze); command stopped at R+$((stopped - r)) ms; lockcoord exited at R+$((BG_END - r)) ms = T+$((BG_END - t)) ms (ttl $TTL_MS)"
    assert_lt "$stopped" $((r + TTL_MS)) "command stopped vs last renewal + ttl"
    assert_lt "$BG_END" $((t + TTL_MS)) "exit vs freeze + ttl"
    assert_lt "$BG_END" $((r + TTL_MS + TEARDOWN_MS)) "exit vs last renewal + ttl + teardown"
    assert_contains "$(cat holder.err)" "lost" "lockcoord's message"
}

# Starts the run and lets it renew a few times.
start_holder() { # NAME
    bg holder lc run "$1" --ttl 3s --renew-every 500ms -- bash -c "$WORK"
    assert_until 5000 file_exists started
    # On purpose: some renewals (every 500 ms) before the freeze.
    sleep 1.2
    pid_alive "$holder" || fail "lockcoord exited early: $(cat holder.err)"
}

case_frozen_redis() {
    local url name pid t r
    url=$(redis_private) || exit 1
    pid=$(cat "$CASE_DIR/redis/redis.pid")
    CFG="$CASE_DIR/private.yaml"
    write_config "$CFG" redis "$url" "  command_timeout: 300ms
  connect_timeout: 300ms"
    name=$(lock_name frozen)
    bg monitor redis-cli -u "$url" monitor
    assert_until 2000 grep -q OK monitor.out
    start_holder "$name"

    t=$(now_ms)
    kill -STOP "$pid"
    register_frozen "$pid"
    bg_wait_within 8000 "$holder"
    # The last EVALSHA (acquire/renew script) the server saw, in ms.
    r=$(grep -E '"(EVALSHA|EVAL)"' monitor.out | tail -n 1 | awk '{ split($1, t, "."); print t[1] substr(t[2], 1, 3) }')
    assert_ne "" "$r" "last renewal time from MONITOR"
    check_exit_times "$t" "$r"
}

case_frozen_postgres() {
    local conninfo name pm kids t r line
    echo "$CASE_DIR/pg" >>"$CASE_DIR/.pg"
    conninfo=$("$SERVERS" pg-start "$CASE_DIR/pg" -c log_statement=all -c 'log_line_prefix=%m~') ||
        fail "could not start a private postgres"
    pm=$("$SERVERS" pg-pid "$CASE_DIR/pg")
    CFG="$CASE_DIR/private.yaml"
    write_config "$CFG" postgres "$conninfo" "  statement_timeout: 500ms
  connect_timeout: 1s"
    name=$(lock_name frozen)
    start_holder "$name"

    kill -STOP "$pm"
    register_frozen "$pm"
    kids=$(pgrep -P "$pm" | tr '\n' ' ')
    # shellcheck disable=SC2086
    register_frozen $kids
    pkill -STOP -P "$pm"
    # Frozen from here on: a backend may still have answered a renewal
    # while the others were being stopped.
    t=$(now_ms)
    bg_wait_within 8000 "$holder"
    # The last statement that sets a lease's expiry (acquire, renew, or the
    # keeper's renew_many, which sets it in a CASE on liveness).
    line=$(grep -a -E 'LOG: .*lease_expires_at = (now\(\) \+|CASE WHEN)' "$CASE_DIR/pg/pg.log" | tail -n 1)
    assert_ne "" "$line" "last renewal in the server log"
    r=$(date -d "${line%%~*}" +%s%3N) || fail "bad log time in: $line"
    check_exit_times "$t" "$r"
}

e2e_init
run_case redis "frozen server: command stopped, exit 76 before ttl since last renewal" case_frozen_redis
run_case postgres "frozen server: command stopped, exit 76 before ttl since last renewal" case_frozen_postgres
e2e_finish
