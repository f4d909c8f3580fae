/* core/client.c -- the client: validates, generates tokens, keeps local
 * deadlines and waits, then hands each call to its backend's table. */
#include "core/backoff_int.h"
#include "core/client_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"
#include "core/timing_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void default_owner(char *buf, size_t size)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        lc__strlcpy(host, "unknown", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    /* A host name may hold any byte; the owner must be clean text. */
    char *clean = lc_text_escape(host);
    snprintf(buf, size, "%s:%ld", clean ? clean : "unknown", (long)getpid());
    free(clean);
}

lc_status lc_client_open(const lc_config *cfg, const lc_client_opts *opts, lc_client **out,
                         lc_error *err)
{
    static const lc_client_opts none;
    if (opts == NULL)
        opts = &none;
    if (cfg == NULL || cfg->backend == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "no backend configured");
    const lc_backend_ops *ops = lc__backend_find(cfg->backend);
    if (ops != NULL && ops->variant != NULL)
        ops = ops->variant(cfg);
    if (ops == NULL) {
        char built[64] = "";
        for (size_t i = 0, used = 0; lc_backend_name(i) && used < sizeof(built); i++) {
            int w = snprintf(built + used, sizeof(built) - used, "%s%s", i ? ", " : "",
                             lc_backend_name(i));
            used += w > 0 ? (size_t)w : 0;
        }
        return lc__err(err, LC_ERR_CONFIG, 0, "unknown backend '%s' (this build has: %s)",
                       cfg->backend, built);
    }

    lc_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    c->ops = ops;
    c->cfg = cfg;
    c->clock = opts->clock ? opts->clock : lc_clock_system();
    c->log = opts->log;
    c->log_ctx = opts->log_ctx;
    c->memstore = opts->memstore;
    if (cfg->owner && *cfg->owner)
        lc__strlcpy(c->owner, cfg->owner, sizeof(c->owner));
    else
        default_owner(c->owner, sizeof(c->owner));

    lc_backend_env env = {c->clock, c->log, c->log_ctx, opts->memstore};
    lc_status rc = ops->open(cfg, &env, &c->state, err);
    if (rc != LC_OK) {
        free(c);
        return rc;
    }
    *out = c;
    return LC_OK;
}

void lc_client_close(lc_client *c)
{
    if (c == NULL)
        return;
    if (c->state)
        c->ops->close(c->state);
    free(c);
}

const char *lc_client_backend(const lc_client *c)
{
    return c->ops->name;
}

const char *lc_client_owner(const lc_client *c)
{
    return c->owner;
}

const lc_config *lc_client_config(const lc_client *c)
{
    return c->cfg;
}

static lc_status check_name(const char *name, lc_error *err)
{
    return lc_name_check(name, name ? strlen(name) : 0, err);
}

/* Text the caller hands in to be stored (owner, error, checkpoint,
 * reason): one line of valid UTF-8, or LC_ERR_INVALID naming `what`. */
static lc_status check_text(const char *what, const char *s, lc_error *err)
{
    if (s == NULL)
        return LC_OK;
    lc_status rc = lc_text_check(s, strlen(s), err);
    if (rc != LC_OK)
        lc__err_prefix(err, "invalid %s", what);
    return rc;
}
/* While a cancel fd is watched, a wait for a release notification is cut
 * into slices this long, so a cancel is seen within about this time. */
#define CANCEL_SLICE_MS 20

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* 1 when cancel_fd (> 0) is readable -- or closed, or invalid: a cancel
 * that cannot be watched must not be ignored -- within ms (0: now). */
static int cancelled(int cancel_fd, int64_t ms)
{
    if (cancel_fd <= 0)
        return 0;
    int64_t until = lc__mono_ns(NULL) + ms * 1000000;
    for (;;) {
        struct pollfd p = {cancel_fd, POLLIN, 0};
        int n = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (n > 0)
            return 1;
        if (n == 0 || errno != EINTR)
            return n < 0;
        ms = (until - lc__mono_ns(NULL)) / 1000000;
        if (ms < 0)
            ms = 0;
    }
}

/* Between two attempts: wait for a release notification or the delay.
 * Returns 1 when cancel_fd cancelled the wait. */
