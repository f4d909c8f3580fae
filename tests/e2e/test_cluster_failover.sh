#!/usr/bin/env bash
# A Redis Cluster failover while `lockcoord run` holds a lock: a private
# cluster (3 masters, a replica each); run A holds a lock (ttl 2 s, renewed
# every 300 ms) and works for 6 s in a critical section at the fenced
# resource (tests/tools/fenced_resource.py); run B waits for the same
# lock; meanwhile the replica of the master that owns the lock's slot is
# promoted with CLUSTER FAILOVER. A either keeps its lease (exit 0, and
# `status` shows it after the failover) or stops its command before its
# ttl (exit 76). Either way the two critical sections never overlap (the
# resource's own order of events), both fenced writes are accepted, and
# B's fence is higher than A's. No skip: a redis-server without cluster
# support fails the test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS="$E2E_SRC/tests/tools"
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
HOLD_S=6

# The command: opens its section at the resource, writes with its fence,
# works HOLD_S seconds, closes the section. Killed, its connection closes,
# which closes the section too.
# shellcheck disable=SC2016 # expanded by the command's own shell
WORK='exec 3<>"/dev/tcp/127.0.0.1/$TORTURE_PORT" || exit 2
printf "S %s %s %s\n" "$LOCKCOORD_FENCE" "$TORTURE_RUN" "$PPID" >&3; read -r r <&3
printf "W\n" >&3; read -r r <&3; [[ $r == OK ]] || exit 3
echo "$LOCKCOORD_FENCE" >"$TORTURE_RUN.started"
read -r -t '"$HOLD_S"' _ <&3
printf "E\n" >&3; read -r r <&3; exit 0'

cli() { # PORT ARGS...
    local port=$1
    shift
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" </dev/null 2>&1 | tr -d '\r'
}

is_master() { # PORT
    [[ $(cli "$1" ROLE | head -n 1) == master ]]
}

# PORT NAME: a waiter subscribed on the lock's release channel there,
# with sharded pub/sub (SSUBSCRIBE, Redis 7) or plain (an older server).
is_waiting_on() {
    local ch="lockcoord:{$2}:released"
    [[ $(cli "$1" PUBSUB SHARDNUMSUB "$ch" | sed -n 2p) == 1 ||
        $(cli "$1" PUBSUB NUMSUB "$ch" | sed -n 2p) == 1 ]]
}

# A replica of MASTER_ID (seen from SEED_PORT) is attached and in sync:
# REPLICA_PORT.
replica_synced() {
    REPLICA_PORT=$(cli "$SEED_PORT" CLUSTER NODES |
        awk -v m="$MASTER_ID" '$4 == m { split($2, a, "[:@]"); print a[2]; exit }')
    [[ -n $REPLICA_PORT ]] && [[ $(cli "$REPLICA_PORT" INFO replication) == *master_link_status:up* ]]
}

# The lock is held with fence $2, as seen by `status` (it may have to
# find the new map first).
status_held() { # NAME FENCE
    local st
    st=$("$LC" -c "$CFG" --json status "$1" 2>/dev/null) || return 1
    [[ $(jq -r '.locks[0].health + " " + (.locks[0].fence|tostring)' <<<"$st") == "held $2" ]]
}

