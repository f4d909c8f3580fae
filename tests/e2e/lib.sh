# shellcheck shell=bash
# tests/e2e/lib.sh -- shared by the end-to-end tests (sourced, never run).
#
# A test script defines case functions taking the backend name, then:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_init                       # checks LOCKCOORD_BIN and the servers
#   for b in redis postgres; do
#       run_case "$b" "what it checks" case_fn
#   done
#   e2e_finish                     # "N passed, M failed"; exit status
#
# Each case runs in a subshell with its own directory ($CASE_DIR) and a
# fresh config ($CFG) for its backend. Assertions fail fast: the first one
# that does not hold prints why and ends the case (not the script). What a
# case leaves behind (background processes, frozen servers, private
# servers) is cleaned up when it ends, and again when the script exits.

set -uo pipefail

LC=${LOCKCOORD_BIN:-}
E2E_SRC=${LOCKCOORD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SERVERS="$E2E_SRC/scripts/servers.sh"
E2E_PASSED=0
E2E_FAILED=0
E2E_FAILED_NAMES=()
E2E_DIR=""
E2E_CASE_NO=0
POLL_S=0.015 # wait_until polls every 15 ms

now_ms() {
    date +%s%3N
}

# ------------------------------------------------------------ assertions

# fail MSG...: ends the current case with MSG.
fail() {
    echo "    FAIL: $*" >&2
    exit 1
}

assert_eq() { # EXPECTED ACTUAL [WHAT]
    [[ $1 == "$2" ]] || fail "${3:-value}: expected '$1', got '$2'"
}

assert_ne() { # UNEXPECTED ACTUAL [WHAT]
    [[ $1 != "$2" ]] || fail "${3:-value}: expected anything but '$1'"
}

assert_lt() { # A B [WHAT]: A < B (integers)
    (($1 < $2)) || fail "${3:-value}: expected $1 < $2"
}

assert_ge() { # A B [WHAT]: A >= B (integers)
    (($1 >= $2)) || fail "${3:-value}: expected $1 >= $2"
}

assert_contains() { # HAYSTACK NEEDLE [WHAT]
    [[ $1 == *"$2"* ]] || fail "${3:-text}: expected to contain '$2', got: $1"
}

assert_file() { # PATH [WHAT]
    [[ -e $1 ]] || fail "${2:-file}: $1 does not exist"
}

# assert_exit CODE CMD [ARGS...]: runs CMD, keeps its stdout in $OUT and
# its stderr in $ERR, and fails unless it exited CODE.
OUT=""
ERR=""
assert_exit() {
    local want=$1 rc=0
    shift
    "$@" >"$CASE_DIR/.out" 2>"$CASE_DIR/.err" || rc=$?
    OUT=$(cat "$CASE_DIR/.out")
    ERR=$(cat "$CASE_DIR/.err")
    ((rc == want)) || fail "exit $rc (expected $want) from: $*
      stdout: $OUT
      stderr: $ERR"
}

# assert_one_line TEXT [WHAT]: exactly one line, starting with "lockcoord: ".
assert_one_line() {
    local n
    n=$(printf '%s' "$1" | grep -c '')
    ((n == 1)) || fail "${2:-stderr}: expected exactly one line, got $n: $1"
    [[ $1 == "lockcoord: "* ]] || fail "${2:-stderr}: expected 'lockcoord: ...', got: $1"
}

# json_get JSON FILTER: prints the jq FILTER's value (strings raw, null as
# "null"); returns non-zero when JSON does not parse.
json_get() {
    jq -r "$2" <<<"$1" 2>&1
}

# jset VAR JSON FILTER: VAR = the value, or the case fails.
jset() {
    local _jv
    _jv=$(json_get "$2" "$3") || fail "json $3: not JSON or no such field: $2 ($_jv)"
    printf -v "$1" '%s' "$_jv"
}

assert_json() { # JSON FILTER EXPECTED
    local v
    jset v "$1" "$2"
    assert_eq "$3" "$v" "json $2 (in $1)"
}

# assert_json_keys JSON OBJECT_FILTER KEY...: the object has these keys.
assert_json_keys() {
    local json=$1 obj=$2 k
    shift 2
    for k in "$@"; do
        jq -e --arg k "$k" "$obj | has(\$k)" <<<"$json" >/dev/null 2>&1 ||
            fail "json $obj: no key '$k' in $json"
    done
}

# ------------------------------------------------------------ waiting

# wait_until DEADLINE_MS CMD [ARGS...]: polls CMD every 15 ms until it
# succeeds (returns 0) or DEADLINE_MS have passed (returns 1).
wait_until() {
    local end=$(($(now_ms) + $1))
    shift
    while ! "$@"; do
        (($(now_ms) < end)) || return 1
        sleep "$POLL_S"
    done
}

# assert_until DEADLINE_MS CMD [ARGS...]: wait_until, failing the case.
assert_until() {
    local ms=$1
    shift
    wait_until "$ms" "$@" || fail "not true within ${ms} ms: $*"
}

# Alive and not a zombie (a reparented, unreaped process stays a zombie in
# a container whose init does not reap).
pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

pid_gone() {
    ! pid_alive "$1"
}

# The live (non-zombie) members of process group $1, one per line.
group_members() {
    local p
    for p in $(pgrep -g "$1" 2>/dev/null); do
        pid_alive "$p" && echo "$p"
    done
    return 0
}

group_gone() {
    [[ -z $(group_members "$1") ]]
}

file_exists() {
    [[ -e $1 ]]
}

# Not empty: the shell that writes it has written it (`echo $$ > f`
# creates f before it writes to it).
file_written() {
    [[ -s $1 ]]
}

# ------------------------------------------------------------ processes

# bg VAR CMD [ARGS...]: starts CMD in the background with its output in
# $CASE_DIR/VAR.out / VAR.err, sets VAR to its pid and registers it for
# cleanup. Collect it with bg_wait.
bg() {
    local var=$1
    shift
    # Not through the lc function: $! must be lockcoord itself.
    [[ $1 != lc ]] || set -- "$LC" -c "$CFG" "${@:2}"
    "$@" >"$CASE_DIR/$var.out" 2>"$CASE_DIR/$var.err" &
    printf -v "$var" '%s' "$!"
    echo "$!" >>"$CASE_DIR/.pids"
}

# bg_wait PID: waits for a bg process; sets BG_RC to its status and
# BG_END to the time (ms) the wait returned (an upper bound of its exit).
BG_RC=0
BG_END=0
bg_wait() {
    BG_RC=0
    { wait "$1"; } 2>/dev/null || BG_RC=$?
    BG_END=$(now_ms)
}

# bg_wait_within MS PID: bg_wait, failing the case unless PID exits
# within MS. A timer kills it at MS, so BG_END stays the moment `wait`
# returned (no polling delay in the measurement).
bg_wait_within() {
    local ms=$1 pid=$2 timer
    (
        trap 'kill "$s"; exit 0' TERM
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))" &
        s=$!
        wait "$s"
        touch "$CASE_DIR/.timeout-$pid"
        kill -KILL "$pid"
    ) 2>/dev/null &
    timer=$!
    bg_wait "$pid"
    kill "$timer" 2>/dev/null
    { wait "$timer"; } 2>/dev/null
    [[ ! -e $CASE_DIR/.timeout-$pid ]] || fail "pid $pid did not exit within $ms ms"
}

