/* backends/postgres/postgres.c -- the Postgres backend: a row per lock in
 * the configured table, every change one parameterised statement, every
 * time the server's now(). The statement texts live in schema.c, the
 * connection and its deadlines in conn.c, release notifications in
 * notify.c. */
#include "backends/postgres/pg_int.h"
#include "core/client_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Reading result columns (text format)                               */
/* ------------------------------------------------------------------ */

/* A column's text, NULL for SQL NULL. */
static const char *cell(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t num_of(const char *v, int64_t if_null)
{
    return v ? strtoll(v, NULL, 10) : if_null;
}

static int flag_of(const char *v)
{
    return v && v[0] == 't';
}

/* A malloc'd copy of v, NULL for SQL NULL. Returns -1 when out of
 * memory. */
static int dup_of(const char *v, char **out)
{
    *out = v ? strdup(v) : NULL;
    return v == NULL || *out ? 0 : -1;
}

static int64_t num(const PGresult *r, int row, int col, int64_t if_null)
{
    return num_of(cell(r, row, col), if_null);
}

static int flag(const PGresult *r, int row, int col)
{
    return flag_of(cell(r, row, col));
}

static int text_dup(const PGresult *r, int row, int col, char **out)
{
    return dup_of(cell(r, row, col), out);
}

static int changed_rows(const PGresult *r)
{
    return atoi(PQcmdTuples((PGresult *)r));
}

/* ------------------------------------------------------------------ */
/* Open and close                                                     */
/* ------------------------------------------------------------------ */

static lc_status check_config(const lc_config *cfg, lc_error *err)
{
    const char *schema = cfg->postgres.schema, *table = cfg->postgres.table;
    if (schema == NULL || *schema == '\0' || strlen(schema) > LC_PG_IDENT_MAX)
        return lc__err(err, LC_ERR_CONFIG, 0, "postgres.schema: must be 1..%d bytes",
                       LC_PG_IDENT_MAX);
    if (table == NULL || *table == '\0' || strlen(table) > LC_PG_TABLE_MAX)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "postgres.table: must be 1..%d bytes (suffixes are appended for the "
                       "version table and the notification channel)",
                       LC_PG_TABLE_MAX);
    return LC_OK;
}

static void pg_close(void *state)
{
    pg_state *s = state;
    if (s == NULL)
        return;
    lc__pg_drop(s);
    lc__pg_watch_free(s);
    lc__pg_sql_free(&s->sql);
    free(s);
}

static lc_status pg_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                         lc_error *err)
{
    lc_status rc = check_config(cfg, err);
    if (rc != LC_OK)
        return rc;
    pg_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    s->cfg = cfg;
    s->log = env->log;
    s->log_ctx = env->log_ctx;
    s->deadline_ms = lc__pg_deadline_ms(cfg);
    snprintf(s->table, sizeof(s->table), "%s.%s", cfg->postgres.schema, cfg->postgres.table);
    snprintf(s->channel, sizeof(s->channel), "%s_released", cfg->postgres.table);
    lc__strlcpy(s->where, "postgres", sizeof(s->where));
    if ((rc = lc__pg_connect(s, err)) != LC_OK) {
        pg_close(s);
        return rc;
    }
    *state = s;
    return LC_OK;
}

/* ------------------------------------------------------------------ */
/* Acquire                                                            */
/* ------------------------------------------------------------------ */

static int history_entries(const pg_state *s)
{
    return s->cfg->lock.history > 0 ? s->cfg->lock.history : LC_HISTORY_DEFAULT;
}

/* lock.history as a parameter. */
static const char *history_cap(const pg_state *s, char *buf, size_t size)
{
    snprintf(buf, size, "%d", history_entries(s));
    return buf;
}

/* How many runs recorded between two trims of a lock's history: an
 * eighth of lock.history, at least 1. */
static int64_t trim_every(const pg_state *s)
{
    int every = history_entries(s) / 8;
    return every > 0 ? every : 1;
}

/* Trims the history of `name` to lock.history entries, deleting at most
 * `most` (0: all) older ones (schema.c: trim_sql). The operation that
 * called it has succeeded: a failure is only logged, and the entries are
 * left to the next trim (readers do not show them). */
