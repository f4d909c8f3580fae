#!/usr/bin/env bash
# scripts/demo.sh -- shows lockcoord at work on a fresh Debian 12 machine or
# a developer's: installs what is missing, builds build/, starts throwaway
# Redis and PostgreSQL on loopback (or uses LOCKCOORD_TEST_REDIS_URL /
# LOCKCOORD_TEST_PG_CONNINFO), then runs the steps below, printing each
# command before its output.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEP_RC=0

# step TITLE CMD [ARGS...]: shows the title and the command, runs it, and
# shows its exit status when it is not 0. Never fails the demo: the status
# is in STEP_RC for the next line to look at.
step() {
    local title=$1
    shift
    printf '\n--- %s\n$ %s\n' "$title" "$*"
    STEP_RC=0
    "$@" || STEP_RC=$?
    ((STEP_RC == 0)) || echo "(exit $STEP_RC)"
}

# step_expect CODE TITLE CMD [ARGS...]: a step that must exit with CODE
# (0 for success, 75 for a conflict...); anything else stops the demo.
step_expect() {
    local want=$1
    shift
    step "$@"
    ((STEP_RC == want)) || lc_die "step '$1' exited $STEP_RC, expected $want"
}

main() {
    lc_install_deps
    lc_build build RelWithDebInfo
    lc_start_servers
    # Steps read as the user would type them.
    export PATH="$LC_ROOT/build:$PATH"
    cd "$LC_ROOT"

    step_expect 0 "Check the Redis example config" lockcoord config check examples/redis.yaml
    step_expect 0 "Check the Postgres example config" lockcoord config check examples/postgres.yaml

    lc_say "Demo done"
}

main "$@"
