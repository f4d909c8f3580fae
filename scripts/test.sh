#!/usr/bin/env bash
# scripts/test.sh -- the whole test run, on a fresh Debian 12 machine or a
# developer's: installs what is missing, builds build/ (RelWithDebInfo),
# build-asan/ (ASan+UBSan) and build-tsan/ (ThreadSanitizer), starts
# throwaway Redis and PostgreSQL (unless LOCKCOORD_TEST_REDIS_URL and
# LOCKCOORD_TEST_PG_CONNINFO are set), runs ctest on each build (the TSan
# build without the e2e tests: they drive the command, whose threads the
# library tests already cover, with timing margins TSan's slowdown would
# eat), and exits non-zero if anything failed.
#
#   scripts/test.sh [CTEST ARGS...]     e.g. scripts/test.sh -R config
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTEST_TIMEOUT_S=300
BUILDS=("build RelWithDebInfo" "build-asan Asan" "build-tsan Tsan")
SUMMARY=()

# run_ctest DIR [CTEST ARGS...]: runs the tests of one build, keeps the
# output in DIR/ctest.log and adds its summary to SUMMARY. Returns ctest's
# status.
run_ctest() {
    local dir=$1 rc=0 line
    shift
    lc_say "Testing $dir"
    lc_run_killable env -C "$LC_ROOT/$dir" ctest --output-on-failure \
        --no-tests=error --timeout "$CTEST_TIMEOUT_S" --output-log "$LC_ROOT/$dir/ctest.log" "$@" || rc=$?
    line=$(grep -E 'tests passed|No tests were found' "$LC_ROOT/$dir/ctest.log" | tail -n 1 || true)
    SUMMARY+=("$dir: ${line:-ctest did not finish (status $rc)}")
    if ((rc != 0)); then
        while IFS= read -r line; do
            SUMMARY+=("    ${line#"${line%%[![:space:]]*}"}")
        done < <(sed -n '/The following tests FAILED:/,$p' "$LC_ROOT/$dir/ctest.log" | sed 1d |
            grep -E '^[[:space:]]+[0-9]+ - ' || true)
    fi
    return "$rc"
}

main() {
    local failed=0 b dir type
    lc_cleanup_on_exit
    lc_install_deps
    for b in "${BUILDS[@]}"; do
        read -r dir type <<<"$b"
        lc_build "$dir" "$type"
    done
    lc_start_servers

    run_ctest build "$@" || failed=1
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "$@" || failed=1
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_ctest build-tsan -LE e2e "$@" || failed=1

    lc_say "Summary"
    printf '%s\n' "${SUMMARY[@]}"
    if ((failed)); then
        echo "FAILED (details above and in build*/ctest.log)"
        return 1
    fi
    echo "OK"
}

main "$@"
