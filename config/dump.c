/* config/dump.c -- the effective config as YAML, secrets as "***".
 *
 * The output loads again with lc_config_parse: strings are double-quoted
 * with escapes, '$' is written as "$$" so nothing is expanded twice, and
 * "not set" is written as ~ (null keeps the default). Redacted: the
 * password in redis.url, password in postgres.conninfo (key=value or URI),
 * secret-looking query parameters and the password in http job URLs, and
 * the values of all HTTP headers. */
#include "config/config_int.h"
#include "core/text_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sb {
    char *p;
    size_t len, cap;
    int failed;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(sb *b, const char *fmt, ...) LC__PRINTF(2, 3);

static void sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->failed = 1; /* only short, fixed formats come here */
        return;
    }
    sb_add(b, tmp, (size_t)n);
}

/* One character outside ASCII at s: written as it is, unless YAML reads
 * it otherwise. NEL, LS and PS are line breaks to YAML (folded to a space
 * in a quoted scalar), C1 controls and U+FFFE/U+FFFF may not appear raw:
 * those are escaped. A byte that is not UTF-8 (from an expanded ${VAR})
 * cannot be written at all; \xNN loads again, as U+00NN. Returns the
 * bytes used. */
static size_t sb_quote_utf8(sb *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    size_t n = lc__utf8_seq(p, strnlen(s, 4), &cp);
    if (n == 0)
        sb_printf(b, "\\x%02x", *p);
    else if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)
        sb_add(b, cp == 0x85 ? "\\N" : cp == 0x2028 ? "\\L" : "\\P", 2);
    else if (cp < 0xA0 || cp == 0xFFFE || cp == 0xFFFF)
        sb_printf(b, "\\u%04x", (unsigned)cp);
    else
        sb_add(b, s, n);
    return n ? n : 1;
}

/* A YAML double-quoted string, or ~ for NULL. A value's '$' is written
 * "$$" (values are expanded on loading); a key's is not (keys are not). */
static void sb_quote_as(sb *b, const char *s, int expanded)
{
    if (s == NULL) {
        sb_add(b, "~", 1);
        return;
    }
    sb_add(b, "\"", 1);
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80) {
            s += sb_quote_utf8(b, s);
            continue;
        }
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c == '$' && expanded)
            sb_add(b, "$$", 2);
        else if (c == '\n')
            sb_add(b, "\\n", 2);
        else if (c == '\t')
            sb_add(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7f)
            sb_printf(b, "\\x%02x", c);
        else
            sb_add(b, s, 1);
        s++;
    }
    sb_add(b, "\"", 1);
}

static void sb_quote(sb *b, const char *s)
{
    sb_quote_as(b, s, 1);
}

static void sb_key_str(sb *b, const char *indent, const char *key, const char *val)
{
    sb_printf(b, "%s%s: ", indent, key);
    sb_quote(b, val);
    sb_add(b, "\n", 1);
}

/* A redacted copy of a string; the copy is put in place of the value. */
static void sb_key_redacted(sb *b, const char *indent, const char *key, const char *val,
                            char *(*redact)(const char *))
{
    char *r = val ? redact(val) : NULL;
    if (val && r == NULL)
        b->failed = 1;
    sb_key_str(b, indent, key, r);
    free(r);
}

static void sb_key_dur(sb *b, const char *indent, const char *key, int64_t ms)
{
    char d[32];
    sb_printf(b, "%s%s: %s\n", indent, key, lc_duration_format(ms, d, sizeof(d)));
}

static void dump_backends(sb *b, const lc_config *c)
{
    sb_add(b, "redis:\n", 7);
    sb_key_redacted(b, "  ", "url", c->redis.url, lc__redact_url);
    sb_key_dur(b, "  ", "connect_timeout", c->redis.connect_timeout_ms);
    sb_key_dur(b, "  ", "command_timeout", c->redis.command_timeout_ms);
    sb_key_str(b, "  ", "key_prefix", c->redis.key_prefix);
    sb_printf(b, "  min_replicas_ack: %d\n", c->redis.min_replicas_ack);
    sb_printf(b, "  cluster: %s\n", c->redis.cluster ? "true" : "false");
    if (c->redis.n_quorum > 0)
        sb_add(b, "  quorum:\n", 10);
    for (size_t i = 0; i < c->redis.n_quorum; i++) {
        char *r = lc__redact_url(c->redis.quorum[i]);
        b->failed |= r == NULL;
        sb_add(b, "    - ", 6);
        sb_quote(b, r);
        sb_add(b, "\n", 1);
        free(r);
    }
    sb_add(b, "postgres:\n", 10);
    sb_key_redacted(b, "  ", "conninfo", c->postgres.conninfo, lc__redact_conninfo);
    sb_key_str(b, "  ", "schema", c->postgres.schema);
    sb_key_str(b, "  ", "table", c->postgres.table);
    sb_printf(b, "  auto_migrate: %s\n", c->postgres.auto_migrate ? "true" : "false");
    sb_key_dur(b, "  ", "statement_timeout", c->postgres.statement_timeout_ms);
    sb_key_dur(b, "  ", "connect_timeout", c->postgres.connect_timeout_ms);
    sb_printf(b, "  warn_async_replication: %s\n",
              c->postgres.warn_async_replication ? "true" : "false");
}

