#!/usr/bin/env bash
# scripts/servers.sh -- throwaway Redis and PostgreSQL servers on free
# loopback ports, with all their state in one directory. Used by test.sh,
# demo.sh and by fault tests that need a private server to kill or freeze.
#
#   servers.sh redis-start DIR [redis-server args...]   prints redis://127.0.0.1:PORT/0
#   servers.sh redis-stop  DIR
#   servers.sh redis-cluster-start DIR [N]   3 masters + N replicas each (default 1);
#                                            prints the seed redis://127.0.0.1:PORT/0
#   servers.sh redis-cluster-stop  DIR
#   servers.sh redis-quorum-start DIR [N [redis-server args...]]
#                                            N independent masters (default 3, odd)
#                                            in DIR/master1..N; prints their URLs,
#                                            one per line (redis.quorum's list)
#   servers.sh redis-quorum-stop  DIR
#   servers.sh pg-start    DIR [postgres args...]       prints a libpq conninfo
#   servers.sh pg-stop     DIR
#   servers.sh pg-pid      DIR                          prints the postmaster pid
#   servers.sh pg-standby-start DIR [sync|async]   a primary (DIR/primary) and a
#                                            streaming standby (DIR/standby);
#                                            prints a multi-host conninfo
#   servers.sh pg-standby-stop  DIR
#   servers.sh pg-promote       DIR          promotes DIR/standby (pg_ctl promote)
#
# Starting again in a DIR used before reuses its port (and its data), so a
# test can stop and restart "the same" server. The caller removes DIR.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
START_DEADLINE_S=10
STOP_GRACE_S=5
PORT_TRIES=8
REASON=""

die() {
    echo "servers.sh: $*" >&2
    exit 1
}

# A random port below the kernel's ephemeral range (so outgoing connections
# never hold it), that nothing is listening on right now. A race with
# another starter is still possible; callers retry on "Address already in use".
pick_port() {
    local low=32768 lo hi p i
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    lo=10240
    hi=$((low - 1))
    ((hi > lo)) || hi=32767
    for ((i = 0; i < 100; i++)); do
        p=$((lo + ((RANDOM << 15) | RANDOM) % (hi - lo + 1)))
        if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found in $lo-$hi"
}

# Alive and not a zombie (a reparented child may linger unreaped in a
# container whose init does not reap).
pid_alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# Waits up to $2 seconds for pid $1 to exit; returns 1 if it is still there.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

