#!/usr/bin/env bash
# Keys under the Redis key prefix that lockcoord did not write (a string
# where the meta hash belongs, a field that does not parse, a name outside
# the lock name rules) do not break `status` without NAME: the real locks
# are listed, each stray key is named in a warning on stderr, exit 0.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_stray_keys() {
    local prefix good
    prefix="e2e-stray-$$-$RANDOM"
    write_config "$CFG" redis "" "  key_prefix: $prefix"
    sed -i 's/level: error/level: warn/' "$CFG"
    good=$(lock_name good)
    assert_exit 0 lc acquire "$good" --ttl 30s
    redis_cmd SET "$prefix:{x}:meta" x >/dev/null
    redis_cmd HSET "$prefix:{y}:meta" fence abc >/dev/null
    redis_cmd HSET "$prefix:{not a name}:meta" owner x >/dev/null

    assert_exit 0 lc status
    assert_contains "$OUT" "$good: held"
    [[ $OUT != *"x:"* && $OUT != *"y:"* ]] || fail "a stray key was listed: $OUT"
    assert_contains "$ERR" "listing skips 'x', not a lockcoord lock: WRONGTYPE key $prefix:{x}:meta holds a string"
    assert_contains "$ERR" "listing skips 'y', not a lockcoord lock: key $prefix:{y}:meta: field fence is not a number"
    assert_contains "$ERR" "listing skips key '$prefix:{not a name}:meta', not a lockcoord lock: not a valid lock name"

    assert_exit 0 lc --json status
    assert_json "$OUT" '.locks | length' 1
    assert_json "$OUT" '.locks[0].name' "$good"
    assert_contains "$ERR" "listing skips 'x'"

    # Asked for by name, the stray key is an error naming it.
    assert_exit 69 lc status x
    assert_contains "$ERR" "$prefix:{x}:meta holds a string"
}

e2e_init
run_case redis "stray keys under the prefix: skipped with a warning, the rest listed" case_stray_keys
e2e_finish