static void trim_history(pg_state *s, const char *name, int64_t most)
{
    char cap[16], limit[24];
    snprintf(limit, sizeof(limit), "%lld", (long long)most);
    const char *p[] = {name, history_cap(s, cap, sizeof(cap)), most > 0 ? limit : NULL};
    lc_error err;
    if (lc__pg_run(s, "trim history", s->sql.trim, 3, p, &err) != LC_OK)
        lc__log(s->log, s->log_ctx, LC_LOG_DEBUG, "%s", err.message);
}

/* After a run was recorded, the lock's sync_count now `count`: every
 * trim_every runs, the entries that fell off since; every 64th time, all
 * past the cap (a sweep of what was left over). */
static void trim_after_record(pg_state *s, const char *name, int64_t count)
{
    int64_t every = trim_every(s);
    if (count > 0 && count % every == 0)
        trim_history(s, name, count / every % 64 == 0 ? 0 : every);
}

/* Columns of the acquire and holder statements. */
enum {
    A_GRANTED,
    A_FENCE,
    A_AT_MS,
    A_CHECKPOINT,
    A_OWNER,
    A_EXPIRES_MS,
    A_LIVE,
    A_NOW_MS,
    A_STARTED_MS,
    A_PAUSED,
    A_PAUSED_BY,
    A_PAUSED_REASON,
    A_BEHIND,
    A_RECLAIMED /* a stale lease was taken: an "abandoned" entry was added */
};

/* Whether the row an acquire lost to is paused; then err says by whom. */
static int paused_row(const PGresult *r, const char *name, lc_error *err)
{
    if (PQntuples(r) == 0 || PQnfields(r) <= A_PAUSED_REASON || !flag(r, 0, A_PAUSED))
        return 0;
    lc__err_paused(err, name, PQgetvalue(r, 0, A_PAUSED_BY), PQgetvalue(r, 0, A_PAUSED_REASON));
    return 1;
}

static lc_status granted(const PGresult *r, lc_grant *out, lc_error *err)
{
    char *cp;
    if (text_dup(r, 0, A_CHECKPOINT, &cp) != 0)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    out->fence = (uint64_t)num(r, 0, A_FENCE, 0);
    out->acquired_at_ms = num(r, 0, A_AT_MS, 0);
    out->checkpoint = cp;
    out->server_now_ms = num(r, 0, A_NOW_MS, 0);
    out->last_started_at_ms = num(r, 0, A_STARTED_MS, -1);
    return LC_OK;
}

static lc_status conflict(const PGresult *r, const char *name, lc_error *err)
{
    if (PQntuples(r) == 0)
        return lc__err_conflict(err, name, NULL, 0, 0, -1);
    /* An expiry a moment ago (the holder was read after the acquire's
     * snapshot) is "expires in 0 ms", not "unknown". */
    int64_t left = num(r, 0, A_EXPIRES_MS, -1);
    if (left < 0 && !PQgetisnull(r, 0, A_EXPIRES_MS))
        left = 0;
    return lc__err_conflict(err, name, PQgetvalue(r, 0, A_OWNER), (uint64_t)num(r, 0, A_FENCE, 0),
                            num(r, 0, A_AT_MS, 0), left);
}

/* One attempt: the no-wait statement (5 parameters), or with `waiting`
 * the one that stands in the line of waiters (6). On a conflict *live says
 * whether the row we lost to is still held. The holder is read with a
 * second statement when the acquire did not answer it (a no-wait acquire
 * never does) or answered it from a snapshot older than the winner's
 * commit. */