static void dump_http(sb *b, const lc_http_job *h)
{
    const char *in = "      ";
    sb_add(b, "    http:\n", 10);
    sb_key_redacted(b, in, "url", h->url, lc__redact_url);
    sb_printf(b, "%smethod: %s\n", in, h->method ? h->method : "POST");
    sb_printf(b, "%sheaders:%s\n", in, h->n_headers ? "" : " {}");
    for (size_t i = 0; i < h->n_headers; i++) {
        sb_printf(b, "%s  ", in);
        sb_quote_as(b, h->headers[i].name, 0); /* a key */
        sb_add(b, ": \"***\"\n", 8);
    }
    sb_key_str(b, in, "body", h->body);
    sb_printf(b, "%sexpect_status: [", in);
    for (size_t i = 0; i < h->n_expect_status; i++)
        sb_printf(b, "%s%d", i ? ", " : "", h->expect_status[i]);
    sb_add(b, "]\n", 2);
    sb_key_str(b, in, "checkpoint_from", h->checkpoint_from);
    sb_key_str(b, in, "ca_file", h->ca_file);
}

static void dump_job(sb *b, const lc_job *j)
{
    sb_add(b, "  - name: ", 10);
    sb_quote(b, j->name);
    sb_add(b, "\n", 1);
    sb_key_str(b, "    ", "lock", j->lock);
    sb_key_dur(b, "    ", "timeout", j->timeout_ms);
    /* The schedule in use only: the file may not give both. */
    if (j->cron)
        sb_key_str(b, "    ", "cron", j->cron);
    else
        sb_key_dur(b, "    ", "every", j->every_ms);
    sb_key_dur(b, "    ", "jitter", j->jitter_ms);
    sb_printf(b, "    retries: %d\n", j->retries);
    sb_key_dur(b, "    ", "retry_backoff", j->retry_backoff_ms);
    if (j->exec)
        sb_key_dur(b, "    ", "kill_grace", j->kill_grace_ms);
    sb_key_dur(b, "    ", "ttl", j->ttl_ms);
    sb_key_dur(b, "    ", "renew_every", j->renew_every_ms);
    if (j->exec) {
        sb_add(b, "    exec: [", 11);
        for (size_t i = 0; j->exec[i]; i++) {
            sb_add(b, ", ", i ? 2 : 0);
            sb_quote(b, j->exec[i]);
        }
        sb_add(b, "]\n", 2);
    }
    if (j->http)
        dump_http(b, j->http);
}

char *lc_config_dump(const lc_config *c)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    sb b = {0};
    sb_key_str(&b, "", "backend", c->backend);
    sb_key_str(&b, "", "owner", c->owner);
    dump_backends(&b, c);
    sb_add(&b, "lock:\n", 6);
    sb_key_dur(&b, "  ", "ttl", c->lock.ttl_ms);
    sb_key_dur(&b, "  ", "renew_every", c->lock.renew_every_ms);
    sb_key_dur(&b, "  ", "wait", c->lock.wait_ms);
    sb_key_dur(&b, "  ", "retry_min", c->lock.retry_min_ms);
    sb_key_dur(&b, "  ", "retry_max", c->lock.retry_max_ms);
    sb_printf(&b, "  history: %d\n", c->lock.history);
    sb_add(&b, "sync:\n", 6);
    sb_key_dur(&b, "  ", "shutdown_grace", c->sync.shutdown_grace_ms);
    sb_key_str(&b, "  ", "listen", c->sync.listen ? c->sync.listen : "");
    sb_printf(&b, "jobs:%s\n", c->n_jobs ? "" : " []");
    for (size_t i = 0; i < c->n_jobs; i++)
        dump_job(&b, &c->jobs[i]);
    sb_add(&b, "log:\n", 5);
    sb_printf(&b, "  level: %s\n", levels[c->log.level <= LC_LOG_DEBUG ? c->log.level : 2]);
    sb_printf(&b, "  format: %s\n", c->log.json ? "json" : "text");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
