#!/usr/bin/env bash
# The mutual-exclusion torture test: K `lockcoord run` processes loop on
# one lock while a fault injector, driven by a seed it prints, freezes and
# kills holders, freezes and restarts the backend, kills lockcoord's
# connections and resets the lock. Each run's command does one fenced
# write to a shared resource (tests/tools/fenced_resource.py, which also
# records the start and end of every critical section, and checks what it
# recorded) and then stays in its critical section for a while.
#
#   LOCKCOORD_TORTURE_SECONDS  how long faults are injected per backend
#                              (default 20)
#   LOCKCOORD_TORTURE_SEED     replays a run's choices: which fault, after
#                              what pause, for how long, which holder (by
#                              its place among those there are); default:
#                              a new seed, printed. Only the choices replay:
#                              how the processes interleave is up to the
#                              machine.
#   LOCKCOORD_TORTURE_BACKENDS  the cases to run (default: redis postgres
#                              redis-quorum)
#   LOCKCOORD_TORTURE_KEEP     a directory: a failed case's logs are copied
#                              there (the resource's log, every run's
#                              output, the servers' logs).
#
# What lockcoord guarantees, and so what is asserted:
#
# - A holder stops its command before its lease can expire on the server:
#   the local deadline (measured from when a renewal was sent, minus a
#   drift allowance) passes first, and then the keeper, or the guard if
#   lockcoord itself is not running, sends SIGTERM; a killed lockcoord takes
#   its command with it (the guard's PR_SET_PDEATHSIG). A server that is
#   frozen or restarted only delays renewals, so this holds through those
#   faults too (the server's own ttl keeps running, and a restarted Redis
#   keeps its leases and fence counters: it runs with appendfsync always).
#   Hence: among holders that were neither paused nor reset, no two
#   critical sections overlap in time -- also when the backend was frozen,
#   restarted or cut off while they held the lock, and when lockcoord was
#   killed with kill -9. (This takes processes to get the CPU within a few
#   milliseconds of a signal, as they do beside a CPU hog; a tracer that
#   stops every process at each system call, strace -f, freezes holders
#   as a SIGSTOP does, and there overlaps are seen.)
# - No process can guard against being frozen itself, its guard with it
#   (SIGSTOP of the whole tree, for longer than the ttl), and a reset takes
#   a lease away while its holder works, which notices only at its next
#   renewal. Those holders can overlap with the next one, and the fence
#   is what keeps them from doing harm: fences are never handed out twice
#   and strictly increase, so the resource refuses their late writes. Every
#   refused write must come from such a holder, and lockcoord must have
#   told it its lease was lost (exit 76; or it was killed with kill -9).
# - Nothing is stuck: one ttl after the faults end the lock is free or
#   held by a live process, writes are accepted again, and once every
#   worker has stopped a new run takes the lock at once.
# - In quorum mode (redis.quorum over three private masters) the server
#   faults hit ONE master at a time (frozen, restarted, its connections
#   killed), chosen by the plan: a majority stays, so runs go on; the
#   same invariants are asserted.
# - The test did something: every kind of fault was injected at least
#   once, and at least MIN_ACCEPTED writes were accepted.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS="$E2E_SRC/tests/tools"
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
K=8
TTL_MS=500
SECS=${LOCKCOORD_TORTURE_SECONDS:-20}
SEED=${LOCKCOORD_TORTURE_SEED:-$(((RANDOM << 15) | RANDOM))}
# Writes accepted, at least: one every 2 s of faults. A run without
# faults takes well under a second even under ASan on a loaded machine;
# the faults stop the lock for about half of the time.
MIN_ACCEPTED=$((SECS / 2))
KINDS=(pause kill9 server-pause server-restart conn-kill reset)
REDIS_ARGS=(--appendonly yes --appendfsync always)