static lc_status try_acquire(pg_state *s, int waiting, const char *const *p, lc_grant *out,
                             int *live, lc_error *err)
{
    PGresult *r = NULL;
    lc_status rc = waiting ? lc__pg_exec(s, "acquire", s->sql.acquire_wait, 6, p, &r, err)
                           : lc__pg_exec(s, "acquire", s->sql.acquire, 5, p, &r, err);
    if (rc != LC_OK)
        return rc;
    if (PQntuples(r) > 0 && flag(r, 0, A_GRANTED)) {
        rc = granted(r, out, err);
        int reclaimed = flag(r, 0, A_RECLAIMED);
        PQclear(r);
        if (rc == LC_OK && reclaimed)
            trim_history(s, p[0], 1);
        return rc;
    }
    if (paused_row(r, p[0], err)) {
        PQclear(r);
        return LC_ERR_PAUSED;
    }
    if (PQntuples(r) > 0 && !flag(r, 0, A_LIVE) && flag(r, 0, A_BEHIND)) {
        PQclear(r);
        return lc__err_promised(err, p[0]); /* *live stays 1: no second try */
    }
    if (PQntuples(r) == 0 || !flag(r, 0, A_LIVE)) {
        PQclear(r);
        r = NULL;
        if ((rc = lc__pg_exec(s, "acquire: read holder", s->sql.holder, 1, p, &r, err)) != LC_OK)
            return rc;
    }
    *live = PQntuples(r) > 0 && flag(r, 0, A_LIVE);
    rc = paused_row(r, p[0], err) ? LC_ERR_PAUSED : conflict(r, p[0], err);
    PQclear(r);
    return rc;
}

static lc_status pg_acquire(void *state, const lc_acquire_args *a, lc_grant *out, lc_error *err)
{
    pg_state *s = state;
    char ttl[24], queue[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)a->ttl_ms);
    snprintf(queue, sizeof(queue), "%lld", (long long)a->queue_ms);
    const char *p[] = {a->name, a->token, a->owner, ttl, a->claim ? "true" : "false", queue};
    lc_status rc = lc__pg_ready(s, err);
    /* Lost to a holder that was gone by the time we looked: try again. */
    for (int attempt = 0; rc == LC_OK && attempt < 3; attempt++) {
        int live = 1;
        rc = try_acquire(s, a->queue_ms > 0, p, out, &live, err);
        if (rc != LC_ERR_CONFLICT || live)
            return rc;
        if (attempt < 2)
            rc = LC_OK;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Renew                                                              */
/* ------------------------------------------------------------------ */

/* lc__pg_exec once the schema is known to be there. */
static lc_status exec_ready(pg_state *s, const char *what, const char *sql, int n,
                            const char *const *p, PGresult **r, lc_error *err)
{
    lc_status rc = lc__pg_ready(s, err);
    return rc == LC_OK ? lc__pg_exec(s, what, sql, n, p, r, err) : rc;
}

/* Runs a statement whose success is "one row changed". */
static lc_status update_one(pg_state *s, const char *what, const char *sql, int n,
                            const char *const *p, int *changed, lc_error *err)
{
    PGresult *r = NULL;
    lc_status rc = exec_ready(s, what, sql, n, p, &r, err);
    if (rc == LC_OK)
        *changed = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : changed_rows(r);
    PQclear(r);
    return rc;
}

static lc_status pg_leave(void *state, const char *name, const char *token, lc_error *err)
{
    const char *p[] = {name, token};
    int changed = 0;
    return update_one(state, "leave the line", ((pg_state *)state)->sql.leave, 2, p, &changed, err);
}

static lc_status pg_renew(void *state, const char *name, const char *token, int64_t ttl_ms,
                          lc_error *err)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    const char *p[] = {name, token, ttl};
    int changed = 0;
    lc_status rc = update_one(state, "renew", ((pg_state *)state)->sql.renew, 3, p, &changed, err);
    if (rc == LC_OK && changed == 0)
        rc = lc__err_not_yours(err, name);
    return rc;
}

/* Appends one element to an array literal being built in *buf ("{a,b"
 * so far; renew_arrays closes it): Postgres array quoting ("..." with
 * backslash escapes) for text, bare for numbers. */
static int array_add(char **buf, size_t *len, size_t *cap, const char *v, int quote)
{
    size_t need = *len + 2 * strlen(v) + 5; /* separator, quotes, '}', NUL */
    if (need > *cap) {
        char *grown = realloc(*buf, need * 2);
        if (grown == NULL)
            return -1;
        *buf = grown;
        *cap = need * 2;
    }
    char *o = *buf + *len;
    *o++ = *len == 0 ? '{' : ',';
    if (quote)
        *o++ = '"';
    for (; *v; v++) {
        if (quote && (*v == '"' || *v == '\\'))
            *o++ = '\\';
        *o++ = *v;
    }
    if (quote)
        *o++ = '"';
    *len = (size_t)(o - *buf);
    return 0;
}

