/* backends/postgres/schema.c -- the table, its version, and the texts of
 * every statement the backend sends. {T} in a template stands for the
 * quoted "schema"."table", {V} for its version table, {R} for its run
 * history table (the table's name with "_locks" turned into "_runs", or
 * "_runs" added), {W} for its line of waiters (likewise "_waiters"). */
#include "backends/backend_int.h"
#include "backends/postgres/pg_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number macro spelled out in a statement's text. */
#define STR_(x) #x
#define STR(x)  STR_(x)

/* Unix milliseconds of a timestamptz (or of an interval), NULL stays NULL. */
#define MS(x)   "floor(extract(epoch from " x ") * 1000)::bigint"
#define LIVE(t) "(" t "status = 'running' AND " t "lease_expires_at >= now())"
/* A pause in force: set, and not timed out on the server's clock. */
#define PAUSED(t)                                                                                  \
    "(" t "paused_by IS NOT NULL AND (" t "paused_until IS NULL OR " t "paused_until > now()))"

/* Version 2: the lease's own start (a claim takes a lease before its run
 * starts) and the last run's full record. */
#define RUN_COLUMNS                                                                                \
    " acquired_at timestamptz,"                                                                    \
    " last_outcome text,"                                                                          \
    " last_http_status integer,"                                                                   \
    " last_attempts integer,"                                                                      \
    " last_missed_slots integer,"                                                                  \
    " last_duration_ms bigint,"                                                                    \
    " last_success_at timestamptz,"                                                                \
    " consecutive_failures bigint NOT NULL DEFAULT 0," PAUSE_COLUMNS

/* Version 3: a pause (lockcoord pause): who, why, until when (NULL: until
 * resumed). */
#define PAUSE_COLUMNS                                                                              \
    " paused_by text,"                                                                             \
    " paused_reason text,"                                                                         \
    " paused_until timestamptz"

/* Version 2 to 3. */
static const char upgrade_v3_sql[] = "ALTER TABLE {T}"
                                     " ADD COLUMN IF NOT EXISTS paused_by text,"
                                     " ADD COLUMN IF NOT EXISTS paused_reason text,"
                                     " ADD COLUMN IF NOT EXISTS paused_until timestamptz";

/* Version 4: the run history, one row per finished run, newest last. */
static const char create_runs_sql[] = "CREATE TABLE IF NOT EXISTS {R} ("
                                      " id bigserial PRIMARY KEY,"
                                      " name text NOT NULL,"
                                      " fence bigint NOT NULL DEFAULT 0,"
                                      " owner text,"
                                      " started_at timestamptz,"
                                      " completed_at timestamptz,"
                                      " duration_ms bigint,"
                                      " outcome text,"
                                      " exit integer,"
                                      " http_status integer,"
                                      " error text,"
                                      " attempts integer)";

/* Version 5: the line of waiting acquires, first arrival first; `due` is
 * when a waiter's promise to ask again runs out. Unlogged: a line is
 * worth nothing after a crash, and writing it costs no WAL. */
static const char create_waiters_sql[] = "CREATE UNLOGGED TABLE IF NOT EXISTS {W} ("
                                         " name text NOT NULL,"
                                         " token text NOT NULL,"
                                         " arrived_at timestamptz NOT NULL,"
                                         " due timestamptz NOT NULL,"
                                         " PRIMARY KEY (name, token))";

static const char leave_sql[] = "DELETE FROM {W} WHERE name = $1 AND token = $2";

