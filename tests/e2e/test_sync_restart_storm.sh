#!/usr/bin/env bash
# A restart storm: a `sync` daemon restarted every 700 ms (the new one
# starts, then the old one gets SIGTERM) with an http job `every: 2s`, for
# 10 s: no slot runs twice -- no two requests closer than the interval, no
# slot key twice -- and the job still runs (a restart does not make a node
# forget the slot: the record is on the backend).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

case_restart_storm_no_slot_twice() {
    local b=$1 job old="" cur end n gap restarts=0 t0 max
    job=$(lock_name storm)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 2s
    http:
      url: \"http://127.0.0.1:$PORT/storm?delay_ms=100\""
    t0=$(now_ms)
    end=$((t0 + 10000))
    while (($(now_ms) < end)); do
        bg cur lc sync
        if [[ -n $old ]]; then
            kill -TERM "$old"
            bg_wait_within 10000 "$old"
            assert_eq 0 "$BG_RC" "exit of a daemon stopped by SIGTERM"
        fi
        old=$cur
        restarts=$((restarts + 1))
        sleep 0.7 # the storm's own pace
    done
    kill -TERM "$old"
    bg_wait_within 10000 "$old"
    # One run per 2 s at most while daemons lived (the first at once).
    max=$((($(now_ms) - t0) / 2000 + 1))
    n=$(request_count)
    gap=$(min_gap_ms)
    echo "    $restarts daemons, $n runs (at most $max), closest two ${gap} ms apart"
    assert_ge "$n" 3 "runs in 10 s"
    assert_ge "$max" "$n" "runs while the daemons lived"
    assert_ge "$gap" 1800 "ms between two runs (every 2s)"
    assert_slots_unique
    assert_fences_increase
    status_of "$job"
    assert_json "$ST" '.locks[0].held_for_ms' null
}

e2e_init
for b in redis postgres; do
    run_case "$b" "restarted every 700 ms, every 2s: no slot runs twice" \
        case_restart_storm_no_slot_twice
done
e2e_finish