[[ $SECS =~ ^[1-9][0-9]*$ ]] || { echo "LOCKCOORD_TORTURE_SECONDS must be a positive whole number" >&2; exit 64; }
[[ $SEED =~ ^[0-9]+$ ]] || { echo "LOCKCOORD_TORTURE_SEED must be a whole number" >&2; exit 64; }

# ------------------------------------------------------------ helpers

sleep_ms() {
    sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}

# in_range N LO HI: N (a planned random number) mapped into [LO, HI].
in_range() {
    echo $(($2 + $1 % ($3 - $2 + 1)))
}

# res LINE: one line to the resource server, its reply in RES_REPLY. A
# connection of its own each time, so no descriptor of it is inherited by
# the servers the injector restarts.
RES_REPLY=""
res() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$RES_PORT" || fail "resource server unreachable"
    printf '%s\n' "$*" >&"$fd"
    IFS= read -r RES_REPLY <&"$fd" || fail "resource server did not answer: $*"
    exec {fd}>&-
}

# Sets HOLDERS (RUN:LCPID of the open, accepted sections) and ACCEPTED.
HOLDERS=()
ACCEPTED=0
query() {
    local parts
    res Q
    read -r -a parts <<<"$RES_REPLY"
    [[ ${parts[0]:-} == A && ${parts[2]:-} == H ]] || fail "resource: odd reply to Q: $RES_REPLY"
    ACCEPTED=${parts[1]}
    HOLDERS=("${parts[@]:3}")
}

accepted_above() { # N
    query
    ((ACCEPTED > $1))
}