/* Version 1 to 2: the same columns added to an existing table. */
static const char upgrade_v2_sql[] =
    "ALTER TABLE {T}"
    " ADD COLUMN IF NOT EXISTS acquired_at timestamptz,"
    " ADD COLUMN IF NOT EXISTS last_outcome text,"
    " ADD COLUMN IF NOT EXISTS last_http_status integer,"
    " ADD COLUMN IF NOT EXISTS last_attempts integer,"
    " ADD COLUMN IF NOT EXISTS last_missed_slots integer,"
    " ADD COLUMN IF NOT EXISTS last_duration_ms bigint,"
    " ADD COLUMN IF NOT EXISTS last_success_at timestamptz,"
    " ADD COLUMN IF NOT EXISTS consecutive_failures bigint NOT NULL DEFAULT 0";

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS {T} ("
    " name text PRIMARY KEY,"
    " status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle','running')),"
    " token text,"
    " owner text,"
    " fence bigint NOT NULL DEFAULT 0,"
    " lease_expires_at timestamptz,"
    " last_sync_started_at timestamptz,"
    " last_sync_completed_at timestamptz,"
    " last_error text,"
    " last_exit integer,"
    " sync_count bigint NOT NULL DEFAULT 0,"
    " checkpoint text," RUN_COLUMNS ")";

static const char create_version_sql[] = "CREATE TABLE IF NOT EXISTS {V} ("
                                         " id boolean PRIMARY KEY DEFAULT true CHECK (id),"
                                         " version integer NOT NULL,"
                                         " migrated_at timestamptz NOT NULL DEFAULT now())";

static const char read_version_sql[] = "SELECT version FROM {V}";

static const char write_version_sql[] =
    "INSERT INTO {V} (id, version) VALUES (true, $1::integer) "
    "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()";

/* SQL reads better as it would be typed than as clang-format would fold
 * it around the macros. */
/* clang-format off */

/* One statement. `prev` is the row as it was; `up` takes the lock when it
 * is idle or expired, or when it is already ours (a retried acquire keeps
 * its fence and start time). A claim ($5) leaves the last run's start
 * alone. A stale lease reclaimed (`ab`): its run is history, "abandoned",
 * and the reply's last column says so: the history is then trimmed
 * (trim_sql).
 *
 * Executor start-up of a statement is paid for every part of it, run or
 * not (on PostgreSQL 15 it cost more than the reference's whole upsert).
 * So a no-wait acquire (acquire_sql) answers a row only when it took the
 * lock; refused, it answers none, and the client reads the holder with
 * holder_sql, a second round trip on that path only. A waiting acquire
 * (acquire_wait_sql, $6: its promise to ask again within $6 ms), which is
 * refused far more often, answers the holder from `prev` in the same
 * round trip, and only it stands in the line of waiters. There `ahead`
 * says whether a live waiter stands before this token in the line (this
 * token not in line, or past its promise, stands last); then a free lock
 * is not taken. Refused, the token takes or keeps its place and renews its
 * promise (`jn`: a place whose promise ran out is taken anew, at the
 * back); granted, it leaves the line, and so do waiters past their
 * promise (`gone`). */
#define RETRIED "l.token = EXCLUDED.token AND " LIVE("l.")
#define ACQUIRE_PREV                                                                           \
    "WITH prev AS ("                                                                           \
    "  SELECT owner, fence, status, lease_expires_at, acquired_at, last_sync_started_at,"      \
    "         " PAUSED("") " AS paused, paused_by, paused_reason"                               \
    "  FROM {T} WHERE name = $1),"
#define ACQUIRE_UP(also)                                                                       \
    " up AS ("                                                                                 \
    "  INSERT INTO {T} AS l (name, status, token, owner, fence, lease_expires_at,"             \
    "                        acquired_at, last_sync_started_at)"                               \
    "  VALUES ($1, 'running', $2, $3, 1,"                                                      \
    "          now() + $4::bigint * interval '1 millisecond', now(),"                          \
    "          CASE WHEN $5::boolean THEN NULL ELSE now() END)"                                \
    "  ON CONFLICT (name) DO UPDATE SET"                                                       \
    "   status = 'running', token = EXCLUDED.token, owner = EXCLUDED.owner,"                   \
    "   fence = CASE WHEN " RETRIED " THEN l.fence ELSE l.fence + 1 END,"                      \
    "   acquired_at = CASE WHEN " RETRIED " THEN l.acquired_at ELSE now() END,"                \
    "   last_sync_started_at = CASE WHEN " RETRIED " OR $5::boolean"                           \
    "                               THEN l.last_sync_started_at ELSE now() END,"               \
    "   lease_expires_at = EXCLUDED.lease_expires_at"                                          \
    "  WHERE (" RETRIED ")"                                                                    \
    "     OR ((l.status = 'idle' OR l.lease_expires_at < now() OR l.token = EXCLUDED.token)"   \
    "         AND NOT " PAUSED("l.") also ")"                                                   \
    "  RETURNING l.fence, l.acquired_at, l.checkpoint, l.last_sync_started_at),"
#define ACQUIRE_ABANDONED                                                                      \
    " ab AS ("                                                                                 \
    "  INSERT INTO {R} (name, fence, owner, started_at, outcome, attempts)"                    \
    "  SELECT $1, fence, owner, last_sync_started_at, 'abandoned', 1 FROM prev"                \
    "  WHERE status = 'running' AND lease_expires_at < now() AND EXISTS (SELECT 1 FROM up)"    \
    "  RETURNING id)"
#define ACQUIRE_GRANTED                                                                        \
    " SELECT true, fence, " MS("acquired_at") ", checkpoint,"                                  \
    "        NULL, NULL, NULL, " MS("now()") ", " MS("last_sync_started_at") ","                \
    "        false, NULL, NULL, false, EXISTS (SELECT 1 FROM ab)"                              \
    " FROM up"
#define ACQUIRE_HOLDER(behind)                                                                 \
    " UNION ALL"                                                                               \
    " SELECT false, fence, " MS("acquired_at") ", NULL,"                                       \
    "        COALESCE(owner, ''), " MS("(lease_expires_at - now())") ","                       \
    "        COALESCE(" LIVE("") ", false), NULL, NULL,"                                       \
    "        COALESCE(paused, false), paused_by, paused_reason, " behind ", false"             \
    " FROM prev WHERE NOT EXISTS (SELECT 1 FROM up)"

static const char acquire_sql[] =
    ACQUIRE_PREV ACQUIRE_UP("") ACQUIRE_ABANDONED ACQUIRE_GRANTED;

static const char acquire_wait_sql[] =
    ACQUIRE_PREV
    " ahead AS ("
    "  SELECT EXISTS ("
    "   SELECT 1 FROM {W} w WHERE w.name = $1 AND w.token <> $2 AND w.due >= now()"
    "   AND NOT EXISTS (SELECT 1 FROM {W} m WHERE m.name = $1 AND m.token = $2"
    "                   AND m.due >= now() AND (m.arrived_at, m.token) < (w.arrived_at, w.token))"
    "  ) AS behind),"
    ACQUIRE_UP(" AND NOT (SELECT behind FROM ahead)")
    " jn AS ("
    "  INSERT INTO {W} AS w (name, token, arrived_at, due)"
    "  SELECT $1, $2, now(), now() + $6::bigint * interval '1 millisecond'"
    "  WHERE NOT EXISTS (SELECT 1 FROM up)"
    "  ON CONFLICT (name, token) DO UPDATE SET due = EXCLUDED.due,"
    "   arrived_at = CASE WHEN w.due < now() THEN EXCLUDED.arrived_at ELSE w.arrived_at END),"
    " gone AS ("
    "  DELETE FROM {W} WHERE name = $1 AND (token = $2 OR due < now())"
    "  AND EXISTS (SELECT 1 FROM up)),"
    ACQUIRE_ABANDONED
    ACQUIRE_GRANTED ACQUIRE_HOLDER("(SELECT behind FROM ahead)");

/* The holder, read when a no-wait acquire was refused, or again when the
 * acquire's snapshot was older than the row it lost to. Same columns as
 * acquire. */
static const char holder_sql[] =
    "SELECT false, fence, " MS("acquired_at") ", NULL,"
    "       COALESCE(owner, ''), " MS("(lease_expires_at - now())") ","
    "       COALESCE(" LIVE("") ", false), NULL, NULL,"
    "       COALESCE(" PAUSED("") ", false), paused_by, paused_reason, false"
    " FROM {T} WHERE name = $1";

static const char renew_sql[] =
    "UPDATE {T} SET lease_expires_at = now() + $3::bigint * interval '1 millisecond'"
    " WHERE name = $1 AND token = $2 AND " LIVE("");

/* Every lease in one statement: $1 names, $2 tokens, $3 ttls, answering
 * the position (from 1) of each lease it matched and whether it was live
 * and is renewed. The liveness check is in the SET, not the WHERE: the
 * plan is kept for the session (generic), and where the table's
 * statistics say few leases are live (analyzed while idle, or just after
 * a VACUUM FULL), a WHERE on liveness made the planner scan the table
 * first and rescan the arrays for each row it found, O(leases x live
 * rows): 1,000 leases took 160 ms a tick instead of 14, and a few
 * thousand would outlast their ttl. Joined on name and token only, the
 * arrays are hashed or drive the primary key, once. A matched lease that
 * is no longer live is written back unchanged (the token matched: it was
 * this client's). */
static const char renew_many_sql[] =
    "UPDATE {T} AS l SET lease_expires_at = CASE WHEN " LIVE("l.")
    "  THEN now() + r.ttl * interval '1 millisecond' ELSE l.lease_expires_at END"
    " FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS r(name, token, ttl, i)"
    " WHERE l.name = r.name AND l.token = r.token"
    " RETURNING r.i, " LIVE("l.");

/* The run record of release and record_run: $3 exit, $4 error, $5
 * outcome, $6 http status, $7 attempts, $8 missed slots, $9 duration (0:
 * measured from the run's start, `start`: the recorded one unless told).
 * `l` is the row as it was. */
#define RECORD_SET RECORD_SET_FROM("l.last_sync_started_at")
#define RECORD_SET_FROM(start)                                                                 \
    " last_sync_completed_at = now(), last_exit = $3::integer, last_error = $4,"               \
    " sync_count = l.sync_count + 1, last_outcome = $5, last_http_status = $6::integer,"       \
    " last_attempts = $7::integer, last_missed_slots = $8::integer,"                           \
    " last_duration_ms = COALESCE(NULLIF($9::bigint, 0),"                                      \
    "   GREATEST(" MS("(now() - " start ")") ", 0)),"                                         \
    " last_success_at = CASE WHEN $5 = 'ok' THEN now() ELSE l.last_success_at END,"            \
    " consecutive_failures = CASE WHEN $5 = 'ok' THEN 0 ELSE l.consecutive_failures + 1 END"

/* The run just recorded (the row `u` returns) appended to the history.
 * The statements that use it answer the lock's new sync_count: when it is
 * a multiple of trim_every (postgres.c), the history is trimmed (trim_sql). */
#define RECORD_RETURNING                                                                       \
    " RETURNING l.name, l.fence, l.owner, l.last_sync_started_at, l.last_sync_completed_at,"   \
    "  l.last_duration_ms, l.sync_count"
#define HISTORY_CTES                                                                           \
    " h AS ("                                                                                  \
    "  INSERT INTO {R} (name, fence, owner, started_at, completed_at, duration_ms, outcome,"   \
    "                   exit, http_status, error, attempts)"                                   \
    "  SELECT name, fence, owner, last_sync_started_at, last_sync_completed_at,"               \
    "         last_duration_ms, $5, $3::integer, NULLIF($6::integer, 0), $4, $7::integer"      \
    "  FROM u)"

static const char release_sql[] =
    "WITH u AS ("
    "  UPDATE {T} AS l SET status = 'idle', token = NULL, lease_expires_at = NULL," RECORD_SET
    "  WHERE name = $1 AND token = $2 AND " LIVE("")
    RECORD_RETURNING "),"
    HISTORY_CTES
    " SELECT pg_notify($10, name), sync_count FROM u";

/* Release without a record: a claim that found nothing to run. */
static const char abandon_sql[] =
    "WITH u AS ("
    "  UPDATE {T} SET status = 'idle', token = NULL, lease_expires_at = NULL"
    "  WHERE name = $1 AND token = $2 AND " LIVE("")
    "  RETURNING name)"
    " SELECT pg_notify($3, name) FROM u";

static const char start_run_sql[] =
    "UPDATE {T} SET last_sync_started_at = now()"
    " WHERE name = $1 AND token = $2 AND " LIVE("")
    " RETURNING " MS("last_sync_started_at");

/* The row before (locked by the subquery, so the report matches what was
 * reset; a CTE reading the row beside the UPDATE would not see it), then
 * the reset; a never-seen name gets a row carrying the reason. */
static const char force_release_sql[] =
    "WITH u AS ("
    "  UPDATE {T} AS l SET status = 'idle', token = NULL, lease_expires_at = NULL,"
    "   last_error = $2"
    "  FROM (SELECT name, owner, fence, status, lease_expires_at,"
    "               COALESCE(acquired_at, last_sync_started_at) AS acquired_at"
    "        FROM {T} WHERE name = $1 FOR UPDATE) AS p"
    "  WHERE l.name = p.name"
    "  RETURNING COALESCE(" LIVE("p.") ", false) AS held, COALESCE(p.owner, '') AS owner,"
    "   p.fence, p.acquired_at AS started, p.lease_expires_at - now() AS left_,"
    "   l.name),"
    " ins AS ("
    "  INSERT INTO {T} (name, last_error) SELECT $1, $2"
    "  WHERE NOT EXISTS (SELECT 1 FROM u) ON CONFLICT (name) DO NOTHING RETURNING name)"
    " SELECT held, owner, fence, " MS("started") ", " MS("left_") ", pg_notify($3, name)"
    " FROM u"
    " UNION ALL SELECT false, '', 0, NULL, NULL, pg_notify($3, name) FROM ins";

/* $2 stands where release has the token, so both share RECORD_SET's
 * numbering; it is always NULL. $10..$12 (NULL: the run of the lock's
 * current lease): the fence, owner and start (unix ms) of the lost lease
 * the run was under. The entry is then that lease's, its duration
 * measured from its start, and it takes the place of the "abandoned"
 * entry of that fence among the newest few (`rep`: the next holder wrote
 * one when it took the lock) instead of a new one (`h`); when the row's
 * fence is still the lost lease's and the lease is over, the row stops
 * counting it as running. */
#define LOST_START "to_timestamp($12::bigint / 1000.0)"
static const char record_run_sql[] =
    "WITH u AS ("
    "INSERT INTO {T} AS l (name, last_sync_completed_at, last_exit, last_error, sync_count,"
    "                      last_outcome, last_http_status, last_attempts, last_missed_slots,"
    "                      last_duration_ms, last_success_at, consecutive_failures)"
    " VALUES ($1, now(), $3::integer, $4, 1, $5, $6::integer, $7::integer, $8::integer,"
    "         COALESCE(NULLIF($9::bigint, 0), GREATEST(" MS("(now() - " LOST_START ")") ", 0)),"
    "         CASE WHEN $5 = 'ok' THEN now() END,"
    "         CASE WHEN $5 = 'ok' THEN 0 ELSE 1 END)"
    " ON CONFLICT (name) DO UPDATE SET"
    RECORD_SET_FROM("COALESCE(" LOST_START ", l.last_sync_started_at)") ","
    "  status = CASE WHEN l.fence = $10::bigint AND l.lease_expires_at < now()"
    "                THEN 'idle' ELSE l.status END"
    " WHERE $2::text IS NULL"
    " RETURNING l.name, COALESCE($10::bigint, l.fence) AS fence, COALESCE($11, l.owner) AS owner,"
    "  COALESCE(" LOST_START ", l.last_sync_started_at) AS started, l.last_sync_completed_at,"
    "  l.last_duration_ms, l.sync_count),"
    " rep AS ("
    "  UPDATE {R} AS r SET fence = u.fence, owner = u.owner, started_at = u.started,"
    "   completed_at = u.last_sync_completed_at, duration_ms = u.last_duration_ms, outcome = $5,"
    "   exit = $3::integer, http_status = NULLIF($6::integer, 0), error = $4,"
    "   attempts = $7::integer"
    "  FROM u WHERE $10::bigint IS NOT NULL AND r.id = ("
    "   SELECT n.id FROM (SELECT id, fence, outcome FROM {R} WHERE name = $1"
    "                     ORDER BY id DESC LIMIT " STR(LC__HISTORY_LOOKBACK) ") AS n"
    "   WHERE n.fence = $10::bigint AND n.outcome = 'abandoned' ORDER BY n.id DESC LIMIT 1)"
    "  RETURNING r.id),"
    " h AS ("
    "  INSERT INTO {R} (name, fence, owner, started_at, completed_at, duration_ms, outcome,"
    "                   exit, http_status, error, attempts)"
    "  SELECT name, fence, owner, started, last_sync_completed_at, last_duration_ms, $5,"
    "         $3::integer, NULLIF($6::integer, 0), $4, $7::integer"
    "  FROM u WHERE NOT EXISTS (SELECT 1 FROM rep)"
    "  RETURNING id)"
    " SELECT name, sync_count FROM u";

/* $2: completed at or after (unix ms, 0: any); $3: at most (0: all);
 * $4: lock.history -- the entries past it are on their way out
 * (trim_sql) and not shown. */
static const char history_sql[] =
    "SELECT fence, COALESCE(owner, ''), " MS("started_at") ", " MS("completed_at") ","
    " duration_ms, outcome, exit, http_status, error, attempts FROM"
    " (SELECT * FROM {R} WHERE name = $1 ORDER BY id DESC LIMIT $4::bigint) AS newest"
    " WHERE $2::bigint = 0 OR completed_at >= to_timestamp($2::bigint / 1000.0)"
    " ORDER BY id DESC LIMIT NULLIF($3::bigint, 0)";

/* The history of lock $1 trimmed to its newest $2 entries, deleting at
 * most $3 (NULL: all) of the older ones, by their keys. A release or
 * record sends it when the lock's sync_count reaches a multiple of
 * trim_every (postgres.c), an acquire when it reclaimed a stale lease: in bulk,
 * after the statement that appended, so that the hot statements carry no
 * DELETE (PostgreSQL starts up the executor state of every CTE on every
 * call: a trim in the release cost more, run or not, than the rest of it
 * but the update). Every recorded run is one sync_count, so a trim finds
 * trim_every (postgres.c) entries past the newest $2, and its walk back from
 * the newest passes live entries only. A walk past them reaches the
 * entries deleted before, which stay in the index until a vacuum (with a
 * few thousand releases a minute each release got slower than the last:
 * 1.2 ms after 45,000): only the sweep (all past the cap, for what was
 * left over: a lowered cap, a trim that was never sent) takes that walk,
 * on one trim in 64. Readers take the newest lock.history entries
 * (history_sql), so none of this shows. */
static const char trim_sql[] =
    "DELETE FROM {R} WHERE id = ANY (ARRAY("
    " SELECT id FROM {R} WHERE name = $1"
    " ORDER BY id DESC OFFSET $2::integer LIMIT $3::integer))";

/* $4: milliseconds the pause lasts, 0 for until resumed. A never-seen
 * name gets a row. */
static const char pause_sql[] =
    "INSERT INTO {T} (name, paused_by, paused_reason, paused_until)"
    " VALUES ($1, $2, $3, CASE WHEN $4::bigint > 0"
    "                          THEN now() + $4::bigint * interval '1 millisecond' END)"
    " ON CONFLICT (name) DO UPDATE SET paused_by = EXCLUDED.paused_by,"
    "  paused_reason = EXCLUDED.paused_reason, paused_until = EXCLUDED.paused_until";

/* Whether a pause was in force, read from the row as it was. */
static const char resume_sql[] =
    "UPDATE {T} AS l SET paused_by = NULL, paused_reason = NULL, paused_until = NULL"
    " FROM (SELECT name, " PAUSED("") " AS was FROM {T} WHERE name = $1 FOR UPDATE) AS p"
    " WHERE l.name = p.name RETURNING p.was";

static const char checkpoint_sql[] =
    "UPDATE {T} SET checkpoint = $3 WHERE name = $1 AND token = $2 AND " LIVE("");

/* The columns lc__pg_info_from_values reads, in order (LC__PG_INFO_COLUMNS). */
#define INFO_COLUMNS                                                          \
    "SELECT name, COALESCE(" LIVE("") ", false),"                              \
    " COALESCE(status = 'running' AND lease_expires_at < now(), false),"       \
    " COALESCE(owner, ''), fence,"                                             \
    " " MS("COALESCE(acquired_at, last_sync_started_at)") ","                  \
    " " MS("(now() - COALESCE(acquired_at, last_sync_started_at))") ","        \
    " " MS("(lease_expires_at - now())") ","                                   \
    " sync_count, " MS("last_sync_completed_at") ","                           \
    " last_exit, last_error, checkpoint, " MS("last_sync_started_at") ","      \
    " last_outcome, last_http_status, last_attempts, last_missed_slots,"       \
    " last_duration_ms, " MS("last_success_at") ", consecutive_failures,"      \
    " " MS("now()") ", COALESCE(" PAUSED("") ", false), paused_by, paused_reason,"  \
    " " MS("paused_until") " FROM {T}"

static const char inspect_sql[] = INFO_COLUMNS " WHERE name = $1";
static const char list_sql[] = INFO_COLUMNS " ORDER BY name";
static const char now_sql[] = "SELECT " MS("now()");

/* clang-format on */

int lc__pg_stmt_slot(const pg_state *s, const char *sql)
{
    const char *const lock_stmts[] = {
        s->sql.acquire, s->sql.holder,        s->sql.renew,      s->sql.renew_many,
        s->sql.release, s->sql.force_release, s->sql.record_run, s->sql.checkpoint,
        s->sql.inspect, s->sql.list,          s->sql.start_run,  s->sql.abandon,
        s->sql.now,     s->sql.leave,         s->sql.acquire_wait, s->sql.trim,
    };
    for (size_t i = 0; i < sizeof(lock_stmts) / sizeof(lock_stmts[0]); i++)
        if (sql == lock_stmts[i])
            return (int)i;
    return -1;
}

/* The quoted names a template's placeholders stand for. */
typedef struct names {
    const char *t, *v, *r, *w;
} names;

/* Copies tmpl with {T}, {V}, {R} and {W} replaced. NULL when out of
 * memory. */
static char *expand(const char *tmpl, const names *nm)
{
    const char *t = nm->t, *v = nm->v, *r = nm->r, *w = nm->w;
    size_t cap = strlen(tmpl) + 1, most = 0;
    const char *all[] = {t, v, r, w};
    for (size_t i = 0; i < 4; i++)
        most = strlen(all[i]) > most ? strlen(all[i]) : most;
    for (const char *p = tmpl; (p = strchr(p, '{')) != NULL; p++)
        cap += most;
    char *out = malloc(cap), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = tmpl; *p;) {
        const char *with = strncmp(p, "{T}", 3) == 0   ? t
                           : strncmp(p, "{V}", 3) == 0 ? v
                           : strncmp(p, "{R}", 3) == 0 ? r
                           : strncmp(p, "{W}", 3) == 0 ? w
                                                       : NULL;
        if (with) {
            memcpy(o, with, strlen(with));
            o += strlen(with);
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* "schema"."name", each part quoted by libpq. */
static char *qualified(PGconn *conn, const char *schema, const char *name)
{
    char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
    char *qn = PQescapeIdentifier(conn, name, strlen(name));
    char *out = NULL;
    if (qs && qn && (out = malloc(strlen(qs) + strlen(qn) + 2)) != NULL)
        snprintf(out, strlen(qs) + strlen(qn) + 2, "%s.%s", qs, qn);
    PQfreemem(qs);
    PQfreemem(qn);
    return out;
}

static char *quoted(PGconn *conn, const char *ident)
{
    char *q = PQescapeIdentifier(conn, ident, strlen(ident));
    char *out = lc__strdup(q);
    PQfreemem(q);
    return out;
}

static char *listen_sql(PGconn *conn, const char *channel)
{
    char *q = PQescapeIdentifier(conn, channel, strlen(channel));
    char *out = NULL;
    if (q && (out = malloc(strlen(q) + 8)) != NULL)
        snprintf(out, strlen(q) + 8, "LISTEN %s", q);
    PQfreemem(q);
    return out;
}

static char *create_schema_sql(PGconn *conn, const char *schema)
{
    char *q = quoted(conn, schema);
    char *out = NULL;
    if (q && (out = malloc(strlen(q) + 16)) != NULL)
        snprintf(out, strlen(q) + 16, "CREATE SCHEMA %s", q);
    free(q);
    return out;
}

lc_status lc__pg_sql_build(pg_state *s, lc_error *err)
{
    pg_sql *q = &s->sql;
    const char *schema = s->cfg->postgres.schema, *table = s->cfg->postgres.table;
    char version[LC_PG_IDENT_MAX + 1];
    snprintf(version, sizeof(version), "%s_schema", table);
    q->qtable = qualified(s->conn, schema, table);
    q->qversion = qualified(s->conn, schema, version);
    char runs[LC_PG_IDENT_MAX + 8], waiters[LC_PG_IDENT_MAX + 16], index[LC_PG_IDENT_MAX + 16];
    size_t tl = strlen(table);
    int stem = tl > 6 && strcmp(table + tl - 6, "_locks") == 0 ? (int)(tl - 6) : (int)tl;
    snprintf(runs, sizeof(runs), "%.*s_runs", stem, table);
    snprintf(waiters, sizeof(waiters), "%.*s_waiters", stem, table);
    q->qwaiters = qualified(s->conn, schema, waiters);
    snprintf(index, sizeof(index), "%s_by_name", runs);
    q->qruns = qualified(s->conn, schema, runs);
    char *qindex = quoted(s->conn, index);
    if (q->qruns && qindex) {
        size_t n = strlen(qindex) + strlen(q->qruns) + 64;
        if ((q->create_runs_index = malloc(n)) != NULL)
            snprintf(q->create_runs_index, n, "CREATE INDEX IF NOT EXISTS %s ON %s (name, id)",
                     qindex, q->qruns);
    }
    free(qindex);
    if (q->qtable == NULL || q->qversion == NULL || q->qruns == NULL || q->qwaiters == NULL ||
        q->create_runs_index == NULL) {
        lc__pg_sql_free(q);
        return lc__err(err, LC_ERR_CONFIG, 0, "postgres: cannot quote %s: %s", s->table,
                       PQerrorMessage(s->conn));
    }
    const struct {
        char **dst;
        const char *tmpl;
    } all[] = {
        {&q->acquire, acquire_sql},
        {&q->acquire_wait, acquire_wait_sql},
        {&q->trim, trim_sql},
        {&q->holder, holder_sql},
        {&q->renew, renew_sql},
        {&q->renew_many, renew_many_sql},
        {&q->release, release_sql},
        {&q->force_release, force_release_sql},
        {&q->record_run, record_run_sql},
        {&q->checkpoint, checkpoint_sql},
        {&q->inspect, inspect_sql},
        {&q->list, list_sql},
        {&q->start_run, start_run_sql},
        {&q->abandon, abandon_sql},
        {&q->now, now_sql},
        {&q->upgrade_v2, upgrade_v2_sql},
        {&q->upgrade_v3, upgrade_v3_sql},
        {&q->pause, pause_sql},
        {&q->resume, resume_sql},
        {&q->create_runs, create_runs_sql},
        {&q->history, history_sql},
        {&q->create_table, create_table_sql},
        {&q->create_version, create_version_sql},
        {&q->read_version, read_version_sql},
        {&q->write_version, write_version_sql},
        {&q->create_waiters, create_waiters_sql},
        {&q->leave, leave_sql},
    };
    const names nm = {q->qtable, q->qversion, q->qruns, q->qwaiters};
    int ok = 1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        ok &= (*all[i].dst = expand(all[i].tmpl, &nm)) != NULL;
    ok &= (q->create_schema = create_schema_sql(s->conn, schema)) != NULL;
    ok &= (q->listen = listen_sql(s->conn, s->channel)) != NULL;
    if (!ok) {
        lc__pg_sql_free(q);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    return LC_OK;
}

void lc__pg_sql_free(pg_sql *q)
{
    char **all[] = {&q->start_run,      &q->abandon,      &q->now,
                    &q->upgrade_v2,     &q->acquire,      &q->holder,
                    &q->renew,          &q->renew_many,   &q->release,
                    &q->force_release,  &q->record_run,   &q->checkpoint,
                    &q->inspect,        &q->list,         &q->create_table,
                    &q->create_version, &q->read_version, &q->write_version,
                    &q->create_schema,  &q->listen,       &q->qtable,
                    &q->qversion,       &q->upgrade_v3,   &q->pause,
                    &q->resume,         &q->create_runs,  &q->create_runs_index,
                    &q->history,        &q->qruns,        &q->create_waiters,
                    &q->leave,          &q->qwaiters,     &q->acquire_wait,
                    &q->trim};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* A one-row, one-column answer as text; NULL when there is no row. */
static lc_status scalar(pg_state *s, const char *what, const char *sql, int n,
                        const char *const *params, char *out, size_t size, int *found,
                        lc_error *err)
{
    PGresult *r = NULL;
    lc_status rc = lc__pg_exec(s, what, sql, n, params, &r, err);
    if (rc != LC_OK)
        return rc;
    *found = PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0);
    lc__strlcpy(out, *found ? PQgetvalue(r, 0, 0) : "", size);
    PQclear(r);
    return LC_OK;
}

static lc_status table_exists(pg_state *s, int *exists, lc_error *err)
{
    const char *p[] = {s->sql.qtable};
    char v[8];
    int found;
    lc_status rc = scalar(s, "check table", "SELECT to_regclass($1) IS NOT NULL", 1, p, v,
                          sizeof(v), &found, err);
    *exists = rc == LC_OK && strcmp(v, "t") == 0;
    return rc;
}

static lc_status ensure_schema(pg_state *s, lc_error *err)
{
    const char *p[] = {s->cfg->postgres.schema};
    char v[8];
    int found;
    lc_status rc = scalar(s, "check schema", "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, p,
                          v, sizeof(v), &found, err);
    if (rc == LC_OK && !found)
        rc = lc__pg_run(s, "create schema", s->sql.create_schema, 0, NULL, err);
    return rc;
}

static lc_status ensure_version(pg_state *s, long *version, lc_error *err)
{
    char v[32];
    int found;
    lc_status rc = lc__pg_run(s, "create version table", s->sql.create_version, 0, NULL, err);
    if (rc == LC_OK)
        rc = scalar(s, "read schema version", s->sql.read_version, 0, NULL, v, sizeof(v), &found,
                    err);
    if (rc != LC_OK)
        return rc;
    *version = found ? strtol(v, NULL, 10) : 0;
    if (*version > LC_PG_SCHEMA_VERSION)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "%s: table %s is at schema version %ld, newer than this lockcoord "
                       "supports (%d): upgrade lockcoord",
                       s->where, s->table, *version, LC_PG_SCHEMA_VERSION);
    if (*version == LC_PG_SCHEMA_VERSION)
        return LC_OK;
    /* Version 1 is the first; later upgrades go here, one step each (each
     * safe on a table created at the current version). */
    if (*version < 2 &&
        (rc = lc__pg_run(s, "upgrade to version 2", s->sql.upgrade_v2, 0, NULL, err)) != LC_OK)
        return rc;
    if (*version < 3 &&
        (rc = lc__pg_run(s, "upgrade to version 3", s->sql.upgrade_v3, 0, NULL, err)) != LC_OK)
        return rc;
    if (*version < 4 &&
        ((rc = lc__pg_run(s, "create run history", s->sql.create_runs, 0, NULL, err)) != LC_OK ||
         (rc = lc__pg_run(s, "index run history", s->sql.create_runs_index, 0, NULL, err)) !=
             LC_OK))
        return rc;
    if (*version < 5 && (rc = lc__pg_run(s, "create line of waiters", s->sql.create_waiters, 0,
                                         NULL, err)) != LC_OK)
        return rc;
    char want[16];
    snprintf(want, sizeof(want), "%d", LC_PG_SCHEMA_VERSION);
    const char *p[] = {want};
    return lc__pg_run(s, "write schema version", s->sql.write_version, 1, p, err);
}

/* The steps of a migration, inside its transaction: an advisory lock
 * keyed by the table makes concurrent migrations take turns, so their
 * CREATEs never race. */
static lc_status migrate_steps(pg_state *s, int *created, long *before, lc_error *err)
{
    char key[320];
    snprintf(key, sizeof(key), "lockcoord migrate %s", s->table);
    const char *p[] = {key};
    int exists = 0;
    lc_status rc = lc__pg_run(s, "migrate: advisory lock",
                              "SELECT pg_advisory_xact_lock(hashtext($1))", 1, p, err);
    if (rc == LC_OK)
        rc = ensure_schema(s, err);
    if (rc == LC_OK)
        rc = table_exists(s, &exists, err);
    if (rc == LC_OK && !exists)
        rc = lc__pg_run(s, "create table", s->sql.create_table, 0, NULL, err);
    if (rc == LC_OK)
        rc = ensure_version(s, before, err);
    *created = !exists;
    return rc;
}

lc_status lc__pg_migrate(void *state, char *what, size_t what_size, lc_error *err)
{
    pg_state *s = state;
    int created = 0;
    long before = 0;
    lc_status rc = lc__pg_run(s, "migrate: begin", "BEGIN", 0, NULL, err);
    if (rc != LC_OK)
        return rc;
    rc = migrate_steps(s, &created, &before, err);
    if (rc == LC_OK)
        rc = lc__pg_run(s, "migrate: commit", "COMMIT", 0, NULL, err);
    if (rc != LC_OK) {
        if (s->conn && lc__pg_run(s, "migrate: rollback", "ROLLBACK", 0, NULL, NULL) != LC_OK)
            lc__pg_drop(s);
        return rc;
    }
    s->schema_ok = 1;
    if (what && what_size)
        snprintf(what, what_size, "postgres: schema %s at version %d (%s)", s->table,
                 LC_PG_SCHEMA_VERSION,
                 created                         ? "created"
                 : before < LC_PG_SCHEMA_VERSION ? "upgraded"
                                                 : "up to date");
    return LC_OK;
}

/* The version the table is at without changing anything: 0 when there
 * is no version table (a table older than versions). */
static lc_status current_version(pg_state *s, long *version, lc_error *err)
{
    const char *p[] = {s->sql.qversion};
    char v[32];
    int found;
    lc_status rc = scalar(s, "check version table", "SELECT to_regclass($1) IS NOT NULL", 1, p, v,
                          sizeof(v), &found, err);
    *version = 0;
    if (rc != LC_OK || strcmp(v, "t") != 0)
        return rc;
    rc = scalar(s, "read schema version", s->sql.read_version, 0, NULL, v, sizeof(v), &found, err);
    if (rc == LC_OK && found)
        *version = strtol(v, NULL, 10);
    return rc;
}

lc_status lc__pg_ready(pg_state *s, lc_error *err)
{
    int exists = 0;
    long version = 0;
    lc_status rc = lc__pg_connect(s, err);
    if (rc != LC_OK || s->schema_ok)
        return rc;
    if ((rc = table_exists(s, &exists, err)) != LC_OK)
        return rc;
    if (exists && (rc = current_version(s, &version, err)) != LC_OK)
        return rc;
    if (exists && version >= LC_PG_SCHEMA_VERSION) {
        s->schema_ok = 1; /* a newer version is refused by the statements that need more */
        return LC_OK;
    }
    if (s->cfg->postgres.auto_migrate)
        return lc__pg_migrate(s, NULL, 0, err);
    if (exists)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "%s: table %s is at schema version %ld, this lockcoord needs %d: run "
                       "`lockcoord migrate` (or set postgres.auto_migrate: true)",
                       s->where, s->table, version, LC_PG_SCHEMA_VERSION);
    return lc__err(err, LC_ERR_CONFIG, 0,
                   "%s: table %s does not exist: run `lockcoord migrate` "
                   "(or set postgres.auto_migrate: true)",
                   s->where, s->table);
}