# shellcheck disable=SC2154 # a, b, resource: set by bg
case_failover() {
    local i url seed_port slot nodes master_id master_port replica_port name fa fb ev
    local a_rc a_end b_start
    for ((i = 1; i <= 6; i++)); do echo "$CASE_DIR/cl/node$i" >>"$CASE_DIR/.redis"; done
    url=$("$SERVERS" redis-cluster-start "$CASE_DIR/cl" 1) ||
        fail "could not start a Redis Cluster (does redis-server support --cluster-enabled?)"
    seed_port=${url##*:}
    seed_port=${seed_port%%/*}
    cat >"$CFG" <<EOF
backend: redis
redis:
  url: "$url"
  cluster: true
  connect_timeout: 300ms
  command_timeout: 300ms
lock:
  ttl: 2s
  renew_every: 300ms
  retry_min: 20ms
  retry_max: 200ms
log:
  level: error
EOF
    assert_exit 0 "$LC" -c "$CFG" migrate
    bg resource "$PY" "$TOOLS/fenced_resource.py" serve --port-file res.port --log res.log
    assert_until 10000 file_exists res.port
    export TORTURE_PORT
    TORTURE_PORT=$(cat res.port)

    name=$(lock_name failover)
    export TORTURE_RUN=a
    bg a lc run "$name" --ttl 2s --renew-every 300ms --kill-grace 200ms -- bash -c "$WORK"
    assert_until 10000 file_exists a.started
    fa=$(cat a.started)
    assert_until 5000 status_held "$name" "$fa"

    # The master that owns the lock's slot, and its replica.
    slot=$(cli "$seed_port" CLUSTER KEYSLOT "lockcoord:{$name}:lock")
    [[ $slot =~ ^[0-9]+$ ]] || fail "CLUSTER KEYSLOT: $slot"
    nodes=$(cli "$seed_port" CLUSTER NODES)
    read -r master_id master_port < <(awk -v s="$slot" '$3 ~ /master/ {
            for (i = 9; i <= NF; i++) { n = split($i, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
                if (s >= lo && s <= hi) { split($2, a, "[:@]"); print $1, a[2]; exit } } }' <<<"$nodes")
    [[ -n $master_port ]] || fail "no master owns slot $slot: $nodes"
    # The replicas may still be attaching (the cluster's gossip) when
    # servers.sh returns.
    MASTER_ID=$master_id SEED_PORT=$seed_port
    wait_until 15000 replica_synced ||
        fail "master $master_id (port $master_port) has no synced replica: $(cli "$seed_port" CLUSTER NODES)"
    replica_port=$REPLICA_PORT
    # The lease is on that master.
    [[ -n $(cli "$master_port" GET "lockcoord:{$name}:lock") ]] || fail "the lease is not on the master of slot $slot"

    # B waits for the lock during the failover.
    TORTURE_RUN=b
    bg b lc run "$name" --wait 30s --ttl 2s --renew-every 300ms --kill-grace 200ms -- bash -c "$WORK"
    assert_until 10000 is_waiting_on "$master_port" "$name"

    pid_alive "$a" || fail "run A ended before the failover: $(cat a.err)"
    assert_eq OK "$(cli "$replica_port" CLUSTER FAILOVER)" "CLUSTER FAILOVER on the replica"
    assert_until 15000 is_master "$replica_port"

    # A keeps its lease (status shows it, served by the new master) or
    # has lost it and stopped its command.
    if pid_alive "$a" && [[ ! -e b.started ]]; then
        wait_until 5000 status_held "$name" "$fa" || pid_gone "$a" ||
            fail "A runs, but status does not show its lease after the failover: $("$LC" -c "$CFG" --json status "$name" 2>&1)"
    fi
    bg_wait_within 20000 "$a"
    a_rc=$BG_RC
    [[ $a_rc == 0 || $a_rc == 76 ]] || fail "run A exited $a_rc (expected 0 or 76): $(cat a.err)"
    bg_wait_within 20000 "$b"
    assert_eq 0 "$BG_RC" "run B's exit (stderr: $(cat b.err))"
    fb=$(cat b.started)

    if grep -q -E 'Sanitizer|runtime error:' a.err b.err; then
        fail "a sanitizer reported an error: $(cat a.err b.err)"
    fi
    kill -TERM "$resource"
    bg_wait_within 10000 "$resource"

    # The resource's order: A's section ended before B's began, and each
    # wrote once, accepted, with B's fence higher.
    ev=$(jq -c 'select(.ev == "start" or .ev == "end" or .ev == "write")' res.log)
    a_end=$(jq -s 'map(select(.ev == "end" and .run == "a")) | .[0].seq // empty' <<<"$ev")
    b_start=$(jq -s 'map(select(.ev == "start" and .run == "b")) | .[0].seq // empty' <<<"$ev")
    [[ -n $a_end && -n $b_start ]] || fail "the resource did not record both sections: $ev"
    assert_lt "$a_end" "$b_start" "A's section end (seq) vs B's start (seq), A exited $a_rc"
    assert_eq 2 "$(jq -s 'map(select(.ev == "write" and .verdict == "accept")) | length' <<<"$ev")" \
        "accepted writes"
    assert_lt "$fa" "$fb" "A's fence vs B's fence"
    echo "    slot $slot: master :$master_port, replica :$replica_port promoted; A exited $a_rc (fence $fa), B fence $fb"
}

e2e_init
run_case redis "cluster: a master's replica promoted during a run: lease kept or command stopped, never two" case_failover
e2e_finish
