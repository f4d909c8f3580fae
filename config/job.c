/* config/job.c -- the jobs list: exec and http jobs, their defaults from
 * the lock section, and the rules between jobs. */
#include "config/config_int.h"
#include "core/timing_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int default_status[] = {200, 201, 202, 204};

static lc_status set_name(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_job *job = base;
    free(job->name);
    job->name = NULL;
    return lc__cfg_name(cx, val, path, &job->name);
}

static lc_status set_lock(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_job *job = base;
    free(job->lock);
    job->lock = NULL;
    return lc__cfg_name(cx, val, path, &job->lock);
}

static lc_status set_exec(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_job *job = base;
    if (val->kind != LC__YSEQ || val->n == 0)
        return lc__cfg_expected(cx, val, path, "a non-empty list of strings like [\"./sync.sh\"]");
    job->exec = calloc(val->n + 1, sizeof(char *));
    if (job->exec == NULL)
        return lc__cfg_nomem(cx);
    for (size_t i = 0; i < val->n; i++) {
        char sub[128];
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        lc_status rc = lc__cfg_string(cx, val->kids[i], sub, &job->exec[i]);
        if (rc != LC_OK)
            return rc;
        job->exec_argc = i + 1;
    }
    return LC_OK;
}

static lc_status set_method(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                            const char *path)
{
    lc_http_job *h = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    int ok = *s != '\0';
    for (char *p = s; *p; p++) {
        ok = ok && isalpha((unsigned char)*p);
        *p = (char)toupper((unsigned char)*p);
    }
    if (!ok) {
        free(s);
        return lc__cfg_expected(cx, val, path, "an HTTP method like POST");
    }
    free(h->method);
    h->method = s;
    return LC_OK;
}

/* Header names are HTTP tokens and values one line: a CR or LF would let
 * a value (say from an environment variable) inject more headers. */
static lc_status add_header(const lc__cfgctx *cx, lc_http_job *h, const lc__ynode *key,
                            const lc__ynode *val, const char *path)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s.%.60s", path, key->text);
    if (key->text[0] == '\0' || strpbrk(key->text, " \t\r\n:") != NULL)
        return lc__cfg_fail(cx, key->line, key->col, "%s: invalid header name", sub);
    lc_header *hd = &h->headers[h->n_headers];
    hd->name = strdup(key->text);
    if (hd->name == NULL)
        return lc__cfg_nomem(cx);
    h->n_headers++;
    lc_status rc = lc__cfg_string(cx, val, sub, &hd->value);
    if (rc == LC_OK && strpbrk(hd->value, "\r\n") != NULL)
        return lc__cfg_fail(cx, val->line, val->col, "%s: a header value must be one line", sub);
    return rc;
}

static lc_status set_headers(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                             const char *path)
{
    lc_http_job *h = base;
    if (val->kind != LC__YMAP)
        return lc__cfg_expected(cx, val, path, "a mapping of header names to values");
    h->headers = calloc(val->n / 2 + 1, sizeof(lc_header));
    if (h->headers == NULL)
        return lc__cfg_nomem(cx);
    for (size_t i = 0; i + 1 < val->n; i += 2) {
        lc_status rc = add_header(cx, h, val->kids[i], val->kids[i + 1], path);
        if (rc != LC_OK)
            return rc;
    }
    return LC_OK;
}

/* A single status or a list of them, each 100..599. */
static lc_status set_status(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                            const char *path)
{
    lc_http_job *h = base;
    const lc__ynode *const *items = &val;
    size_t n = 1;
    if (val->kind == LC__YSEQ) {
        items = (const lc__ynode *const *)val->kids;
        n = val->n;
    }
    if (n == 0 || val->kind == LC__YMAP)
        return lc__cfg_expected(cx, val, path, "an HTTP status or a list like [200, 204]");
    int *codes = calloc(n, sizeof(int));
    if (codes == NULL)
        return lc__cfg_nomem(cx);
    for (size_t i = 0; i < n; i++) {
        long long v;
        lc_status rc = lc__cfg_int(cx, items[i], path, 100, 599, &v);
        if (rc != LC_OK) {
            free(codes);
            return rc;
        }
        codes[i] = (int)v;
    }
    free(h->expect_status);
    h->expect_status = codes;
    h->n_expect_status = n;
    return LC_OK;
}

