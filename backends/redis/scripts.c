/* backends/redis/scripts.c -- one Lua script per operation, run with
 * EVALSHA and falling back to EVAL on NOSCRIPT, so a SCRIPT FLUSH or a
 * server restart costs a round trip, not an error.
 *
 * Keys of one lock share the hash tag {NAME}: every script touches one
 * cluster slot. Times come from the server's TIME. Numbers are written
 * with %d because Lua's tostring would print large ones as 1.7e+12. */
#include "backends/redis/redis_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number macro spelled out in a script's text. */
#define STR_(x) #x
#define STR(x)  STR_(x)

/* Lua reads better laid out as Lua than as clang-format would fold it. */
/* clang-format off */

/* What a script costs is mostly what Redis does for each redis.call (a
 * command call, and its reply made into Lua values) and what Lua
 * allocates and calls: the good paths make one redis.call per thing they
 * must read or write, and build no table, string or Lua function call
 * they can do without (on Redis 7.0 a Lua function call costs about as
 * much as formatting a number; cjson.encode of a small table as much as a
 * whole redis.call). So numbers are formatted with fmt directly, and
 * replies are checked inline: redis.pcall answers an error as a table
 * with an `err` field, so the reply of a command that answers a scalar is
 * an error when type(r) == 'table', and that of one that answers an array
 * when r.err is set.
 *
 * Key types are not checked up front: a command meeting a key of another
 * type fails by itself, through redis.pcall, before the script has written
 * anything (reads go first, and a write that can meet a foreign key is
 * either the first write or undone). Only then does failed() run TYPE over
 * the script's keys -- `wants` names their types in KEYS order, "string
 * hash ..." -- so that the error names the key instead of being Redis's
 * anonymous WRONGTYPE; the good path pays nothing for it. */
#define PRELUDE                                                                                \
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"                      \
    "local function kind(k, want)\n"                                                              \
    "  local t = redis.call('TYPE', k)\n"                                                         \
    "  if type(t) == 'table' then t = t.ok end\n"                                                 \
    "  if t ~= 'none' and t ~= want then\n"                                                       \
    "    return redis.error_reply('WRONGTYPE key ' .. k .. ' holds a ' .. t ..\n"                 \
    "      ', expected a ' .. want)\n"                                                            \
    "  end\n"                                                                                     \
    "  return nil\n"                                                                              \
    "end\n"                                                                                       \
    "local function failed(r, wants)\n"                                                           \
    "  local i = 0\n"                                                                             \
    "  for want in string.gmatch(wants, '%S+') do\n"                                              \
    "    i = i + 1\n"                                                                             \
    "    if i > #KEYS then break end\n"                                                           \
    "    local bad = kind(KEYS[i], want)\n"                                                       \
    "    if bad then return bad end\n"                                                            \
    "  end\n"                                                                                     \
    "  return r\n"                                                                                \
    "end\n"                                                                                       \
    "local function now_ms()\n"                                                                   \
    "  local t = redis.call('TIME')\n"                                                            \
    "  return t[1] * 1000 + math.floor(t[2] / 1000)\n"                                            \
    "end\n"                                                                                       \
    "local fmt = string.format\n"

/* History entries, as JSON objects built by concatenation: cjson.encode
 * of a table costs more than the rest of the release together. jstr
 * quotes a string, leaving anything that needs escaping to cjson; entry
 * opens an object (fence owner started completed duration outcome
 * attempts; the numbers as decimal strings, checked where they come from
 * the meta hash), to which the caller adds optional fields and the
 * closing brace. push puts one on the history list `runs`, newest first,
 * and trims the list back to `cap` entries once it holds cap / 8 + 1
 * more, so that most pushes do not trim (readers look at the first `cap`
 * only). Returns an error reply, with nothing written, when runs is not a
 * list; nil when pushed. */
#define RUN_ENTRY_FN                                                                           \
    "local function jstr(s)\n"                                                                    \
    "  if string.find(s, '[%c\"\\\\/]') then return cjson.encode(s) end\n"                        \
    "  return '\"' .. s .. '\"'\n"                                                                \
    "end\n"                                                                                       \
    "local function entry(fence, owner, started, completed, duration, outcome, attempts)\n"       \
    "  return '{\"fence\":' .. (string.match(fence or '', '^%d+$') or '0') ..\n"                  \
    "    ',\"owner\":' .. jstr(owner or '') .. ',\"started\":' .. started ..\n"                   \
    "    ',\"completed\":' .. completed .. ',\"duration\":' .. duration ..\n"                     \
    "    ',\"outcome\":' .. jstr(outcome) .. ',\"attempts\":' .. attempts\n"                      \
    "end\n"                                                                                       \
    "local function push(runs, e, cap)\n"                                                         \
    "  local n = redis.pcall('LPUSH', runs, e)\n"                                                 \
    "  if type(n) == 'table' then return n end\n"                                                 \
    "  cap = math.max(1, tonumber(cap) or 100)\n"                                                 \
    "  if n > cap + math.floor(cap / 8) then redis.call('LTRIM', runs, 0, cap - 1) end\n"         \
    "  return nil\n"                                                                              \
    "end\n"

