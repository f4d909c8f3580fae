/* backends/postgres/bench.c -- the floor `lockcoord bench --reference`
 * measures the Postgres backend against: a lease as one prepared upsert
 * into a scratch table, given back by one prepared token-checked UPDATE,
 * renewed in bulk by one UPDATE ... FROM unnest. Plain libpq calls
 * (PQexecPrepared) on a connection made as the backend makes its own, with
 * the same session settings (backends/backend_int.h: lc_bench_ops).
 *
 * The scratch table is the lock table's name with "_bench", in the same
 * schema: a logged table like the lock table, so both pay for the same
 * durability. It is created when missing and kept (like pgbench's). */
#include "backends/backend_int.h"
#include "backends/postgres/pg_int.h"
#include "config/redact_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serialises concurrent creations of the scratch table ("lockbenc"). */
#define CREATE_LOCK_KEY "7813015953380879971"

static const char create_sql[] =
    "SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ");"
    " CREATE TABLE IF NOT EXISTS {B} (name text PRIMARY KEY, token text, expires_at timestamptz)";

static const char acquire_sql[] =
    "INSERT INTO {B} AS b (name, token, expires_at)"
    " VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')"
    " ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at"
    " WHERE b.token IS NULL OR b.expires_at < now()";

static const char release_sql[] = "UPDATE {B} SET token = NULL, expires_at = NULL"
                                  " WHERE name = $1 AND token = $2 AND expires_at >= now()";

/* Liveness is checked in the SET, not the WHERE, for the reason the lock
 * table's renew_many does (postgres/schema.c): a WHERE on it lets stale
 * statistics pick a plan that rescans the arrays for each live row, and a
 * tick of 1,000 leases took 140 ms. Answers the number renewed. */
static const char renew_sql[] =
    "WITH u AS ("
    "  UPDATE {B} AS b SET expires_at = CASE WHEN b.expires_at >= now()"
    "   THEN now() + $3::bigint * interval '1 millisecond' ELSE b.expires_at END"
    "  FROM unnest($1::text[], $2::text[]) AS u(name, token)"
    "  WHERE b.name = u.name AND b.token = u.token"
    "  RETURNING b.expires_at >= now() AS live)"
    " SELECT count(*) FILTER (WHERE live) FROM u";

enum {
    ST_ACQUIRE,
    ST_RELEASE,
    ST_RENEW,
    ST_COUNT
};

static const char *const stmt_names[ST_COUNT] = {
    "lockcoord_bench_acquire",
    "lockcoord_bench_release",
    "lockcoord_bench_renew",
};

typedef struct pbench {
    pg_state *s; /* the backend's state: its connection is ours */
    char *qtable;
} pbench;

/* libpq's message on one line, with any secret of the conninfo hidden. */
static lc_status pg_fail(pbench *b, const char *what, const char *msg, lc_error *err)
{
    char line[200];
    size_t o = 0;
    for (const char *p = msg ? msg : ""; *p && o + 1 < sizeof(line); p++)
        line[o++] = (*p == '\n' || *p == '\t') ? ' ' : *p;
    while (o > 0 && line[o - 1] == ' ')
        o--;
    line[o] = '\0';
    lc__redact_msg(line, sizeof(line), b->s->cfg->postgres.conninfo);
    return lc__err(err, LC_ERR_UNAVAILABLE, 0, "%s: reference %s: %s", b->s->where, what, line);
}

/* The template with {B} replaced by the quoted scratch table. */
static char *sql_of(const pbench *b, const char *tmpl)
{
    const char *at = strstr(tmpl, "{B}");
    size_t head = (size_t)(at - tmpl), q = strlen(b->qtable), tail = strlen(at + 3);
    char *sql = malloc(head + q + tail + 1);
    if (sql == NULL)
        return NULL;
    memcpy(sql, tmpl, head);
    memcpy(sql + head, b->qtable, q);
    memcpy(sql + head + q, at + 3, tail + 1);
    return sql;
}

/* "schema"."table_bench", quoted for the connection's encoding. */
static lc_status quote_table(pbench *b, lc_error *err)
{
    const lc_config *cfg = b->s->cfg;
    char name[LC_PG_IDENT_MAX + 1];
    snprintf(name, sizeof(name), "%s_bench", cfg->postgres.table);
    char *qs = PQescapeIdentifier(b->s->conn, cfg->postgres.schema, strlen(cfg->postgres.schema));
    char *qt = PQescapeIdentifier(b->s->conn, name, strlen(name));
    size_t size = (qs ? strlen(qs) : 0) + (qt ? strlen(qt) : 0) + 2;
    if (qs && qt && (b->qtable = malloc(size)) != NULL)
        snprintf(b->qtable, size, "%s.%s", qs, qt);
    PQfreemem(qs);
    PQfreemem(qt);
    return b->qtable ? LC_OK : lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
}

/* Runs a template once (simple protocol; several statements run as one
 * transaction) or prepares it as `stmt`. */