/* Three array literals: names, tokens, ttls. */
static int renew_arrays(const lc_renew_item *items, size_t n, char *arr[3])
{
    size_t len[3] = {0, 0, 0}, cap[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        char ttl[24];
        snprintf(ttl, sizeof(ttl), "%lld", (long long)items[i].ttl_ms);
        if (array_add(&arr[0], &len[0], &cap[0], items[i].name, 1) != 0 ||
            array_add(&arr[1], &len[1], &cap[1], items[i].token, 1) != 0 ||
            array_add(&arr[2], &len[2], &cap[2], ttl, 0) != 0)
            return -1;
    }
    for (int k = 0; k < 3; k++) {
        arr[k][len[k]] = '}';
        arr[k][len[k] + 1] = '\0';
    }
    return 0;
}

/* Each answer row names a lease by its position (from 1) and says
 * whether it was renewed. A lease given twice is answered once (a row is
 * updated once): its twin takes the answer of the first. */
static void mark_renewed(const PGresult *r, lc_renew_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        items[i].status = LC_ERR_LOST;
    for (int row = 0; row < PQntuples(r); row++) {
        long long at = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        if (at >= 1 && (unsigned long long)at <= n && strcmp(PQgetvalue(r, row, 1), "t") == 0)
            items[at - 1].status = LC_OK;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n && items[i].status != LC_OK; j++)
            if (j != i && items[j].status == LC_OK && strcmp(items[j].name, items[i].name) == 0 &&
                strcmp(items[j].token, items[i].token) == 0)
                items[i].status = LC_OK;
}

static lc_status pg_renew_many(void *state, lc_renew_item *items, size_t n, lc_error *err)
{
    pg_state *s = state;
    char *arr[3] = {NULL, NULL, NULL};
    PGresult *r = NULL;
    if (n == 0)
        return LC_OK;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK && renew_arrays(items, n, arr) != 0)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (rc == LC_OK) {
        const char *p[] = {arr[0], arr[1], arr[2]};
        rc = lc__pg_exec(s, "renew many", s->sql.renew_many, 3, p, &r, err);
    }
    if (rc == LC_OK)
        mark_renewed(r, items, n);
    PQclear(r);
    for (int k = 0; k < 3; k++)
        free(arr[k]);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Release, reset, run records, checkpoints                           */
/* ------------------------------------------------------------------ */

/* The parameters of a run record ($3..$9 of release and record_run), as
 * text. */
typedef struct record_params {
    char exit[16], http[16], attempts[16], missed[16], duration[24];
} record_params;

static void record_fill(const lc_run_result *res, record_params *rp, const char **p)
{
    snprintf(rp->exit, sizeof(rp->exit), "%d", res->exit_code);
    snprintf(rp->http, sizeof(rp->http), "%d", res->http_status);
    snprintf(rp->attempts, sizeof(rp->attempts), "%d", res->attempts);
    snprintf(rp->missed, sizeof(rp->missed), "%d", res->missed_slots);
    snprintf(rp->duration, sizeof(rp->duration), "%lld", (long long)res->duration_ms);
    p[2] = res->has_exit ? rp->exit : NULL;
    p[3] = res->error;
    p[4] = lc_outcome_name(res->outcome);
    p[5] = res->http_status > 0 ? rp->http : NULL;
    p[6] = rp->attempts;
    p[7] = rp->missed;
    p[8] = rp->duration;
}