/* A run record from a[i..i+9] = has_exit exit has_err error outcome
 * http_status attempts missed duration_ms history: sync_count + 1,
 * completed now, each field set or removed; a duration of 0 is measured
 * from the recorded start; an ok run is the last success and ends a
 * failure streak. The run is also pushed onto the history list `runs`.
 * The varargs are more field-value pairs for the same HSET. One read,
 * one TIME, one LPUSH, one HSET (and an HDEL only for optional fields the
 * last run had and this one has not). Returns an error reply, with
 * nothing written, when meta or runs is not lockcoord's; nil when
 * recorded.
 *
 * w (nil on release): the lost lease the run was under, {fence, owner,
 * started_ms, lock key}. The entry is that lease's, its duration measured
 * from w's start, and it takes the place of the "abandoned" entry of w's
 * fence among the newest entries (swap: the next holder wrote one when it
 * took the lock) instead of a new one; when meta's fence is still w's and
 * the lock key is gone, the lock stops counting w as running. */
#define RECORD_FN                                                                              \
    "local function swap(runs, e, fence)\n"                                                       \
    "  local l = redis.pcall('LRANGE', runs, 0, " STR(LC__HISTORY_LOOKBACK) " - 1)\n"             \
    "  if l.err then return l end\n"                                                              \
    "  for k, v in ipairs(l) do\n"                                                                \
    "    local ok, o = pcall(cjson.decode, v)\n"                                                  \
    "    if ok and type(o) == 'table' and o.outcome == 'abandoned' and\n"                         \
    "        tonumber(o.fence) == tonumber(fence) then\n"                                         \
    "      redis.call('LSET', runs, k - 1, e)\n"                                                  \
    "      return true\n"                                                                         \
    "    end\n"                                                                                   \
    "  end\n"                                                                                     \
    "  return false\n"                                                                            \
    "end\n"                                                                                       \
    "local function record(meta, runs, a, i, w, ...)\n"                                           \
    "  local m = redis.pcall('HMGET', meta, 'fence', 'owner', 'last_started_at_ms',\n"            \
    "    'sync_count', 'consecutive_failures', 'last_exit', 'last_error', 'last_http_status',\n"  \
    "    'last_duration_ms')\n"                                                                   \
    "  if m.err then return m end\n"                                                              \
    "  local f = {...}\n"                                                                         \
    "  if w then\n"                                                                               \
    "    if tonumber(m[1]) == tonumber(w[1]) and redis.call('EXISTS', w[4]) == 0 then\n"          \
    "      f[#f + 1] = 'status'; f[#f + 1] = 'idle'\n"                                            \
    "    end\n"                                                                                   \
    "    m[1], m[2], m[3] = w[1], w[2], w[3]\n"                                                   \
    "  end\n"                                                                                     \
    "  local now = now_ms()\n"                                                                    \
    "  local nows, started = fmt('%d', now), tonumber(m[3])\n"                                    \
    "  local d = tonumber(a[i + 8]) or 0\n"                                                       \
    "  if d <= 0 then d = started and math.max(0, now - started) or -1 end\n"                     \
    "  local ds, outcome = fmt('%d', d), a[i + 4]\n"                                              \
    "  local hx, he, hh = a[i] == '1', a[i + 2] == '1', a[i + 5] ~= '0'\n"                        \
    "  local e = entry(m[1], m[2], started and fmt('%d', started) or '-1', nows, ds, outcome,\n"  \
    "    string.match(a[i + 6], '^%d+$') or '1')\n"                                               \
    "  if hx then e = e .. ',\"exit\":' .. (string.match(a[i + 1], '^%-?%d+$') or '0') end\n"     \
    "  if he then e = e .. ',\"error\":' .. jstr(a[i + 3]) end\n"                                 \
    "  if hh then e = e .. ',\"http\":' .. (string.match(a[i + 5], '^%d+$') or '0') end\n"        \
    "  e = e .. '}'\n"                                                                            \
    "  local swapped = w and swap(runs, e, w[1])\n"                                               \
    "  if type(swapped) == 'table' then return swapped end\n"                                     \
    "  local bad = not swapped and push(runs, e, a[i + 9])\n"                                     \
    "  if bad then return bad end\n"                                                              \
    "  local gone = nil\n"                                                                        \
    "  local k = #f\n"                                                                            \
    "  if hx then f[k + 1] = 'last_exit'; f[k + 2] = a[i + 1]; k = k + 2\n"                       \
    "  elseif m[6] then gone = {'last_exit'} end\n"                                               \
    "  if he then f[k + 1] = 'last_error'; f[k + 2] = a[i + 3]; k = k + 2\n"                      \
    "  elseif m[7] then gone = gone or {}; gone[#gone + 1] = 'last_error' end\n"                  \
    "  if hh then f[k + 1] = 'last_http_status'; f[k + 2] = a[i + 5]; k = k + 2\n"                \
    "  elseif m[8] then gone = gone or {}; gone[#gone + 1] = 'last_http_status' end\n"            \
    "  if d >= 0 then f[k + 1] = 'last_duration_ms'; f[k + 2] = ds; k = k + 2\n"                  \
    "  elseif m[9] then gone = gone or {}; gone[#gone + 1] = 'last_duration_ms' end\n"            \
    "  if outcome == 'ok' then\n"                                                                 \
    "    f[k + 1] = 'last_success_at_ms'; f[k + 2] = nows\n"                                      \
    "    f[k + 3] = 'consecutive_failures'; f[k + 4] = '0'\n"                                     \
    "  else\n"                                                                                    \
    "    f[k + 1] = 'consecutive_failures'; f[k + 2] = fmt('%d', (tonumber(m[5]) or 0) + 1)\n"    \
    "  end\n"                                                                                     \
    "  redis.call('HSET', meta, 'sync_count', fmt('%d', (tonumber(m[4]) or 0) + 1),\n"            \
    "    'last_completed_at_ms', nows, 'last_outcome', outcome, 'last_attempts', a[i + 6],\n"     \
    "    'last_missed_slots', a[i + 7], unpack(f))\n"                                             \
    "  if gone then redis.call('HDEL', meta, unpack(gone)) end\n"                                 \
    "  return nil\n"                                                                              \
    "end\n"

