/* config/limits.c -- the rules of the redis and postgres sections that a
 * backend would otherwise find only when it opens (and report as some
 * other error): checked at load, with the key's position, so that
 * `config check` is the whole truth. The rules themselves live with the
 * backends (the URL parser, libpq's conninfo parser, the length limits);
 * the backends check them again at open for configs built in code.
 *
 * A section is checked whenever it is given, also when the other backend
 * is chosen: a file that says something invalid is invalid. A build
 * without a backend (LC_WITH_REDIS / LC_WITH_POSTGRES off) has no parser
 * for that backend's URL or conninfo: those are then left to the client's
 * open, which refuses the backend by name. So has a machine without
 * libpq, which is loaded on demand and not needed to use Redis. */
#include "backends/limits_int.h"
#include "config/config_int.h"
#ifdef LC_HAVE_POSTGRES
#include "backends/postgres/pg_int.h"
#endif
#ifdef LC_HAVE_REDIS
#include "backends/redis/redis_int.h"
#endif

#include <stdio.h>
#include <strings.h>
#include <string.h>

/* The position of section.key's value, or of the section (a default
 * value that breaks no rule never gets here). */
static const lc__ynode *value_at(const lc__ynode *root, const char *section, const char *key)
{
    const lc__ynode *sec = lc__ymap_get(root, section, NULL);
    const lc__ynode *v = lc__ymap_get(sec, key, NULL);
    return v ? v : sec ? sec : root;
}

#if defined(LC_HAVE_REDIS) || defined(LC_HAVE_POSTGRES)
/* A backend's message ("redis.url: ...") at the value's position. */
static lc_status fail_with(const lc__cfgctx *cx, const lc__ynode *at, const lc_error *e)
{
    if (e->code == LC_ERR_NOMEM)
        return lc__cfg_nomem(cx);
    return lc__cfg_fail(cx, at->line, at->col, "%s", e->message);
}
#endif

static lc_status too_long(const lc__cfgctx *cx, const lc__ynode *root, const char *section,
                          const char *key, size_t max, const char *why)
{
    const lc__ynode *at = value_at(root, section, key);
    return lc__cfg_fail(cx, at->line, at->col, "%s.%s: longer than %zu bytes%s", section, key, max,
                        why);
}

/* One redis:// or unix:// URL, as the Redis backend will parse it;
 * *unix_socket and *db say what it names. */
static lc_status check_redis_url(const lc__cfgctx *cx, const lc__ynode *at, const char *key,
                                 const char *u, int *unix_socket, int *db, char *label,
                                 size_t label_size)
{
    if (label_size > 0)
        label[0] = '\0';
    /* No rediss://: hiredis 0.14 has no TLS. */
    static const char *const schemes[] = {"redis://", "unix://"};
    int known = 0;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        known |= strncmp(u, schemes[i], strlen(schemes[i])) == 0;
    if (!known)
        return lc__cfg_fail(cx, at->line, at->col,
                            "%s: expected a redis:// or unix:// URL (TLS is not supported)", key);
    *unix_socket = strncmp(u, "unix://", 7) == 0;
    *db = 0;
#ifdef LC_HAVE_REDIS
    lc__redis_addr addr;
    lc_error e;
    if (lc__redis_url_parse(u, &addr, &e) != LC_OK) {
        /* The parser names redis.url; a quorum's URL is named by its place. */
        if (e.code != LC_ERR_NOMEM && strncmp(e.message, "redis.url:", 10) == 0)
            return lc__cfg_fail(cx, at->line, at->col, "%s:%s", key, e.message + 10);
        return fail_with(cx, at, &e);
    }
    *db = addr.db;
    if (label_size > 0)
        snprintf(label, label_size, "%s", addr.label);
    lc__redis_addr_free(&addr);
#endif
    return LC_OK;
}

/* redis.quorum: an odd number (at least 3) of masters, instead of url
 * and not with cluster. Each URL is checked like redis.url. */