static lc_status pg_history(void *state, const char *name, size_t limit, int64_t since_ms,
                            lc_run_entry **out, size_t *n, lc_error *err)
{
    pg_state *s = state;
    char since[24], lim[24], cap[16];
    snprintf(since, sizeof(since), "%lld", (long long)since_ms);
    snprintf(lim, sizeof(lim), "%zu", limit);
    const char *p[] = {name, since, lim, history_cap(s, cap, sizeof(cap))};
    PGresult *r = NULL;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK)
        rc = lc__pg_exec(s, "history", s->sql.history, 4, p, &r, err);
    if (rc != LC_OK)
        return rc;
    int rows = PQntuples(r);
    lc_run_entry *list = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*list));
    if (list == NULL) {
        PQclear(r);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        lc_run_entry *e = &list[i];
        e->fence = (uint64_t)num(r, i, 0, 0);
        lc__strlcpy(e->owner, PQgetvalue(r, i, 1), sizeof(e->owner));
        e->started_at_ms = num(r, i, 2, -1);
        e->completed_at_ms = num(r, i, 3, -1);
        e->duration_ms = num(r, i, 4, -1);
        e->outcome = lc__outcome_parse(PQgetisnull(r, i, 5) ? "" : PQgetvalue(r, i, 5));
        e->has_exit = !PQgetisnull(r, i, 6);
        e->exit_code = (int)num(r, i, 6, 0);
        e->http_status = (int)num(r, i, 7, 0);
        e->attempts = (int)num(r, i, 9, 1);
        if (text_dup(r, i, 8, &e->error) != 0) {
            PQclear(r);
            lc_run_entries_free(list, (size_t)i);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
    }
    PQclear(r);
    *out = list;
    *n = (size_t)rows;
    return LC_OK;
}

/* Runs release or record_run, whose row (if any) ends with the lock's
 * new sync_count; then trims the history when that is due. *changed: 1
 * when the statement recorded a run. */
static lc_status record_and_trim(pg_state *s, const char *what, const char *sql, int n,
                                 const char *const *p, int *changed, lc_error *err)
{
    PGresult *r = NULL;
    lc_status rc = exec_ready(s, what, sql, n, p, &r, err);
    if (rc != LC_OK)
        return rc;
    *changed = PQntuples(r) > 0;
    int64_t count = *changed ? num(r, 0, PQnfields(r) - 1, 0) : 0;
    PQclear(r);
    trim_after_record(s, p[0], count);
    return LC_OK;
}

static lc_status pg_release(void *state, const char *name, const char *token,
                            const lc_run_result *res, lc_error *err)
{
    pg_state *s = state;
    record_params rp;
    const char *p[10] = {name, token};
    record_fill(res, &rp, p);
    p[9] = s->channel;
    int changed = 0;
    lc_status rc = record_and_trim(s, "release", s->sql.release, 10, p, &changed, err);
    if (rc == LC_OK && changed == 0)
        rc = lc__err_not_yours(err, name);
    return rc;
}

static lc_status pg_abandon(void *state, const char *name, const char *token, lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name, token, s->channel};
    int changed = 0;
    lc_status rc = update_one(s, "abandon", s->sql.abandon, 3, p, &changed, err);
    if (rc == LC_OK && changed == 0)
        rc = lc__err_not_yours(err, name);
    return rc;
}

static lc_status pg_start_run(void *state, const char *name, const char *token,
                              int64_t *started_at_ms, lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name, token};
    PGresult *r = NULL;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK)
        rc = lc__pg_exec(s, "start run", s->sql.start_run, 2, p, &r, err);
    if (rc == LC_OK && PQntuples(r) == 0)
        rc = lc__err_not_yours(err, name);
    else if (rc == LC_OK)
        *started_at_ms = num(r, 0, 0, 0);
    PQclear(r);
    return rc;
}

static lc_status pg_force_release(void *state, const char *name, const char *reason, int *was_held,
                                  lc_holder *prev, lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name, reason, s->channel};
    PGresult *r = NULL;
    lc_status rc = lc__pg_ready(s, err);
    /* No row at all: another session created it between our two halves. */
    for (int attempt = 0; rc == LC_OK && attempt < 2 && (r == NULL || PQntuples(r) == 0);
         attempt++) {
        PQclear(r);
        r = NULL;
        rc = lc__pg_exec(s, "force release", s->sql.force_release, 3, p, &r, err);
    }
    if (rc == LC_OK && PQntuples(r) != 1)
        rc = lc__err(err, LC_ERR_INTERNAL, 0, "%s: force release: %d rows", s->where, PQntuples(r));
    if (rc == LC_OK) {
        *was_held = flag(r, 0, 0);
        lc__strlcpy(prev->owner, PQgetvalue(r, 0, 1), sizeof(prev->owner));
        prev->fence = (uint64_t)num(r, 0, 2, 0);
        prev->acquired_at_ms = num(r, 0, 3, 0);
        prev->expires_in_ms = *was_held ? num(r, 0, 4, -1) : -1;
    }
    PQclear(r);
    return rc;
}