#define CHECK_LOCK_META                                                                        \
    "local bad = kind(KEYS[1], 'string') or kind(KEYS[2], 'hash')\n"                              \
    "if bad then return bad end\n"

/* The lock's own key checked against a token: 1 when it holds the token,
 * 0 when not, or an error reply naming a foreign key (KEYS lock meta). */
#define TOKEN_FN                                                                               \
    "local function mine(token)\n"                                                                \
    "  local cur = redis.pcall('GET', KEYS[1])\n"                                                 \
    "  if type(cur) == 'table' then return failed(cur, 'string hash') end\n"                      \
    "  return cur == token and 1 or 0\n"                                                          \
    "end\n"

/* KEYS lock fence meta pause runs queue due; ARGV token owner ttl_ms claim
 * history queue_ms.
 * -> {1, fence, acquired_at_ms, checkpoint, now_ms, last_started_at_ms},
 * {0, owner, fence, acquired_at_ms, pttl} for the holder, or
 * {2, by, reason, until_ms, 0} while paused (the pause key lives as long
 * as the pause: PX for a timed one). A claim (claim = 1) leaves the last
 * run's start alone. Taking a stale lock (meta says running, the lease key
 * is gone: its holder died) pushes an "abandoned" entry with that holder
 * and fence onto the history.
 *
 * The good path: one HMGET, EXISTS, SET NX PX, INCR, TIME and one HSET.
 * A lock already held with this token (a retried acquire) is granted
 * again with its fence, paused or not.
 *
 * The line of waiters (KEYS queue due; ARGV[6] = queue_ms): a waiting
 * acquire (queue_ms > 0) that meets a held lock takes a place in line --
 * its token in `queue` scored by its first arrival, and in `due` scored by
 * the time it promised to ask again (now + queue_ms, renewed each time it
 * asks). A free lock goes to a waiting acquire only when the line is empty
 * or it is first in line; anyone else is refused ({3} -- the lock is free
 * but promised) and keeps its place. Waiters that broke their promise
 * (died, or gave up without leaving) are dropped as the line is read, so a
 * dead waiter holds the lock back for at most its queue_ms. A no-wait
 * acquire (queue_ms = 0) never looks at the line, and is sent without the
 * line's keys and queue_ms, as before there was a line. Costs the good
 * path of a waiting acquire one EXISTS. */
