#!/usr/bin/env bash
# `sync --listen`: /metrics and /healthz of the daemons, read as Prometheus
# and a monitor would.
# - Two daemons with the same config (an http job every 1s), each serving
#   on a port of its own: every scrape parses as the Prometheus text format
#   (prometheus_client's parser), counters only grow between scrapes, a
#   scrape sees a run under way, a pause shows as paused skips, and once the
#   job is paused and idle, the runs both daemons counted, by outcome, are
#   the requests the receiver answered, by status.
# - /healthz: 200 with a JSON body; 503 "backend unavailable" while the
#   backend is frozen (SIGSTOP), /metrics still answering meanwhile; 200
#   again after SIGCONT. 503 naming the job when it is overdue.
# - Bad input: a port in use (exit 71), a malformed address (exit 64), and
#   nothing started; the flag wins over sync.listen.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

# Debian's python3 has python3-prometheus-client (another python3 first in
# PATH may not).
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
PROM_CHECK="$E2E_SRC/tests/tools/prom_check.py"

# A loopback port nothing listens on now (the kernel's pick).
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# scrape PORT NAME: /metrics into NAME.txt, checked against the last
# scrape of that daemon (NAME.json), which it then replaces.
scrape() {
    local port=$1 name=$2 prev=()
    curl -sS --max-time 5 -o "$name.txt" "http://127.0.0.1:$port/metrics" ||
        fail "scrape of $name failed"
    [[ -f $name.json ]] && prev=(--prev "$name.json")
    "$PY" "$PROM_CHECK" "$name.txt" "${prev[@]}" >"$name.new" 2>"$name.why" ||
        fail "scrape of $name: $(cat "$name.why")"
    mv "$name.new" "$name.json"
}

# metric NAME KEY: a sample of the last scrape of NAME, its whole part (0
# when absent).
metric() {
    jq -r --arg k "$2" '.[$k] // 0 | floor' "$1.json"
}

# both KEY: the sample summed over the last scrapes of d1 and d2.
both() {
    echo $(($(metric d1 "$1") + $(metric d2 "$1")))
}

# runs OUTCOME: lockcoord_runs_total of the job, both daemons.
runs() {
    both "lockcoord_runs_total{job=\"$JOB\",outcome=\"$1\"}"
}

# Both daemons scraped; a run is under way on one of them.
run_seen_running() {
    scrape "$P1" d1
    scrape "$P2" d2
    (($(both lockcoord_jobs_running) > 0))
}

# Both scraped; nothing runs on either; the lock is not held.
both_idle() {
    scrape "$P1" d1
    scrape "$P2" d2
    (($(both lockcoord_jobs_running) == 0)) &&
        lc --json status "$JOB" 2>/dev/null | jq -e '.locks[0].held_for_ms == null' >/dev/null
}

paused_skips_seen() {
    scrape "$P1" d1
    scrape "$P2" d2
    (($(both "lockcoord_runs_skipped_total{job=\"$JOB\",reason=\"paused\"}") > 0))
}

# Answers with STATUS the receiver sent for the job.
answered() { # STATUS
    jq -c --argjson s "$1" 'select(.event == "done" and .status == $s)' "$CASE_DIR/recv.log" |
        grep -c '' || true
}

answered_at_least() { # STATUS N
    (($(answered "$1") >= $2))
}

# Every request the receiver got has been answered, 200 or 500.
all_answered() {
    (($(answered 200) + $(answered 500) == $(request_count)))
}

