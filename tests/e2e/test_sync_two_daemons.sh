#!/usr/bin/env bash
# Two `lockcoord sync` daemons with the same config, an http job `every: 1s`
# whose request takes 300 ms, for 10 s: the receiver never sees two
# requests of the job at once, sees 9 to 11 of them in those 10 s (one per
# interval, not one per daemon and interval), and Lockcoord-Fence strictly
# increases. On SIGTERM both exit 0 and nothing stays held.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

case_two_daemons_one_run_per_interval() {
    local b=$1 job first n
    job=$(lock_name two)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1s
    http:
      url: \"http://127.0.0.1:$PORT/two?delay_ms=300\""
    bg d1 lc sync
    bg d2 lc sync
    assert_until 10000 requests_at_least 1
    first=$(requests | jq -s '.[0].t')
    # The test's own length: 10 s of the daemons at work.
    sleep 10.2
    kill -TERM "$d1" "$d2"
    bg_wait_within 10000 "$d1"
    assert_eq 0 "$BG_RC" "daemon 1's exit (stderr: $(tail -n 3 d1.err))"
    bg_wait_within 10000 "$d2"
    assert_eq 0 "$BG_RC" "daemon 2's exit (stderr: $(tail -n 3 d2.err))"

    assert_eq 1 "$(max_inflight)" "requests of the job in flight at once"
    n=$(requests | jq -s --argjson t0 "$first" 'map(select(.t < $t0 + 10)) | length')
    echo "    $n requests in 10 s (d1 ran $(grep -c started d1.err), d2 ran $(grep -c started d2.err))"
    assert_ge "$n" 9 "requests in 10 s"
    assert_ge 11 "$n" "requests in 10 s"
    assert_fences_increase
    assert_slots_unique
    status_of "$job"
    assert_json "$ST" '.locks[0].health' ready
    assert_json "$ST" '.locks[0].last_outcome' ok
    assert_json "$ST" '.locks[0].last_http_status' 200
}

e2e_init
for b in redis postgres; do
    run_case "$b" "two daemons, every 1s, 300 ms requests: one at a time, 9-11 in 10 s" \
        case_two_daemons_one_run_per_interval
done
e2e_finish