static const char acquire_lua[] =
    PRELUDE RUN_ENTRY_FN
    "local want = 'string string hash hash list zset zset'\n"
    "local m = redis.pcall('HMGET', KEYS[3], 'fence', 'owner', 'acquired_at_ms', 'status',\n"
    "  'last_started_at_ms', 'checkpoint')\n"
    "if m.err then return failed(m, want) end\n"
    "local function again()\n"
    "  return {1, tonumber(m[1]) or 0, tonumber(m[3]) or 0, m[6], now_ms(),\n"
    "          tonumber(m[5]) or -1}\n"
    "end\n"
    "local qms = tonumber(ARGV[6]) or 0\n"
    "local clock, line_up\n"
    "if qms > 0 then line_up = function()\n"
    "  clock = clock or now_ms()\n"
    "  local r = redis.pcall('ZADD', KEYS[6], 'NX', clock, ARGV[1])\n"
    "  if type(r) == 'table' then return failed(r, want) end\n"
    "  r = redis.pcall('ZADD', KEYS[7], clock + qms, ARGV[1])\n"
    "  if type(r) == 'table' then\n"
    "    redis.call('ZREM', KEYS[6], ARGV[1]); return failed(r, want)\n"
    "  end\n"
    "  if redis.call('PTTL', KEYS[6]) < qms then\n"
    "    redis.call('PEXPIRE', KEYS[6], qms); redis.call('PEXPIRE', KEYS[7], qms)\n"
    "  end\n"
    "  return nil\n"
    "end end\n"
    "if redis.call('EXISTS', KEYS[4]) == 1 then\n"
    "  local cur = redis.pcall('GET', KEYS[1])\n"
    "  if type(cur) == 'table' then return failed(cur, want) end\n"
    "  if cur == ARGV[1] then return again() end\n"
    "  local p = redis.pcall('HMGET', KEYS[4], 'by', 'reason', 'until_ms')\n"
    "  if p.err then return failed(p, want) end\n"
    "  return {2, p[1] or '', p[2] or '', tonumber(p[3]) or -1, 0}\n"
    "end\n"
    "local queued = qms > 0 and redis.call('EXISTS', KEYS[6]) == 1\n"
    "if queued then\n"
    "  clock = now_ms()\n"
    "  local gone = redis.pcall('ZRANGEBYSCORE', KEYS[7], '-inf', clock, 'LIMIT', 0, 100)\n"
    "  if gone.err then return failed(gone, want) end\n"
    "  if #gone > 0 then\n"
    "    local r = redis.pcall('ZREM', KEYS[6], unpack(gone))\n"
    "    if type(r) == 'table' then return failed(r, want) end\n"
    "    redis.call('ZREM', KEYS[7], unpack(gone))\n"
    "  end\n"
    "  local head = redis.pcall('ZRANGE', KEYS[6], 0, 0)\n"
    "  if head.err then return failed(head, want) end\n"
    "  if head[1] ~= nil and head[1] ~= ARGV[1] then\n"
    "    local cur = redis.pcall('GET', KEYS[1])\n"
    "    if type(cur) == 'table' then return failed(cur, want) end\n"
    "    if cur == ARGV[1] then return again() end\n"
    "    local bad = line_up()\n"
    "    if bad then return bad end\n"
    "    if cur then\n"
    "      return {0, m[2] or '', tonumber(m[1]) or 0, tonumber(m[3]) or 0,\n"
    "              redis.call('PTTL', KEYS[1])}\n"
    "    end\n"
    "    return {3, '', 0, 0, 0}\n"
    "  end\n"
    "end\n"
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then\n"
    "  local cur = redis.pcall('GET', KEYS[1])\n"
    "  if type(cur) == 'table' then return failed(cur, want) end\n"
    "  if cur == ARGV[1] then return again() end\n"
    "  if qms > 0 then\n"
    "    local bad = line_up()\n"
    "    if bad then return bad end\n"
    "  end\n"
    "  return {0, m[2] or '', tonumber(m[1]) or 0, tonumber(m[3]) or 0,\n"
    "          redis.call('PTTL', KEYS[1])}\n"
    "end\n"
    /* From here on the lock is set: a failure gives it back. */
    "local fence = redis.pcall('INCR', KEYS[2])\n"
    "if type(fence) == 'table' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return failed(redis.error_reply('ERR key ' .. KEYS[2] ..\n"
    "    ' does not hold a fence counter'), 'string string')\n"
    "end\n"
    "if m[4] == 'running' then\n"
    "  local bad = kind(KEYS[5], 'list') or push(KEYS[5], entry(m[1], m[2],\n"
    "    string.match(m[5] or '', '^%-?%d+$') or '-1', '-1', '-1', 'abandoned', '1') .. '}',\n"
    "    ARGV[5])\n"
    "  if bad then redis.call('DEL', KEYS[1]); return bad end\n"
    "end\n"
    /* A fence key lost by hand must not let fences go back. */
    "local last = tonumber(m[1]) or 0\n"
    "if fence <= last then fence = last + 1; redis.call('SET', KEYS[2], fmt('%d', fence)) end\n"
    "if queued then\n"
    "  redis.call('ZREM', KEYS[6], ARGV[1]); redis.call('ZREM', KEYS[7], ARGV[1])\n"
    "end\n"
    "local now = clock or now_ms()\n"
    "local nows = fmt('%d', now)\n"
    "if ARGV[4] ~= '1' then\n"
    "  redis.call('HSET', KEYS[3], 'owner', ARGV[2], 'fence', fmt('%d', fence),\n"
    "    'acquired_at_ms', nows, 'expires_at_ms', fmt('%d', now + ARGV[3]),\n"
    "    'status', 'running', 'last_started_at_ms', nows)\n"
    "  return {1, fence, now, m[6], now, now}\n"
    "end\n"
    "redis.call('HSET', KEYS[3], 'owner', ARGV[2], 'fence', fmt('%d', fence),\n"
    "  'acquired_at_ms', nows, 'expires_at_ms', fmt('%d', now + ARGV[3]), 'status', 'running')\n"
    "return {1, fence, now, m[6], now, tonumber(m[5]) or -1}\n";

