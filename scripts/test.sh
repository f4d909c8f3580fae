#!/usr/bin/env bash
# scripts/test.sh -- the whole test run, on a fresh Debian 12 machine or a
# developer's: installs what is missing, builds build/ (RelWithDebInfo),
# build-asan/ (ASan+UBSan) and build-tsan/ (ThreadSanitizer), starts
# throwaway Redis and PostgreSQL (unless LOCKCOORD_TEST_REDIS_URL and
# LOCKCOORD_TEST_PG_CONNINFO are set), runs ctest on each build (the TSan
# build without the e2e tests: they drive the command, whose threads the
# library tests already cover, with timing margins TSan's slowdown would
# eat), then the unit tests of the builds users make: build-release
# (Release), build-nopg and build-noredis (one backend left out) and, when
# clang is installed, build-clang; and exits non-zero if anything failed.
# Every build has warnings fatal (LC_WERROR).
#
#   scripts/test.sh [CTEST ARGS...]     e.g. scripts/test.sh -R config
#
# Stress mode, to find timing-fragile tests before CI does:
#   LOCKCOORD_TEST_REPEAT=N   runs the tests of every build N times (one
#                             build, one set of servers); any failing round
#                             fails the whole run
#   LOCKCOORD_TEST_LOAD=1     runs them beside a CPU hog, one busy worker per
#                             core (stress-ng when installed, else a shell
#                             busy loop)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTEST_TIMEOUT_S=300
# "DIR BUILD_TYPE [CMAKE ARGS...]"; the fourth and later get unit tests only.
BUILDS=("build RelWithDebInfo" "build-asan Asan" "build-tsan Tsan" "build-release Release"
    "build-nopg RelWithDebInfo -DLC_WITH_POSTGRES=OFF" "build-noredis RelWithDebInfo -DLC_WITH_REDIS=OFF")
if command -v clang >/dev/null; then BUILDS+=("build-clang RelWithDebInfo -DCMAKE_C_COMPILER=clang"); fi
SUMMARY=()
REPEAT=${LOCKCOORD_TEST_REPEAT:-1}
LOAD=${LOCKCOORD_TEST_LOAD:-0}

# run_ctest DIR [CTEST ARGS...]: runs the tests of one build, keeps the
# output in DIR/ctest.log and adds its summary to SUMMARY. Returns ctest's
# status.
run_ctest() {
    local dir=$1 rc=0 line
    shift
    lc_say "Testing $dir${ROUND_LABEL}"
    lc_run_killable env -C "$LC_ROOT/$dir" ctest --output-on-failure \
        --no-tests=error --timeout "$CTEST_TIMEOUT_S" --output-log "$LC_ROOT/$dir/ctest.log" "$@" || rc=$?
    line=$(grep -E 'tests passed|No tests were found' "$LC_ROOT/$dir/ctest.log" | tail -n 1 || true)
    SUMMARY+=("$dir${ROUND_LABEL}: ${line:-ctest did not finish (status $rc)}")
    if ((rc != 0)); then
        while IFS= read -r line; do
            SUMMARY+=("    ${line#"${line%%[![:space:]]*}"}")
        done < <(sed -n '/The following tests FAILED:/,$p' "$LC_ROOT/$dir/ctest.log" | sed 1d |
            grep -E '^[[:space:]]+[0-9]+ - ' || true)
    fi
    return "$rc"
}

# One round: the tests of every build.
run_round() {
    local failed=0
    run_ctest build "$@" || failed=1
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "$@" || failed=1
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_ctest build-tsan -LE e2e "$@" || failed=1
    local b dir
    for b in "${BUILDS[@]:3}"; do
        read -r dir _ <<<"$b"
        run_ctest "$dir" -L unit "$@" || failed=1
    done
    return "$failed"
}

main() {
    local failed=0 b dir type args round
    [[ $REPEAT =~ ^[1-9][0-9]*$ ]] || lc_die "LOCKCOORD_TEST_REPEAT must be a positive whole number, got '$REPEAT'"
    [[ $LOAD == 0 || $LOAD == 1 ]] || lc_die "LOCKCOORD_TEST_LOAD must be 0 or 1, got '$LOAD'"
    ((LOAD == 0)) || LC_PACKAGES+=(stress-ng)
    lc_cleanup_on_exit
    lc_install_deps
    for b in "${BUILDS[@]}"; do
        read -r dir type args <<<"$b"
        # shellcheck disable=SC2086 # args are words for cmake
        lc_build "$dir" "$type" $args
    done
    lc_start_servers
    ((LOAD == 0)) || lc_start_cpu_load

    ROUND_LABEL=""
    for ((round = 1; round <= REPEAT; round++)); do
        ((REPEAT == 1)) || ROUND_LABEL=" (round $round of $REPEAT)"
        run_round "$@" || failed=1
    done

    if ((LOAD)); then lc_say "Summary (under CPU load)"; else lc_say "Summary"; fi
    printf '%s\n' "${SUMMARY[@]}"
    if ((failed)); then
        echo "FAILED (details above and in build*/ctest.log)"
        return 1
    fi
    echo "OK"
}

main "$@"