descendants() { # PID: its children, their children, ...
    local c
    [[ -n $1 ]] || return 0
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

# ------------------------------------------------------------ workers

# One of the K contenders: `lockcoord run` after `lockcoord run` until the
# file "stop" appears. Each run is named wI.N; its lockcoord's pid is
# known before it starts (the subshell that execs it), so the command can
# tell the resource which run it belongs to. "runs" gets "RUN LCPID EXIT"
# per run, runs.d/RUN.out its --json report; wI.lc the current run.
worker() { # I
    local i=$1 n=0 run lc rc
    while [[ ! -e stop ]]; do
        n=$((n + 1))
        run="w$i.$n"
        (
            export TORTURE_RUN=$run TORTURE_LCPID=$BASHPID
            exec "$LC" -c "$CFG" --json run "$NAME" --ttl "${TTL_MS}ms" --renew-every 150ms \
                --wait 2s --kill-grace 200ms -- bash "$TOOLS/fenced_write.sh"
        ) >"runs.d/$run.out" 2>>"w$i.err" &
        lc=$!
        echo "$run $lc" >"w$i.lc"
        rc=0
        wait "$lc" || rc=$?
        echo "$run $lc $rc" >>runs
        # The backend is down: do not spin.
        ((rc != 69)) || sleep 0.1
    done
}

# What a failed case leaves: frozen holders, lockcoord processes of the
# workers (the guard takes each one's command along). Not an EXIT trap:
# bash may run one in a subshell forked from the shell that set it, when
# a signal reaches it before it has set up its own traps (bg_wait_within's
# timer, killed right after it started, does).
torture_cleanup() { # EXIT_STATUS
    local rc=$1 f p keep
    touch stop
    for f in w*.lc; do
        [[ -f $f ]] || continue
        read -r _ p <"$f"
        [[ -n $p ]] || continue
        kill -CONT "$p" 2>/dev/null
        for c in $(descendants "$p"); do kill -CONT "$c" 2>/dev/null; done
        kill -KILL "$p" 2>/dev/null
    done
    if ((rc != 0)) && [[ -n ${LOCKCOORD_TORTURE_KEEP:-} ]]; then
        keep="$LOCKCOORD_TORTURE_KEEP/$BACKEND-$SEED-$$"
        mkdir -p "$keep" && tar -C "$CASE_DIR" --exclude=./pg/data --exclude=./redis/appendonlydir --exclude='./q/*/appendonlydir' \
            -cf - . 2>/dev/null | tar -C "$keep" -xf - && echo "    kept in $keep" >&2
    fi
    return 0
}

# ------------------------------------------------------------ servers

start_backend() { # BACKEND: a private server (the injector freezes and restarts it)
    local i
    if [[ $1 == redis-quorum ]]; then
        for ((i = 1; i <= QN; i++)); do echo "$CASE_DIR/q/master$i" >>"$CASE_DIR/.redis"; done
        QURLS=$("$SERVERS" redis-quorum-start "$CASE_DIR/q" "$QN" "${REDIS_ARGS[@]}") ||
            fail "could not start private redis masters"
    elif [[ $1 == redis ]]; then
        echo "$CASE_DIR/redis" >>"$CASE_DIR/.redis"
        URL=$("$SERVERS" redis-start "$CASE_DIR/redis" "${REDIS_ARGS[@]}") || fail "could not start a private redis"
    else
        echo "$CASE_DIR/pg" >>"$CASE_DIR/.pg"
        URL=$("$SERVERS" pg-start "$CASE_DIR/pg") || fail "could not start a private postgres"
    fi
    write_cfg "$CFG" 300ms 1s
    # The test's own commands (status, reset) wait longer: on a loaded
    # machine a 300 ms connect can time out, which is no finding.
    CHECK_CFG="$CASE_DIR/check.yaml"
    write_cfg "$CHECK_CFG" 5s 5s
}

write_cfg() { # FILE TIMEOUT PG_CONNECT_TIMEOUT
    local u
    if [[ $BACKEND == redis-quorum ]]; then
        {
            printf 'backend: redis\nredis:\n  connect_timeout: %s\n  command_timeout: %s\n  quorum:\n' "$2" "$2"
            for u in $QURLS; do echo "    - \"$u\""; done
        } >"$1"
    elif [[ $BACKEND == redis ]]; then
        cat >"$1" <<EOF
backend: redis
redis:
  url: "$URL"
  connect_timeout: $2
  command_timeout: $2
EOF
    else
        cat >"$1" <<EOF
backend: postgres
postgres:
  conninfo: "$URL"
  statement_timeout: $2
  connect_timeout: $3
EOF
    fi
    cat >>"$1" <<EOF
lock:
  ttl: ${TTL_MS}ms
  renew_every: 150ms
  retry_min: 20ms
  retry_max: 200ms
log:
  level: error
EOF
}

# Quorum mode: the master the fault at hand hits (1..QN), from the plan.
QN=3
qmaster() {
    echo $((PLAN_PICK[F] % QN + 1))
}

server_pids() { # the server's processes: Redis (quorum mode: one master); Postgres's postmaster, then its children
    if [[ $BACKEND == redis-quorum ]]; then
        cat "$CASE_DIR/q/master$(qmaster)/redis.pid"
    elif [[ $BACKEND == redis ]]; then
        cat "$CASE_DIR/redis/redis.pid"
    else
        local pm
        pm=$("$SERVERS" pg-pid "$CASE_DIR/pg") || fail "postgres is not running"
        echo "$pm"
        pgrep -P "$pm"
    fi
}

# ------------------------------------------------------------ faults
# Each returns 0 when it injected its fault, 1 when it could not now (no
# holder at the moment, nothing to kill or reset): inject tries again.

# Pick a holder: one inside its critical section (from the resource: its
# command runs, before or after its write), or with PICK_ANY set and the
# plan's coin saying so, any worker's current run (it may be waiting,
# acquiring, or starting its command). Sets T_RUN, T_PID.
pick_target() {
    local h w pick=${PLAN_PICK[F]}
    query
    if ((${#HOLDERS[@]})) && { [[ -z ${PICK_ANY:-} ]] || ((pick % 2)); }; then
        h=${HOLDERS[(pick >> 1) % ${#HOLDERS[@]}]}
        T_RUN=${h%%:*}
        T_PID=${h##*:}
    elif [[ -n ${PICK_ANY:-} ]]; then
        w=$(((pick >> 1) % K))
        [[ -f w$w.lc ]] || return 1
        read -r T_RUN T_PID <"w$w.lc"
    else
        return 1
    fi
    pid_alive "$T_PID"
}

# The holder's whole tree frozen (lockcoord, its guard, the command, in
# one `kill`), for longer than the ttl.
fault_pause() {
    local pids g
    PICK_ANY=1 pick_target || return 1
    g=$(pgrep -P "$T_PID" | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -STOP "$T_PID" $g 2>/dev/null || return 1
    for p in $g; do kill -STOP -- "-$p" 2>/dev/null; done
    pids="$T_PID $g $(descendants "$T_PID" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -STOP $pids 2>/dev/null
    # shellcheck disable=SC2086
    register_frozen $pids
    res F pause "$T_RUN" "$T_PID"
    sleep_ms "$(in_range "${PLAN_DUR[F]}" $((TTL_MS + 100)) $((3 * TTL_MS)))"
    for p in $g; do kill -CONT -- "-$p" 2>/dev/null; done
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null
    res G pause "$T_RUN" "$T_PID"
}

fault_kill9() {
    pick_target || return 1
    kill -KILL "$T_PID" 2>/dev/null || return 1
    res F kill9 "$T_RUN" "$T_PID"
}

# Frozen for up to three ttls: sometimes shorter than the ttl, sometimes
# longer. Postgres: the postmaster first, so it starts no backend while
# the others are being stopped.
fault_server_pause() {
    local pids
    pids=$(server_pids | tr '\n' ' ')
    kill -STOP "${pids%% *}" || fail "could not freeze the server"
    # Postgres backends that ended meanwhile are gone already.
    # shellcheck disable=SC2086
    kill -STOP $pids 2>/dev/null
    # shellcheck disable=SC2086
    register_frozen $pids
    res F server-pause "$pids"
    sleep_ms "$(in_range "${PLAN_DUR[F]}" 100 $((3 * TTL_MS)))"
    # The children first, the postmaster last.
    # shellcheck disable=SC2046,SC2086
    kill -CONT $(printf '%s\n' $pids | tac) 2>/dev/null
    res G server-pause
}

port_free() { # PORT
    ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The stopped server's port is free again (the restart takes the same
# one); if not, what holds it.
wait_port_free() { # PORT_FILE
    local port
    port=$(cat "$1")
    wait_until 5000 port_free "$port" ||
        fail "port $port still answers after the server stopped: $(ss -Hltnp "sport = :$port" 2>&1)"
}

# Stopped and started again on the same port and data: Redis cleanly
# (SIGTERM) or by kill -9, Postgres by an immediate stop (a crash to it).
fault_server_restart() {
    local how=clean pid dir=$CASE_DIR/redis coin=${PLAN_PICK[F]}
    if [[ $BACKEND == redis-quorum ]]; then
        dir=$CASE_DIR/q/master$(qmaster)
        coin=$((coin / QN))
    fi
    if [[ $BACKEND == redis* ]]; then
        ((coin % 2)) && how=crash
        res F server-restart "$how" "${dir##*/}"
        pid=$(cat "$dir/redis.pid")
        if [[ $how == crash ]]; then
            kill -KILL "$pid"
            wait_until 10000 pid_gone "$pid" || fail "redis $pid survived kill -9"
        fi
        "$SERVERS" redis-stop "$dir" || fail "redis-stop"
        wait_port_free "$dir/redis.port"
        "$SERVERS" redis-start "$dir" "${REDIS_ARGS[@]}" >/dev/null || fail "redis did not restart"
    else
        how=immediate
        res F server-restart "$how"
        "$SERVERS" pg-stop "$CASE_DIR/pg" || fail "pg-stop"
        wait_port_free "$CASE_DIR/pg/pg.port"
        "$SERVERS" pg-start "$CASE_DIR/pg" >/dev/null || fail "postgres did not restart"
    fi
    res G server-restart "$how"
}

fault_conn_kill() {
    local n a b u=${URL:-}
    [[ $BACKEND == redis-quorum ]] && u=redis://127.0.0.1:$(cat "$CASE_DIR/q/master$(qmaster)/redis.port")/0
    if [[ $BACKEND == redis* ]]; then
        a=$(redis-cli -u "$u" CLIENT KILL TYPE normal 2>&1)
        b=$(redis-cli -u "$u" CLIENT KILL TYPE pubsub 2>&1)
        [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || fail "CLIENT KILL: $a $b"
        n=$((a + b))
    else
        # A session that ended meanwhile is only a WARNING on stderr.
        n=$("$PSQL_BIN" "$URL" -XAtq -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'lockcoord'" 2>psql.err)
        [[ $n =~ ^[0-9]+$ ]] || fail "pg_terminate_backend: $n $(cat psql.err)"
    fi
    ((n > 0)) || return 1
    res F conn-kill "$n"
}

fault_reset() {
    local out held fence owner rc=0
    # Marks around the command (the checker's --reset-window can exempt
    # runs that started inside; quorum mode's reset no longer needs it: it
    # resets only the leases it saw).
    res G reset-begin
    out=$("$LC" -c "$CHECK_CFG" --json reset "$NAME" --reason "torture test") || rc=1
    res G reset-end
    ((rc == 0)) || return 1
    held=$(jq -r .was_held <<<"$out")
    [[ $held == true ]] || return 1
    fence=$(jq -r .previous.fence <<<"$out")
    owner=$(jq -r .previous.owner <<<"$out")
    res F reset "$fence" "${owner##*:}"
}

# inject KIND: tries for up to 3 s; returns 1 if it never could.
inject() {
    local end=$(($(now_ms) + 3000)) f="fault_${1//-/_}"
    until "$f"; do
        (($(now_ms) < end)) || return 1
        sleep 0.03
    done
}

# The plan: every random choice of the injector, drawn from the seed up
# front (in this shell: a subshell would reseed $RANDOM), so that a replay
# makes the same choices however the runs' timing differs. Faults come in
# rounds, each round every kind once in a shuffled order; fault F is
# PLAN_KIND[F] after a pause of PLAN_GAP[F] ms, with PLAN_DUR[F] and
# PLAN_PICK[F] for its duration and its choices.
PLAN_KIND=()
PLAN_GAP=()
PLAN_DUR=()
PLAN_PICK=()
F=0
plan_faults() {
    local r i j t order
    RANDOM=$SEED
    for ((r = 0; r < SECS + 60; r++)); do
        order=("${KINDS[@]}")
        for ((i = ${#order[@]} - 1; i > 0; i--)); do
            j=$((RANDOM % (i + 1)))
            t=${order[i]}
            order[i]=${order[j]}
            order[j]=$t
        done
        for t in "${order[@]}"; do
            PLAN_KIND+=("$t")
            PLAN_GAP+=($((100 + RANDOM % 701)))
            PLAN_DUR+=("$RANDOM")
            PLAN_PICK+=("$RANDOM")
        done
    done
}

# Faults as planned until SECS have passed and every kind was injected at
# least once.
inject_faults() {
    local end=$(($(now_ms) + SECS * 1000)) k
    local -A injected=()
    plan_faults
    for ((F = 0; F < ${#PLAN_KIND[@]}; F++)); do
        k=${PLAN_KIND[F]}
        sleep_ms "${PLAN_GAP[F]}"
        inject "$k" && injected[$k]=1
        if (($(now_ms) >= end)); then
            ((${#injected[@]} == ${#KINDS[@]})) && return 0
            (($(now_ms) < end + 60000)) ||
                fail "after 60 s more, these kinds were injected: ${!injected[*]} (of ${KINDS[*]})"
        fi
    done
    fail "the plan ran out of faults"
}

# ------------------------------------------------------------ checks

lock_json() {
    "$LC" -c "$CHECK_CFG" --json status "$NAME"
}

# One ttl after the faults, the lock is free, or held by a live process.
# A holder that is gone may have been released a moment ago; if its lease
# is still there, it must lapse within one ttl of its death.
assert_not_stuck() {
    local st health owner fence pid
    st=$(lock_json) || fail "status: $st"
    jset health "$st" '.locks[0].health'
    [[ $health == held ]] || return 0
    jset owner "$st" '.locks[0].owner'
    jset fence "$st" '.locks[0].fence'
    pid=${owner##*:}
    pid_alive "$pid" && return 0
    sleep_ms $((TTL_MS + 20))
    st=$(lock_json) || fail "status: $st"
    [[ $(jq -r '.locks[0].health + " " + (.locks[0].fence|tostring)' <<<"$st") != "held $fence" ]] ||
        fail "stuck: held by $owner (fence $fence), a process that is gone, one ttl after it was seen gone: $st"
}

case_torture() {
    local rc=0
    BACKEND=$1
    (torture "$1") || rc=$?
    torture_cleanup "$rc"
    return "$rc"
}

torture() {
    local w v pids=() a0 st
    NAME=$(lock_name torture)
    echo "    seed $SEED (replay: LOCKCOORD_TORTURE_SEED=$SEED), ${SECS}s of faults, $K runs looping on one lock"
    start_backend "$BACKEND"
    assert_exit 0 "$LC" -c "$CHECK_CFG" migrate
    bg resource "$PY" "$TOOLS/fenced_resource.py" serve --port-file res.port --log res.log
    assert_until 10000 file_exists res.port
    RES_PORT=$(cat res.port)
    export TORTURE_PORT=$RES_PORT TORTURE_PREP_MS=100 TORTURE_HOLD_MS=300
    mkdir runs.d
    for ((w = 0; w < K; w++)); do
        bg "worker$w" worker "$w"
        v="worker$w"
        pids+=("${!v}")
    done
    assert_until 20000 accepted_above 0

    inject_faults

    # Not stuck: one ttl after the last fault, then writes go on.
    sleep_ms "$TTL_MS"
    assert_not_stuck
    query
    a0=$ACCEPTED
    assert_until 20000 accepted_above "$a0"

    touch stop
    for w in "${pids[@]}"; do
        bg_wait_within 30000 "$w"
    done
    # Every run is over: one ttl on, nobody holds the lock, and a new run
    # takes it at once.
    sleep_ms "$TTL_MS"
    st=$(lock_json) || fail "status: $st"
    [[ $(jq -r '.locks[0].health' <<<"$st") != held ]] || fail "held after every run ended: $st"
    assert_exit 0 "$LC" -c "$CHECK_CFG" run "$NAME" -- true

    # shellcheck disable=SC2154 # set by bg
    kill -TERM "$resource"
    bg_wait_within 10000 "$resource"
    if grep -l -E 'Sanitizer|runtime error:' w*.err 2>/dev/null; then
        grep -h -A 20 -E 'Sanitizer|runtime error:' w*.err | head -n 60 >&2
        fail "a sanitizer reported an error (above)"
    fi
    "$PY" "$TOOLS/fenced_resource.py" check --log res.log --runs runs \
        --min-accepted "$MIN_ACCEPTED" --kinds "$(
            IFS=,
            echo "${KINDS[*]}"
        )" || fail "an invariant does not hold (VIOLATION above; replay: LOCKCOORD_TORTURE_SEED=$SEED)"
}

e2e_init
for b in ${LOCKCOORD_TORTURE_BACKENDS:-redis postgres redis-quorum}; do
    run_case "$b" "torture: $K runs on one lock under faults, fenced writes checked" case_torture
done
e2e_finish