static int pause_for_release(lc_client *c, int64_t delay_ms, int watching, int cancel_fd)
{
    int64_t until = lc__mono_ns(NULL) + delay_ms * 1000000;
    int64_t left = delay_ms;
    while (watching && c->ops->wait && left > 0) {
        int notified = 0;
        lc_error werr;
        int64_t slice = cancel_fd > 0 && left > CANCEL_SLICE_MS ? CANCEL_SLICE_MS : left;
        if (c->ops->wait(c->state, slice, &notified, &werr) != LC_OK) {
            lc__log(c->log, c->log_ctx, LC_LOG_DEBUG, "waiting for release: %s", werr.message);
            break; /* sleep out the rest */
        }
        if (cancelled(cancel_fd, 0))
            return 1;
        if (notified)
            return 0;
        left = (until - lc__mono_ns(NULL)) / 1000000;
        if (left <= 0)
            return 0;
    }
    left = (until - lc__mono_ns(NULL)) / 1000000;
    if (left <= 0)
        return cancelled(cancel_fd, 0);
    if (cancel_fd > 0)
        return cancelled(cancel_fd, left);
    sleep_ms(left);
    return 0;
}

static lc_lease *lease_new(const char *name, const char *token, const char *owner)
{
    lc_lease *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    lc__strlcpy(l->name, name, sizeof(l->name));
    lc__strlcpy(l->token, token, sizeof(l->token));
    lc__strlcpy(l->owner, owner, sizeof(l->owner));
    l->last_started_at_ms = -1;
    return l;
}

/* How long a waiter in a backend's line of waiters promises to take to
 * ask again, beyond twice its longest backoff: a waiter that dies (or is
 * starved of CPU that long) holds a free lock back for at most this plus
 * 2 * retry_max, and then loses its place. */
#define QUEUE_SLACK_MS 1000

/* A waiting acquire that ends without the lock gives up its place in the
 * backend's line, so that the next in line need not wait out its promise. */
static void leave_line(lc_client *c, const lc_acquire_args *a)
{
    lc_error lerr;
    if (c->ops->leave && c->ops->leave(c->state, a->name, a->token, &lerr) != LC_OK)
        lc__log(c->log, c->log_ctx, LC_LOG_DEBUG, "leaving the line for %s: %s", a->name,
                lerr.message);
}

/* Acquires with waiting: the first conflict starts watching for release
 * notifications and retries at once (a release may have come between the
 * attempt and the watch); later conflicts wait for a notification or a
 * jittered backoff, whichever is first. A readable cancel_fd ends it before
 * the next attempt. Every attempt of a waiting acquire stands in the
 * backend's line of waiters (args->queue_ms), so that a free lock goes to
 * whoever has waited longest instead of to whoever asks first after a
 * release -- without it, a waiter can lose race after race to clients that
 * release and take the lock again at once. */
static lc_status acquire_loop(lc_client *c, lc_acquire_args *a, char *token, int64_t wait_ms,
                              int cancel_fd, lc_grant *g, int64_t *sent_ns, lc_error *err)
{
    /* Waiting sleeps in real time, so its deadline is on the system clock
     * even when the client runs on an injected one. */
    int64_t until = lc__add_sat(lc__mono_ns(NULL), lc__ms_to_ns(wait_ms));
    int watching = 0;
    lc__backoff bo;
    lc__backoff_init(&bo, c->cfg->lock.retry_min_ms, c->cfg->lock.retry_max_ms);
    a->queue_ms = wait_ms > 0 ? 2 * c->cfg->lock.retry_max_ms + QUEUE_SLACK_MS : 0;
    int in_line = 0;
    lc_status rc;
    for (;;) {
        if (cancelled(cancel_fd, 0)) {
            rc = lc__err(err, LC_ERR_CANCELLED, 0, "acquiring '%s' was cancelled", a->name);
            break;
        }
        *sent_ns = lc__mono_ns(c->clock);
        rc = c->ops->acquire(c->state, a, g, err);
        if (rc != LC_ERR_CONFLICT || wait_ms <= 0)
            break;
        in_line = 1;
        /* A backend without a line (Redis quorum: one per master would
         * deadlock) keeps no place for the token, so the next attempt
         * gets a fresh one: whatever this attempt left behind -- a
         * give-back still in flight on a dropped connection, a grant that
         * came too late -- holds this token, and can never touch the
         * lease a later attempt takes. */
        lc_error terr;
        if (c->ops->leave == NULL && lc_token_new(token, &terr) != LC_OK) {
            rc = lc__err(err, terr.code, terr.sys_errno, "%s", terr.message);
            break;
        }
        int64_t left_ms = (until - lc__mono_ns(NULL)) / 1000000;
        if (left_ms <= 0)
            break;
        if (!watching && c->ops->watch) {
            lc_error werr;
            if (c->ops->watch(c->state, a->name, &werr) == LC_OK) {
                watching = 1;
                continue;
            }
            lc__log(c->log, c->log_ctx, LC_LOG_DEBUG, "watch %s: %s", a->name, werr.message);
        }
        int64_t d = lc__backoff_next(&bo);
        if (pause_for_release(c, d < left_ms ? d : left_ms, watching, cancel_fd)) {
            rc = lc__err(err, LC_ERR_CANCELLED, 0, "waiting for '%s' was cancelled", a->name);
            break;
        }
    }
    if (watching && c->ops->unwatch)
        c->ops->unwatch(c->state);
    if (rc != LC_OK && in_line)
        leave_line(c, a);
    return rc;
}