static lc_status check_quorum(const lc__cfgctx *cx, const lc__ynode *root, const lc_config *cfg)
{
    const lc__ynode *sec = lc__ymap_get(root, "redis", NULL), *key = NULL;
    const lc__ynode *seq = lc__ymap_get(sec, "quorum", &key);
    const lc__ynode *at = key ? key : value_at(root, "redis", "quorum");
    size_t n = cfg->redis.n_quorum;
    char label[LC__QUORUM_MAX][300];
    if (cfg->redis.url != NULL)
        return lc__cfg_fail(cx, at->line, at->col,
                            "redis.quorum: give either redis.url or redis.quorum, not both");
    if (cfg->redis.cluster)
        return lc__cfg_fail(cx, at->line, at->col,
                            "redis.quorum: not with redis.cluster (quorum mode is for "
                            "independent masters)");
    if (n < 3 || n % 2 == 0)
        return lc__cfg_fail(cx, at->line, at->col,
                            "redis.quorum: an odd number of at least 3 URLs is needed (got %zu), "
                            "so that a majority is well defined",
                            n);
    if (n > LC__QUORUM_MAX)
        return lc__cfg_fail(cx, at->line, at->col, "redis.quorum: at most %d URLs (got %zu)",
                            LC__QUORUM_MAX, n);
    for (size_t i = 0; i < n; i++) {
        const lc__ynode *item = seq && seq->kind == LC__YSEQ && i < seq->n ? seq->kids[i] : at;
        char path[32];
        snprintf(path, sizeof(path), "redis.quorum[%zu]", i);
        int unix_socket, db;
        lc_status rc = check_redis_url(cx, item, path, cfg->redis.quorum[i], &unix_socket, &db,
                                       label[i], sizeof(label[i]));
        if (rc != LC_OK)
            return rc;
        /* The same server twice would count its one lease twice toward
         * the majority (any db of it: they share the process). */
        for (size_t j = 0; j < i && label[i][0]; j++)
            if (strcasecmp(label[i], label[j]) == 0)
                return lc__cfg_fail(cx, item->line, item->col,
                                    "%s: the same server as redis.quorum[%zu] (%s): each master "
                                    "must be an independent server",
                                    path, j, label[i]);
    }
    return LC_OK;
}

static lc_status check_redis(const lc__cfgctx *cx, const lc__ynode *root, const lc_config *cfg)
{
    const char *u = cfg->redis.url;
    if (cfg->redis.n_quorum > 0) {
        lc_status rc = check_quorum(cx, root, cfg);
        if (rc != LC_OK)
            return rc;
    }
    if (u != NULL) {
        const lc__ynode *at = value_at(root, "redis", "url");
        int unix_socket, db;
        lc_status rc = check_redis_url(cx, at, "redis.url", u, &unix_socket, &db, NULL, 0);
        if (rc != LC_OK)
            return rc;
        /* A cluster's nodes are found by address and only have database 0. */
        if (cfg->redis.cluster && unix_socket)
            return lc__cfg_fail(cx, at->line, at->col,
                                "redis.url: with redis.cluster, a redis:// URL of one node is "
                                "needed (cluster nodes are reached over TCP)");
        if (cfg->redis.cluster && db != 0)
            return lc__cfg_fail(cx, at->line, at->col,
                                "redis.url: with redis.cluster, the database must be 0 (a Redis "
                                "Cluster has no other)");
    }
    if (cfg->redis.key_prefix && strlen(cfg->redis.key_prefix) > LC__PREFIX_MAX)
        return too_long(cx, root, "redis", "key_prefix", LC__PREFIX_MAX, "");
    return LC_OK;
}

static lc_status check_postgres(const lc__cfgctx *cx, const lc__ynode *root, const lc_config *cfg)
{
#ifdef LC_HAVE_POSTGRES
    /* libpq parses the conninfo, and is loaded for it (pq_dl_int.h): a
     * config of the postgres backend always loads it, so that a missing
     * libpq is found here; one of another backend only for a conninfo
     * given, and when libpq cannot be loaded reads it as a build without
     * Postgres does. */
    const char *ci = cfg->postgres.conninfo;
    int chosen = cfg->backend != NULL && strcmp(cfg->backend, "postgres") == 0;
    lc_error e;
    if (chosen && lc__pq_load(&e) != LC_OK) {
        const lc__ynode *at = lc__ymap_get(root, "backend", NULL);
        at = at ? at : root;
        return lc__cfg_fail(cx, at->line, at->col, "backend: %s", e.message);
    }
    if (ci != NULL && lc__pq_load(&e) == LC_OK && lc__pg_check_conninfo(ci, &e) != LC_OK)
        return fail_with(cx, value_at(root, "postgres", "conninfo"), &e);
#endif
    if (cfg->postgres.schema && strlen(cfg->postgres.schema) > LC_PG_IDENT_MAX)
        return too_long(cx, root, "postgres", "schema", LC_PG_IDENT_MAX,
                        " (Postgres cuts longer names)");
    if (cfg->postgres.table && strlen(cfg->postgres.table) > LC_PG_TABLE_MAX)
        return too_long(cx, root, "postgres", "table", LC_PG_TABLE_MAX,
                        " (the version table and the notification channel append a suffix to "
                        "it within Postgres's 63)");
    if (cfg->postgres.statement_timeout_ms > LC_PG_STATEMENT_TIMEOUT_MAX_MS) {
        const lc__ynode *at = value_at(root, "postgres", "statement_timeout");
        return lc__cfg_fail(cx, at->line, at->col,
                            "postgres.statement_timeout: at most %lldms, about 24 days (the "
                            "server's limit)",
                            LC_PG_STATEMENT_TIMEOUT_MAX_MS);
    }
    return LC_OK;
}

lc_status lc__cfg_check_backends(const lc__cfgctx *cx, const lc__ynode *root, const lc_config *cfg)
{
    lc_status rc = check_redis(cx, root, cfg);
    return rc == LC_OK ? check_postgres(cx, root, cfg) : rc;
}