abs_dir() {
    [[ -n ${1:-} ]] || die "missing DIR argument"
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# Log lines written since byte offset $2 of file $1.
log_since() {
    tail -c "+$(($2 + 1))" "$1" 2>/dev/null || true
}

file_size() {
    stat -c %s "$1" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- redis

# arg_value OPTION ARGS...: the value following OPTION in ARGS, if any
# ("--port" among the extra redis-server args).
arg_value() {
    local opt=$1 prev=""
    shift
    for a in "$@"; do
        [[ $prev == "$opt" ]] && { echo "$a"; return 0; }
        prev=$a
    done
    return 0
}

port_in_use() {
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The server on port $1 answers, is not loading, and is process $2 (not
# some other server that already held the port). $3 is the password, if any.
redis_is_ours() {
    local out
    out=$(REDISCLI_AUTH=${3:-} timeout 2 redis-cli --no-auth-warning -h 127.0.0.1 -p "$1" \
        info server 2>&1 </dev/null) || true
    [[ $out == *"process_id:$2"* ]] && return 0
    # An ACL setup we cannot log into: an auth error still proves it is up.
    [[ $out == *NOAUTH* || $out == *WRONGPASS* ]] && pid_alive "$2"
}

# One attempt on port $2; returns 0 when up, 2 when the port was taken,
# 1 on any other failure (REASON says which).
redis_try_start() {
    local dir=$1 port=$2 pid off deadline pass
    shift 2
    pass=$(arg_value --requirepass "$@")
    port_in_use "$port" && return 2
    off=$(file_size "$dir/redis.log")
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize no \
        --save '' --appendonly no --logfile "$dir/redis.log" "$@" \
        </dev/null >>"$dir/redis.out" 2>&1 &
    pid=$!
    deadline=$((SECONDS + START_DEADLINE_S))
    while ((SECONDS < deadline)); do
        if ! pid_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            if log_since "$dir/redis.log" "$off" | grep -q 'Address already in use'; then
                return 2
            fi
            REASON="exited at start (see $dir/redis.log and $dir/redis.out)"
            return 1
        fi
        if redis_is_ours "$port" "$pid" "$pass"; then
            echo "$pid" >"$dir/redis.pid"
            echo "$port" >"$dir/redis.port"
            return 0
        fi
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    REASON="did not answer within ${START_DEADLINE_S}s (see $dir/redis.log)"
    return 1
}

redis_start() {
    local dir port fixed rc=1 i
    dir=$(abs_dir "${1:-}")
    shift
    command -v redis-server >/dev/null || die "redis-start: redis-server not installed"
    if [[ -f $dir/redis.pid ]] && pid_alive "$(cat "$dir/redis.pid")"; then
        die "redis-start: already running in $dir (pid $(cat "$dir/redis.pid"))"
    fi
    fixed=$(arg_value --port "$@")
    [[ -z $fixed && -f $dir/redis.port ]] && fixed=$(cat "$dir/redis.port")
    for ((i = 0; i < PORT_TRIES; i++)); do
        port=${fixed:-$(pick_port)}
        rc=0
        redis_try_start "$dir" "$port" "$@" || rc=$?
        ((rc == 0)) && { echo "redis://127.0.0.1:$port/0"; return 0; }
        [[ $rc == 2 && -z $fixed ]] || break
    done
    ((rc == 2)) && REASON="Address already in use"
    die "redis-start: port $port: $REASON"
}

redis_stop() {
    local dir pid
    dir=$(abs_dir "${1:-}")
    [[ -f $dir/redis.pid ]] || return 0
    pid=$(cat "$dir/redis.pid")
    if pid_alive "$pid"; then
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" "$STOP_GRACE_S"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" "$STOP_GRACE_S" || die "redis-stop: pid $pid survived SIGKILL"
        fi
    fi
    rm -f "$dir/redis.pid"
}

# ---------------------------------------------------------------- redis cluster

CLUSTER_MASTERS=3

# cluster_info PORT: the node's CLUSTER INFO.
cluster_info() {
    timeout 2 redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null </dev/null | tr -d '\r' || true
}

# Waits until every node of the cluster in DIR says cluster_state:ok and
# knows every node (the gossip has converged), and every replica is in
# sync with its master (a failover right after the start must not find
# a replica still loading its first copy).
cluster_wait_ok() {
    local dir=$1 total=$2 deadline=$((SECONDS + 30)) port info repl ok
    while ((SECONDS < deadline)); do
        ok=1
        for port in $(cat "$dir/cluster.ports"); do
            info=$(cluster_info "$port")
            [[ $info == *cluster_state:ok* && $info == *"cluster_known_nodes:$total"* ]] || ok=0
            repl=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null </dev/null | tr -d '\r' || true)
            [[ $repl != *role:slave* || $repl == *master_link_status:up* ]] || ok=0
            [[ -n $repl ]] || ok=0
        done
        ((ok)) && return 0
        sleep 0.1
    done
    die "redis-cluster-start: cluster in $dir not ok within 30s (see $dir/node*/redis.log)"
}

# Nodes node1..node(3 + 3 * replicas) in DIR, each a cluster-enabled
# redis-server (its port + 10000 is the cluster bus); the first start
# creates the cluster, a start again in the same DIR reuses it.
redis_cluster_start() {
    local dir replicas total i url port addrs=() ports=()
    dir=$(abs_dir "${1:-}")
    replicas=${2:-1}
    [[ $replicas =~ ^[0-9]$ ]] || die "redis-cluster-start: replicas must be 0-9"
    total=$((CLUSTER_MASTERS * (1 + replicas)))
    [[ -f $dir/cluster.ports ]] && total=$(wc -w <"$dir/cluster.ports")
    for ((i = 1; i <= total; i++)); do
        url=$(redis_start "$dir/node$i" --cluster-enabled yes \
            --cluster-config-file "$dir/node$i/nodes.conf" --cluster-node-timeout 2000) ||
            die "redis-cluster-start: node $i did not start"
        port=${url##*:}
        port=${port%%/*}
        ports+=("$port")
        addrs+=("127.0.0.1:$port")
    done
    if [[ ! -f $dir/cluster.ports ]]; then
        echo "${ports[*]}" >"$dir/cluster.ports"
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes \
            </dev/null >"$dir/create.log" 2>&1 ||
            die "redis-cluster-start: redis-cli --cluster create failed (see $dir/create.log)"
    fi
    cluster_wait_ok "$dir" "$total"
    echo "redis://127.0.0.1:${ports[0]}/0"
}

redis_cluster_stop() {
    local dir node
    dir=$(abs_dir "${1:-}")
    for node in "$dir"/node*; do
        [[ -d $node ]] && redis_stop "$node"
    done
    return 0
}

# ---------------------------------------------------------------- redis quorum

# N independent redis-servers (DIR/master1..N) for redis.quorum; a start
# again in the same DIR reuses their ports.
redis_quorum_start() {
    local dir n i
    dir=$(abs_dir "${1:-}")
    n=${2:-3}
    shift $(($# < 2 ? $# : 2))
    if ! [[ $n =~ ^[3579]$ ]]; then
        die "redis-quorum-start: the number of masters must be odd, 3 to 9"
    fi
    for ((i = 1; i <= n; i++)); do
        redis_start "$dir/master$i" "$@" || die "redis-quorum-start: master $i did not start"
    done
}

redis_quorum_stop() {
    local dir node
    dir=$(abs_dir "${1:-}")
    for node in "$dir"/master*; do
        [[ -d $node ]] && redis_stop "$node"
    done
    return 0
}

# ---------------------------------------------------------------- postgres

# PostgreSQL refuses to run as root: then it runs as the postgres user.
as_pg() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Hands DIR to the postgres user when we are root.
pg_own_dir() {
    local dir=$1
    if ((EUID == 0)); then
        chown postgres: "$dir"
        # mktemp -d makes 0700 dirs: let postgres traverse DIR's parent
        # when it is ours (execute only, no listing).
        if ! as_pg test -w "$dir" && [[ -O $(dirname "$dir") ]]; then
            chmod o+x "$(dirname "$dir")"
        fi
        as_pg test -w "$dir" || die "pg-start: user postgres cannot write $dir (a parent is not traversable?)"
    fi
}

pg_init() {
    local dir=$1
    [[ -x $PG_BIN/initdb ]] || die "pg-start: $PG_BIN/initdb not found (install postgresql-15)"
    pg_own_dir "$dir"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 ||
        die "pg-start: initdb failed (see $dir/initdb.log)"
}

# One attempt on port $2; returns 0 when up, 2 when the port was taken,
# 1 on any other failure.
pg_try_start() {
    local dir=$1 port=$2 off opts
    shift 2
    port_in_use "$port" && return 2
    off=$(file_size "$dir/pg.log")
    opts="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir"
    opts+=" -c fsync=off -c max_connections=100"
    (($# == 0)) || opts+=" $*"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t "$START_DEADLINE_S" \
        -o "$opts" start >/dev/null 2>&1; then
        echo "$port" >"$dir/pg.port"
        return 0
    fi
    if log_since "$dir/pg.log" "$off" | grep -q 'Address already in use'; then
        return 2
    fi
    # pg_ctl gave up waiting but the postmaster may still be coming up.
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    return 1
}

pg_conninfo() {
    echo "host=127.0.0.1 port=$1 dbname=lockcoord_test user=postgres"
}

pg_start() {
    local dir port fixed="" rc=1 i
    dir=$(abs_dir "${1:-}")
    shift
    if ((EUID == 0)); then
        touch "$dir/pg.log" && chown postgres: "$dir/pg.log"
    fi
    [[ -f $dir/data/PG_VERSION ]] || pg_init "$dir"
    if (pg_pid "$dir") >/dev/null 2>&1; then
        die "pg-start: already running in $dir"
    fi
    [[ -f $dir/pg.port ]] && fixed=$(cat "$dir/pg.port")
    for ((i = 0; i < PORT_TRIES; i++)); do
        port=${fixed:-$(pick_port)}
        rc=0
        pg_try_start "$dir" "$port" "$@" || rc=$?
        ((rc == 0)) && break
        [[ $rc == 2 && -z $fixed ]] || break
    done
    if ((rc == 2)); then
        die "pg-start: port $port: Address already in use (see $dir/pg.log)"
    elif ((rc != 0)); then
        die "pg-start: postgres did not start on port $port (see $dir/pg.log)"
    fi
    if ! as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'lockcoord_test'" 2>/dev/null | grep -q 1; then
        as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres lockcoord_test \
            >>"$dir/pg.log" 2>&1 || die "pg-start: createdb lockcoord_test failed (see $dir/pg.log)"
    fi
    pg_conninfo "$port"
}

# The postmaster's pid, from its pid file, if it is alive.
pg_pid() {
    local dir pid
    dir=$(abs_dir "${1:-}")
    [[ -f $dir/data/postmaster.pid ]] || die "pg-pid: no postmaster.pid in $dir/data"
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    pid_alive "$pid" || die "pg-pid: postmaster $pid is not running"
    echo "$pid"
}

pg_stop() {
    local dir pid child
    dir=$(abs_dir "${1:-}")
    [[ -f $dir/data/postmaster.pid ]] || return 0
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    pid_alive "$pid" || return 0
    # Tests freeze the postmaster or its backends with SIGSTOP.
    kill -CONT "$pid" 2>/dev/null || true
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
        kill -CONT "$child" 2>/dev/null || true
    done
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -w -t "$STOP_GRACE_S" stop -m immediate \
        >/dev/null 2>&1 || true
    if ! wait_gone "$pid" "$STOP_GRACE_S"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" "$STOP_GRACE_S" || die "pg-stop: postmaster $pid survived SIGKILL"
    fi
}

# ---------------------------------------------------------------- postgres primary + standby

PG_STANDBY_NAME=lockcoord_standby

# pg_sql PORT SQL: one value from the server on PORT.
pg_sql() {
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtq -c "$2" 2>/dev/null </dev/null
}

# Waits until the primary on PORT streams to the standby, in MODE (sync:
# it is the synchronous standby; async: it is not).
pg_wait_streaming() {
    local port=$1 mode=$2 want=async deadline=$((SECONDS + 30)) got=""
    [[ $mode == sync ]] && want=sync
    while ((SECONDS < deadline)); do
        got=$(pg_sql "$port" "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '$PG_STANDBY_NAME'") || true
        [[ $got == "streaming/$want" ]] && return 0
        sleep 0.1
    done
    die "pg-standby-start: the standby does not stream ($want) within 30s (pg_stat_replication says '${got}')"
}

# Sets the primary's synchronous_standby_names for MODE, with ALTER SYSTEM
# so that it lives in the primary's own postgresql.auto.conf (taken after
# the base backup): a promoted standby does not inherit it, and does not
# wait for a standby it does not have.
pg_set_sync() {
    local port=$1 mode=$2 names=""
    [[ $mode == sync ]] && names=$PG_STANDBY_NAME
    if ! pg_sql "$port" "ALTER SYSTEM SET synchronous_standby_names = '$names'" >/dev/null ||
        ! pg_sql "$port" "ALTER SYSTEM SET synchronous_commit = on" >/dev/null ||
        ! pg_sql "$port" "SELECT pg_reload_conf()" >/dev/null; then
        die "pg-standby-start: cannot configure synchronous replication on port $port"
    fi
}

# A primary in DIR/primary and a standby in DIR/standby, cloned from it with
# pg_basebackup -R and streaming from it. MODE (argument, else
# $LOCKCOORD_PG_SYNC, else async): sync makes the standby synchronous.
pg_standby_start() {
    local dir mode p1 p2
    dir=$(abs_dir "${1:-}")
    mode=${2:-${LOCKCOORD_PG_SYNC:-async}}
    [[ $mode == sync || $mode == async ]] || die "pg-standby-start: mode must be sync or async, not '$mode'"
    pg_own_dir "$dir" # the servers' directories are inside it
    pg_start "$dir/primary" -c wal_level=replica -c max_wal_senders=5 >/dev/null
    p1=$(cat "$dir/primary/pg.port")
    if [[ ! -f $dir/standby/data/PG_VERSION ]]; then
        mkdir -p "$dir/standby"
        pg_own_dir "$dir/standby"
        as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$dir/standby/data" \
            -R -X stream -c fast --no-sync >"$dir/standby/basebackup.log" 2>&1 ||
            die "pg-standby-start: pg_basebackup failed (see $dir/standby/basebackup.log)"
    fi
    # cluster_name is the name the standby's walreceiver gives the primary.
    pg_start "$dir/standby" -c cluster_name=$PG_STANDBY_NAME -c hot_standby=on >/dev/null
    p2=$(cat "$dir/standby/pg.port")
    pg_set_sync "$p1" "$mode"
    pg_wait_streaming "$p1" "$mode"
    echo "host=127.0.0.1,127.0.0.1 port=$p1,$p2 dbname=lockcoord_test user=postgres target_session_attrs=read-write"
}

pg_standby_stop() {
    local dir
    dir=$(abs_dir "${1:-}")
    pg_stop "$dir/standby"
    pg_stop "$dir/primary"
}

# Promotes DIR/standby to a primary and waits until it takes writes.
pg_promote() {
    local dir port deadline=$((SECONDS + START_DEADLINE_S))
    dir=$(abs_dir "${1:-}")
    [[ -f $dir/standby/pg.port ]] || die "pg-promote: no standby in $dir"
    port=$(cat "$dir/standby/pg.port")
    as_pg "$PG_BIN/pg_ctl" -D "$dir/standby/data" -w -t "$START_DEADLINE_S" promote \
        >>"$dir/standby/pg.log" 2>&1 || die "pg-promote: pg_ctl promote failed (see $dir/standby/pg.log)"
    while [[ $(pg_sql "$port" "SELECT pg_is_in_recovery()") != f ]]; do
        ((SECONDS < deadline)) || die "pg-promote: still in recovery after ${START_DEADLINE_S}s"
        sleep 0.05
    done
}

usage() {
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

main() {
    local cmd=${1:-}
    (($# > 0)) && shift
    case $cmd in
    redis-start) redis_start "$@" ;;
    redis-stop) redis_stop "$@" ;;
    redis-cluster-start) redis_cluster_start "$@" ;;
    redis-cluster-stop) redis_cluster_stop "$@" ;;
    redis-quorum-start) redis_quorum_start "$@" ;;
    redis-quorum-stop) redis_quorum_stop "$@" ;;
    pg-start) pg_start "$@" ;;
    pg-stop) pg_stop "$@" ;;
    pg-pid) pg_pid "$@" ;;
    pg-standby-start) pg_standby_start "$@" ;;
    pg-standby-stop) pg_standby_stop "$@" ;;
    pg-promote) pg_promote "$@" ;;
    -h | --help | help | "") usage ;;
    *) die "unknown command '$cmd' (redis-start, redis-stop, redis-cluster-start, redis-cluster-stop, redis-quorum-start, redis-quorum-stop, pg-start, pg-stop, pg-pid, pg-standby-start, pg-standby-stop, pg-promote)" ;;
    esac
}

main "$@"
