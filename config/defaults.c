/* config/defaults.c -- a config with every default, and freeing one. */
#include "config/config_int.h"
#include "core/timing_int.h"

#include <stdlib.h>
#include <string.h>

lc_config *lc_config_new(const char *backend)
{
    lc_config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->backend = lc__strdup(backend);
    c->redis.connect_timeout_ms = 2000;
    c->redis.command_timeout_ms = 1000;
    c->redis.key_prefix = strdup("lockcoord");
    c->postgres.schema = strdup("public");
    c->postgres.table = strdup("lockcoord_locks");
    c->postgres.auto_migrate = 1;
    c->postgres.statement_timeout_ms = 2000;
    c->postgres.connect_timeout_ms = 2000;
    c->postgres.warn_async_replication = 1;
    c->lock.ttl_ms = 30000;
    c->lock.renew_every_ms = lc__timing_renew_default(c->lock.ttl_ms);
    c->lock.wait_ms = 0;
    c->lock.retry_min_ms = 50;
    c->lock.retry_max_ms = 1000;
    c->lock.history = LC_HISTORY_DEFAULT;
    c->sync.shutdown_grace_ms = 30000;
    c->log.level = LC_LOG_INFO;
    if ((backend && !c->backend) || !c->redis.key_prefix || !c->postgres.schema ||
        !c->postgres.table) {
        lc_config_free(c);
        return NULL;
    }
    return c;
}

static void free_http(lc_http_job *h)
{
    if (h == NULL)
        return;
    lc__cfg_wipe(h->url);
    free(h->method);
    for (size_t i = 0; i < h->n_headers; i++) {
        free(h->headers[i].name);
        lc__cfg_wipe(h->headers[i].value);
    }
    free(h->headers);
    free(h->body);
    free(h->expect_status);
    free(h->checkpoint_from);
    free(h->ca_file);
    free(h);
}

static void free_job(lc_job *j)
{
    free(j->name);
    free(j->lock);
    free(j->cron);
    for (size_t i = 0; j->exec && j->exec[i]; i++)
        free(j->exec[i]);
    free(j->exec);
    free_http(j->http);
}

void lc_config_free(lc_config *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->backend);
    free(c->owner);
    /* Wiped, not just freed: these may hold passwords. */
    lc__cfg_wipe(c->redis.url);
    for (size_t i = 0; c->redis.quorum && i < c->redis.n_quorum; i++)
        lc__cfg_wipe(c->redis.quorum[i]);
    free(c->redis.quorum);
    free(c->redis.key_prefix);
    lc__cfg_wipe(c->postgres.conninfo);
    free(c->postgres.schema);
    free(c->postgres.table);
    for (size_t i = 0; i < c->n_jobs; i++)
        free_job(&c->jobs[i]);
    free(c->jobs);
    free(c->sync.listen);
    free(c);
}