/* KEYS lock meta; ARGV token ttl_ms -> 1 renewed, 0 not yours. */
static const char renew_lua[] =
    PRELUDE TOKEN_FN
    "local own = mine(ARGV[1])\n"
    "if own ~= 1 then return own end\n"
    "local r = redis.pcall('HSET', KEYS[2], 'expires_at_ms', fmt('%d', now_ms() + ARGV[2]))\n"
    "if type(r) == 'table' then return failed(r, 'string hash') end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* Many renewals in one call: KEYS lock1 meta1 lock2 meta2 ...; ARGV
 * token1 ttl_ms1 token2 ttl_ms2 ... -> an array with 1 (renewed) or 0
 * (not yours) per lease, as renew would answer each; one TIME for all.
 * A foreign key fails the whole call, naming it (the leases before it
 * are renewed: renewing is idempotent). */
static const char renew_many_lua[] =
    PRELUDE
    "local now = now_ms()\n"
    "local out = {}\n"
    "for i = 1, #KEYS / 2 do\n"
    "  local lock, meta, ttl = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 * i]\n"
    "  local cur = redis.pcall('GET', lock)\n"
    "  if type(cur) == 'table' then return kind(lock, 'string') or kind(meta, 'hash') or cur end\n"
    "  if cur == ARGV[2 * i - 1] then\n"
    "    local r = redis.pcall('HSET', meta, 'expires_at_ms', fmt('%d', now + tonumber(ttl)))\n"
    "    if type(r) == 'table' then return kind(lock, 'string') or kind(meta, 'hash') or r end\n"
    "    redis.call('PEXPIRE', lock, ttl)\n"
    "    out[i] = 1\n"
    "  else\n"
    "    out[i] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Tells waiters that the lock was released, on channel `ch`: with
 * SPUBLISH when `sharded` is '1' (a cluster node that has sharded pub/sub:
 * the message stays on the nodes of the lock's shard instead of crossing
 * the whole cluster bus), else with PUBLISH. A refused SPUBLISH (an ACL,
 * a node that lacks it) falls back to PUBLISH: a release never fails for
 * its notification. */
#define NOTIFY_FN                                                                              \
    "local function notify(ch, sharded)\n"                                                     \
    "  if sharded == '1' and type(redis.pcall('SPUBLISH', ch, 'released')) ~= 'table' then\n"          \
    "    return\n"                                                                             \
    "  end\n"                                                                                  \
    "  redis.call('PUBLISH', ch, 'released')\n"                                                \
    "end\n"

/* KEYS lock meta runs; ARGV token channel sharded retry record, then the
 * record's ten arguments (RECORD_FN) -> 1 released, 0 not yours. record =
 * 0 gives a lease back unrecorded; sharded: see NOTIFY_FN. The token that
 * released is kept, so that a retry (retry = 1: the reply to the first
 * attempt was lost) can tell that the first attempt did release it. The
 * lock is deleted last, after the writes that can meet a foreign key. The
 * good path: GET, HMGET, TIME, LPUSH, HSET, DEL and PUBLISH (and an LTRIM
 * once in cap / 8 + 1). */
static const char release_lua[] =
    PRELUDE RUN_ENTRY_FN RECORD_FN NOTIFY_FN
    "local want = 'string hash list'\n"
    "local cur = redis.pcall('GET', KEYS[1])\n"
    "if type(cur) == 'table' then return failed(cur, want) end\n"
    "if cur ~= ARGV[1] then\n"
    "  if ARGV[4] ~= '1' then return 0 end\n"
    "  local t = redis.pcall('HGET', KEYS[2], 'released_token')\n"
    "  if type(t) == 'table' then return failed(t, want) end\n"
    "  return t == ARGV[1] and 1 or 0\n"
    "end\n"
    "local bad\n"
    "if ARGV[5] == '1' then\n"
    "  bad = record(KEYS[2], KEYS[3], ARGV, 6, nil, 'status', 'idle', 'released_token', ARGV[1])\n"
    "else\n"
    "  local r = redis.pcall('HSET', KEYS[2], 'status', 'idle', 'released_token', ARGV[1])\n"
    "  if type(r) == 'table' then bad = r end\n"
    "end\n"
    "if bad then return failed(bad, want) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "notify(ARGV[2], ARGV[3])\n"
    "return 1\n";

/* KEYS lock meta; ARGV channel sharded reason [fence]
 * -> {was_held, owner, fence, acquired_at_ms, pttl}. With `fence` (quorum
 * mode's reset: what this master held when the reset looked, the lease's
 * fence, or 0 for none), the reset goes ahead only if that is still so: a
 * lease taken since is left alone, and the answer says none was held.
 * The fence key is left alone: fences keep increasing across resets. */
