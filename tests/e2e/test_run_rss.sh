#!/usr/bin/env bash
# The memory a `lockcoord run NAME -- true` costs: its peak RSS (what
# /usr/bin/time -f %M reports: the largest of lockcoord and the processes
# it waited for), and which libraries it loads: never libcurl (loaded only
# for http jobs, sync/curl_dl.c) or libmicrohttpd (only for sync --listen,
# cli/serve.c), and libpq only on Postgres
# (backends/postgres/pq_dl.c).
#
# Most of the peak is shared libraries. libpq, with OpenSSL, Kerberos and
# LDAP, is about 3 MiB of a Postgres run's on Debian 12, and a Postgres
# run also pays for libpq's GSSAPI probe (gssencmode=prefer). The limits below are the figures of a plain
# RelWithDebInfo build on Debian 12 (Redis 4.8-5.2 MiB, Postgres
# 8.5-8.8 MiB) with room for the run-to-run spread: Redis's is the target
# of 8 MiB. A build that links libpq or libcurl again fails the maps check.
#
# RSS means nothing under a sanitizer (shadow memory, its runtime): this
# test is registered only in builds without one (label `plain`), and
# refuses to run on a sanitizer build rather than pass without measuring.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A LIMIT_KIB=([redis]=8192 [postgres]=9472)
RUNS=3

# RSS_ALL = the peak RSS in KiB of RUNS runs of `run NAME -- true`, RSS =
# their median.
RSS_ALL=()
RSS=0
measure() {
    local i
    RSS_ALL=()
    for ((i = 0; i < RUNS; i++)); do
        /usr/bin/time -f %M -o rss.txt "$LC" -c "$CFG" run "$(lock_name rss)" -- true ||
            fail "run -- true failed: $(cat rss.txt)"
        RSS_ALL+=("$(tail -n 1 rss.txt)")
        [[ ${RSS_ALL[-1]} =~ ^[0-9]+$ ]] || fail "no figure from /usr/bin/time: $(cat rss.txt)"
    done
    RSS=$(printf '%s\n' "${RSS_ALL[@]}" | sort -n | sed -n "$((RUNS / 2 + 1))p")
}

case_peak_rss() {
    measure
    echo "    $1: peak RSS $RSS KiB (median of ${RSS_ALL[*]}; limit ${LIMIT_KIB[$1]} KiB)"
    assert_lt "$RSS" "${LIMIT_KIB[$1]}" "peak RSS in KiB of run -- true on $1"
}

# The maps of the command's parent (the guard) and of lockcoord itself:
# never libcurl; libpq on Postgres only (where it is seen, so the check
# can see it).
case_libraries() {
    # shellcheck disable=SC2016 # expanded by the command's shell
    assert_exit 0 lc run "$(lock_name rssmaps)" -- sh -c \
        'cat /proc/$PPID/maps; cat /proc/$(cut -d" " -f4 /proc/$PPID/stat)/maps'
    assert_contains "$OUT" "libc.so" "the maps read"
    [[ $OUT != *libcurl* ]] || fail "libcurl is loaded: $(grep -m1 libcurl <<<"$OUT")"
    [[ $OUT != *libmicrohttpd* ]] || fail "libmicrohttpd is loaded: $(grep -m1 libmicrohttpd <<<"$OUT")"
    if [[ $1 == postgres ]]; then
        assert_contains "$OUT" "/libpq.so" "the maps of a Postgres run"
    else
        [[ $OUT != *libpq* ]] || fail "libpq is loaded: $(grep -m1 libpq <<<"$OUT")"
    fi
}

e2e_init
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
if grep -qaE '__asan_init|__tsan_init' "$LC"; then
    echo "$LC is built with a sanitizer: its RSS means nothing (register this test in plain builds only)" >&2
    exit 1
fi
for b in redis postgres; do
    run_case "$b" "run -- true: peak RSS under ${LIMIT_KIB[$b]} KiB" case_peak_rss
    run_case "$b" "run -- true: no libcurl or libmicrohttpd, libpq only on postgres" case_libraries
done
e2e_finish
