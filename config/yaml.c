/* config/yaml.c -- the YAML file into one validated lc_config.
 *
 * Position rules (README.md, "Configuration" > "Errors"): an error about a value points at the
 * value; about a key (unknown, duplicate) at the key; a rule between keys
 * (renew_every against ttl, retry_min against retry_max, exec with http)
 * at the key that breaks it; something missing at the key of the section
 * that lacks it (or the start of the job, or 1:1 for the whole file). */
#include "config/config_int.h"
#include "core/timing_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1 << 20) /* a config file is small; this bounds the read */

static lc_status set_backend(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                             const char *path)
{
    lc_config *cfg = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    if (strcmp(s, "redis") != 0 && strcmp(s, "postgres") != 0) {
        char got[64];
        lc__strlcpy(got, s, sizeof(got));
        free(s);
        return lc__cfg_fail(
            cx, val->line, val->col, "%s: expected redis or postgres, got '%s'%s", path, got,
            strcmp(got, "memory") == 0 ? " (the memory backend is for embedders only)" : "");
    }
    free(cfg->backend);
    cfg->backend = s;
    return LC_OK;
}

/* A label for humans, shown by status on other machines: one line of
 * valid UTF-8 ("" means the default, hostname:pid). */
static lc_status set_owner(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_config *cfg = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    lc_error terr;
    if (lc_text_check(s, strlen(s), &terr) != LC_OK) {
        free(s);
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, terr.message);
    }
    if (*s == '\0') {
        free(s);
        s = NULL;
    }
    free(cfg->owner);
    cfg->owner = s;
    return LC_OK;
}

/* One word of a fixed set: its index in *out. */
static lc_status set_choice(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                            const char *const *words, size_t n, const char *list, int *out)
{
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, words[i]) == 0) {
            free(s);
            *out = (int)i;
            return LC_OK;
        }
    }
    char got[64];
    lc__strlcpy(got, s, sizeof(got));
    free(s);
    return lc__cfg_fail(cx, val->line, val->col, "%s: expected %s, got '%s'", path, list, got);
}

static lc_status set_level(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    static const char *const words[] = {"error", "warn", "info", "debug"};
    int i = 0; /* set on LC_OK; gcc -O2 cannot see that */
    lc_status rc = set_choice(cx, val, path, words, 4, "error, warn, info or debug", &i);
    if (rc == LC_OK)
        ((lc_config *)base)->log.level = (lc_log_level)i;
    return rc;
}

static lc_status set_format(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                            const char *path)
{
    static const char *const words[] = {"text", "json"};
    int i = 0; /* set on LC_OK; gcc -O2 cannot see that */
    lc_status rc = set_choice(cx, val, path, words, 2, "text or json", &i);
    if (rc == LC_OK)
        ((lc_config *)base)->log.json = i;
    return rc;
}

/* redis.quorum: a list of URLs (checked with the other rules of the
 * section, limits.c). */
static lc_status set_quorum(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                            const char *path)
{
    lc_config *cfg = base;
    if (val->kind != LC__YSEQ)
        return lc__cfg_expected(cx, val, path, "a list of redis:// URLs");
    char **urls = calloc(val->n + 1, sizeof(char *));
    if (urls == NULL)
        return lc__cfg_nomem(cx);
    lc_status rc = LC_OK;
    for (size_t i = 0; rc == LC_OK && i < val->n; i++) {
        char sub[64];
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        rc = lc__cfg_string(cx, val->kids[i], sub, &urls[i]);
    }
    for (size_t j = 0; cfg->redis.quorum && j < cfg->redis.n_quorum; j++)
        lc__cfg_wipe(cfg->redis.quorum[j]);
    free(cfg->redis.quorum);
    cfg->redis.quorum = urls;
    cfg->redis.n_quorum = val->n; /* NULL where not read: freeing skips them */
    return rc;
}

static lc_status set_jobs(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    (void)path;
    return lc__cfg_jobs(cx, val, base);
}

#define CFG(m) offsetof(lc_config, m)