# register_frozen PID...: SIGCONT them at cleanup (before any kill).
register_frozen() {
    printf '%s\n' "$@" >>"$CASE_DIR/.frozen"
}

# ------------------------------------------------------------ servers

# redis_private / pg_private: a private server for this case (to freeze or
# kill), stopped at cleanup. Print the URL / conninfo.
redis_private() {
    echo "$CASE_DIR/redis" >>"$CASE_DIR/.redis"
    "$SERVERS" redis-start "$CASE_DIR/redis" || fail "could not start a private redis"
}

pg_private() {
    echo "$CASE_DIR/pg" >>"$CASE_DIR/.pg"
    "$SERVERS" pg-start "$CASE_DIR/pg" || fail "could not start a private postgres"
}

# write_config FILE BACKEND [ENDPOINT [EXTRA_YAML_LINES]]: a config for
# "redis" (ENDPOINT = URL) or "postgres" (ENDPOINT = conninfo), by default
# the shared test servers. EXTRA lines go into the backend's section
# (indent them by two spaces). Warnings (such as Redis's "appendonly is
# off") are muted so stderr holds only what a case checks.
write_config() {
    local file=$1 backend=$2 endpoint=${3:-} extra=${4:-}
    {
        echo "backend: $backend"
        if [[ $backend == redis ]]; then
            echo "redis:"
            echo "  url: \"${endpoint:-$LOCKCOORD_TEST_REDIS_URL}\""
        else
            echo "postgres:"
            echo "  conninfo: \"${endpoint:-$LOCKCOORD_TEST_PG_CONNINFO}\""
        fi
        [[ -z $extra ]] || printf '%s\n' "$extra"
        cat <<'EOF'
lock:
  ttl: 3s
  renew_every: 1s
  retry_min: 200ms
  retry_max: 1s
log:
  level: error
EOF
    } >"$file"
}