static lc_status pg_record_run(void *state, const char *name, const lc_run_result *res,
                               const lc_holder *who, lc_error *err)
{
    pg_state *s = state;
    record_params rp;
    char fence[24], started[24];
    const char *p[12] = {name, NULL};
    record_fill(res, &rp, p);
    p[1] = NULL;
    if (who) {
        snprintf(fence, sizeof(fence), "%llu", (unsigned long long)who->fence);
        snprintf(started, sizeof(started), "%lld", (long long)who->acquired_at_ms);
        p[9] = fence;
        p[10] = who->owner;
        p[11] = started;
    }
    int changed = 0;
    return record_and_trim(s, "record run", s->sql.record_run, 12, p, &changed, err);
}

static lc_status pg_checkpoint(void *state, const char *name, const char *token, const char *value,
                               lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name, token, value};
    int changed = 0;
    lc_status rc = update_one(s, "checkpoint", s->sql.checkpoint, 3, p, &changed, err);
    if (rc == LC_OK && changed == 0)
        rc = lc__err_not_yours(err, name);
    return rc;
}

static lc_status pg_pause(void *state, const char *name, const char *by, const char *reason,
                          int64_t for_ms, lc_error *err)
{
    pg_state *s = state;
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)for_ms);
    const char *p[] = {name, by, reason, ms};
    int changed = 0;
    return update_one(s, "pause", s->sql.pause, 4, p, &changed, err);
}

static lc_status pg_resume(void *state, const char *name, int *was_paused, lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name};
    PGresult *r = NULL;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK)
        rc = lc__pg_exec(s, "resume", s->sql.resume, 1, p, &r, err);
    if (rc != LC_OK)
        return rc;
    *was_paused = PQntuples(r) > 0 && flag(r, 0, 0);
    PQclear(r);
    return LC_OK;
}

/* ------------------------------------------------------------------ */
/* Inspect and list                                                   */
/* ------------------------------------------------------------------ */

/* Columns of INFO_COLUMNS in schema.c. */
enum {
    I_NAME,
    I_HELD,
    I_STALE,
    I_OWNER,
    I_FENCE,
    I_STARTED_MS,
    I_HELD_FOR_MS,
    I_EXPIRES_MS,
    I_SYNC_COUNT,
    I_COMPLETED_MS,
    I_LAST_EXIT,
    I_LAST_ERROR,
    I_CHECKPOINT,
    I_RUN_STARTED_MS,
    I_OUTCOME,
    I_HTTP,
    I_ATTEMPTS,
    I_MISSED,
    I_DURATION,
    I_SUCCESS_MS,
    I_FAILURES,
    I_NOW_MS,
    I_PAUSED,
    I_PAUSED_BY,
    I_PAUSED_REASON,
    I_PAUSED_UNTIL_MS,
    I_COUNT
};
_Static_assert(I_COUNT == LC__PG_INFO_COLUMNS, "LC__PG_INFO_COLUMNS is the column count");

