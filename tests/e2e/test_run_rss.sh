#!/usr/bin/env bash
# The memory a `lockcoord run NAME -- true` costs: its peak RSS (what
# /usr/bin/time -f %M reports: the largest of lockcoord and the processes
# it waited for), and which libraries it loads: never libcurl (loaded only
# for http jobs, sync/curl_dl.c) or libmicrohttpd (only for sync --listen,
# cli/serve.c), and libpq only on Postgres
# (backends/postgres/pq_dl.c).
#
# Most of the peak is shared libraries. libpq, with OpenSSL, Kerberos and
# LDAP (which brings GnuTLS), is about 5 MiB of a Postgres run's on Debian
# 12. Two things lockcoord does keep it under the target of 8 MiB on both
# backends (Redis 2.3-2.5 MiB, Postgres 7.3-7.5 MiB here): it skips
# libpq's GSSAPI probe where Kerberos cannot have credentials
# (backends/postgres/conn.c; case_gss_probe checks it), and loads its
# libraries with GnuTLS's implicit initialisation off (cli/common.c;
# case_tls_env checks that no command inherits the switch). On a machine
# with Kerberos set up the probe runs, as it should, and costs about 700
# KiB more: the Postgres limit grows by 1 MiB there, and the test says so.
# A build that links libpq, libcurl or libmicrohttpd again fails the maps
# check.
#
# RSS means nothing under a sanitizer (shadow memory, its runtime): this
# test is registered only in builds without one (label `plain`), and
# refuses to run on a sanitizer build rather than pass without measuring.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A LIMIT_KIB=([redis]=8192 [postgres]=8192)
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

# Case of the GSSAPI probe: libpq asks Kerberos for credentials before a
# TCP connection (gssencmode=prefer), which reads the default client
# keytab (/etc/krb5/user/UID/client.keytab). Without Kerberos set up
# lockcoord skips the probe; with KRB5_CONFIG set (Kerberos may be set up)
# the probe runs, which also shows that strace sees it.
case_gss_probe() {
    local trace
    if krb5_set_up; then
        echo "    Kerberos is set up on this machine: only the probe's presence is checked"
    else
        trace=$(env -u KRB5CCNAME -u KRB5_CLIENT_KTNAME -u KRB5_CONFIG -u PGGSSENCMODE \
            strace -f -e trace=openat "$LC" -c "$CFG" run "$(lock_name gss)" -- true 2>&1) ||
            fail "run under strace failed: $(tail -n 3 <<<"$trace")"
        [[ $trace != *client.keytab* ]] ||
            fail "libpq probed Kerberos without it: $(grep -m1 client.keytab <<<"$trace")"
    fi
    trace=$(KRB5_CONFIG=/nonexistent/krb5.conf \
        strace -f -e trace=openat "$LC" -c "$CFG" run "$(lock_name gss)" -- true 2>&1) ||
        fail "run under strace failed: $(tail -n 3 <<<"$trace")"
    assert_contains "$trace" "client.keytab" "the trace of a run with KRB5_CONFIG set"
}

# Whether anything points at Kerberos credentials (as conn.c decides).
krb5_set_up() {
    [[ -n ${KRB5CCNAME-}${KRB5_CONFIG-}${KRB5_CLIENT_KTNAME-}${GSS_MECH_CONFIG-} ]] ||
        [[ -e /etc/krb5.conf || -e /etc/krb5 || -e /etc/gss/mech || -e /tmp/krb5cc_$(id -u) ]] ||
        [[ -n $(ls -A /etc/gss/mech.d 2>/dev/null) ]]
}

# GNUTLS_NO_IMPLICIT_INIT is lockcoord's while it loads its config, never
# the command's: unset in the command's environment, and the user's own
# value passed through untouched.
case_tls_env() {
    assert_exit 0 lc run "$(lock_name tlsenv)" -- sh -c 'echo "tls=${GNUTLS_NO_IMPLICIT_INIT-unset}"'
    assert_contains "$OUT" "tls=unset" "the command's environment"
    GNUTLS_NO_IMPLICIT_INIT=0 assert_exit 0 lc run "$(lock_name tlsenv)" -- \
        sh -c 'echo "tls=${GNUTLS_NO_IMPLICIT_INIT-unset}"'
    assert_contains "$OUT" "tls=0" "the command's environment, the user's value"
}

e2e_init
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
if grep -qaE '__asan_init|__tsan_init' "$LC"; then
    echo "$LC is built with a sanitizer: its RSS means nothing (register this test in plain builds only)" >&2
    exit 1
fi
if krb5_set_up; then
    LIMIT_KIB[postgres]=$((LIMIT_KIB[postgres] + 1024))
    echo "Kerberos is set up here: libpq's GSSAPI probe runs, the Postgres limit is ${LIMIT_KIB[postgres]} KiB"
fi
command -v strace >/dev/null || { echo "strace is not installed (apt-get install strace)" >&2; exit 1; }
for b in redis postgres; do
    run_case "$b" "run -- true: peak RSS under ${LIMIT_KIB[$b]} KiB" case_peak_rss
    run_case "$b" "run -- true: no libcurl or libmicrohttpd, libpq only on postgres" case_libraries
    run_case "$b" "GNUTLS_NO_IMPLICIT_INIT: never the command's" case_tls_env
done
run_case postgres "libpq's GSSAPI probe: skipped without Kerberos, run with it" case_gss_probe
e2e_finish