# psql / redis-cli against the shared test servers.
PSQL_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}/psql
pg_query() { # SQL
    "$PSQL_BIN" "$LOCKCOORD_TEST_PG_CONNINFO" -XAtq -c "$1" 2>&1
}
redis_cmd() { # ARGS...
    redis-cli -u "$LOCKCOORD_TEST_REDIS_URL" --no-auth-warning "$@" 2>&1
}

# is_waiting BACKEND NAME APPNAME: a waiter on NAME has found the lock held.
# Redis: it subscribed to the lock's release channel (unique to NAME).
# Postgres: its session (run the waiter with PGAPPNAME=APPNAME) is idle
# after an acquire; its LISTEN goes over that same session right after
# the first refused acquire and is not visible in pg_stat_activity.
is_waiting() {
    local n
    if [[ $1 == redis ]]; then
        n=$(redis_cmd PUBSUB NUMSUB "lockcoord:{$2}:released" | sed -n 2p)
    else
        n=$(pg_query "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$3' AND state = 'idle' AND query LIKE '%INSERT INTO%lockcoord_locks%'")
    fi
    [[ $n == 1 ]]
}

# A lock name no other run, test or case shares.
lock_name() {
    echo "e2e/$$-$RANDOM-${E2E_CASE_NO}-$1"
}

# lc ARGS...: the lockcoord under test with this case's config.
lc() {
    "$LC" -c "$CFG" "$@"
}

# ------------------------------------------------------------ cases

# Stops what a case left behind: thaws frozen processes first (a stopped
# process ignores SIGTERM), kills registered processes and their groups,
# stops private servers.
case_cleanup() {
    local dir=$1 p d
    if [[ -f $dir/.frozen ]]; then
        while read -r p; do kill -CONT "$p" 2>/dev/null || true; done <"$dir/.frozen"
    fi
    if [[ -f $dir/.pids ]]; then
        while read -r p; do
            # A lockcoord run's guard leads CMD's group: its children first.
            for d in $(pgrep -P "$p" 2>/dev/null); do kill -KILL -- "-$d" 2>/dev/null || true; done
            kill -KILL "$p" 2>/dev/null || true
        done <"$dir/.pids"
    fi
    if [[ -f $dir/.redis ]]; then
        while read -r d; do "$SERVERS" redis-stop "$d" >/dev/null 2>&1 || true; done <"$dir/.redis"
    fi
    if [[ -f $dir/.pg ]]; then
        while read -r d; do "$SERVERS" pg-stop "$d" >/dev/null 2>&1 || true; done <"$dir/.pg"
    fi
    rm -f "$dir/.frozen" "$dir/.pids" "$dir/.redis" "$dir/.pg"
}