case_two_daemons_metrics_add_up() {
    local b=$1 ok failed i
    JOB=$(lock_name metrics)
    start_receiver
    set_rules '{"*": {"delay_ms": 400}}'
    sync_config "$CFG" "$b" $'  ttl: 3s\n  renew_every: 100ms' "  - name: $JOB
    every: 1s
    http:
      url: \"http://127.0.0.1:$PORT/m\""
    P1=$(free_port)
    P2=$(free_port)
    # Held by someone else when the daemons start: their first attempts
    # are skipped as held, whatever the two daemons' timing (the lease
    # then runs out by itself).
    assert_exit 0 lc acquire "$JOB" --ttl 1500ms
    bg d1 lc sync --listen "127.0.0.1:$P1"
    bg d2 lc sync --listen "127.0.0.1:$P2"
    assert_until 10000 log_has d1 "serving /metrics and /healthz on 127.0.0.1:$P1"
    assert_until 10000 log_has d2 "serving /metrics and /healthz on 127.0.0.1:$P2"
    # A scrape in the middle of a run.
    assert_until 15000 run_seen_running
    assert_until 15000 requests_at_least 3
    # Some failing runs, then ok again; scraped all along.
    set_rules '{"*": {"delay_ms": 100, "status": 500}}'
    for i in 1 2 3; do
        sleep 0.7
        scrape "$P1" d1
        scrape "$P2" d2
    done
    assert_until 15000 answered_at_least 500 2
    set_rules '{"*": {"delay_ms": 100}}'
    assert_until 15000 answered_at_least 200 5
    # Paused: the daemons skip it and count that; a run under way ends.
    assert_exit 0 lc pause "$JOB" --reason "metrics test"
    assert_until 15000 paused_skips_seen
    assert_until 15000 both_idle
    assert_until 5000 all_answered
    echo "    runs: ok $(runs ok), failed $(runs failed); receiver: $(answered 200) x 200, $(answered 500) x 500"
    assert_eq "$(answered 200)" "$(runs ok)" "ok runs counted by both daemons vs 200s answered"
    assert_eq "$(answered 500)" "$(runs failed)" "failed runs counted by both daemons vs 500s answered"
    for i in timeout lost interrupted; do
        assert_eq 0 "$(runs "$i")" "$i runs"
    done
    assert_eq "$(($(runs ok) + $(runs failed)))" \
        "$(both "lockcoord_run_duration_seconds_count{job=\"$JOB\"}")" "durations observed vs runs"
    assert_ne 0 "$(both "lockcoord_runs_skipped_total{job=\"$JOB\",reason=\"held\"}")" "held skips"
    assert_ne 0 "$(both lockcoord_lease_renewals_total)" "renewals"
    assert_ne 0 "$(both lockcoord_lease_renewal_duration_seconds_count)" "renewal rounds timed"
    assert_ne 0 "$(both "lockcoord_last_success_timestamp_seconds{job=\"$JOB\"}")" "last success"
    kill -TERM "$d1" "$d2"
    bg_wait_within 10000 "$d1"
    assert_eq 0 "$BG_RC" "daemon 1's exit (stderr: $(tail -n 3 d1.err))"
    bg_wait_within 10000 "$d2"
    assert_eq 0 "$BG_RC" "daemon 2's exit (stderr: $(tail -n 3 d2.err))"
}

