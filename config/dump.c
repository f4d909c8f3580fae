/* config/dump.c -- the effective config as YAML, secrets as "***".
 *
 * The output loads again with lc_config_parse: strings are double-quoted
 * with escapes, '$' is written as "$$" so nothing is expanded twice, and
 * "not set" is written as ~ (null keeps the default). Redacted: the
 * password in redis.url, password in postgres.conninfo (key=value or URI),
 * secret-looking query parameters and the password in http job URLs, and
 * the values of all HTTP headers. */
#include "config/config_int.h"
#include "core/strbuf_int.h"
#include "core/text_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One character outside ASCII at s: written as it is, unless YAML reads
 * it otherwise. NEL, LS and PS are line breaks to YAML (folded to a space
 * in a quoted scalar), C1 controls and U+FFFE/U+FFFF may not appear raw:
 * those are escaped. A byte that is not UTF-8 (from an expanded ${VAR})
 * cannot be written at all; \xNN loads again, as U+00NN. Returns the
 * bytes used. */
static size_t sb_quote_utf8(lc__sb *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    size_t n = lc__utf8_seq(p, strnlen(s, 4), &cp);
    if (n == 0)
        lc__sb_printf(b, "\\x%02x", *p);
    else if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)
        lc__sb_add(b, cp == 0x85 ? "\\N" : cp == 0x2028 ? "\\L" : "\\P", 2);
    else if (cp < 0xA0 || cp == 0xFFFE || cp == 0xFFFF)
        lc__sb_printf(b, "\\u%04x", (unsigned)cp);
    else
        lc__sb_add(b, s, n);
    return n ? n : 1;
}

/* A YAML double-quoted string, or ~ for NULL. A value's '$' is written
 * "$$" (values are expanded on loading); a key's is not (keys are not). */
static void sb_quote_as(lc__sb *b, const char *s, int expanded)
{
    if (s == NULL) {
        lc__sb_add(b, "~", 1);
        return;
    }
    lc__sb_add(b, "\"", 1);
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80) {
            s += sb_quote_utf8(b, s);
            continue;
        }
        if (c == '"' || c == '\\')
            lc__sb_printf(b, "\\%c", c);
        else if (c == '$' && expanded)
            lc__sb_add(b, "$$", 2);
        else if (c == '\n')
            lc__sb_add(b, "\\n", 2);
        else if (c == '\t')
            lc__sb_add(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7f)
            lc__sb_printf(b, "\\x%02x", c);
        else
            lc__sb_add(b, s, 1);
        s++;
    }
    lc__sb_add(b, "\"", 1);
}

static void sb_quote(lc__sb *b, const char *s)
{
    sb_quote_as(b, s, 1);
}

static void sb_key_str(lc__sb *b, const char *indent, const char *key, const char *val)
{
    lc__sb_printf(b, "%s%s: ", indent, key);
    sb_quote(b, val);
    lc__sb_add(b, "\n", 1);
}

/* A redacted copy of a string; the copy is put in place of the value. */
static void sb_key_redacted(lc__sb *b, const char *indent, const char *key, const char *val,
                            char *(*redact)(const char *))
{
    char *r = val ? redact(val) : NULL;
    if (val && r == NULL)
        b->failed = 1;
    sb_key_str(b, indent, key, r);
    free(r);
}

static void sb_key_dur(lc__sb *b, const char *indent, const char *key, int64_t ms)
{
    char d[32];
    lc__sb_printf(b, "%s%s: %s\n", indent, key, lc_duration_format(ms, d, sizeof(d)));
}

static void dump_backends(lc__sb *b, const lc_config *c)
{
    lc__sb_add(b, "redis:\n", 7);
    sb_key_redacted(b, "  ", "url", c->redis.url, lc__redact_url);
    sb_key_dur(b, "  ", "connect_timeout", c->redis.connect_timeout_ms);
    sb_key_dur(b, "  ", "command_timeout", c->redis.command_timeout_ms);
    sb_key_str(b, "  ", "key_prefix", c->redis.key_prefix);
    lc__sb_printf(b, "  min_replicas_ack: %d\n", c->redis.min_replicas_ack);
    lc__sb_printf(b, "  cluster: %s\n", c->redis.cluster ? "true" : "false");
    if (c->redis.n_quorum > 0)
        lc__sb_add(b, "  quorum:\n", 10);
    for (size_t i = 0; i < c->redis.n_quorum; i++) {
        char *r = lc__redact_url(c->redis.quorum[i]);
        b->failed |= r == NULL;
        lc__sb_add(b, "    - ", 6);
        sb_quote(b, r);
        lc__sb_add(b, "\n", 1);
        free(r);
    }
    lc__sb_add(b, "postgres:\n", 10);
    sb_key_redacted(b, "  ", "conninfo", c->postgres.conninfo, lc__redact_conninfo);
    sb_key_str(b, "  ", "schema", c->postgres.schema);
    sb_key_str(b, "  ", "table", c->postgres.table);
    lc__sb_printf(b, "  auto_migrate: %s\n", c->postgres.auto_migrate ? "true" : "false");
    sb_key_dur(b, "  ", "statement_timeout", c->postgres.statement_timeout_ms);
    sb_key_dur(b, "  ", "connect_timeout", c->postgres.connect_timeout_ms);
    lc__sb_printf(b, "  warn_async_replication: %s\n",
                  c->postgres.warn_async_replication ? "true" : "false");
}

