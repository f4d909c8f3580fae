#!/usr/bin/env bash
# Clock skew: two `sync` daemons, one under faketime 2 minutes ahead, an
# http job `every: 2s`, for 10 s: 4 to 6 runs in all (the skewed node's
# clock makes no slot due early, since slots are judged on the backend's
# clock), never two in one slot (no two requests closer than the interval,
# no slot key twice).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

case_clock_skew_never_two_in_one_slot() {
    local b=$1 job first n gap
    job=$(lock_name skew)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 2s
    http:
      url: \"http://127.0.0.1:$PORT/skew?delay_ms=100\""
    # libfaketime preloaded into lockcoord itself (the faketime wrapper
    # would stand between the test and the daemon's signals). An ASan
    # build wants its runtime first among the libraries; libfaketime only
    # wraps the clock calls, so that order does not matter here.
    bg fast env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+2m" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$LC" -c "$CFG" sync
    bg slow lc sync
    assert_until 15000 requests_at_least 1
    first=$(requests | jq -s '.[0].t')
    sleep 10.2 # the test's own length
    kill -TERM "$fast" "$slow"
    bg_wait_within 10000 "$fast"
    assert_eq 0 "$BG_RC" "the skewed daemon's exit (stderr: $(tail -n 3 fast.err))"
    bg_wait_within 10000 "$slow"
    assert_eq 0 "$BG_RC" "the other daemon's exit (stderr: $(tail -n 3 slow.err))"

    n=$(requests | jq -s --argjson t0 "$first" 'map(select(.t < $t0 + 10)) | length')
    gap=$(min_gap_ms)
    echo "    $n runs in 10 s, closest two ${gap} ms apart (skewed node ran $(grep -c started fast.err), the other $(grep -c started slow.err))"
    assert_ge "$n" 4 "runs in 10 s"
    assert_ge 6 "$n" "runs in 10 s"
    assert_ge "$gap" 1800 "ms between two runs (every 2s)"
    assert_slots_unique
    assert_fences_increase
}

e2e_init
FAKETIME_LIB=$(dpkg -L libfaketime 2>/dev/null | grep -m1 -e '/libfaketimeMT\.so\.1$' -e '/libfaketime\.so\.1$')
[[ -n $FAKETIME_LIB ]] || { echo "libfaketime is not installed (apt-get install faketime)" >&2; exit 1; }
# Check that it does skew: date under it is 2 minutes ahead.
skewed=$(LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+2m" date +%s)
(( skewed - $(date +%s) >= 110 )) || { echo "libfaketime does not skew the clock here" >&2; exit 1; }
for b in redis postgres; do
    run_case "$b" "one daemon 2 minutes ahead: 4-6 runs of every 2s in 10 s, never two in a slot" \
        case_clock_skew_never_two_in_one_slot
done
e2e_finish
