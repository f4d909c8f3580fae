#!/usr/bin/env bash
# `history`: every finished run leaves one entry, written with its release;
# newest first with the right outcomes; lock.history bounds it; --limit
# and --since filter; concurrent runners never leave a release without its
# entry or the other way round; bad input is a usage error.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_history_five_runs() {
    local name i
    name=$(lock_name history)
    assert_exit 0 lc history "$name"
    assert_contains "$OUT" "no runs recorded"
    for i in 1 2 3 4 5; do
        if ((i == 2 || i == 4)); then
            assert_exit 3 lc run "$name" -- sh -c 'exit 3'
        else
            assert_exit 0 lc run "$name" -- true
        fi
    done
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" .lock "$name"
    assert_json "$OUT" '.runs | length' 5
    assert_json "$OUT" '[.runs[].outcome] | join(" ")' "ok failed ok failed ok"
    assert_json "$OUT" '[.runs[].exit] | join(" ")' "0 3 0 3 0"
    assert_json "$OUT" '[.runs[].fence] | . == (sort | reverse)' true
    assert_json "$OUT" '.runs[1].error' "exit status 3"
    assert_json "$OUT" '.runs[0].error' null
    assert_json "$OUT" '.runs[0].attempts' 1
    assert_json "$OUT" '[.runs[] | .duration_ms >= 0] | all' true
    assert_json "$OUT" '[.runs[] | .started_at != null and .completed_at != null] | all' true
    assert_json_keys "$OUT" '.runs[0]' fence owner started_at completed_at duration_ms outcome \
        exit http_status error attempts

    assert_exit 0 lc --json history "$name" --limit 2
    assert_json "$OUT" '.runs | length' 2
    assert_json "$OUT" '[.runs[].outcome] | join(" ")' "ok failed"
    assert_exit 0 lc --json history "$name" --since 1h
    assert_json "$OUT" '.runs | length' 5
    assert_exit 0 lc history "$name"
    assert_contains "$OUT" "OUTCOME"
    assert_contains "$OUT" "exit status 3"
    assert_eq 6 "$(grep -c '' <<<"$OUT")" "table lines (header and 5 runs)"
}

case_history_killed_run_abandoned() {
    local name holder killed_fence
    name=$(lock_name historykill)
    assert_exit 0 lc run "$name" -- true
    assert_exit 3 lc run "$name" -- sh -c 'exit 3'
    bg holder lc run "$name" --ttl 1s -- sh -c 'echo "$LOCKCOORD_FENCE" > fence; touch started; exec sleep 30'
    assert_until 10000 file_exists started
    killed_fence=$(cat fence)
    kill -KILL "$holder"
    bg_wait "$holder"
    # The next run waits out the killed holder's ttl (1 s) and takes the lock.
    assert_exit 0 lc run "$name" --wait 30s -- true
    assert_exit 3 lc run "$name" -- sh -c 'exit 3'
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" '.runs | length' 5
    assert_json "$OUT" '[.runs[].outcome] | join(" ")' "failed ok abandoned failed ok"
    assert_json "$OUT" '.runs[2].fence' "$killed_fence"
    assert_json "$OUT" '.runs[2].completed_at' null
    assert_json "$OUT" '.runs[2].duration_ms' null
    assert_ne null "$(json_get "$OUT" '.runs[2].started_at')" "abandoned run's start"
    assert_json "$OUT" '[.runs[].fence] | . == (sort | reverse)' true
    assert_exit 0 lc history "$name"
    assert_contains "$OUT" "abandoned"
}

case_history_bounded() {
    local name i
    name=$(lock_name historycap)
    sed -i 's/^lock:$/lock:\n  history: 3/' "$CFG"
    grep -q '^  history: 3$' "$CFG" || fail "config: $(cat "$CFG")"
    for i in 1 2 3 4 5; do
        assert_exit 0 lc run "$name" -- true
    done
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" '.runs | length' 3
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].sync_count' 5
    assert_json "$OUT" '.locks[0].fence' 5
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" '[.runs[].fence] | join(" ")' "5 4 3"
}

case_history_concurrent_runners_agree() {
    local name i pids=() rc=0
    name=$(lock_name historyrace)
    for i in 1 2 3 4 5 6 7 8; do
        lc run "$name" --wait 60s -- sh -c "echo \$LOCKCOORD_FENCE >> fences; exit \$((RANDOM % 2))" \
            >/dev/null 2>"run$i.err" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || rc=$?
        ((rc <= 1)) || fail "a runner exited $rc: $(cat run*.err)"
    done
    assert_exit 0 lc --json history "$name"
    assert_json "$OUT" '.runs | length' 8
    # The same eight fences the commands saw, each once.
    assert_eq "$(sort -n fences | tr '\n' ' ')" \
        "$(json_get "$OUT" '[.runs[].fence] | sort | map(tostring) | join(" ")') " "fences"
    assert_exit 0 lc --json status "$name"
    assert_json "$OUT" '.locks[0].sync_count' 8
}

case_history_bad_input() {
    local name
    name=$(lock_name historybad)
    assert_exit 64 lc history "$name" --limit -1
    assert_one_line "$ERR"
    assert_contains "$ERR" "--limit"
    assert_exit 64 lc history "$name" --limit 0
    assert_exit 64 lc history "$name" --limit x
    assert_exit 64 lc history "$name" --since 5
    assert_one_line "$ERR"
    assert_exit 64 lc history
    assert_exit 64 lc history "bad name"
    assert_exit 64 lc --json history "$name" --limit -1
    assert_json "$OUT" .error usage
}

e2e_init
for b in redis postgres; do
    run_case "$b" "five runs, two failing: five entries newest first" case_history_five_runs
    run_case "$b" "a run killed with kill -9 is 'abandoned' with its fence" case_history_killed_run_abandoned
    run_case "$b" "lock.history: 3 keeps the last three" case_history_bounded
    run_case "$b" "eight concurrent runners: every release has its entry" case_history_concurrent_runners_agree
    run_case "$b" "history bad input: usage errors" case_history_bad_input
done
e2e_finish
