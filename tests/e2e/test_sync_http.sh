#!/usr/bin/env bash
# `lockcoord sync` with http jobs against the recording receiver: the
# checkpoint chain, a failing receiver with retries, a request that hangs
# past its timeout, and a reset while a slow request is under way.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# The first request gets since= empty, each next one the cursor the one
# before returned; a checkpoint write with a stale token is refused.
case_checkpoint_chain() {
    local b=$1 job paths tok
    job=$(lock_name cp)
    start_receiver
    set_rules '{"/cp": {"cursor": "auto"}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    http:
      url: \"http://127.0.0.1:$PORT/cp?since={{checkpoint}}\"
      body: '{\"since\": \"{{checkpoint}}\", \"fence\": {{fence}}}'
      checkpoint_from: cursor"
    assert_exit 0 lc sync --once
    assert_exit 0 lc sync --once --now
    assert_exit 0 lc sync --once --now
    paths=$(requests | jq -r '.path' | tr '\n' ' ')
    assert_eq "/cp?since= /cp?since=c1 /cp?since=c2 " "$paths" "request paths"
    assert_eq '{"since": "c1",' "$(requests | jq -r '.body' | sed -n 2p | cut -d' ' -f1-2)" "second body"
    status_of "$job"
    assert_json "$ST" '.locks[0].checkpoint' c3
    assert_json "$ST" '.locks[0].sync_count' 3
    # A token whose lease is gone cannot write the checkpoint.
    assert_exit 0 lc --json acquire "$job"
    jset tok "$OUT" .token
    assert_exit 0 lc release "$job" --token "$tok"
    assert_exit 76 lc checkpoint "$job" --token "$tok" --set stale
    status_of "$job"
    assert_json "$ST" '.locks[0].checkpoint' c3
}

# A 500: recorded as failed with the status and the start of the body;
# with retries: 2 three attempts under one lease (same fence, same slot);
# the lease is released, and the next slot goes ahead.
case_500_retries_then_next_slot() {
    local b=$1 job keys fences
    job=$(lock_name fail)
    start_receiver
    set_rules '{"/fail": {"sequence": [{"status": 500, "body": "upstream exploded: db down"},
        {"status": 500, "body": "upstream exploded: db down"},
        {"status": 500, "body": "upstream exploded: db down"}, {"status": 200}]}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 2s
    retries: 2
    retry_backoff: 100ms
    http:
      url: \"http://127.0.0.1:$PORT/fail\""
    assert_exit 1 lc sync --once
    assert_eq 3 "$(request_count)" "attempts"
    keys=$(requests | jq -r '.headers["idempotency-key"]' | sort -u | grep -c '')
    fences=$(requests | jq -r '.headers["lockcoord-fence"]' | sort -u | grep -c '')
    assert_eq "1 1" "$keys $fences" "slot keys and fences of the three attempts"
    status_of "$job"
    assert_json "$ST" '.locks[0].health' failed
    assert_json "$ST" '.locks[0].held_for_ms' null
    assert_json "$ST" '.locks[0].last_outcome' failed
    assert_json "$ST" '.locks[0].last_http_status' 500
    assert_json "$ST" '.locks[0].attempts' 3
    assert_json "$ST" '.locks[0].consecutive_failures' 1
    jset e "$ST" '.locks[0].last_error'
    assert_contains "$e" "HTTP 500"
    assert_contains "$e" "upstream exploded"
    # The next slot (2 s after the failed run started) goes ahead.
    bg d lc sync
    assert_until 10000 requests_at_least 4
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit"
    assert_slots_unique
    assert_fences_increase
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' ok
    assert_json "$ST" '.locks[0].health' ready
    assert_json "$ST" '.locks[0].consecutive_failures' 0
}

# A request that hangs past the job's timeout is aborted at the timeout and
# recorded as `timeout`.
case_hang_past_timeout() {
    local b=$1 job t0 took
    job=$(lock_name hang)
    start_receiver
    set_rules '{"/hang": {"hang": true}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 1s' "  - name: $job
    every: 1h
    timeout: 1s
    http:
      url: \"http://127.0.0.1:$PORT/hang\""
    t0=$(now_ms)
    assert_exit 1 lc sync --once
    took=$(($(now_ms) - t0))
    echo "    sync --once took $took ms (timeout 1s)"
    assert_ge "$took" 1000 "ms until the run ended"
    assert_lt "$took" 8000 "ms until the run ended"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' timeout
    assert_json "$ST" '.locks[0].held_for_ms' null
}

done_incomplete() {
    [[ -n $(jq -c 'select(.event == "done" and .completed == false)' "$CASE_DIR/recv.log") ]]
}

# An operator's reset while a slow request is under way: the keeper finds
# the lease gone at its next renewal and the transfer is aborted within
# renew_every plus a margin; the run is recorded as `lost`.
case_reset_aborts_slow_request() {
    local b=$1 job t_reset t_abort
    job=$(lock_name reset)
    start_receiver
    set_rules '{"/slow": {"delay_ms": 30000}}'
    sync_config "$CFG" "$b" $'  ttl: 1500ms\n  renew_every: 300ms' "  - name: $job
    every: 1h
    http:
      url: \"http://127.0.0.1:$PORT/slow\""
    bg d lc sync
    assert_until 10000 requests_at_least 1
    t_reset=$(now_ms)
    assert_exit 0 lc reset "$job" --reason "stuck, says the operator"
    assert_until 10000 done_incomplete
    t_abort=$(jq -s 'map(select(.event == "done")) | .[0].t * 1000 | floor' recv.log)
    echo "    transfer aborted $((t_abort - t_reset)) ms after the reset (renew_every 300ms)"
    assert_lt $((t_abort - t_reset)) 2300 "ms from the reset to the abort (renew_every + 2 s)"
    assert_until 5000 log_has d "lease lost"
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit"
    status_of "$job"
    assert_json "$ST" '.locks[0].last_outcome' lost
    jset e "$ST" '.locks[0].last_error'
    assert_contains "$e" "lease lost"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "checkpoint chain: since= empty, then each cursor; stale token refused" \
        case_checkpoint_chain
    run_case "$b" "500 with retries: 2 -> 3 attempts, failed with status and body, next slot runs" \
        case_500_retries_then_next_slot
    run_case "$b" "a request hanging past timeout is aborted and recorded as timeout" \
        case_hang_past_timeout
    run_case "$b" "reset during a slow request: aborted within renew_every + margin, lost" \
        case_reset_aborts_slow_request
done
e2e_finish