static void dump_http(lc__sb *b, const lc_http_job *h)
{
    const char *in = "      ";
    lc__sb_add(b, "    http:\n", 10);
    sb_key_redacted(b, in, "url", h->url, lc__redact_url);
    lc__sb_printf(b, "%smethod: %s\n", in, h->method ? h->method : "POST");
    lc__sb_printf(b, "%sheaders:%s\n", in, h->n_headers ? "" : " {}");
    for (size_t i = 0; i < h->n_headers; i++) {
        lc__sb_printf(b, "%s  ", in);
        sb_quote_as(b, h->headers[i].name, 0); /* a key */
        lc__sb_add(b, ": \"***\"\n", 8);
    }
    sb_key_str(b, in, "body", h->body);
    lc__sb_printf(b, "%sexpect_status: [", in);
    for (size_t i = 0; i < h->n_expect_status; i++)
        lc__sb_printf(b, "%s%d", i ? ", " : "", h->expect_status[i]);
    lc__sb_add(b, "]\n", 2);
    sb_key_str(b, in, "checkpoint_from", h->checkpoint_from);
    sb_key_str(b, in, "ca_file", h->ca_file);
}

static void dump_job(lc__sb *b, const lc_job *j)
{
    lc__sb_add(b, "  - name: ", 10);
    sb_quote(b, j->name);
    lc__sb_add(b, "\n", 1);
    sb_key_str(b, "    ", "lock", j->lock);
    sb_key_dur(b, "    ", "timeout", j->timeout_ms);
    /* The schedule in use only: the file may not give both. */
    if (j->cron)
        sb_key_str(b, "    ", "cron", j->cron);
    else
        sb_key_dur(b, "    ", "every", j->every_ms);
    sb_key_dur(b, "    ", "jitter", j->jitter_ms);
    lc__sb_printf(b, "    retries: %d\n", j->retries);
    sb_key_dur(b, "    ", "retry_backoff", j->retry_backoff_ms);
    if (j->exec)
        sb_key_dur(b, "    ", "kill_grace", j->kill_grace_ms);
    sb_key_dur(b, "    ", "ttl", j->ttl_ms);
    sb_key_dur(b, "    ", "renew_every", j->renew_every_ms);
    if (j->exec) {
        lc__sb_add(b, "    exec: [", 11);
        for (size_t i = 0; j->exec[i]; i++) {
            lc__sb_add(b, ", ", i ? 2 : 0);
            sb_quote(b, j->exec[i]);
        }
        lc__sb_add(b, "]\n", 2);
    }
    if (j->http)
        dump_http(b, j->http);
}

char *lc_config_dump(const lc_config *c)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    lc__sb b = {0};
    sb_key_str(&b, "", "backend", c->backend);
    sb_key_str(&b, "", "owner", c->owner);
    dump_backends(&b, c);
    lc__sb_add(&b, "lock:\n", 6);
    sb_key_dur(&b, "  ", "ttl", c->lock.ttl_ms);
    sb_key_dur(&b, "  ", "renew_every", c->lock.renew_every_ms);
    sb_key_dur(&b, "  ", "wait", c->lock.wait_ms);
    sb_key_dur(&b, "  ", "retry_min", c->lock.retry_min_ms);
    sb_key_dur(&b, "  ", "retry_max", c->lock.retry_max_ms);
    lc__sb_printf(&b, "  history: %d\n", c->lock.history);
    lc__sb_add(&b, "sync:\n", 6);
    sb_key_dur(&b, "  ", "shutdown_grace", c->sync.shutdown_grace_ms);
    sb_key_str(&b, "  ", "listen", c->sync.listen ? c->sync.listen : "");
    lc__sb_printf(&b, "jobs:%s\n", c->n_jobs ? "" : " []");
    for (size_t i = 0; i < c->n_jobs; i++)
        dump_job(&b, &c->jobs[i]);
    lc__sb_add(&b, "log:\n", 5);
    lc__sb_printf(&b, "  level: %s\n", levels[c->log.level <= LC_LOG_DEBUG ? c->log.level : 2]);
    lc__sb_printf(&b, "  format: %s\n", c->log.json ? "json" : "text");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
