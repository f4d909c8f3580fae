#!/usr/bin/env bash
# `config check` on the job engine's config: a bad job (no command, both
# kinds, a bad URL, a bad expect_status, a bad cron, both every and cron) is
# exit 78 with FILE:LINE:COL before any server is touched; a good one
# prints its schedule, retries and the sync section, and the printout loads
# again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# bad_job WHAT POSITION MESSAGE JOB_LINES: a config whose jobs: section
# (from line 4) is JOB_LINES fails config check, also with --json, with
# "FILE:POSITION: MESSAGE".
bad_job() {
    local what=$1 pos=$2 msg=$3 jobs=$4 f="$CASE_DIR/bad.yaml"
    write_config "$f" "$B" "" "$jobs"
    assert_exit 78 "$LC" config check "$f"
    assert_one_line "$ERR" "stderr for $what"
    assert_eq "lockcoord: config: $f:$pos: $msg" "$ERR" "$what"
    assert_exit 78 "$LC" --json config check "$f"
    assert_json "$OUT" .error config
    assert_json "$OUT" .message "config: $f:$pos: $msg"
}

case_bad_jobs_exit_78_with_position() {
    local B=$1
    bad_job "no command" 5:5 "jobs[0]: job 'a' needs exec or http (exactly one)" \
        $'jobs:\n  - name: a\n    every: 5m'
    bad_job "both kinds" 7:5 "jobs[0]: job 'a' has both exec and http; give exactly one" \
        $'jobs:\n  - name: a\n    exec: [./sync.sh]\n    http: {url: "https://h/"}\n    every: 5m'
    bad_job "bad URL" 8:12 "jobs[0].http.url: expected an http:// or https:// URL, got ftp://" \
        $'jobs:\n  - name: a\n    every: 5m\n    http:\n      url: "ftp://u:Zq7pw@h/x"'
    [[ $ERR != *Zq7pw* && $OUT != *Zq7pw* ]] || fail "the URL's password is shown: $ERR $OUT"
    bad_job "bad expect_status" 9:28 \
        "jobs[0].http.expect_status: 600 is out of range (100 to 599)" \
        $'jobs:\n  - name: a\n    every: 5m\n    http:\n      url: "https://h/"\n      expect_status: [200, 600]'
    bad_job "bad cron" 6:11 "jobs[0].cron: cron field 2 (hour): 25 is out of range 0-23" \
        $'jobs:\n  - name: a\n    cron: "0 25 * * *"\n    exec: [./sync.sh]'
    bad_job "both every and cron" 7:5 \
        "jobs[0]: job 'a' has both every and cron; give exactly one" \
        $'jobs:\n  - name: a\n    every: 5m\n    cron: "*/5 * * * *"\n    exec: [./sync.sh]'
}

case_good_jobs_print_and_reload() {
    local f="$CASE_DIR/good.yaml"
    write_config "$f" "$1" "" $'sync:\n  shutdown_grace: 10s\n  listen: "127.0.0.1:9187"
jobs:
  - name: nightly
    cron: "30 2 * * mon-fri"
    jitter: 10m
    retries: 2
    retry_backoff: 5s
    exec: [./sync.sh]
  - name: hook
    every: 5m
    http:
      url: "https://h/sync?since={{checkpoint}}"
      checkpoint_from: data.cursor'
    assert_exit 0 "$LC" config check "$f"
    assert_contains "$OUT" $'sync:\n  shutdown_grace: 10s\n  listen: "127.0.0.1:9187"\n'
    assert_contains "$OUT" $'    cron: "30 2 * * mon-fri"\n    jitter: 10m\n    retries: 2\n    retry_backoff: 5s\n    kill_grace: 5s\n'
    assert_contains "$OUT" $'    every: 5m\n    jitter: 0s\n    retries: 0\n    retry_backoff: 1s\n    ttl:'
    assert_contains "$OUT" $'      checkpoint_from: "data.cursor"\n      ca_file: ~\n'
    printf '%s\n' "$OUT" >"$CASE_DIR/again.yaml"
    local first=$OUT
    assert_exit 0 "$LC" config check "$CASE_DIR/again.yaml"
    assert_eq "$first" "$OUT" "config check of its own output"
}

e2e_init
for b in redis postgres; do
    run_case "$b" "bad jobs: 78 with FILE:LINE:COL" case_bad_jobs_exit_78_with_position
    run_case "$b" "cron, retries and sync: printed, and the printout loads" \
        case_good_jobs_print_and_reload
done
e2e_finish