lc_status lc_acquire(lc_client *c, const char *name, const lc_acquire_opts *opts, lc_lease **out,
                     lc_error *err)
{
    static const lc_acquire_opts none;
    if (opts == NULL)
        opts = &none;
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    int64_t ttl = opts->ttl_ms > 0 ? opts->ttl_ms : c->cfg->lock.ttl_ms;
    int64_t wait = opts->wait_ms > 0 ? opts->wait_ms : opts->wait_ms < 0 ? 0 : c->cfg->lock.wait_ms;
    if ((rc = lc__timing_check_ttl(ttl, err)) != LC_OK)
        return rc;
    const char *owner = opts->owner && *opts->owner ? opts->owner : c->owner;
    if ((rc = check_text("owner", owner, err)) != LC_OK)
        return rc;

    char token[LC_TOKEN_LEN + 1];
    if ((rc = lc_token_new(token, err)) != LC_OK)
        return rc;
    lc_lease *l = lease_new(name, token, owner);
    if (l == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");

    lc_acquire_args a = {name, token, l->owner, ttl, opts->claim != 0, 0};
    lc_grant g = {0, 0, NULL, 0, -1};
    int64_t sent_ns = 0;
    rc = acquire_loop(c, &a, token, wait, opts->cancel_fd, &g, &sent_ns, err);
    if (rc != LC_OK) {
        lc_lease_free(l);
        return rc;
    }
    lc__strlcpy(l->token, token, sizeof(l->token)); /* the granted attempt's */
    l->fence = g.fence;
    l->ttl_ms = ttl;
    l->acquired_at_ms = g.acquired_at_ms;
    l->checkpoint = g.checkpoint;
    l->server_now_ms = g.server_now_ms;
    l->last_started_at_ms = g.last_started_at_ms;
    l->deadline_ns = lc_deadline_after(sent_ns, ttl);
    *out = l;
    return LC_OK;
}

lc_status lc_lease_attach(const char *name, const char *token, lc_lease **out, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc == LC_OK)
        rc = lc_token_check(token, err);
    if (rc != LC_OK)
        return rc;
    lc_lease *l = lease_new(name, token, "");
    if (l == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    *out = l;
    return LC_OK;
}

lc_status lc_renew(lc_client *c, lc_lease *lease, int64_t ttl_ms, lc_error *err)
{
    if (ttl_ms <= 0)
        ttl_ms = lease->ttl_ms > 0 ? lease->ttl_ms : c->cfg->lock.ttl_ms;
    lc_status rc = lc__timing_check_ttl(ttl_ms, err);
    if (rc != LC_OK)
        return rc;
    int64_t sent = lc__mono_ns(c->clock);
    rc = c->ops->renew(c->state, lease->name, lease->token, ttl_ms, err);
    if (rc == LC_OK) {
        lease->ttl_ms = ttl_ms;
        lease->deadline_ns = lc_deadline_after(sent, ttl_ms);
    }
    return rc;
}

lc_run_result lc__run_result_settle(const lc_run_result *res, char *buf)
{
    static const lc_run_result ok = {.has_exit = 0};
    lc_run_result r = res ? *res : ok;
    if (r.outcome <= LC_OUTCOME_DEFAULT || r.outcome > LC_OUTCOME_INTERRUPTED)
        r.outcome = r.error ? LC_OUTCOME_FAILED : LC_OUTCOME_OK;
    if (r.attempts < 1)
        r.attempts = 1;
    if (r.missed_slots < 0)
        r.missed_slots = 0;
    if (r.duration_ms < 0)
        r.duration_ms = 0;
    if (r.http_status < 0)
        r.http_status = 0;
    if (r.error && strlen(r.error) > LC_ERROR_MAX) {
        size_t n = LC_ERROR_MAX;
        /* Not in the middle of a UTF-8 sequence: back up over continuation
         * bytes to the start of the character that does not fit. */
        while (n > 0 && ((unsigned char)r.error[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf, r.error, n);
        buf[n] = '\0';
        r.error = buf;
    }
    return r;
}

lc_status lc_release(lc_client *c, lc_lease *lease, const lc_run_result *res, lc_error *err)
{
    lc_status rc = check_text("error text", res ? res->error : NULL, err);
    if (rc != LC_OK)
        return rc;
    char buf[LC_ERROR_MAX + 1];
    lc_run_result r = lc__run_result_settle(res, buf);
    rc = c->ops->release(c->state, lease->name, lease->token, &r, err);
    if (rc == LC_OK)
        lease->deadline_ns = 0;
    return rc;
}

lc_status lc_start_run(lc_client *c, lc_lease *lease, int64_t *started_at_ms, lc_error *err)
{
    int64_t at = 0;
    lc_status rc = c->ops->start_run(c->state, lease->name, lease->token, &at, err);
    if (rc != LC_OK)
        return rc;
    lease->last_started_at_ms = at;
    if (started_at_ms)
        *started_at_ms = at;
    return LC_OK;
}

lc_status lc_abandon(lc_client *c, lc_lease *lease, lc_error *err)
{
    lc_status rc = c->ops->abandon(c->state, lease->name, lease->token, err);
    if (rc == LC_OK)
        lease->deadline_ns = 0;
    return rc;
}

lc_status lc_checkpoint(lc_client *c, lc_lease *lease, const char *value, lc_error *err)
{
    if (value == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "missing checkpoint value");
    lc_status rc = check_text("checkpoint", value, err);
    if (rc != LC_OK)
        return rc;
    return c->ops->checkpoint(c->state, lease->name, lease->token, value, err);
}

/* lc_record_run and lc_record_lost: who NULL, or the lost lease. */
static lc_status record(lc_client *c, const char *name, const lc_run_result *res,
                        const lc_holder *who, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    char buf[LC_ERROR_MAX + 1];
    if (res == NULL || res->error == NULL) {
        lc_run_result r = lc__run_result_settle(res, buf);
        return c->ops->record_run(c->state, name, &r, who, err);
    }
    /* The message may quote what the caller did not write (a lost lease's
     * reason names the new holder): it is stored escaped, not refused. */
    char *text = lc_text_escape(res->error);
    if (text == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_run_result clean = *res;
    clean.error = text;
    lc_run_result r = lc__run_result_settle(&clean, buf);
    rc = c->ops->record_run(c->state, name, &r, who, err);
    free(text);
    return rc;
}

lc_status lc_record_run(lc_client *c, const char *name, const lc_run_result *res, lc_error *err)
{
    return record(c, name, res, NULL, err);
}

lc_status lc_record_lost(lc_client *c, const lc_lease *lease, const lc_run_result *res,
                         lc_error *err)
{
    if (lease->fence == 0) /* attached: nothing known of the lease but its token */
        return record(c, lease->name, res, NULL, err);
    lc_holder who;
    memset(&who, 0, sizeof(who));
    lc__strlcpy(who.owner, lease->owner, sizeof(who.owner));
    who.fence = lease->fence;
    /* A claim's lease knows the run before it until lc_start_run: its own
     * run starts no earlier than the lease. */
    who.acquired_at_ms = lease->last_started_at_ms >= lease->acquired_at_ms
                             ? lease->last_started_at_ms
                             : lease->acquired_at_ms;
    who.expires_in_ms = -1;
    return record(c, lease->name, res, &who, err);
}

lc_status lc_force_release(lc_client *c, const char *name, const char *reason, int *was_held,
                           lc_holder *prev, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    if (reason == NULL || *reason == '\0')
        return lc__err(err, LC_ERR_INVALID, 0, "a reason is required");
    if ((rc = check_text("reason", reason, err)) != LC_OK)
        return rc;
    int held = 0;
    lc_holder h;
    memset(&h, 0, sizeof(h));
    h.expires_in_ms = -1;
    rc = c->ops->force_release(c->state, name, reason, &held, &h, err);
    if (rc == LC_OK) {
        if (was_held)
            *was_held = held;
        if (prev)
            *prev = h;
    }
    return rc;
}

lc_status lc_pause(lc_client *c, const char *name, const char *by, const char *reason,
                   int64_t for_ms, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    if (reason == NULL || *reason == '\0')
        return lc__err(err, LC_ERR_INVALID, 0, "a reason is required");
    if (for_ms < 0)
        return lc__err(err, LC_ERR_INVALID, 0, "a pause cannot last a negative time");
    if (by == NULL || *by == '\0')
        by = c->owner;
    if ((rc = check_text("reason", reason, err)) != LC_OK ||
        (rc = check_text("paused by", by, err)) != LC_OK)
        return rc;
    return c->ops->pause(c->state, name, by, reason, for_ms, err);
}

lc_status lc_history(lc_client *c, const char *name, size_t limit, int64_t since_ms,
                     lc_run_entry **out, size_t *n, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    lc_run_entry *list = NULL;
    size_t count = 0;
    rc = c->ops->history(c->state, name, limit, since_ms < 0 ? 0 : since_ms, &list, &count, err);
    if (rc != LC_OK)
        return rc;
    *out = list;
    *n = count;
    return LC_OK;
}

void lc_run_entries_free(lc_run_entry *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i].error);
    free(list);
}

lc_status lc_resume(lc_client *c, const char *name, int *was_paused, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    int was = 0;
    rc = c->ops->resume(c->state, name, &was, err);
    if (rc == LC_OK && was_paused)
        *was_paused = was;
    return rc;
}

lc_status lc_inspect(lc_client *c, const char *name, lc_lock_info *out, lc_error *err)
{
    lc_status rc = check_name(name, err);
    if (rc != LC_OK)
        return rc;
    lc__lock_info_init(out, name);
    rc = c->ops->inspect(c->state, name, out, err);
    if (rc != LC_OK) {
        lc_lock_info_clear(out);
        return rc;
    }
    lc__health_derive(out);
    return LC_OK;
}

lc_status lc_list(lc_client *c, lc_lock_info **out, size_t *n, lc_error *err)
{
    lc_lock_info *list = NULL;
    size_t count = 0;
    lc_status rc = c->ops->list(c->state, &list, &count, err);
    if (rc != LC_OK)
        return rc;
    for (size_t i = 0; i < count; i++)
        lc__health_derive(&list[i]);
    *out = list;
    *n = count;
    return LC_OK;
}

lc_status lc_migrate(lc_client *c, char *what, size_t what_size, lc_error *err)
{
    if (what && what_size)
        what[0] = '\0';
    return c->ops->migrate(c->state, what, what_size, err);
}

int64_t lc__client_now_ns(const lc_client *c)
{
    return lc__mono_ns(c->clock);
}

void lc__client_opts(const lc_client *c, lc_client_opts *out)
{
    memset(out, 0, sizeof(*out));
    out->clock = c->clock;
    out->log = c->log;
    out->log_ctx = c->log_ctx;
    out->memstore = c->memstore;
}

void lc__client_log(const lc_client *c, lc_log_level level, const char *fmt, ...)
{
    if (c->log == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->log(c->log_ctx, level, msg);
}

lc_status lc__client_renew_many(lc_client *c, lc_renew_item *items, size_t n, lc_error *err)
{
    if (c->ops->renew_many) {
        c->renew_calls++;
        return c->ops->renew_many(c->state, items, n, err);
    }
    for (size_t i = 0; i < n; i++) {
        lc_renew_item *it = &items[i];
        c->renew_calls++;
        lc_status rc = c->ops->renew(c->state, it->name, it->token, it->ttl_ms, err);
        if (rc != LC_OK && rc != LC_ERR_LOST)
            return rc;
        it->status = rc;
    }
    lc__err_clear(err);
    return LC_OK;
}

uint64_t lc__client_requests(const lc_client *c)
{
    return c->ops->requests ? c->ops->requests(c->state) : c->renew_calls;
}

void lc_lease_free(lc_lease *lease)
{
    if (lease == NULL)
        return;
    free(lease->checkpoint);
    free(lease);
}

const char *lc_lease_name(const lc_lease *l)
{
    return l->name;
}
const char *lc_lease_token(const lc_lease *l)
{
    return l->token;
}
uint64_t lc_lease_fence(const lc_lease *l)
{
    return l->fence;
}
int64_t lc_lease_ttl_ms(const lc_lease *l)
{
    return l->ttl_ms;
}
const char *lc_lease_owner(const lc_lease *l)
{
    return l->owner;
}
int64_t lc_lease_acquired_at_ms(const lc_lease *l)
{
    return l->acquired_at_ms;
}
int64_t lc_lease_server_now_ms(const lc_lease *l)
{
    return l->server_now_ms;
}
int64_t lc_lease_last_started_at_ms(const lc_lease *l)
{
    return l->last_started_at_ms;
}
const char *lc_lease_checkpoint(const lc_lease *l)
{
    return l->checkpoint;
}
int64_t lc_lease_deadline_ns(const lc_lease *l)
{
    return l->deadline_ns;
}