static const lc__field redis_fields[] = {
    {"url", LC__F_NONEMPTY, CFG(redis.url), 0, NULL, NULL},
    {"connect_timeout", LC__F_DUR, CFG(redis.connect_timeout_ms), 1, NULL, NULL},
    {"command_timeout", LC__F_DUR, CFG(redis.command_timeout_ms), 1, NULL, NULL},
    {"key_prefix", LC__F_NONEMPTY, CFG(redis.key_prefix), 0, NULL, NULL},
    {"min_replicas_ack", LC__F_INT, CFG(redis.min_replicas_ack), 0, NULL, NULL},
    {"cluster", LC__F_BOOL, CFG(redis.cluster), 0, NULL, NULL},
    {"quorum", LC__F_FN, 0, 0, NULL, set_quorum},
};
static const lc__schema redis_schema = LC__FIELDS(redis_fields);

static const lc__field postgres_fields[] = {
    {"conninfo", LC__F_NONEMPTY, CFG(postgres.conninfo), 0, NULL, NULL},
    {"schema", LC__F_NONEMPTY, CFG(postgres.schema), 0, NULL, NULL},
    {"table", LC__F_NONEMPTY, CFG(postgres.table), 0, NULL, NULL},
    {"auto_migrate", LC__F_BOOL, CFG(postgres.auto_migrate), 0, NULL, NULL},
    {"statement_timeout", LC__F_DUR, CFG(postgres.statement_timeout_ms), 1, NULL, NULL},
    {"connect_timeout", LC__F_DUR, CFG(postgres.connect_timeout_ms), 1, NULL, NULL},
    {"warn_async_replication", LC__F_BOOL, CFG(postgres.warn_async_replication), 0, NULL, NULL},
};
static const lc__schema postgres_schema = LC__FIELDS(postgres_fields);

