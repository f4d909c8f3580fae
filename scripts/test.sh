#!/usr/bin/env bash
# scripts/test.sh -- the whole test run, on a fresh Debian 12 machine or a
# developer's: installs what is missing, builds build/ (RelWithDebInfo),
# build-asan/ (ASan+UBSan) and build-tsan/ (ThreadSanitizer), starts
# throwaway Redis and PostgreSQL (unless LOCKCOORD_TEST_REDIS_URL and
# LOCKCOORD_TEST_PG_CONNINFO are set), runs ctest on each build (the e2e
# and integration tests in the sanitizer builds, the e2e tests once, in
# the ASan build, whose margins are the tightest; build/ runs the unit
# tests and the e2e tests that need a build without sanitizers, label
# `plain`; the TSan build no e2e tests: they
# drive the command, whose threads the library tests already cover, with
# timing margins TSan's slowdown would eat), then the unit tests of the
# builds users make: build-release
# (Release), build-nopg and build-noredis (one backend left out) and, when
# clang is installed, build-clang; and exits non-zero if anything failed.
# Every build has warnings fatal (LC_WERROR).
#
#   scripts/test.sh [CTEST ARGS...]     e.g. scripts/test.sh -R config
#
# Then the fuzz step: build-fuzz (clang, LC_FUZZ=ON) and each libFuzzer
# harness of tests/fuzz for a fixed number of inputs (FUZZ_RUNS below,
# about 10 s each on a 2-core machine; LOCKCOORD_FUZZ_RUNS=N sets every
# harness's, 0 skips the step), as many at once as there are cores, each
# on a copy of its seed corpus. A crash fails the run; its input is kept
# in build-fuzz/crashes/ and the path printed. The step is deterministic:
# the seed is fixed (LOCKCOORD_FUZZ_SEED, default 1), the count of inputs
# too, address randomization is off for the fuzzer (libFuzzer's choices
# follow pointer values) and the binary does not depend on the checkout's
# path -- so CI explores exactly the inputs a developer's run explored,
# and its verdict does not depend on luck. LOCKCOORD_FUZZ_SECONDS (default
# 300) caps each harness's time on a slow machine: it then explores a
# prefix of the same inputs. Exploring further is a larger count or
# another seed (0 lets libFuzzer pick one).
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
    run_ctest build -L '^(unit|plain)$' "$@" || failed=1
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

# Inputs each harness runs in the fuzz step, sized for about 10 s each on
# a 2-core machine (two harnesses at once); LOCKCOORD_FUZZ_RUNS overrides.
declare -A FUZZ_RUNS=([config]=190000 [cron]=2200000 [duration]=3000000 [name]=3750000
    [pg_row]=2800000 [redact]=175000 [redis_reply]=2400000 [redis_url]=275000 [text]=650000)
FUZZ_RUNS_OTHER=150000