lc_status lc__pg_info_from_values(const char *const *v, lc_lock_info *out, lc_error *err)
{
    lc__lock_info_init(out, v[I_NAME]);
    out->held = flag_of(v[I_HELD]);
    out->stale = flag_of(v[I_STALE]);
    lc__strlcpy(out->owner, v[I_OWNER], sizeof(out->owner));
    out->fence = (uint64_t)num_of(v[I_FENCE], 0);
    out->acquired_at_ms = num_of(v[I_STARTED_MS], -1);
    if (out->held) {
        out->held_for_ms = num_of(v[I_HELD_FOR_MS], -1);
        out->expires_in_ms = num_of(v[I_EXPIRES_MS], -1);
    }
    out->sync_count = (uint64_t)num_of(v[I_SYNC_COUNT], 0);
    out->last_started_at_ms = num_of(v[I_RUN_STARTED_MS], -1);
    out->last_completed_at_ms = num_of(v[I_COMPLETED_MS], -1);
    out->has_last_exit = v[I_LAST_EXIT] != NULL;
    out->last_exit = (int)num_of(v[I_LAST_EXIT], 0);
    out->last_outcome = lc__outcome_parse(v[I_OUTCOME] ? v[I_OUTCOME] : "");
    out->last_http_status = (int)num_of(v[I_HTTP], 0);
    out->last_attempts = (int)num_of(v[I_ATTEMPTS], 0);
    out->last_missed_slots = (int)num_of(v[I_MISSED], 0);
    out->last_duration_ms = num_of(v[I_DURATION], -1);
    out->last_success_at_ms = num_of(v[I_SUCCESS_MS], -1);
    out->consecutive_failures = (uint64_t)num_of(v[I_FAILURES], 0);
    out->server_now_ms = num_of(v[I_NOW_MS], 0);
    out->paused = flag_of(v[I_PAUSED]);
    if (out->paused) {
        lc__strlcpy(out->paused_by, v[I_PAUSED_BY] ? v[I_PAUSED_BY] : "", sizeof(out->paused_by));
        out->paused_until_ms = num_of(v[I_PAUSED_UNTIL_MS], -1);
    }
    if (dup_of(v[I_LAST_ERROR], &out->last_error) != 0 ||
        dup_of(v[I_CHECKPOINT], &out->checkpoint) != 0 ||
        (out->paused &&
         dup_of(v[I_PAUSED_REASON] ? v[I_PAUSED_REASON] : "", &out->paused_reason) != 0)) {
        lc_lock_info_clear(out);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    return LC_OK;
}

static lc_status info_from_row(const PGresult *r, int row, lc_lock_info *out, lc_error *err)
{
    const char *v[I_COUNT];
    for (int col = 0; col < I_COUNT; col++)
        v[col] = cell(r, row, col);
    return lc__pg_info_from_values(v, out, err);
}

static lc_status pg_inspect(void *state, const char *name, lc_lock_info *out, lc_error *err)
{
    pg_state *s = state;
    const char *p[] = {name};
    PGresult *r = NULL;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK)
        rc = lc__pg_exec(s, "inspect", s->sql.inspect, 1, p, &r, err);
    if (rc == LC_OK && PQntuples(r) > 0) {
        rc = info_from_row(r, 0, out, err);
    } else if (rc == LC_OK) {
        /* Never seen: the server's clock still counts (a job's next due). */
        PQclear(r);
        r = NULL;
        lc__lock_info_init(out, name);
        rc = lc__pg_exec(s, "read the clock", s->sql.now, 0, NULL, &r, err);
        if (rc == LC_OK && PQntuples(r) > 0)
            out->server_now_ms = num(r, 0, 0, 0);
    }
    PQclear(r);
    return rc;
}

static lc_status pg_list(void *state, lc_lock_info **out, size_t *n, lc_error *err)
{
    pg_state *s = state;
    PGresult *r = NULL;
    lc_lock_info *list = NULL;
    int rows = 0, i = 0;
    lc_status rc = lc__pg_ready(s, err);
    if (rc == LC_OK)
        rc = lc__pg_exec(s, "list", s->sql.list, 0, NULL, &r, err);
    if (rc == LC_OK) {
        rows = PQntuples(r);
        if ((list = calloc(rows ? (size_t)rows : 1, sizeof(*list))) == NULL)
            rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    for (; rc == LC_OK && i < rows; i++)
        rc = info_from_row(r, i, &list[i], err);
    PQclear(r);
    if (rc != LC_OK) {
        lc_lock_list_free(list, (size_t)i);
        return rc;
    }
    *out = list;
    *n = (size_t)rows;
    return LC_OK;
}

static uint64_t pg_requests(void *state)
{
    const pg_state *s = state;
    return s->requests;
}

const lc_backend_ops lc__backend_postgres = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .leave = pg_leave,
    .renew = pg_renew,
    .renew_many = pg_renew_many,
    .release = pg_release,
    .force_release = pg_force_release,
    .record_run = pg_record_run,
    .start_run = pg_start_run,
    .abandon = pg_abandon,
    .checkpoint = pg_checkpoint,
    .pause = pg_pause,
    .resume = pg_resume,
    .history = pg_history,
    .inspect = pg_inspect,
    .list = pg_list,
    .migrate = lc__pg_migrate,
    .watch = lc__pg_watch,
    .wait = lc__pg_wait,
    .unwatch = lc__pg_unwatch,
    .requests = pg_requests,
    .bench = &lc__bench_postgres,
};