e2e_cleanup() {
    local rc=$? d
    trap - EXIT
    if [[ -n $E2E_DIR && -d $E2E_DIR ]]; then
        for d in "$E2E_DIR"/case-*; do
            [[ -d $d ]] && case_cleanup "$d"
        done
        rm -rf "$E2E_DIR"
    fi
    exit "$rc"
}

# Checks the binary and the servers; with LOCKCOORD_SKIP_INTEGRATION=1 and
# a server missing, prints SKIP and exits 0.
e2e_init() {
    [[ -n $LC && -x $LC ]] || { echo "LOCKCOORD_BIN is not set to an executable lockcoord" >&2; exit 1; }
    command -v jq >/dev/null || { echo "jq is not installed (apt-get install jq)" >&2; exit 1; }
    local missing=()
    [[ -n ${LOCKCOORD_TEST_REDIS_URL:-} ]] || missing+=(LOCKCOORD_TEST_REDIS_URL)
    [[ -n ${LOCKCOORD_TEST_PG_CONNINFO:-} ]] || missing+=(LOCKCOORD_TEST_PG_CONNINFO)
    if ((${#missing[@]})); then
        if [[ ${LOCKCOORD_SKIP_INTEGRATION:-} == 1 ]]; then
            echo "SKIP: $(basename "$0"): ${missing[*]} not set (LOCKCOORD_SKIP_INTEGRATION=1)"
            echo "SKIP SKIP SKIP: these end-to-end tests did NOT run"
            exit 0
        fi
        echo "$(basename "$0"): ${missing[*]} not set (set them, or LOCKCOORD_SKIP_INTEGRATION=1 to skip on purpose)" >&2
        exit 1
    fi
    E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lockcoord-e2e.XXXXXX")
    # Private Postgres servers run as user postgres, in a case directory.
    chmod 0711 "$E2E_DIR"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# run_case BACKEND DESCRIPTION FUNCTION: runs FUNCTION BACKEND in a
# subshell and prints one line with the outcome and duration.
run_case() {
    local backend=$1 desc=$2 fn=$3 rc=0 t0 dt f
    E2E_CASE_NO=$((E2E_CASE_NO + 1))
    CASE_DIR="$E2E_DIR/case-$E2E_CASE_NO"
    CFG="$CASE_DIR/lockcoord.yaml"
    mkdir -p "$CASE_DIR"
    write_config "$CFG" "$backend"
    t0=$(now_ms)
    (
        cd "$CASE_DIR" || exit 1
        "$fn" "$backend"
    ) || rc=$?
    dt=$(($(now_ms) - t0))
    case_cleanup "$CASE_DIR"
    if ((rc == 0)); then
        E2E_PASSED=$((E2E_PASSED + 1))
        printf 'ok    %-8s %s (%d ms)\n' "$backend" "$desc" "$dt"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        E2E_FAILED_NAMES+=("$backend: $desc")
        printf 'FAIL  %-8s %s (%d ms)\n' "$backend" "$desc" "$dt"
        for f in "$CASE_DIR"/*.err; do
            [[ -s $f ]] && head -n 12 "$f" | sed "s|^|    $(basename "$f"): |"
        done
    fi
}

e2e_finish() {
    local n
    if ((E2E_FAILED)); then
        for n in "${E2E_FAILED_NAMES[@]}"; do echo "failed: $n"; done
    fi
    echo "$E2E_PASSED passed, $E2E_FAILED failed"
    ((E2E_FAILED == 0))
}
