#!/usr/bin/env bash
# cron: a `* * * * *` job claims exactly one run per minute slot across two
# `sync` daemons. Minutes are shortened with the test mode
# LOCKCOORD_TEST_MINUTE_MS=1000 (a cron minute lasts 1 s of the backend's
# clock), so slots pass in seconds: every slot from the first run to the
# last has one run (one may pass unclaimed on a stalled machine) and none
# has two, each named by its fire time (a whole second here).
# The parser itself is checked against croniter by tests/unit (cron_oracle).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

case_cron_one_run_per_slot() {
    local b=$1 job slots n first last
    job=$(lock_name cron)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    cron: \"* * * * *\"
    http:
      url: \"http://127.0.0.1:$PORT/cron?delay_ms=100\""
    export LOCKCOORD_TEST_MINUTE_MS=1000
    bg d1 lc sync
    bg d2 lc sync
    assert_until 10000 requests_at_least 6
    kill -TERM "$d1" "$d2"
    bg_wait_within 10000 "$d1"
    assert_eq 0 "$BG_RC" "daemon 1's exit"
    bg_wait_within 10000 "$d2"
    assert_eq 0 "$BG_RC" "daemon 2's exit"
    log_has d1 "test mode: a cron minute lasts 1000ms" || fail "no test-mode warning"

    assert_slots_unique
    # The slots as whole seconds of the fire times.
    slots=$(requests | jq -r --arg p "$job:" '.headers["idempotency-key"] | ltrimstr($p)
        | sub("Z$"; "") | split(".") | "\(.[0]) \(.[1])"')
    [[ $(awk '$2 != "000"' <<<"$slots") == "" ]] || fail "slots not on whole seconds: $slots"
    n=$(grep -c '' <<<"$slots")
    first=$(head -n 1 <<<"$slots" | cut -d' ' -f1)
    last=$(tail -n 1 <<<"$slots" | cut -d' ' -f1)
    first=$(date -u -d "${first/T/ }" +%s)
    last=$(date -u -d "${last/T/ }" +%s)
    echo "    $n runs for the slots of $((last - first + 1)) seconds (d1 $(grep -c started d1.err), d2 $(grep -c started d2.err))"
    # At most one run per slot (the slot keys are unique, above), and the
    # slots are claimed: all of them, but for one a stalled machine may
    # have let pass (it is then counted as missed, not run late twice).
    assert_ge $((last - first + 1)) "$n" "runs for the slots from the first to the last"
    assert_ge "$n" $((last - first)) "runs for the slots from the first to the last"
    assert_eq 1 "$(max_inflight)" "runs in flight at once"
}

# A slot that passed while no daemon ran is made up once when one starts,
# and the record counts the slots missed in between.
case_cron_missed_slots_counted() {
    local b=$1 job
    job=$(lock_name cronmiss)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    cron: \"* * * * *\"
    http:
      url: \"http://127.0.0.1:$PORT/miss\""
    export LOCKCOORD_TEST_MINUTE_MS=1000
    assert_exit 0 lc sync --once
    assert_eq 1 "$(request_count)" "runs of the first pass"
    sleep 3.5 # three slots pass with no daemon running
    assert_exit 0 lc sync --once
    assert_eq 2 "$(request_count)" "runs after the pause"
    status_of "$job"
    jset missed "$ST" '.locks[0].missed_slots'
    # Three slots began while nothing ran (the pass itself may start a
    # slot or two late on a loaded machine): all counted, none run late.
    assert_ge "$missed" 2 "missed slots recorded"
    assert_ge 6 "$missed" "missed slots recorded"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "cron * * * * * with 1 s minutes: one run per slot across two daemons" \
        case_cron_one_run_per_slot
    run_case "$b" "cron: slots missed while no daemon ran are counted, run once" \
        case_cron_missed_slots_counted
done
e2e_finish