#define HTTP(m) offsetof(lc_http_job, m)

static const lc__field http_fields[] = {
    {"url", LC__F_NONEMPTY, HTTP(url), 0, NULL, NULL},
    {"method", LC__F_FN, 0, 0, NULL, set_method},
    {"headers", LC__F_FN, 0, 0, NULL, set_headers},
    {"body", LC__F_STR, HTTP(body), 0, NULL, NULL},
    {"expect_status", LC__F_FN, 0, 0, NULL, set_status},
    {"checkpoint_from", LC__F_STR, HTTP(checkpoint_from), 0, NULL, NULL},
};
static const lc__schema http_schema = LC__FIELDS(http_fields);

static lc_status set_http(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_job *job = base;
    if (val->kind != LC__YMAP)
        return lc__cfg_expected(cx, val, path, "a mapping");
    lc_http_job *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return lc__cfg_nomem(cx);
    job->http = h;
    h->method = strdup("POST");
    h->expect_status = malloc(sizeof(default_status));
    if (h->method == NULL || h->expect_status == NULL)
        return lc__cfg_nomem(cx);
    memcpy(h->expect_status, default_status, sizeof(default_status));
    h->n_expect_status = sizeof(default_status) / sizeof(default_status[0]);
    return lc__cfg_walk(cx, val, &http_schema, h, path);
}

#define JOB(m) offsetof(lc_job, m)

static const lc__field job_fields[] = {
    {"name", LC__F_FN, 0, 0, NULL, set_name},
    {"lock", LC__F_FN, 0, 0, NULL, set_lock},
    {"timeout", LC__F_DUR, JOB(timeout_ms), 0, NULL, NULL},
    {"every", LC__F_DUR, JOB(every_ms), 0, NULL, NULL},
    {"ttl", LC__F_DUR, JOB(ttl_ms), LC_TTL_MIN_MS, NULL, NULL},
    {"renew_every", LC__F_DUR, JOB(renew_every_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"exec", LC__F_FN, 0, 0, NULL, set_exec},
    {"http", LC__F_FN, 0, 0, NULL, set_http},
};
static const lc__schema job_schema = LC__FIELDS(job_fields);

/* What a job needs besides well-formed values: a name, exactly one of
 * exec and http, and an http url. */
static lc_status check_job(const lc__cfgctx *cx, const lc__ynode *map, lc_job *job,
                           const char *path)
{
    const lc__ynode *kexec = NULL, *khttp = NULL;
    if (job->name == NULL)
        return lc__cfg_fail(cx, map->line, map->col, "%s: missing required key 'name'", path);
    lc__ymap_get(map, "exec", &kexec);
    lc__ymap_get(map, "http", &khttp);
    if (job->exec && job->http) {
        const lc__ynode *at = kexec->line > khttp->line ? kexec : khttp;
        return lc__cfg_fail(cx, at->line, at->col,
                            "%s: job '%s' has both exec and http; give exactly one", path,
                            job->name);
    }
    if (job->exec == NULL && job->http == NULL)
        return lc__cfg_fail(cx, map->line, map->col,
                            "%s: job '%s' needs exec or http (exactly one)", path, job->name);
    if (job->http && job->http->url == NULL)
        return lc__cfg_fail(cx, khttp->line, khttp->col, "%s.http: missing required key 'url'",
                            path);
    if (job->http && strncmp(job->http->url, "http://", 7) != 0 &&
        strncmp(job->http->url, "https://", 8) != 0) {
        const lc__ynode *v = lc__ymap_get(lc__ymap_get(map, "http", NULL), "url", NULL);
        return lc__cfg_fail(cx, v->line, v->col, "%s.http.url: expected an http:// or https:// URL",
                            path);
    }
    if (job->lock == NULL && (job->lock = strdup(job->name)) == NULL)
        return lc__cfg_nomem(cx);
    return LC_OK;
}

lc_status lc__cfg_jobs(const lc__cfgctx *cx, const lc__ynode *seq, lc_config *cfg)
{
    if (seq->kind != LC__YSEQ)
        return lc__cfg_expected(cx, seq, "jobs", "a list of jobs");
    if (seq->n == 0)
        return LC_OK;
    cfg->jobs = calloc(seq->n, sizeof(lc_job));
    if (cfg->jobs == NULL)
        return lc__cfg_nomem(cx);
    cfg->n_jobs = seq->n;
    for (size_t i = 0; i < seq->n; i++) {
        const lc__ynode *map = seq->kids[i];
        lc_job *job = &cfg->jobs[i];
        char path[32];
        snprintf(path, sizeof(path), "jobs[%zu]", i);
        if (map->kind != LC__YMAP)
            return lc__cfg_expected(cx, map, path, "a mapping");
        job->ttl_ms = job->renew_every_ms = -1; /* "not given", resolved at finish */
        job->line = map->line;
        job->col = map->col;
        lc_status rc = lc__cfg_walk(cx, map, &job_schema, job, path);
        if (rc == LC_OK)
            rc = check_job(cx, map, job, path);
        if (rc != LC_OK)
            return rc;
    }
    return LC_OK;
}

/* Jobs take ttl and renew_every from the lock section; a job's own ttl
 * brings its own renew_every default (ttl/3). */
static lc_status job_timing(const lc__cfgctx *cx, const lc__ynode *map, lc_job *job,
                            const lc_config *cfg, const char *path)
{
    if (job->ttl_ms < 0 && job->renew_every_ms < 0)
        job->renew_every_ms = cfg->lock.renew_every_ms;
    if (job->ttl_ms < 0)
        job->ttl_ms = cfg->lock.ttl_ms;
    if (job->renew_every_ms < 0)
        job->renew_every_ms = lc__timing_renew_default(job->ttl_ms);
    return lc__cfg_check_renew(cx, map, path, job->ttl_ms, job->renew_every_ms);
}

typedef struct name_ref {
    const char *name;
    size_t job;
} name_ref;

static int name_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->job > y->job) - (x->job < y->job);
}

