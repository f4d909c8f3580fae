/* config/job.c -- the jobs list: exec and http jobs, their schedules,
 * their defaults from the lock section, and the rules between jobs; and
 * the sync section (the job engine's own settings). */
#include "config/config_int.h"
#include "core/timing_int.h"
#include "sync/cron_int.h"
#include "sync/curl_dl_int.h"
#include "sync/http_job_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RETRIES_MAX 100

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
    /* The job's runner refuses the headers lockcoord sets itself; so does
     * the loader, so that config check tells. */
    lc_http_job one = {.url = "", .headers = hd, .n_headers = 1};
    lc_error herr;
    if (rc == LC_OK && lc__http_check(&one, &herr) != LC_OK)
        return lc__cfg_fail(cx, key->line, key->col, "%s: %s", sub, herr.message);
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

/* A copy of url with every placeholder the runner fills in replaced by
 * a plain value, so that the URL can be parsed as it will be sent. One
 * pass: the copy is never longer than url. */
static char *plain_url(const char *url)
{
    static const char *const names[] = {"{{checkpoint}}", "{{fence}}", "{{lock}}", "{{slot}}"};
    char *out = malloc(strlen(url) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = url; *p;) {
        size_t n = 0;
        for (size_t i = 0; n == 0 && p[0] == '{' && i < sizeof(names) / sizeof(names[0]); i++)
            if (strncmp(p, names[i], strlen(names[i])) == 0)
                n = strlen(names[i]);
        if (n > 0) {
            *o++ = '0';
            p += n;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Whether url (not empty, placeholders made plain) is an http:// or
 * https:// URL with a host, as libcurl parses it. libcurl is loaded here,
 * so only a config with an http job loads it; a config with one cannot be
 * used without it. Messages never quote the URL: it may hold a password. */
static lc_status check_url(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                           const char *url)
{
    lc_error lerr;
    if (lc__curl_load(&lerr) != LC_OK)
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, lerr.message);
    CURLU *u = lc__curl.url();
    if (u == NULL)
        return lc__cfg_nomem(cx);
    char *scheme = NULL;
    lc_status rc = LC_OK;
    CURLUcode uc = lc__curl.url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = lc__curl.url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (uc != CURLUE_OK)
        rc = lc__cfg_fail(cx, val->line, val->col, "%s: not a valid URL (%s)", path,
                          lc__curl.url_strerror(uc));
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        rc = lc__cfg_fail(cx, val->line, val->col,
                          "%s: expected an http:// or https:// URL, got %.20s://", path, scheme);
    lc__curl.free(scheme);
    lc__curl.url_cleanup(u);
    return rc;
}

static lc_status set_url(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_http_job *h = base;
    char *s, *plain = NULL;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    if (*s == '\0')
        rc = lc__cfg_fail(cx, val->line, val->col, "%s: must not be empty", path);
    else if ((plain = plain_url(s)) == NULL)
        rc = lc__cfg_nomem(cx);
    else
        rc = check_url(cx, val, path, plain);
    lc__cfg_wipe(plain);
    if (rc != LC_OK) {
        lc__cfg_wipe(s);
        return rc;
    }
    lc__cfg_wipe(h->url);
    h->url = s;
    return LC_OK;
}

/* Whether s is names (or array indexes) of letters, digits, '_' and '-',
 * joined by dots. */
static int is_dotted_path(const char *s)
{
    for (;;) {
        size_t n = 0;
        while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-')
            n++;
        if (n == 0 || (s[n] != '\0' && s[n] != '.'))
            return 0;
        if (s[n] == '\0')
            return 1;
        s += n + 1;
    }
}

/* A dotted path into the response's JSON ("data.cursor"); "" means none. */
static lc_status set_checkpoint_from(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                                     const char *path)
{
    lc_http_job *h = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    if (*s != '\0' && !is_dotted_path(s)) {
        char got[64];
        lc__strlcpy(got, s, sizeof(got));
        free(s);
        return lc__cfg_fail(cx, val->line, val->col,
                            "%s: expected a dotted path of names like data.cursor, got '%s'", path,
                            got);
    }
    if (*s == '\0') {
        free(s);
        s = NULL;
    }
    free(h->checkpoint_from);
    h->checkpoint_from = s;
    return LC_OK;
}

/* A CA bundle that exists and can be read now, so a typo is found by
 * config check rather than by the first TLS handshake. "" means none (the
 * system's CAs), for `ca_file: "${CA_FILE:-}"`. */
static lc_status set_ca_file(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                             const char *path)
{
    lc_http_job *h = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    if (*s == '\0') {
        free(s);
        free(h->ca_file);
        h->ca_file = NULL;
        return LC_OK;
    }
    struct stat st;
    int fd = open(s, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : fstat(fd, &st) != 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (e != 0 || !S_ISREG(st.st_mode)) {
        rc = lc__cfg_fail(cx, val->line, val->col, "%s: %.200s: %s", path, s,
                          e ? strerror(e) : "not a regular file");
        free(s);
        return rc;
    }
    free(h->ca_file);
    h->ca_file = s;
    return LC_OK;
}

#define HTTP(m) offsetof(lc_http_job, m)

static const lc__field http_fields[] = {
    {"url", LC__F_FN, 0, 0, NULL, set_url},
    {"method", LC__F_FN, 0, 0, NULL, set_method},
    {"headers", LC__F_FN, 0, 0, NULL, set_headers},
    {"body", LC__F_STR, HTTP(body), 0, NULL, NULL},
    {"expect_status", LC__F_FN, 0, 0, NULL, set_status},
    {"checkpoint_from", LC__F_FN, 0, 0, NULL, set_checkpoint_from},
    {"ca_file", LC__F_FN, 0, 0, NULL, set_ca_file},
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

/* A cron expression, checked now; the text is kept (the engine parses it
 * again). */
static lc_status set_cron(const lc__cfgctx *cx, const lc__ynode *val, void *base, const char *path)
{
    lc_job *job = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    lc__cron c;
    lc_error cerr;
    if (lc__cron_parse(s, &c, &cerr) != LC_OK) {
        free(s);
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, cerr.message);
    }
    free(job->cron);
    job->cron = s;
    return LC_OK;
}

static lc_status set_retries(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                             const char *path)
{
    long long v;
    lc_status rc = lc__cfg_int(cx, val, path, 0, RETRIES_MAX, &v);
    if (rc == LC_OK)
        ((lc_job *)base)->retries = (int)v;
    return rc;
}

#define JOB(m) offsetof(lc_job, m)

static const lc__field job_fields[] = {
    {"name", LC__F_FN, 0, 0, NULL, set_name},
    {"lock", LC__F_FN, 0, 0, NULL, set_lock},
    {"timeout", LC__F_DUR, JOB(timeout_ms), 0, NULL, NULL},
    {"every", LC__F_DUR, JOB(every_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"cron", LC__F_FN, 0, 0, NULL, set_cron},
    {"jitter", LC__F_DUR, JOB(jitter_ms), 0, NULL, NULL},
    {"retries", LC__F_FN, 0, 0, NULL, set_retries},
    {"retry_backoff", LC__F_DUR, JOB(retry_backoff_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"kill_grace", LC__F_DUR, JOB(kill_grace_ms), 0, NULL, NULL},
    {"ttl", LC__F_DUR, JOB(ttl_ms), LC_TTL_MIN_MS, NULL, NULL},
    {"renew_every", LC__F_DUR, JOB(renew_every_ms), LC_PERIOD_MIN_MS, NULL, NULL},
    {"exec", LC__F_FN, 0, 0, NULL, set_exec},
    {"http", LC__F_FN, 0, 0, NULL, set_http},
};
static const lc__schema job_schema = LC__FIELDS(job_fields);

/* Of two keys, the one written later (NULL if either is absent). */
static const lc__ynode *later(const lc__ynode *a, const lc__ynode *b)
{
    if (a == NULL || b == NULL)
        return NULL;
    return a->line > b->line || (a->line == b->line && a->col > b->col) ? a : b;
}

/* Exactly one of exec and http; an http job has a url and nothing to
 * kill. */
static lc_status check_kind(const lc__cfgctx *cx, const lc__ynode *map, const lc_job *job,
                            const char *path)
{
    const lc__ynode *kexec = NULL, *khttp = NULL, *kgrace = NULL;
    lc__ymap_get(map, "exec", &kexec);
    lc__ymap_get(map, "http", &khttp);
    if (job->exec && job->http) {
        const lc__ynode *at = later(kexec, khttp);
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
    if (job->http && lc__ymap_get(map, "kill_grace", &kgrace) != NULL)
        return lc__cfg_fail(cx, kgrace->line, kgrace->col,
                            "%s.kill_grace: job '%s' is an http job: it has no process to kill",
                            path, job->name);
    return LC_OK;
}

/* Exactly one schedule, and a jitter that keeps every run in its slot:
 * shorter than the interval, or than the shortest time between the cron
 * expression's fire times. */
static lc_status check_schedule(const lc__cfgctx *cx, const lc__ynode *map, const lc_job *job,
                                const char *path)
{
    const lc__ynode *kevery = NULL, *kcron = NULL, *kjitter = NULL;
    lc__ymap_get(map, "every", &kevery);
    lc__ymap_get(map, "cron", &kcron);
    if (job->every_ms > 0 && job->cron) {
        const lc__ynode *at = later(kevery, kcron);
        return lc__cfg_fail(cx, at->line, at->col,
                            "%s: job '%s' has both every and cron; give exactly one", path,
                            job->name);
    }
    if (job->every_ms == 0 && job->cron == NULL)
        return lc__cfg_fail(cx, map->line, map->col,
                            "%s: job '%s' needs a schedule: every (like 5m) or cron (like "
                            "\"*/5 * * * *\")",
                            path, job->name);
    int64_t room = job->every_ms;
    lc__cron c;
    if (job->cron) {
        if (lc__cron_parse(job->cron, &c, NULL) != LC_OK)
            return lc__cfg_fail(cx, kcron->line, kcron->col, "%s.cron: invalid", path);
        room = lc__cron_min_gap_ms(&c);
    }
    if (job->jitter_ms < room || lc__ymap_get(map, "jitter", &kjitter) == NULL)
        return LC_OK;
    char j[32], r[32];
    lc_duration_format(job->jitter_ms, j, sizeof(j));
    lc_duration_format(room, r, sizeof(r));
    if (job->cron)
        return lc__cfg_fail(cx, kjitter->line, kjitter->col,
                            "%s.jitter (%s) must be less than the shortest time between two fire "
                            "times of the cron expression (%s)",
                            path, j, r);
    return lc__cfg_fail(cx, kjitter->line, kjitter->col,
                        "%s.jitter (%s) must be less than every (%s)", path, j, r);
}

/* What a job needs besides well-formed values: a name, exactly one of
 * exec and http, an http url, exactly one schedule. */
static lc_status check_job(const lc__cfgctx *cx, const lc__ynode *map, lc_job *job,
                           const char *path)
{
    if (job->name == NULL)
        return lc__cfg_fail(cx, map->line, map->col, "%s: missing required key 'name'", path);
    lc_status rc = check_kind(cx, map, job, path);
    if (rc == LC_OK)
        rc = check_schedule(cx, map, job, path);
    if (rc == LC_OK && job->lock == NULL && (job->lock = strdup(job->name)) == NULL)
        rc = lc__cfg_nomem(cx);
    return rc;
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
        job->retry_backoff_ms = 1000;
        job->kill_grace_ms = 5000;
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

/* ------------------------------------------------------------------------ */
/* The sync section                                                         */
/* ------------------------------------------------------------------------ */

static int is_port(const char *p)
{
    long v = 0;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return 0;
    v = strtol(p, NULL, 10);
    return v >= 1 && v <= 65535;
}

lc_status lc_listen_parse(const char *text, char *host, size_t size, int *port, lc_error *err)
{
    const char *colon = strrchr(text, ':');
    int ok = colon != NULL && colon > text && is_port(colon + 1);
    size_t hn = ok ? (size_t)(colon - text) : 0;
    const char *h = text;
    if (ok && text[0] == '[') {
        char v6[INET6_ADDRSTRLEN + 1];
        struct in6_addr a;
        ok = hn >= 3 && text[hn - 1] == ']' && hn - 2 < sizeof(v6);
        if (ok) {
            memcpy(v6, text + 1, hn - 2);
            v6[hn - 2] = '\0';
            ok = inet_pton(AF_INET6, v6, &a) == 1;
            h = text + 1;
            hn -= 2;
        }
    } else if (ok) {
        /* A host name or an IPv4 address: letters, digits, '.', '-'. */
        for (size_t i = 0; i < hn && ok; i++)
            ok = isalnum((unsigned char)text[i]) || text[i] == '.' || text[i] == '-';
    }
    if (ok && host && hn >= size)
        ok = 0;
    if (!ok)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "expected HOST:PORT like 127.0.0.1:9187 (an IPv6 address in brackets: "
                       "[::1]:9187), got '%.100s'",
                       text);
    if (host) {
        memcpy(host, h, hn);
        host[hn] = '\0';
    }
    if (port)
        *port = (int)strtol(colon + 1, NULL, 10);
    return LC_OK;
}

/* "" (or nothing) means no listener. */
static lc_status set_listen(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                            const char *path)
{
    lc_config *cfg = base;
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    lc_error lerr;
    if (*s != '\0' && lc_listen_parse(s, NULL, 0, NULL, &lerr) != LC_OK) {
        free(s);
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, lerr.message);
    }
    if (*s == '\0') {
        free(s);
        s = NULL;
    }
    free(cfg->sync.listen);
    cfg->sync.listen = s;
    return LC_OK;
}

static const lc__field sync_fields[] = {
    {"shutdown_grace", LC__F_DUR, offsetof(lc_config, sync.shutdown_grace_ms), 0, NULL, NULL},
    {"listen", LC__F_FN, 0, 0, NULL, set_listen},
};
const lc__schema lc__cfg_sync_schema = LC__FIELDS(sync_fields);