static const char force_lua[] =
    PRELUDE CHECK_LOCK_META NOTIFY_FN
    "local pttl = redis.call('PTTL', KEYS[1])\n"
    "local m = redis.call('HMGET', KEYS[2], 'owner', 'fence', 'acquired_at_ms')\n"
    "local seen = tonumber(ARGV[4])\n"
    "if seen and ((seen == 0) ~= (pttl == -2) or (seen ~= 0 and tonumber(m[2]) ~= seen)) then\n"
    "  return {0, m[1] or '', tonumber(m[2]) or 0, tonumber(m[3]) or 0, pttl}\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[2], 'status', 'idle', 'last_error', ARGV[3])\n"
    "notify(ARGV[1], ARGV[2])\n"
    "return {pttl ~= -2 and 1 or 0, m[1] or '', tonumber(m[2]) or 0,\n"
    "        tonumber(m[3]) or 0, pttl}\n";

/* KEYS meta runs [lock]; ARGV the record's ten arguments (RECORD_FN)
 * [fence owner started_ms: the lost lease the run was under, with the
 * lock key] -> 1. */
static const char record_lua[] =
    PRELUDE RUN_ENTRY_FN RECORD_FN
    "local w = ARGV[11] and {ARGV[11], ARGV[12], ARGV[13], KEYS[3]}\n"
    "local bad = record(KEYS[1], KEYS[2], ARGV, 1, w)\n"
    "if bad then return failed(bad, 'hash list') end\n"
    "return 1\n";

/* KEYS lock meta; ARGV token -> {1, now_ms} started, {0} not yours. */
static const char start_lua[] =
    PRELUDE TOKEN_FN
    "local own = mine(ARGV[1])\n"
    "if own ~= 1 then return type(own) == 'table' and own or {0} end\n"
    "local now = now_ms()\n"
    "local r = redis.pcall('HSET', KEYS[2], 'last_started_at_ms', fmt('%d', now))\n"
    "if type(r) == 'table' then return failed(r, 'string hash') end\n"
    "return {1, now}\n";

/* KEYS lock meta; ARGV token value -> 1 stored, 0 not yours. */
static const char checkpoint_lua[] =
    PRELUDE TOKEN_FN
    "local own = mine(ARGV[1])\n"
    "if own ~= 1 then return own end\n"
    "local r = redis.pcall('HSET', KEYS[2], 'checkpoint', ARGV[2])\n"
    "if type(r) == 'table' then return failed(r, 'string hash') end\n"
    "return 1\n";

/* KEYS meta pause; ARGV by reason for_ms -> 1. for_ms 0: until resumed.
 * The meta hash is made when missing, so that a pause of a lock never
 * taken shows in a listing. */
static const char pause_lua[] =
    PRELUDE
    "local bad = kind(KEYS[1], 'hash') or kind(KEYS[2], 'hash')\n"
    "if bad then return bad end\n"
    "local ms = tonumber(ARGV[3])\n"
    "local untl = ms > 0 and fmt('%d', now_ms() + ms) or '-1'\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[2], 'by', ARGV[1], 'reason', ARGV[2], 'until_ms', untl)\n"
    "if ms > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end\n"
    "redis.call('HSETNX', KEYS[1], 'status', 'idle')\n"
    "return 1\n";

/* KEYS pause -> 1 when a pause was lifted, 0 when there was none. */
static const char resume_lua[] =
    PRELUDE
    "local bad = kind(KEYS[1], 'hash')\n"
    "if bad then return bad end\n"
    "return redis.call('DEL', KEYS[1])\n";

/* KEYS lock meta pause -> {pttl, now_ms, {meta fields in the order below},
 * {by, reason, until_ms} or {} when not paused}. */
static const char inspect_lua[] =
    PRELUDE CHECK_LOCK_META
    "bad = kind(KEYS[3], 'hash')\n"
    "if bad then return bad end\n"
    "local m = redis.call('HMGET', KEYS[2], 'owner', 'fence', 'acquired_at_ms', 'status',\n"
    "  'last_started_at_ms', 'last_completed_at_ms', 'sync_count', 'last_error',\n"
    "  'last_exit', 'checkpoint', 'last_outcome', 'last_http_status', 'last_attempts',\n"
    "  'last_missed_slots', 'last_duration_ms', 'last_success_at_ms',\n"
    "  'consecutive_failures')\n"
    "local p = {}\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "  p = redis.call('HMGET', KEYS[3], 'by', 'reason', 'until_ms')\n"
    "end\n"
    "return {redis.call('PTTL', KEYS[1]), now_ms(), m, p}\n";

/* KEYS queue due; ARGV token -> 1. A waiter that gives up leaves the
 * line, so that the next in line need not wait out its promise. */
static const char leave_lua[] =
    "redis.pcall('ZREM', KEYS[1], ARGV[1])\n"
    "redis.pcall('ZREM', KEYS[2], ARGV[1])\n"
    "return 1\n";

