/* backends/postgres/replication.c -- the replication check: a primary whose
 * standbys all replicate asynchronously can lose, in a failover, a lease
 * or a fence it already acknowledged. lockcoord says so once, with the
 * setting that fixes it. */
#include "backends/postgres/pg_int.h"
#include "core/error_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One query at connect. On a standby nothing is asked (no rows): writes
 * fail there anyway. pg_stat_replication shows every user a row per
 * walsender (its details only to pg_read_all_stats), so the count needs no
 * privilege; base backups under way are not standbys. */
#define REPLICATION_SQL                                                                            \
    "SELECT current_setting('synchronous_standby_names'), "                                        \
    "current_setting('synchronous_commit'), "                                                      \
    "(SELECT count(*) FROM pg_stat_replication WHERE state IS DISTINCT FROM 'backup') "            \
    "WHERE NOT pg_is_in_recovery()"

/* Once per process, not per connection: the warning is about the server,
 * and one process opens several clients of it (`lockcoord run`: its own
 * and the keeper's). It decides nothing but whether this line, and the
 * query before it, are still due. */
static atomic_int async_warned;

/* Commits wait for a standby when synchronous_standby_names names one and
 * synchronous_commit is not off or local. */
static int commits_wait(const char *names, const char *commit)
{
    return names[0] != '\0' && strcmp(commit, "off") != 0 && strcmp(commit, "local") != 0;
}

static void warn_async(pg_state *s, const char *names, const char *commit, long long standbys)
{
    if (atomic_exchange(&async_warned, 1))
        return;
    lc__log(s->log, s->log_ctx, LC_LOG_WARN,
            "%s: %lld standby%s replicate%s asynchronously (synchronous_standby_names is "
            "%s%s%s, synchronous_commit is %s): a lease or fence acknowledged just before a "
            "failover can be lost (set synchronous_standby_names on the primary, with "
            "synchronous_commit on; or postgres.warn_async_replication: false)",
            s->where, standbys, standbys == 1 ? "" : "s", standbys == 1 ? "s" : "",
            names[0] ? "'" : "empty", names, names[0] ? "'" : "", commit);
}

lc_status lc__pg_check_replication(pg_state *s, lc_error *err)
{
    if (!s->cfg->postgres.warn_async_replication || atomic_load(&async_warned))
        return LC_OK;
    PGresult *r = NULL;
    lc_error e;
    lc_status rc = lc__pg_exec(s, "replication check", REPLICATION_SQL, 0, NULL, &r, &e);
    if (rc != LC_OK) {
        /* Refused (a pooler, a restricted role): nothing to say. A lost
         * connection is the caller's error. */
        if (s->conn != NULL)
            return LC_OK;
        if (err)
            *err = e;
        return rc;
    }
    if (PQntuples(r) == 1 && PQnfields(r) == 3) {
        const char *names = PQgetvalue(r, 0, 0), *commit = PQgetvalue(r, 0, 1);
        long long standbys = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        if (standbys > 0 && !commits_wait(names, commit))
            warn_async(s, names, commit, standbys);
    }
    PQclear(r);
    return LC_OK;
}