static lc_status setup_sql(pbench *b, const char *what, const char *tmpl, const char *stmt,
                           lc_error *err)
{
    char *sql = sql_of(b, tmpl);
    if (sql == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    PGresult *r = stmt ? PQprepare(b->s->conn, stmt, sql, 0, NULL) : PQexec(b->s->conn, sql);
    free(sql);
    lc_status rc = LC_OK;
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(b, what, r ? PQresultErrorMessage(r) : PQerrorMessage(b->s->conn), err);
    PQclear(r);
    return rc;
}

static lc_status prepare_all(pbench *b, lc_error *err)
{
    const char *tmpl[ST_COUNT] = {acquire_sql, release_sql, renew_sql};
    lc_status rc = lc__pg_ready(b->s, err);
    if (rc == LC_OK)
        rc = quote_table(b, err);
    if (rc == LC_OK)
        rc = setup_sql(b, "create table", create_sql, NULL, err);
    for (int i = 0; rc == LC_OK && i < ST_COUNT; i++)
        rc = setup_sql(b, "prepare", tmpl[i], stmt_names[i], err);
    return rc;
}

static void pb_close(void *state)
{
    pbench *b = state;
    if (b == NULL)
        return;
    if (b->s)
        lc__backend_postgres.close(b->s);
    free(b->qtable);
    free(b);
}

static lc_status pb_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                         lc_error *err)
{
    pbench *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    void *s = NULL;
    lc_status rc = lc__backend_postgres.open(cfg, env, &s, err);
    if (rc != LC_OK) {
        free(b);
        return rc;
    }
    b->s = s;
    if ((rc = prepare_all(b, err)) != LC_OK) {
        pb_close(b);
        return rc;
    }
    *state = b;
    return LC_OK;
}

/* One prepared statement; *rows is how many rows it changed. The
 * connection is never made again here: the caller opens another
 * reference. */
static lc_status exec(pbench *b, int st, const char *what, int n, const char *const *params,
                      int *rows, lc_error *err)
{
    PGconn *conn = b->s->conn;
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "%s: reference %s: connection lost", b->s->where,
                       what);
    PGresult *r = PQexecPrepared(conn, stmt_names[st], n, params, NULL, NULL, 0);
    lc_status rc = LC_OK;
    ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK && PQntuples(r) == 1) /* a count */
        *rows = atoi(PQgetvalue(r, 0, 0));
    else if (status == PGRES_COMMAND_OK)
        *rows = atoi(PQcmdTuples(r));
    else
        rc = pg_fail(b, what, r ? PQresultErrorMessage(r) : PQerrorMessage(conn), err);
    PQclear(r);
    return rc;
}

static lc_status pb_acquire(void *state, const char *name, const char *token, int64_t ttl_ms,
                            lc_error *err)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)ttl_ms);
    const char *params[] = {name, token, ms};
    int rows = 0;
    lc_status rc = exec(state, ST_ACQUIRE, "acquire", 3, params, &rows, err);
    if (rc == LC_OK && rows != 1)
        rc = lc__err(err, LC_ERR_CONFLICT, 0, "reference lock '%s' is held", name);
    return rc;
}

static lc_status pb_release(void *state, const char *name, const char *token, lc_error *err)
{
    const char *params[] = {name, token};
    int rows = 0;
    lc_status rc = exec(state, ST_RELEASE, "release", 2, params, &rows, err);
    if (rc == LC_OK && rows != 1)
        rc = lc__err_not_yours(err, name);
    return rc;
}

/* A text[] literal of n strings that need no escaping (lock names and
 * tokens: the core checked them), each quoted so that "null" stays a
 * name. */
static char *array_of(const char *const *v, size_t n)
{
    size_t size = 3;
    for (size_t i = 0; i < n; i++)
        size += strlen(v[i]) + 3;
    char *out = malloc(size);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (i > 0)
            out[o++] = ',';
        out[o++] = '"';
        memcpy(out + o, v[i], len);
        o += len;
        out[o++] = '"';
    }
    out[o++] = '}';
    out[o] = '\0';
    return out;
}

static lc_status pb_renew_many(void *state, const char *const *names, const char *const *tokens,
                               size_t n, int64_t ttl_ms, size_t *renewed, lc_error *err)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)ttl_ms);
    char *an = array_of(names, n), *at = array_of(tokens, n);
    lc_status rc;
    int rows = 0;
    if (an == NULL || at == NULL) {
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    } else {
        const char *params[] = {an, at, ms};
        rc = exec(state, ST_RENEW, "renew", 3, params, &rows, err);
    }
    if (rc == LC_OK)
        *renewed = rows > 0 ? (size_t)rows : 0;
    free(an);
    free(at);
    return rc;
}

const lc_bench_ops lc__bench_postgres = {
    .floor = "prepared upsert into a scratch table; prepared token-checked UPDATE; renewal: one "
             "UPDATE ... FROM unnest",
    .open = pb_open,
    .close = pb_close,
    .acquire = pb_acquire,
    .release = pb_release,
    .renew_many = pb_renew_many,
};
