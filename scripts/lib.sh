# shellcheck shell=bash
# scripts/lib.sh -- shared by test.sh and demo.sh (sourced, never run):
# install what is missing, build, start and stop throwaway servers.
# Sourcing it has no side effects beyond defining these functions and
# LC_ROOT (the repository root).

LC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_SERVERS="$LC_ROOT/scripts/servers.sh"
LC_SERVER_DIR=""
LC_CHILD=""
LC_REDIS_ARGS=()  # extra redis-server arguments for lc_start_servers
LC_WITH_CLUSTER=0 # 1: lc_start_servers starts a Redis Cluster too (test.sh)
LC_WITH_QUORUM=0  # 1: lc_start_servers starts 3 independent Redis masters too (test.sh)
LC_TEMP_DIRS=()   # removed by lc_cleanup
LC_LOAD_PIDS=()   # CPU hogs of lc_start_cpu_load, stopped by lc_cleanup
LC_BG_PIDS=()     # other background processes (the demo's daemons), stopped by lc_cleanup

# Debian packages the build, the tests and the demo need. redis-server and
# postgresql-15 are needed even with external servers: fault tests start
# private instances of their own. python3-croniter is the oracle the cron
# parser is tested against (tests/unit/cron_oracle.py); faketime runs a
# `sync` daemon with its clock 2 minutes ahead (tests/e2e/test_sync_clock_skew.sh);
# libmicrohttpd serves `sync --listen`, and python3-prometheus-client's
# parser reads what it serves (tests/e2e/test_sync_metrics.sh); valgrind
# runs `lockcoord run` (tests/e2e/test_run_valgrind.sh); strace watches
# libpq's GSSAPI probe (tests/e2e/test_run_rss.sh).
LC_PACKAGES=(build-essential cmake pkg-config libhiredis-dev libpq-dev
    libcurl4-openssl-dev libcjson-dev libyaml-dev libcmocka-dev libmicrohttpd-dev
    redis-server redis-tools postgresql-15 procps curl ca-certificates jq
    python3-croniter python3-prometheus-client faketime valgrind time strace)
# The fuzz step of test.sh adds these: clang and its libFuzzer runtime.
# shellcheck disable=SC2034 # used by test.sh
LC_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

lc_say() {
    printf '\n==> %s\n' "$*"
}

lc_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# Runs a command as root: directly when root, else through sudo.
lc_as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        lc_die "need root to run '$*' (not root, and sudo is not installed)"
    fi
}

# Packages of LC_PACKAGES that dpkg does not have installed.
lc_missing_packages() {
    local installed
    # dpkg-query fails for packages it has never heard of (a fresh
    # machine): under pipefail and errexit that must not end this function
    # before it has listed anything.
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${LC_PACKAGES[@]}" 2>/dev/null |
        awk '$NF == "installed" { print $1 }' || true)
    for p in "${LC_PACKAGES[@]}"; do
        grep -qx "$p" <<<"$installed" || echo "$p"
    done
}