/* clang-format on */

static const struct {
    const char *name;
    const char *text;
} scripts[LC__RS_COUNT] = {
    [LC__RS_ACQUIRE] = {"acquire", acquire_lua},
    [LC__RS_RENEW] = {"renew", renew_lua},
    [LC__RS_RELEASE] = {"release", release_lua},
    [LC__RS_FORCE] = {"force-release", force_lua},
    [LC__RS_RECORD] = {"record", record_lua},
    [LC__RS_CHECKPOINT] = {"checkpoint", checkpoint_lua},
    [LC__RS_INSPECT] = {"inspect", inspect_lua},
    [LC__RS_START] = {"start", start_lua},
    [LC__RS_PAUSE] = {"pause", pause_lua},
    [LC__RS_RESUME] = {"resume", resume_lua},
    [LC__RS_LEAVE] = {"leave", leave_lua},
    [LC__RS_RENEW_MANY] = {"renew-many", renew_many_lua},
};

const char *lc__rs_name(int script)
{
    return scripts[script].name;
}

int lc__rs_repeatable(int script)
{
    return script == LC__RS_ACQUIRE || script == LC__RS_RENEW || script == LC__RS_CHECKPOINT ||
           script == LC__RS_INSPECT || script == LC__RS_RELEASE || script == LC__RS_START ||
           script == LC__RS_PAUSE || script == LC__RS_RESUME || script == LC__RS_LEAVE ||
           script == LC__RS_RENEW_MANY;
}

void lc__rs_arg(lc__rs_call *call, const char *s)
{
    if (call->nargs >= LC__RS_MAXARGS)
        return; /* callers pass fixed counts well under the limit */
    s = s ? s : "";
    call->args[call->nargs] = s;
    call->lens[call->nargs] = strlen(s);
    call->nargs++;
}

/* A call's command line: on the stack, or on the heap for a call with
 * `more` arguments. */
typedef struct rs_argv {
    const char **argv;
    size_t *lens;
    const char *small[3 + LC__RS_MAXARGS];
    size_t small_lens[3 + LC__RS_MAXARGS];
    char nkeys[LC__NUM_MAX];
    int argc;
} rs_argv;

/* EVALSHA sha nkeys args... more... or EVAL text nkeys ...; -1 when out
 * of memory. */
static int build(const lc__redis_scripts *s, const lc__rs_call *call, int use_eval, rs_argv *a)
{
    size_t argc = 3 + (size_t)call->nargs + call->nmore;
    a->argv = a->small;
    a->lens = a->small_lens;
    if (call->nmore > 0) {
        a->argv = malloc(argc * sizeof(*a->argv));
        a->lens = malloc(argc * sizeof(*a->lens));
        if (a->argv == NULL || a->lens == NULL) {
            free(a->argv);
            free(a->lens);
            return -1;
        }
    }
    lc__redis_num(a->nkeys, call->nkeys);
    a->argv[0] = use_eval ? "EVAL" : "EVALSHA";
    a->argv[1] = use_eval ? scripts[call->script].text : s->sha[call->script];
    a->argv[2] = a->nkeys;
    for (int i = 0; i < 3; i++)
        a->lens[i] = strlen(a->argv[i]);
    for (int i = 0; i < call->nargs; i++) {
        a->argv[3 + i] = call->args[i];
        a->lens[3 + i] = call->lens[i];
    }
    for (size_t i = 0; i < call->nmore; i++) {
        a->argv[3 + (size_t)call->nargs + i] = call->more[i];
        a->lens[3 + (size_t)call->nargs + i] = call->more_lens[i];
    }
    a->argc = (int)argc;
    return 0;
}

static lc_status append_call(lc__redis_conn *c, const lc__redis_scripts *s, const lc__rs_call *call,
                             int use_eval, lc_error *err)
{
    rs_argv a;
    if (build(s, call, use_eval, &a) != 0)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_status rc =
        lc__rconn_append(c, !lc__rs_repeatable(call->script), a.argc, a.argv, a.lens, err);
    if (a.argv != a.small) {
        free(a.argv);
        free(a.lens);
    }
    return rc;
}

/* Loading is repeatable; `probe` is for the request it starts. */
static lc_status append_load(lc__redis_conn *c, int script, int probe, lc_error *err)
{
    const char *argv[3] = {"SCRIPT", "LOAD", scripts[script].text};
    size_t lens[3] = {6, 4, strlen(scripts[script].text)};
    return lc__rconn_append(c, probe, 3, argv, lens, err);
}

