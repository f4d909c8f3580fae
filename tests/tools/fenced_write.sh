#!/usr/bin/env bash
# fenced_write.sh -- the command the torture test (tests/e2e/test_torture.sh)
# runs under `lockcoord run`: it opens its critical section at the shared
# resource (tests/tools/fenced_resource.py on 127.0.0.1:$TORTURE_PORT),
# prepares for a while, makes one fenced write, works on for a while, and
# closes the section.
#
# The resource timestamps every step itself, so no clock of this process
# is involved: the section opens when "S" is handled and closes with "E",
# or when the connection closes -- also when this command is killed inside
# it. The preparation before the write leaves room for a holder to be
# frozen between taking its lease and writing: that is the late write the
# fence must refuse. Exits 0 after a section, 3 when the write was refused
# (a newer fence was accepted first), 2 when the resource is unreachable.
#
# Environment: LOCKCOORD_FENCE (from lockcoord), TORTURE_PORT, TORTURE_RUN
# (the run's name), TORTURE_LCPID (lockcoord's pid), TORTURE_PREP_MS and
# TORTURE_HOLD_MS (the longest preparation and work, default 100 and 300;
# each run takes a part of them chosen by its fence, so a replay does
# alike).
set -u
exec 3<>"/dev/tcp/127.0.0.1/$TORTURE_PORT" || exit 2

# wait_ms MS: the resource sends nothing unasked, so a read on its
# connection waits MS out without a fork.
wait_ms() {
    read -r -t "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" _ <&3
}

say() { # LINE: sends LINE, the answer in $reply
    printf '%s\n' "$1" >&3
    IFS= read -r reply <&3 || exit 2
}

say "S $LOCKCOORD_FENCE $TORTURE_RUN $TORTURE_LCPID"
wait_ms $(((LOCKCOORD_FENCE * 104729) % ${TORTURE_PREP_MS:-100}))
say W
[[ $reply == OK ]] || exit 3
wait_ms $(((LOCKCOORD_FENCE * 7919) % ${TORTURE_HOLD_MS:-300}))
say E
exit 0