/* Job names are unique. Sorted, not compared pairwise: a file with many
 * jobs is refused in O(n log n). Of all repeated names the one reported is
 * the earliest repetition, with the line of its first use. */
static lc_status unique_names(const lc__cfgctx *cx, const lc__ynode *seq, const lc_config *cfg)
{
    size_t n = cfg->n_jobs;
    if (n < 2)
        return LC_OK;
    name_ref *refs = malloc(n * sizeof(*refs));
    if (refs == NULL)
        return lc__cfg_nomem(cx);
    for (size_t i = 0; i < n; i++)
        refs[i] = (name_ref){cfg->jobs[i].name, i};
    qsort(refs, n, sizeof(*refs), name_cmp);
    size_t dup = n, first = n, group = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(refs[i - 1].name, refs[i].name) != 0) {
            group = i;
            continue;
        }
        if (i - 1 == group && (dup == n || refs[i].job < dup)) {
            dup = refs[i].job;
            first = refs[group].job;
        }
    }
    free(refs);
    if (dup == n)
        return LC_OK;
    const lc__ynode *k1 = lc__ymap_get(seq->kids[first], "name", NULL);
    const lc__ynode *k2 = lc__ymap_get(seq->kids[dup], "name", NULL);
    return lc__cfg_fail(cx, k2->line, k2->col,
                        "jobs[%zu].name: duplicate job name '%s' (first at line %d)", dup,
                        cfg->jobs[dup].name, k1->line);
}

lc_status lc__cfg_jobs_finish(const lc__cfgctx *cx, const lc__ynode *seq, lc_config *cfg)
{
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        char path[32];
        snprintf(path, sizeof(path), "jobs[%zu]", i);
        lc_status rc = job_timing(cx, seq->kids[i], &cfg->jobs[i], cfg, path);
        if (rc != LC_OK)
            return rc;
    }
    return unique_names(cx, seq, cfg);
}