/* Keeps the SHA from a SCRIPT LOAD reply; anything else is an error. */
static lc_status take_sha(lc__redis_conn *c, lc__redis_scripts *s, int script, redisReply *r,
                          lc_error *err)
{
    lc_status rc = LC_OK;
    if (r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(s->sha[script], r->str, 41);
    else
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: SCRIPT LOAD %s: %s", c->addr->label,
                     scripts[script].name,
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

/* The first call of a script on this state: load and run it in one round
 * trip, keeping the SHA for EVALSHA next time. */
static lc_status eval_loading(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *call,
                              redisReply **out, lc_error *err)
{
    redisReply *r = NULL;
    lc_status rc = append_load(c, call->script, !lc__rs_repeatable(call->script), err);
    if (rc == LC_OK)
        rc = append_call(c, s, call, 1, err);
    if (rc == LC_OK)
        rc = lc__rconn_read(c, &r, err);
    if (rc != LC_OK)
        return rc;
    /* The EVAL's own reply decides; a failed load is retried next time. */
    (void)take_sha(c, s, call->script, r, NULL);
    return lc__rconn_read(c, out, err);
}

lc_status lc__rs_eval(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *call,
                      redisReply **out, lc_error *err)
{
    *out = NULL;
    if (s->sha[call->script][0] == '\0')
        return eval_loading(c, s, call, out, err);
    lc_status rc = append_call(c, s, call, 0, err);
    if (rc == LC_OK)
        rc = lc__rconn_read(c, out, err);
    if (rc != LC_OK || !lc__reply_is_error(*out, "NOSCRIPT"))
        return rc;
    freeReplyObject(*out);
    *out = NULL;
    rc = append_call(c, s, call, 1, err);
    return rc == LC_OK ? lc__rconn_read(c, out, err) : rc;
}

static void free_replies(redisReply **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (out[i])
            freeReplyObject(out[i]);
        out[i] = NULL;
    }
}

/* Appends SCRIPT LOAD for each script of the calls whose SHA is unknown;
 * returns how many (their ids in ids[]), or -1 on error. */
static int append_missing_loads(lc__redis_conn *c, const lc__redis_scripts *s,
                                const lc__rs_call *calls, size_t n, int *ids, lc_error *err)
{
    int seen[LC__RS_COUNT] = {0}, k = 0;
    for (size_t i = 0; i < n; i++) {
        int id = calls[i].script;
        if (s->sha[id][0] != '\0' || seen[id])
            continue;
        seen[id] = 1;
        if (append_load(c, id, !lc__rs_repeatable(id), err) != LC_OK)
            return -1;
        ids[k++] = id;
    }
    return k;
}

/* One round trip: the loads of unknown scripts (then EVAL), or EVALSHA
 * (EVAL when use_eval); *noscript says whether any reply was NOSCRIPT. */
static lc_status pipeline(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *calls,
                          size_t n, int use_eval, redisReply **out, int *noscript, lc_error *err)
{
    int ids[LC__RS_COUNT];
    int loads = use_eval ? 0 : append_missing_loads(c, s, calls, n, ids, err);
    lc_status rc = loads < 0 ? LC_ERR_UNAVAILABLE : LC_OK;
    *noscript = 0;
    for (size_t i = 0; i < n && rc == LC_OK; i++)
        rc = append_call(c, s, &calls[i], use_eval || loads > 0, err);
    for (int i = 0; i < loads && rc == LC_OK; i++) {
        redisReply *r = NULL;
        rc = lc__rconn_read(c, &r, err);
        if (rc == LC_OK)
            (void)take_sha(c, s, ids[i], r, NULL); /* a failed load is retried next time */
    }
    for (size_t i = 0; i < n && rc == LC_OK; i++) {
        rc = lc__rconn_read(c, &out[i], err);
        if (rc == LC_OK && lc__reply_is_error(out[i], "NOSCRIPT"))
            *noscript = 1;
    }
    if (rc != LC_OK)
        free_replies(out, n);
    return rc;
}

/* The calls must be idempotent: after a NOSCRIPT all of them run again. */
lc_status lc__rs_eval_many(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *calls,
                           size_t n, redisReply **out, lc_error *err)
{
    memset(out, 0, n * sizeof(*out));
    int noscript = 0;
    lc_status rc = pipeline(c, s, calls, n, 0, out, &noscript, err);
    if (rc != LC_OK || !noscript)
        return rc;
    free_replies(out, n);
    return pipeline(c, s, calls, n, 1, out, &noscript, err);
}

lc_status lc__rs_load_all(lc__redis_conn *c, lc__redis_scripts *s, int *loaded, lc_error *err)
{
    lc_status rc = LC_OK;
    *loaded = 0;
    for (int i = 0; i < LC__RS_COUNT && rc == LC_OK; i++)
        rc = append_load(c, i, 1, err);
    for (int i = 0; i < LC__RS_COUNT && rc == LC_OK; i++) {
        redisReply *r = NULL;
        rc = lc__rconn_read(c, &r, err);
        if (rc == LC_OK)
            rc = take_sha(c, s, i, r, err);
        if (rc == LC_OK)
            (*loaded)++;
    }
    if (rc != LC_OK)
        lc__rconn_drop(c); /* unread replies would answer the next command */
    return rc;
}