# healthz PORT: sets CODE and BODY.
healthz() {
    BODY=$(curl -s --max-time 10 -o - -w '\n%{http_code}' "http://127.0.0.1:$1/healthz") || BODY=$'\n000'
    CODE=${BODY##*$'\n'}
    BODY=${BODY%$'\n'*}
}

health_is() { # PORT CODE [TEXT]
    healthz "$1"
    [[ $CODE == "$2" && $BODY == *"${3:-}"* ]]
}

case_healthz_frozen_backend() {
    local b=$1 port pid kids url conninfo
    JOB=$(lock_name health)
    if [[ $b == redis ]]; then
        url=$(redis_private) || exit 1
        pid=$(cat "$CASE_DIR/redis/redis.pid")
        write_config "$CFG" redis "$url" "  command_timeout: 300ms
  connect_timeout: 300ms"
    else
        conninfo=$(pg_private) || exit 1
        pid=$("$SERVERS" pg-pid "$CASE_DIR/pg")
        write_config "$CFG" postgres "$conninfo" "  statement_timeout: 500ms
  connect_timeout: 1s"
    fi
    # A job that runs once, at the start, and is not due for an hour.
    printf 'jobs:\n  - name: %s\n    every: 1h\n    exec: ["true"]\n' "$JOB" >>"$CFG"
    port=$(free_port)
    bg d lc sync --listen "127.0.0.1:$port"
    assert_until 10000 health_is "$port" 200 '"status":"ok"'
    assert_json "$BODY" .backend ok
    assert_json "$BODY" .jobs 1

    kill -STOP "$pid"
    register_frozen "$pid"
    if [[ $b == postgres ]]; then
        kids=$(pgrep -P "$pid" | tr '\n' ' ')
        # shellcheck disable=SC2086
        register_frozen $kids
        pkill -STOP -P "$pid"
    fi
    assert_until 15000 health_is "$port" 503 "backend unavailable"
    assert_json "$BODY" .status unhealthy
    assert_json "$BODY" .backend unavailable
    # The metrics do not wait on the backend.
    scrape "$port" d
    kill -CONT "$pid"
    [[ $b == postgres ]] && pkill -CONT -P "$pid"
    assert_until 15000 health_is "$port" 200 '"status":"ok"'
    scrape "$port" d
    (($(metric d 'lockcoord_backend_errors_total{kind="timeout",op="health"}') + \
        $(metric d 'lockcoord_backend_errors_total{kind="unavailable",op="health"}') > 0)) ||
        fail "no backend errors of the health check counted"
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit (stderr: $(tail -n 3 d.err))"
}

case_healthz_overdue_job() {
    local b=$1 port
    JOB=$(lock_name overdue)
    printf 'jobs:\n  - name: %s\n    every: 1s\n    exec: ["sh", "-c", "exit 3"]\n' "$JOB" >>"$CFG"
    port=$(free_port)
    bg d lc sync --listen "127.0.0.1:$port"
    # Two failed runs without a success: overdue, as status --check says.
    assert_until 15000 health_is "$port" 503 "job $JOB overdue since 20"
    assert_json "$BODY" .backend ok
    assert_json "$BODY" .overdue 1
    assert_exit 1 lc status --check "$JOB"
    # Not for a paused job: the pause is on purpose.
    assert_exit 0 lc pause "$JOB" --reason "known"
    assert_until 15000 health_is "$port" 200 '"overdue":0'
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit"
}

case_listen_bad_input() {
    local b=$1 port busy holder
    JOB=$(lock_name bad)
    start_receiver
    sync_config "$CFG" "$b" $'  ttl: 3s' "  - name: $JOB
    every: 1s
    http:
      url: \"http://127.0.0.1:$PORT/bad\""
    busy=$(free_port)
    bg holder "$PY" -c "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $busy)); s.listen(); print('ok', flush=True); time.sleep(600)"
    assert_until 5000 file_written holder.out
    assert_exit 71 lc sync --listen "127.0.0.1:$busy"
    assert_one_line "$ERR"
    assert_contains "$ERR" "lockcoord: sync: cannot listen on 127.0.0.1:$busy: Address already in use"
    for a in nonsense ":99999" "127.0.0.1:0" "[::1:80" "host name:80"; do
        assert_exit 64 lc sync --listen "$a"
        assert_one_line "$ERR"
        assert_contains "$ERR" "--listen '$a': expected HOST:PORT"
    done
    assert_exit 64 lc sync --listen "no-such-host.invalid:9187"
    assert_one_line "$ERR"
    # libmicrohttpd is loaded only for a server: missing (an empty file
    # bound over it, in a mount namespace of this command's own), it is a
    # one-line configuration error, and nothing starts.
    local lib
    lib=$(ldconfig -p | awk '/libmicrohttpd\.so\.12 /{print $NF; exit}')
    [[ -n $lib ]] || fail "ldconfig does not know libmicrohttpd.so.12"
    # shellcheck disable=SC2016 # expanded by the namespace's shell
    assert_exit 78 unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh \
        "$lib" "$LC" -c "$CFG" sync --listen "127.0.0.1:$(free_port)"
    assert_one_line "$ERR"
    assert_contains "$ERR" "lockcoord: sync: libmicrohttpd.so.12 (needed by sync --listen) cannot be loaded: "
    # From the config: the same checks, as a configuration error.
    printf 'sync:\n  listen: "127.0.0.1:%s"\n' "$busy" >>"$CFG"
    assert_exit 71 lc sync
    assert_contains "$ERR" "Address already in use"
    # Nothing ran: no daemon started a job.
    assert_eq 0 "$(request_count)" "requests made by daemons that did not start"
    # The flag wins over the config.
    port=$(free_port)
    bg d lc sync --listen "127.0.0.1:$port"
    assert_until 10000 health_is "$port" 200
    kill -TERM "$d"
    bg_wait_within 10000 "$d"
    assert_eq 0 "$BG_RC" "daemon's exit"
}

e2e_init
command -v curl >/dev/null || fail "curl is not installed"
"$PY" -c 'import prometheus_client' ||
    { echo "python3-prometheus-client is not installed (apt-get install python3-prometheus-client)" >&2; exit 1; }
for b in redis postgres; do
    run_case "$b" "two daemons: scrapes parse, counters grow, runs by outcome = receiver's answers" \
        case_two_daemons_metrics_add_up
    run_case "$b" "/healthz: 503 while the backend is frozen, 200 after" case_healthz_frozen_backend
    run_case "$b" "/healthz: 503 naming an overdue job, not once it is paused" case_healthz_overdue_job
done
run_case redis "--listen: busy port 71, malformed 64, no libmicrohttpd 78, nothing started; flag over config" \
    case_listen_bad_input
e2e_finish