static const lc__field lock_fields[] = {
    {"ttl", LC__F_DUR, CFG(lock.ttl_ms), LC_TTL_MIN_MS, NULL, NULL},
    {"renew_every", LC__F_DUR, CFG(lock.renew_every_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"wait", LC__F_DUR, CFG(lock.wait_ms), 0, NULL, NULL},
    {"retry_min", LC__F_DUR, CFG(lock.retry_min_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"retry_max", LC__F_DUR, CFG(lock.retry_max_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"history", LC__F_INT, CFG(lock.history), 1, NULL, NULL},
};
static const lc__schema lock_schema = LC__FIELDS(lock_fields);

static const lc__field log_fields[] = {
    {"level", LC__F_FN, 0, 0, NULL, set_level},
    {"format", LC__F_FN, 0, 0, NULL, set_format},
};
static const lc__schema log_schema = LC__FIELDS(log_fields);

static const lc__field root_fields[] = {
    {"backend", LC__F_FN, 0, 0, NULL, set_backend},
    {"owner", LC__F_FN, 0, 0, NULL, set_owner},
    {"redis", LC__F_MAP, 0, 0, &redis_schema, NULL},
    {"postgres", LC__F_MAP, 0, 0, &postgres_schema, NULL},
    {"lock", LC__F_MAP, 0, 0, &lock_schema, NULL},
    {"sync", LC__F_MAP, 0, 0, &lc__cfg_sync_schema, NULL},
    {"jobs", LC__F_FN, 0, 0, NULL, set_jobs},
    {"log", LC__F_MAP, 0, 0, &log_schema, NULL},
};
static const lc__schema root_schema = LC__FIELDS(root_fields);

/* renew_every defaults to ttl/3 unless given; then the two must fit. */
static lc_status check_lock(const lc__cfgctx *cx, const lc__ynode *root, lc_config *cfg)
{
    const lc__ynode *lock = lc__ymap_get(root, "lock", NULL), *kmin = NULL, *kmax = NULL;
    if (lc__ymap_get(lock, "renew_every", NULL) == NULL)
        cfg->lock.renew_every_ms = lc__timing_renew_default(cfg->lock.ttl_ms);
    lc_status rc =
        lc__cfg_check_renew(cx, lock, "lock", cfg->lock.ttl_ms, cfg->lock.renew_every_ms);
    if (rc != LC_OK || cfg->lock.retry_min_ms <= cfg->lock.retry_max_ms)
        return rc;
    lc__ymap_get(lock, "retry_min", &kmin);
    lc__ymap_get(lock, "retry_max", &kmax);
    const lc__ynode *at = kmin ? kmin : kmax;
    char a[32], b[32];
    return lc__cfg_fail(cx, at->line, at->col,
                        "lock.retry_min (%s) must not be greater than lock.retry_max (%s)",
                        lc_duration_format(cfg->lock.retry_min_ms, a, sizeof(a)),
                        lc_duration_format(cfg->lock.retry_max_ms, b, sizeof(b)));
}

/* The chosen backend needs its section and its address. */
static lc_status check_backend(const lc__cfgctx *cx, const lc__ynode *root, lc_config *cfg)
{
    const lc__ynode *kb = NULL, *ks = NULL;
    if (lc__ymap_get(root, "backend", &kb) == NULL || cfg->backend == NULL)
        return lc__cfg_fail(cx, kb ? kb->line : root->line, kb ? kb->col : root->col,
                            "missing required key 'backend' (redis or postgres)");
    int redis = strcmp(cfg->backend, "redis") == 0;
    const char *section = redis ? "redis" : "postgres", *need = redis ? "url" : "conninfo";
    const char *have = redis ? cfg->redis.url : cfg->postgres.conninfo;
    if (redis && cfg->redis.n_quorum > 0)
        have = "quorum";
    if (lc__ymap_get(root, section, &ks) == NULL)
        return lc__cfg_fail(cx, kb->line, kb->col,
                            "backend is %s but the %s section is missing (it needs %s.%s)", section,
                            section, section, need);
    if (have == NULL)
        return lc__cfg_fail(cx, ks->line, ks->col, "%s: missing required key '%s'%s", section, need,
                            redis ? " (or 'quorum')" : "");
    return LC_OK;
}

static lc_status fill(const lc__cfgctx *cx, const lc__ynode *root, lc_config *cfg)
{
    if (root == NULL)
        return lc__cfg_fail(cx, 1, 1, "empty config: expected a mapping with at least 'backend'");
    lc_status rc = lc__cfg_walk(cx, root, &root_schema, cfg, "");
    if (rc == LC_OK)
        rc = check_backend(cx, root, cfg);
    if (rc == LC_OK)
        rc = lc__cfg_check_backends(cx, root, cfg);
    if (rc == LC_OK)
        rc = check_lock(cx, root, cfg);
    if (rc == LC_OK)
        rc = lc__cfg_jobs_finish(cx, lc__ymap_get(root, "jobs", NULL), cfg);
    return rc;
}

lc_status lc_config_parse(const char *text, size_t len, const char *name, lc_config **out,
                          lc_error *err)
{
    lc__cfgctx cx = {name ? name : "<config>", text ? text : "", text ? len : 0, err};
    lc__ynode *root = NULL;
    lc_status rc = lc__ytree_parse(&cx, &root);
    if (rc != LC_OK)
        return rc;
    lc_config *cfg = lc_config_new(NULL);
    if (cfg == NULL) {
        lc__ynode_free(root);
        return lc__err(err, LC_ERR_NOMEM, 0, "%s: out of memory", cx.file);
    }
    rc = fill(&cx, root, cfg);
    lc__ynode_free(root);
    if (rc != LC_OK) {
        lc_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return LC_OK;
}

/* The whole file into a malloc'd buffer (wiped by the caller: it may hold
 * secrets). */
static lc_status read_file(const char *path, char **text, size_t *len, lc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return lc__err(err, LC_ERR_CONFIG, errno, "%s: %s", path, strerror(errno));
    char *buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return lc__err(err, LC_ERR_NOMEM, 0, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int failed = ferror(f), e = errno;
    fclose(f);
    lc_status rc = LC_OK;
    if (failed)
        rc = lc__err(err, LC_ERR_CONFIG, e, "%s: read: %s", path, strerror(e));
    else if (n > MAX_FILE)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "%s: larger than %d bytes", path, MAX_FILE);
    if (rc != LC_OK) {
        explicit_bzero(buf, n);
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return LC_OK;
}

lc_status lc_config_load(const char *path, lc_config **out, lc_error *err)
{
    char *text = NULL;
    size_t len = 0;
    if (path == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "no config file given");
    lc_status rc = read_file(path, &text, &len, err);
    if (rc != LC_OK)
        return rc;
    lc_config *cfg = NULL;
    rc = lc_config_parse(text, len, path, &cfg, err);
    explicit_bzero(text, len);
    free(text);
    if (rc != LC_OK)
        return rc;
    cfg->path = strdup(path);
    if (cfg->path == NULL) {
        lc_config_free(cfg);
        return lc__err(err, LC_ERR_NOMEM, 0, "%s: out of memory", path);
    }
    *out = cfg;
    return LC_OK;
}
