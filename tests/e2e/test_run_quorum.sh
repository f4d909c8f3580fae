#!/usr/bin/env bash
# `run` in quorum mode (redis.quorum) over three PRIVATE masters that this
# test freezes with SIGSTOP (lib.sh thaws and stops them at cleanup): with
# one master frozen the run keeps its lease; with a second frozen the
# renewals reach no majority, the lease is lost at its local deadline,
# before the ttl of the last renewal that reached the masters, and the
# command is stopped (exit 76). Afterwards the next holder gets a higher
# fence.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORK='echo $$ > cmd.pid; echo "$LOCKCOORD_FENCE" > fence; trap "t=\${EPOCHREALTIME/./}; echo \${t:0:-3} > stopped; exit 143" TERM; touch started; while :; do sleep 60 & wait $!; done'
TTL_MS=3000

# quorum_private: three masters in CASE_DIR/q, stopped at cleanup; prints
# the config's quorum lines.
quorum_private() {
    local urls u i
    urls=$("$SERVERS" redis-quorum-start "$CASE_DIR/q") || fail "could not start the masters"
    for i in 1 2 3; do echo "$CASE_DIR/q/master$i" >>"$CASE_DIR/.redis"; done
    echo "  command_timeout: 300ms"
    echo "  connect_timeout: 300ms"
    echo "  quorum:"
    for u in $urls; do echo "    - \"$u\""; done
}

master_pid() { # N
    cat "$CASE_DIR/q/master$1/redis.pid"
}

case_quorum_frozen() {
    local extra name t fence next out
    extra=$(quorum_private) || exit 1
    CFG="$CASE_DIR/quorum.yaml"
    {
        echo "backend: redis"
        echo "redis:"
        printf '%s\n' "$extra"
        printf 'lock:\n  ttl: 3s\n  renew_every: 1s\n  retry_min: 50ms\n  retry_max: 200ms\nlog:\n  level: error\n'
    } >"$CFG"
    name=$(lock_name quorum)
    bg holder lc run "$name" --ttl 3s --renew-every 500ms -- bash -c "$WORK"
    assert_until 5000 file_exists started
    fence=$(cat fence)

    # One of three frozen: renewals go on (several ttls' worth of them).
    kill -STOP "$(master_pid 3)"
    register_frozen "$(master_pid 3)"
    sleep 4 # on purpose: longer than the ttl, so the lease lived on renewals
    pid_alive "$holder" || fail "the run ended with one master frozen: $(cat holder.err)"
    [[ ! -e stopped ]] || fail "the command was stopped with one master frozen"

    # Two of three: no majority. Lost at the local deadline, which comes
    # before the ttl of the last renewal that was sent before this freeze.
    t=$(now_ms)
    kill -STOP "$(master_pid 2)"
    register_frozen "$(master_pid 2)"
    bg_wait_within 8000 "$holder"
    assert_eq 76 "$BG_RC" "lockcoord's exit (stderr: $(cat holder.err))"
    assert_file stopped "the command's SIGTERM record"
    assert_lt "$(cat stopped)" $((t + TTL_MS)) "command stopped vs freeze + ttl"
    pid_gone "$(cat cmd.pid)" || fail "the command still runs after lockcoord exited"
    assert_contains "$(cat holder.err)" "lost" "lockcoord's message"

    # Thawed: the next holder waits out what is left of the lease and gets
    # a higher fence.
    kill -CONT "$(master_pid 2)" "$(master_pid 3)"
    out=$(lc --json acquire "$name" --ttl 3s --wait 10s) || fail "acquire after the thaw failed"
    next=$(json_get "$out" .fence)
    assert_lt "$fence" "$next" "fence before vs after"
}

# quorum_waiting NAME: a waiting run watches NAME's release channel on
# one of the masters.
quorum_waiting() {
    local i n=0
    for i in 1 2 3; do
        n=$((n + $(redis-cli -p "$(cat "$CASE_DIR/q/master$i/redis.port")" PUBSUB NUMSUB "lockcoord:{$1}:released" | sed -n 2p)))
    done
    ((n >= 1))
}

# A signal to a waiting run ends it at once, as with one server. Quorum
# mode starts a thread per master when the client opens, before `run`
# blocks its stop signals: those threads took the signals (a SIGINT that
# a shell had ignored was dropped, so the run waited on and then ran the
# command; a SIGTERM killed lockcoord outright).
case_quorum_signal_while_waiting() {
    local extra name sig code waiter
    extra=$(quorum_private) || exit 1
    CFG="$CASE_DIR/quorum.yaml"
    {
        echo "backend: redis"
        echo "redis:"
        printf '%s\n' "$extra"
        printf 'log:\n  level: error\n'
    } >"$CFG"
    name=$(lock_name qwait)
    assert_exit 0 lc --json acquire "$name" --ttl 30s --owner e2e-holder
    for sig in INT TERM HUP; do
        code=$((128 + $(kill -l "$sig")))
        bg waiter lc run "$name" --wait 20s -- touch ran
        assert_until 5000 quorum_waiting "$name"
        kill -"$sig" "$waiter"
        bg_wait_within 2000 "$waiter"
        assert_eq "$code" "$BG_RC" "exit after SIG$sig while waiting (stderr: $(cat waiter.err))"
        [[ ! -e ran ]] || fail "the command ran after SIG$sig"
        assert_contains "$(cat waiter.err)" "while waiting for the lock" "message after SIG$sig"
    done
}

e2e_init
run_case redis "quorum: one master frozen keeps the lease, two stop the command (76) before the ttl" case_quorum_frozen
run_case redis "quorum: a signal to a waiting run ends it at once (128+N)" case_quorum_signal_while_waiting
e2e_finish