# fuzz_one BIN SECS WORK: one harness on a copy of its corpus under WORK,
# for its count of inputs or SECS seconds, whichever comes first; the log
# goes to build-fuzz/fuzz-NAME.log, a crashing input to
# build-fuzz/crashes/, and WORK/NAME.failed marks a failure. It runs as
# the same bytes on every machine: a copy of the binary under a fixed
# name, relative paths, an empty environment, no address randomization
# (what lies on its stack and where would change libFuzzer's choices).
fuzz_one() {
    local bin=$1 secs=$2 work=$3 t runs f
    t=$(basename "$bin")
    t=${t#fuzz_}
    runs=${LOCKCOORD_FUZZ_RUNS:-${FUZZ_RUNS[$t]:-$FUZZ_RUNS_OTHER}}
    mkdir -p "$work/$t/corpus"
    cp -R "$LC_ROOT/tests/fuzz/corpus/$t/." "$work/$t/corpus/" || true
    cp "$bin" "$work/$t/fuzz"
    env -C "$work/$t" -i PATH=/usr/bin:/bin "${FUZZ_NORAND[@]}" ./fuzz -seed="$LC_FUZZ_SEED" -runs="$runs" \
        -max_total_time="$secs" -reload=0 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=found- corpus \
        >"$LC_ROOT/build-fuzz/fuzz-$t.log" 2>&1 || touch "$work/$t.failed"
    for f in "$work/$t"/found-*; do
        [[ -e $f ]] && mv "$f" "$LC_ROOT/build-fuzz/crashes/$t-${f##*/found-}"
    done
    return 0
}

# fuzz_all SECS WORK BIN...: fuzz_one for each, as many at once as cores.
fuzz_all() {
    local secs=$1 work=$2 bin
    shift 2
    for bin in "$@"; do
        while (($(jobs -pr | wc -l) >= $(nproc))); do wait -n || true; done
        fuzz_one "$bin" "$secs" "$work" &
    done
    wait
}

LC_FUZZ_SEED=${LOCKCOORD_FUZZ_SEED:-1}

# run_fuzz: the fuzz step (see the top of this file). Adds its summary.
run_fuzz() {
    local secs=${LOCKCOORD_FUZZ_SECONDS:-300} dir="$LC_ROOT/build-fuzz" work bin t f
    local bins=() broken=()
    [[ ${LOCKCOORD_FUZZ_RUNS:-1} != 0 && $secs != 0 ]] || return 0
    FUZZ_NORAND=(setarch "$(uname -m)" -R)
    if ! "${FUZZ_NORAND[@]}" true 2>/dev/null; then
        lc_say "setarch -R is not permitted here: the fuzz step explores differently on each run"
        FUZZ_NORAND=()
    fi
    lc_say "Building build-fuzz (clang, libFuzzer)"
    cmake -S "$LC_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLC_WERROR=ON \
        -DCMAKE_C_COMPILER=clang -DLC_FUZZ=ON >/dev/null
    cmake --build "$dir" -j"$(nproc)" --target fuzz
    work=$(mktemp -d "${TMPDIR:-/tmp}/lockcoord-fuzz.XXXXXX")
    LC_TEMP_DIRS+=("$work")
    rm -rf "$dir/crashes"
    mkdir -p "$dir/crashes"
    bins=("$dir"/tests/fuzz/fuzz_*)
    lc_say "Fuzzing: ${#bins[@]} harnesses, seed $LC_FUZZ_SEED, ${LOCKCOORD_FUZZ_RUNS:-the usual} inputs each (at most ${secs}s), $(nproc) at a time"
    lc_run_killable fuzz_all "$secs" "$work" "${bins[@]}" || true
    for bin in "${bins[@]}"; do
        t=$(basename "$bin")
        t=${t#fuzz_}
        [[ -e $work/$t.failed ]] || continue
        broken+=("    fuzz_$t: see build-fuzz/fuzz-$t.log")
        lc_say "fuzz_$t failed (end of build-fuzz/fuzz-$t.log):"
        tail -n 40 "$dir/fuzz-$t.log"
        for f in "$dir/crashes/$t-"*; do
            [[ -e $f ]] || continue
            broken+=("    reproducer: $f (run: $bin $f)")
            echo "reproducer: $f (run: $bin $f)"
        done
    done
    if ((${#broken[@]})); then
        SUMMARY+=("build-fuzz: ${#bins[@]} harnesses, seed $LC_FUZZ_SEED: FAILED" "${broken[@]}")
        return 1
    fi
    SUMMARY+=("build-fuzz: ${#bins[@]} harnesses, seed $LC_FUZZ_SEED: no crash")
}

main() {
    local failed=0 b dir type args round
    [[ $REPEAT =~ ^[1-9][0-9]*$ ]] || lc_die "LOCKCOORD_TEST_REPEAT must be a positive whole number, got '$REPEAT'"
    [[ $LOAD == 0 || $LOAD == 1 ]] || lc_die "LOCKCOORD_TEST_LOAD must be 0 or 1, got '$LOAD'"
    [[ ${LOCKCOORD_FUZZ_SECONDS:-300} =~ ^(0|[1-9][0-9]*)$ ]] ||
        lc_die "LOCKCOORD_FUZZ_SECONDS must be a whole number of seconds, got '$LOCKCOORD_FUZZ_SECONDS'"
    [[ ${LOCKCOORD_FUZZ_RUNS:-1} =~ ^(0|[1-9][0-9]*)$ ]] ||
        lc_die "LOCKCOORD_FUZZ_RUNS must be a whole number of inputs, got '$LOCKCOORD_FUZZ_RUNS'"
    [[ $LC_FUZZ_SEED =~ ^[0-9]+$ ]] || lc_die "LOCKCOORD_FUZZ_SEED must be a whole number, got '$LC_FUZZ_SEED'"
    ((LOAD == 0)) || LC_PACKAGES+=(stress-ng)
    [[ ${LOCKCOORD_FUZZ_SECONDS:-300} == 0 || ${LOCKCOORD_FUZZ_RUNS:-1} == 0 ]] ||
        LC_PACKAGES+=("${LC_FUZZ_PACKAGES[@]}")
    lc_cleanup_on_exit
    lc_install_deps
    local i=0
    for b in "${BUILDS[@]}"; do
        read -r dir type args <<<"$b"
        # The fourth and later run only their unit tests: built for them.
        # shellcheck disable=SC2086 # args are words for cmake
        if ((i++ < 3)); then lc_build "$dir" "$type" $args; else LC_BUILD_TARGET=unit_tests lc_build "$dir" "$type" $args; fi
    done
    LC_WITH_CLUSTER=1 # the cluster tests fail without one
    LC_WITH_QUORUM=1  # the quorum-mode tests too
    lc_start_servers
    ((LOAD == 0)) || lc_start_cpu_load

    ROUND_LABEL=""
    for ((round = 1; round <= REPEAT; round++)); do
        ((REPEAT == 1)) || ROUND_LABEL=" (round $round of $REPEAT)"
        run_round "$@" || failed=1
    done
    run_fuzz || failed=1

    if ((LOAD)); then lc_say "Summary (under CPU load)"; else lc_say "Summary"; fi
    printf '%s\n' "${SUMMARY[@]}"
    if ((failed)); then
        echo "FAILED (details above and in build*/ctest.log)"
        return 1
    fi
    echo "OK"
}

main "$@"