# Installs what is missing; `apt-get update` only when something is.
lc_install_deps() {
    local missing
    command -v dpkg-query >/dev/null || lc_die "not a Debian system (no dpkg-query); install by hand: ${LC_PACKAGES[*]}"
    mapfile -t missing < <(lc_missing_packages)
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    lc_say "Installing ${missing[*]}"
    lc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    lc_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(lc_missing_packages)
    ((${#missing[@]} == 0)) || lc_die "still missing after apt-get install: ${missing[*]}"
}

# lc_build DIR BUILD_TYPE [CMAKE ARGS...]: configure and build into
# $LC_ROOT/DIR, warnings fatal (the project's own builds keep new warnings
# out; a user's build does not fail on them). Extra arguments go to cmake,
# e.g. -DCMAKE_C_COMPILER=clang or -DLC_WITH_POSTGRES=OFF. With
# LC_BUILD_TARGET set, only that target (and what it needs) is built.
lc_build() {
    local dir=$1 type=$2
    shift 2
    lc_say "Building $dir ($type${*:+ $*}${LC_BUILD_TARGET:+, target $LC_BUILD_TARGET})"
    cmake -S "$LC_ROOT" -B "$LC_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" -DLC_WERROR=ON "$@" >/dev/null
    cmake --build "$LC_ROOT/$dir" -j"$(nproc)" ${LC_BUILD_TARGET:+--target "$LC_BUILD_TARGET"}
}

# Starts a throwaway Redis, PostgreSQL and, with LC_WITH_CLUSTER=1, a Redis
# Cluster (3 masters, 3 replicas) and, with LC_WITH_QUORUM=1, 3 independent
# Redis masters for quorum mode, unless LOCKCOORD_TEST_REDIS_URL /
# LOCKCOORD_TEST_PG_CONNINFO / LOCKCOORD_TEST_REDIS_CLUSTER_URL /
# LOCKCOORD_TEST_REDIS_QUORUM_URLS (space-separated) already name servers (each is started
# only when its variable is unset; with LOCKCOORD_SKIP_INTEGRATION=1 none
# is started). Exports the variables; the servers are stopped and their
# directory removed on every exit path. Call it from the main shell, not a
# subshell.
lc_start_servers() {
    if [[ -n ${LOCKCOORD_TEST_REDIS_URL:-} && -n ${LOCKCOORD_TEST_PG_CONNINFO:-} &&
        ($LC_WITH_CLUSTER == 0 || -n ${LOCKCOORD_TEST_REDIS_CLUSTER_URL:-}) &&
        ($LC_WITH_QUORUM == 0 || -n ${LOCKCOORD_TEST_REDIS_QUORUM_URLS:-}) ]]; then
        lc_say "Using the servers of LOCKCOORD_TEST_REDIS_URL, LOCKCOORD_TEST_PG_CONNINFO," \
            "LOCKCOORD_TEST_REDIS_CLUSTER_URL and LOCKCOORD_TEST_REDIS_QUORUM_URLS"
        return 0
    fi
    if [[ ${LOCKCOORD_SKIP_INTEGRATION:-} == 1 ]]; then
        lc_say "LOCKCOORD_SKIP_INTEGRATION=1: starting no servers"
        return 0
    fi
    lc_cleanup_on_exit
    LC_SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lockcoord-servers.XXXXXX")
    if [[ -z ${LOCKCOORD_TEST_REDIS_URL:-} ]]; then
        LOCKCOORD_TEST_REDIS_URL=$("$LC_SERVERS" redis-start "$LC_SERVER_DIR/redis" \
            ${LC_REDIS_ARGS[@]+"${LC_REDIS_ARGS[@]}"}) || exit 1
        export LOCKCOORD_TEST_REDIS_URL
    fi
    if [[ -z ${LOCKCOORD_TEST_PG_CONNINFO:-} ]]; then
        LOCKCOORD_TEST_PG_CONNINFO=$("$LC_SERVERS" pg-start "$LC_SERVER_DIR/pg") || exit 1
        export LOCKCOORD_TEST_PG_CONNINFO
    fi
    if [[ $LC_WITH_CLUSTER == 1 && -z ${LOCKCOORD_TEST_REDIS_CLUSTER_URL:-} ]]; then
        LOCKCOORD_TEST_REDIS_CLUSTER_URL=$("$LC_SERVERS" redis-cluster-start \
            "$LC_SERVER_DIR/redis-cluster") || exit 1
        export LOCKCOORD_TEST_REDIS_CLUSTER_URL
    fi
    if [[ $LC_WITH_QUORUM == 1 && -z ${LOCKCOORD_TEST_REDIS_QUORUM_URLS:-} ]]; then
        LOCKCOORD_TEST_REDIS_QUORUM_URLS=$("$LC_SERVERS" redis-quorum-start \
            "$LC_SERVER_DIR/redis-quorum") || exit 1
        LOCKCOORD_TEST_REDIS_QUORUM_URLS=${LOCKCOORD_TEST_REDIS_QUORUM_URLS//$'\n'/ }
        export LOCKCOORD_TEST_REDIS_QUORUM_URLS
    fi
    lc_say "Throwaway servers in $LC_SERVER_DIR"
    echo "LOCKCOORD_TEST_REDIS_URL=$LOCKCOORD_TEST_REDIS_URL"
    echo "LOCKCOORD_TEST_PG_CONNINFO=$LOCKCOORD_TEST_PG_CONNINFO"
    [[ -z ${LOCKCOORD_TEST_REDIS_CLUSTER_URL:-} ]] ||
        echo "LOCKCOORD_TEST_REDIS_CLUSTER_URL=$LOCKCOORD_TEST_REDIS_CLUSTER_URL"
    [[ -z ${LOCKCOORD_TEST_REDIS_QUORUM_URLS:-} ]] ||
        echo "LOCKCOORD_TEST_REDIS_QUORUM_URLS=\"$LOCKCOORD_TEST_REDIS_QUORUM_URLS\""
}

# Starts one busy worker per core until lc_cleanup: stress-ng when it is
# installed, else a shell busy loop. For the stress mode of test.sh.
lc_start_cpu_load() {
    local n i
    n=$(nproc)
    if command -v stress-ng >/dev/null; then
        lc_say "CPU load: stress-ng --cpu $n"
        stress-ng --cpu "$n" --quiet &
        LC_LOAD_PIDS+=("$!")
    else
        lc_say "CPU load: $n shell busy loops"
        for ((i = 0; i < n; i++)); do
            bash -c 'while :; do :; done' &
            LC_LOAD_PIDS+=("$!")
        done
    fi
}

# From here on, every way out (end, error, SIGINT, SIGTERM) runs lc_cleanup.
lc_cleanup_on_exit() {
    trap lc_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# lc_run_killable CMD [ARGS...]: runs CMD in its own process group and
# waits for it. Unlike a foreground command, this lets a SIGTERM sent to
# the script alone stop at once, and lc_cleanup then stops CMD's whole
# group (ctest and the test it is running). Returns CMD's status.
lc_run_killable() {
    local rc=0
    set -m
    "$@" &
    LC_CHILD=$!
    set +m
    wait "$LC_CHILD" || rc=$?
    LC_CHILD=""
    return "$rc"
}

# The EXIT trap: stops what is still running, keeps the exit status.
lc_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $LC_CHILD ]]; then
        kill -TERM -- "-$LC_CHILD" 2>/dev/null || true
        wait "$LC_CHILD" 2>/dev/null || true
    fi
    local p
    for p in ${LC_LOAD_PIDS[@]+"${LC_LOAD_PIDS[@]}"} ${LC_BG_PIDS[@]+"${LC_BG_PIDS[@]}"}; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ -n $LC_SERVER_DIR && -d $LC_SERVER_DIR ]]; then
        "$LC_SERVERS" redis-stop "$LC_SERVER_DIR/redis" || true
        "$LC_SERVERS" pg-stop "$LC_SERVER_DIR/pg" || true
        "$LC_SERVERS" redis-cluster-stop "$LC_SERVER_DIR/redis-cluster" || true
        "$LC_SERVERS" redis-quorum-stop "$LC_SERVER_DIR/redis-quorum" || true
        rm -rf "$LC_SERVER_DIR"
    fi
    local d
    for d in ${LC_TEMP_DIRS[@]+"${LC_TEMP_DIRS[@]}"}; do
        rm -rf "$d"
    done
    exit "$rc"
}
