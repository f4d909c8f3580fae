/* backends/redis/redis.c -- the Redis backend's table: leases as
 * SET NX PX keys, fences as INCR counters, run records in a hash, each
 * operation one Lua script (backends/redis/scripts.c). */
#include "backends/redis/cluster_int.h"
#include "backends/redis/quorum_int.h"
#include "backends/redis/redis_int.h"
#include "core/client_int.h"
#include "core/error_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s to buf[0..at), cut at LC__KEY_MAX - 1 bytes; returns the
 * new length. */
static size_t key_cat(char *buf, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (n > LC__KEY_MAX - 1 - at)
        n = LC__KEY_MAX - 1 - at;
    memcpy(buf + at, s, n);
    return at + n;
}

/* With memcpy, not snprintf: every call makes several keys, and snprintf
 * cost more than the rest of the request. */
void lc__redis_key(const lc__redis *r, const char *name, const char *suffix, char *buf)
{
    size_t n = key_cat(buf, 0, r->prefix);
    n = key_cat(buf, n, ":{");
    n = key_cat(buf, n, name);
    n = key_cat(buf, n, "}:");
    n = key_cat(buf, n, suffix);
    buf[n] = '\0';
}

char *lc__redis_num(char buf[LC__NUM_MAX], long long v)
{
    char tmp[LC__NUM_MAX];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    size_t at = 0;
    if (v < 0)
        buf[at++] = '-';
    while (n > 0)
        buf[at++] = tmp[--n];
    buf[at] = '\0';
    return buf;
}

static void rds_close(void *state);

/* Connects at once (the main connection; the one for release
 * notifications waits until a wait needs it), so a client that opened has
 * reached its server and logged in. */
static lc_status rds_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                          lc_error *err)
{
    const char *prefix = cfg->redis.key_prefix ? cfg->redis.key_prefix : "lockcoord";
    if (strlen(prefix) > LC__PREFIX_MAX)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.key_prefix is longer than %d bytes",
                       LC__PREFIX_MAX);
    lc__redis *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->prefix = strdup(prefix)) == NULL) {
        free(r);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    lc_status rc = lc__redis_url_parse(cfg->redis.url, &r->addr, err);
    if (rc != LC_OK) {
        free(r->prefix);
        free(r);
        return rc;
    }
    r->min_replicas_ack = cfg->redis.min_replicas_ack;
    r->history = cfg->lock.history > 0 ? cfg->lock.history : LC_HISTORY_DEFAULT;
    r->command_timeout_ms =
        cfg->redis.command_timeout_ms > 0 ? cfg->redis.command_timeout_ms : 1000;
    lc__redis_conn base = {
        .addr = &r->addr,
        .connect_timeout_ms =
            cfg->redis.connect_timeout_ms > 0 ? cfg->redis.connect_timeout_ms : 2000,
        .command_timeout_ms = r->command_timeout_ms,
        .log = env->log,
        .log_ctx = env->log_ctx,
        .persistence_warned = &r->persistence_warned,
        .check_persistence = 1,
        .probe_sharded = cfg->redis.cluster,
    };
    r->main = base;
    r->sub = base;
    r->sub.check_persistence = 0;
    r->last = &r->main;
    if ((rc = lc__rconn_ensure(&r->main, err)) != LC_OK ||
        (cfg->redis.cluster && (rc = lc__cluster_open(r, err)) != LC_OK)) {
        rds_close(r);
        return rc;
    }
    *state = r;
    return LC_OK;
}

static void rds_close(void *state)
{
    lc__redis *r = state;
    lc__rconn_drop(&r->main);
    lc__rconn_drop(&r->sub);
    lc__cluster_free(r->cluster);
    lc__redis_addr_free(&r->addr);
    free(r->prefix);
    free(r);
}

/* ---- replies ------------------------------------------------------------ */

static lc_status bad_reply(lc__redis *r, const char *op, const char *name, const redisReply *rep,
                           lc_error *err)
{
    if (rep && rep->type == REDIS_REPLY_ERROR)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: %s '%s': %s", r->addr.label, op, name,
                       rep->str);
    return lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: %s '%s': unexpected reply (type %d)",
                   r->addr.label, op, name, rep ? rep->type : -1);
}

static int is_array(const redisReply *rep, size_t min)
{
    return rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= min;
}

/* A number from an integer or a bulk string; -1 for anything else. */
static int num_of(const redisReply *e, long long *v)
{
    if (e->type == REDIS_REPLY_INTEGER) {
        *v = e->integer;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING || e->len == 0)
        return -1;
    char *end = NULL;
    *v = strtoll(e->str, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static long long int_at(const redisReply *rep, size_t i)
{
    long long v = 0;
    return num_of(rep->element[i], &v) == 0 ? v : 0;
}

static const char *str_at(const redisReply *rep, size_t i)
{
    const redisReply *e = rep->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

/* ---- retries on a new connection ---------------------------------------- */

/* After a call failed as unavailable: whether to send it again, saying so
 * in the log. The connection is gone by then; the next call makes one. */
static int retry_after(lc__redis *r, int repeatable_call, const char *what, const lc_error *err)
{
    if (!lc__rconn_may_retry(r->last, repeatable_call))
        return 0;
    lc__log(r->main.log, r->main.log_ctx, LC_LOG_DEBUG, "%s: %s; sending it again", what,
            err ? err->message : "connection lost");
    return 1;
}

/* The release script's fourth argument (ARGV[4]): "1" when it is a retry. */
#define RELEASE_RETRY_ARG 3

/* One script call on the server of its lock: the one server, or the
 * cluster master of its slot. */
static lc_status eval_one(lc__redis *r, const lc__rs_call *call, redisReply **out, lc_error *err)
{
    if (r->cluster)
        return lc__cluster_eval(r, call, out, err);
    return lc__rs_eval(&r->main, &r->scripts, call, out, err);
}

/* Runs a script once more after retry_after said so. */
static lc_status eval_again(lc__redis *r, const lc__rs_call *call, redisReply **out, lc_error *err)
{
    lc__rs_call again = *call;
    int retry = again.nkeys + RELEASE_RETRY_ARG;
    if (call->script == LC__RS_RELEASE && again.nargs > retry) {
        again.args[retry] = "1";
        again.lens[retry] = 1;
    }
    return eval_one(r, &again, out, err);
}

/* Runs a script (again on a new connection when the first broke and that
 * is safe); error replies become errors naming the operation. */
static lc_status run(lc__redis *r, const lc__rs_call *call, const char *name, redisReply **out,
                     lc_error *err)
{
    lc_status rc = eval_one(r, call, out, err);
    if (rc == LC_ERR_UNAVAILABLE &&
        retry_after(r, lc__rs_repeatable(call->script), lc__rs_name(call->script), err))
        rc = eval_again(r, call, out, err);
    if (rc == LC_OK && (*out)->type == REDIS_REPLY_ERROR) {
        rc = bad_reply(r, lc__rs_name(call->script), name, *out, err);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

/* Runs a script whose reply is 1 (done) or 0 (not your lease). */
static lc_status run_token_checked(lc__redis *r, const lc__rs_call *call, const char *name,
                                   lc_error *err)
{
    redisReply *rep = NULL;
    lc_status rc = run(r, call, name, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, lc__rs_name(call->script), name, rep, err);
    else if (rep->integer != 1)
        rc = lc__err_not_yours(err, name);
    freeReplyObject(rep);
    return rc;
}

/* ---- calls -------------------------------------------------------------- */

typedef struct keys {
    char lock[LC__KEY_MAX];
    char fence[LC__KEY_MAX];
    char meta[LC__KEY_MAX];
    char channel[LC__KEY_MAX];
    char pause[LC__KEY_MAX];
    char runs[LC__KEY_MAX];
    char queue[LC__KEY_MAX];
    char due[LC__KEY_MAX];
    char num[6][LC__NUM_MAX];
} keys;

static void keys_of(const lc__redis *r, const char *name, keys *k)
{
    lc__redis_key(r, name, "lock", k->lock);
    lc__redis_key(r, name, "fence", k->fence);
    lc__redis_key(r, name, "meta", k->meta);
    lc__redis_key(r, name, "released", k->channel);
    lc__redis_key(r, name, "pause", k->pause);
    lc__redis_key(r, name, "runs", k->runs);
    lc__redis_key(r, name, "q", k->queue);
    lc__redis_key(r, name, "qd", k->due);
}

static void call_init(lc__rs_call *call, int script, int nkeys)
{
    memset(call, 0, sizeof(*call));
    call->script = script;
    call->nkeys = nkeys;
}

static void lock_meta_call(lc__rs_call *call, int script, const keys *k)
{
    call_init(call, script, 2);
    lc__rs_arg(call, k->lock);
    lc__rs_arg(call, k->meta);
}

/* The usual start of an operation: the lock's keys and a script call on
 * its lock and meta keys. */
static void op_init(const lc__redis *r, const char *name, int script, keys *k, lc__rs_call *call)
{
    keys_of(r, name, k);
    lock_meta_call(call, script, k);
}

/* The inspect script's call: lock, meta and pause keys. */
static void inspect_call(const lc__redis *r, const char *name, keys *k, lc__rs_call *call)
{
    op_init(r, name, LC__RS_INSPECT, k, call);
    call->nkeys = 3;
    lc__rs_arg(call, k->pause);
}

/* The record function's ten arguments (scripts.c, RECORD_FN). */
static void run_result_args(const lc__redis *r, lc__rs_call *call, const lc_run_result *res,
                            keys *k)
{
    lc__redis_num(k->num[0], r->history);
    lc__redis_num(k->num[1], res->exit_code);
    lc__redis_num(k->num[2], res->http_status);
    lc__redis_num(k->num[3], res->attempts);
    lc__redis_num(k->num[4], res->missed_slots);
    lc__redis_num(k->num[5], res->duration_ms);
    lc__rs_arg(call, res->has_exit ? "1" : "0");
    lc__rs_arg(call, k->num[1]);
    lc__rs_arg(call, res->error ? "1" : "0");
    lc__rs_arg(call, res->error);
    lc__rs_arg(call, lc_outcome_name(res->outcome));
    lc__rs_arg(call, k->num[2]);
    lc__rs_arg(call, k->num[3]);
    lc__rs_arg(call, k->num[4]);
    lc__rs_arg(call, k->num[5]);
    lc__rs_arg(call, k->num[0]);
}

/* The release channel and how to publish on it (scripts.c, NOTIFY_FN):
 * PUBLISH here; in a cluster the router asks the node the call runs on. */
static void notify_args(lc__rs_call *call, const keys *k)
{
    lc__rs_arg(call, k->channel);
    call->notify_arg = call->nargs;
    lc__rs_arg(call, "0");
}

/* The release script, recording `res`, or with record = 0 (res NULL):
 * the lease given back unrecorded. */
static void release_call(const lc__redis *r, const char *name, const char *token,
                         const lc_run_result *res, keys *k, lc__rs_call *call)
{
    op_init(r, name, LC__RS_RELEASE, k, call);
    call->nkeys = 3;
    lc__rs_arg(call, k->runs);
    lc__rs_arg(call, token);
    notify_args(call, k);
    lc__rs_arg(call, "0"); /* not a retry */
    lc__rs_arg(call, res ? "1" : "0");
    if (res)
        run_result_args(r, call, res, k);
}

/* The release script with record = 0: gives a lease back unrecorded. */
static lc_status give_back(lc__redis *r, const char *name, const char *token, lc_error *err)
{
    keys k;
    lc__rs_call call;
    release_call(r, name, token, NULL, &k, &call);
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, name, &rep, err);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* WAIT for min_replicas_ack replicas of the writes made on connection
 * `epoch`. WAIT counts what this connection wrote, so it is never sent
 * on another one (it would confirm at once). The WAIT timeout is half
 * the command timeout so its reply arrives before the socket gives up. */
lc_status lc__redis_wait_replicas(lc__redis *r, lc__redis_conn *c, uint64_t epoch, lc_error *err)
{
    if (r->min_replicas_ack <= 0)
        return LC_OK;
    lc_status rc = lc__rconn_ensure(c, err);
    if (rc == LC_OK && c->epoch != epoch)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0,
                     "redis %s: connection lost before %d replicas acknowledged", c->addr->label,
                     r->min_replicas_ack);
    if (rc != LC_OK)
        return rc;
    char n[16], t[24];
    int64_t timeout = r->command_timeout_ms / 2 > 0 ? r->command_timeout_ms / 2 : 1;
    snprintf(n, sizeof(n), "%d", r->min_replicas_ack);
    snprintf(t, sizeof(t), "%lld", (long long)timeout);
    const char *argv[3] = {"WAIT", n, t};
    size_t lens[3] = {4, strlen(n), strlen(t)};
    redisReply *rep = NULL;
    rc = lc__rconn_command(c, 3, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, "WAIT", n, rep, err);
    else if (rep->integer < r->min_replicas_ack)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0,
                     "redis %s: only %lld of %d replicas acknowledged within %lldms",
                     c->addr->label, rep->integer, r->min_replicas_ack, (long long)timeout);
    freeReplyObject(rep);
    return rc;
}

/* After a successful acquire or renew: fewer acks than asked for means
 * the lease might not survive a failover, so it is given back. */
static lc_status confirm_replicas(lc__redis *r, const char *name, const char *token, uint64_t epoch,
                                  lc_error *err)
{
    lc_status rc = lc__redis_wait_replicas(r, r->last, epoch, err);
    if (rc == LC_OK || r->last->ctx == NULL)
        return rc; /* connection gone: the lease expires by its ttl */
    lc_error gerr;
    if (give_back(r, name, token, &gerr) == LC_OK)
        lc__err_prefix(err, "lease on '%s' given back", name);
    else
        lc__err_prefix(err, "lease on '%s' could not be given back (%s)", name, gerr.message);
    return rc;
}

static lc_status conflict(lc__redis *r, const char *name, const redisReply *rep, lc_error *err)
{
    (void)r;
    return lc__err_conflict(err, name, str_at(rep, 1), (uint64_t)int_at(rep, 2), int_at(rep, 3),
                            int_at(rep, 4));
}

static lc_status granted(const char *name, const redisReply *rep, lc_grant *out, lc_error *err)
{
    const char *cp = str_at(rep, 3);
    char *copy = NULL;
    if (cp && (copy = strdup(cp)) == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    out->fence = (uint64_t)int_at(rep, 1);
    out->acquired_at_ms = int_at(rep, 2);
    out->checkpoint = copy;
    out->server_now_ms = int_at(rep, 4);
    out->last_started_at_ms = int_at(rep, 5);
    (void)name;
    return LC_OK;
}

lc_status lc__redis_acquire_reply(lc__redis *r, const char *name, const redisReply *rep,
                                  lc_grant *out, lc_error *err)
{
    if (!is_array(rep, 5) || rep->element[0]->type != REDIS_REPLY_INTEGER)
        return bad_reply(r, "acquire", name, rep, err);
    if (rep->element[0]->integer == 0)
        return conflict(r, name, rep, err);
    if (rep->element[0]->integer == 2)
        return lc__err_paused(err, name, str_at(rep, 1), str_at(rep, 2));
    if (rep->element[0]->integer == 3)
        return lc__err_promised(err, name);
    if (rep->element[0]->integer != 1 || !is_array(rep, 6))
        return bad_reply(r, "acquire", name, rep, err);
    return granted(name, rep, out, err);
}

static lc_status rds_acquire(void *state, const lc_acquire_args *a, lc_grant *out, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    keys_of(r, a->name, &k);
    lc__redis_num(k.num[0], a->ttl_ms);
    lc__redis_num(k.num[1], r->history);
    lc__redis_num(k.num[2], a->queue_ms);
    /* A no-wait acquire never touches the line: its keys stay out. */
    int line = a->queue_ms > 0;
    call_init(&call, LC__RS_ACQUIRE, line ? 7 : 5);
    lc__rs_arg(&call, k.lock);
    lc__rs_arg(&call, k.fence);
    lc__rs_arg(&call, k.meta);
    lc__rs_arg(&call, k.pause);
    lc__rs_arg(&call, k.runs);
    if (line) {
        lc__rs_arg(&call, k.queue);
        lc__rs_arg(&call, k.due);
    }
    lc__rs_arg(&call, a->token);
    lc__rs_arg(&call, a->owner);
    lc__rs_arg(&call, k.num[0]);
    lc__rs_arg(&call, a->claim ? "1" : "0");
    lc__rs_arg(&call, k.num[1]);
    if (line)
        lc__rs_arg(&call, k.num[2]);
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, a->name, &rep, err);
    if (rc != LC_OK)
        return rc;
    uint64_t epoch = r->last->epoch; /* the connection the lock was written on */
    rc = lc__redis_acquire_reply(r, a->name, rep, out, err);
    freeReplyObject(rep);
    if (rc == LC_OK && (rc = confirm_replicas(r, a->name, a->token, epoch, err)) != LC_OK) {
        free(out->checkpoint);
        out->checkpoint = NULL;
    }
    return rc;
}

static lc_status rds_leave(void *state, const char *name, const char *token, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    keys_of(r, name, &k);
    call_init(&call, LC__RS_LEAVE, 2);
    lc__rs_arg(&call, k.queue);
    lc__rs_arg(&call, k.due);
    lc__rs_arg(&call, token);
    return run_token_checked(r, &call, name, err); /* the script always answers 1 */
}

static lc_status rds_renew(void *state, const char *name, const char *token, int64_t ttl_ms,
                           lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    keys_of(r, name, &k);
    lc__redis_num(k.num[0], ttl_ms);
    lock_meta_call(&call, LC__RS_RENEW, &k);
    lc__rs_arg(&call, token);
    lc__rs_arg(&call, k.num[0]);
    lc_status rc = run_token_checked(r, &call, name, err);
    return rc == LC_OK ? confirm_replicas(r, name, token, r->last->epoch, err) : rc;
}

typedef struct renew_slot {
    keys k;
    lc__rs_call call;
} renew_slot;

/* lc__rs_eval_many, once more on a new connection when the first broke:
 * for calls that are all repeatable. */
static lc_status eval_many(lc__redis *r, const lc__rs_call *calls, size_t n, redisReply **out,
                           lc_error *err)
{
    if (r->cluster)
        return lc__cluster_eval_many(r, calls, n, out, 0, err);
    lc_status rc = lc__rs_eval_many(&r->main, &r->scripts, calls, n, out, err);
    if (rc == LC_ERR_UNAVAILABLE && retry_after(r, 1, lc__rs_name(calls[0].script), err))
        rc = lc__rs_eval_many(&r->main, &r->scripts, calls, n, out, err);
    return rc;
}

/* Leases per renew-many script call: one call renews this many in one
 * go (Redis runs nothing else meanwhile, about 1 ms per thousand here);
 * more are sent as several calls in the same round trip. */
#define RENEW_CHUNK 1000

/* The arguments of renew-many calls: lock and meta key per lease, then
 * token and ttl per lease, each chunk's keys before its arguments. */
typedef struct renew_batch {
    keys *k;           /* per lease */
    const char **argv; /* 4 per lease */
    size_t *lens;
    lc__rs_call *calls; /* per chunk */
    redisReply **reps;
    size_t n, chunks;
} renew_batch;

static void renew_batch_free(renew_batch *b)
{
    for (size_t i = 0; b->reps && i < b->chunks; i++)
        if (b->reps[i])
            freeReplyObject(b->reps[i]);
    free(b->reps);
    free(b->calls);
    free(b->lens);
    free(b->argv);
    free(b->k);
}

static int renew_batch_init(lc__redis *r, const lc_renew_item *items, size_t n, renew_batch *b)
{
    memset(b, 0, sizeof(*b));
    b->n = n;
    b->chunks = (n + RENEW_CHUNK - 1) / RENEW_CHUNK;
    b->k = calloc(n, sizeof(*b->k));
    b->argv = calloc(4 * n, sizeof(*b->argv));
    b->lens = calloc(4 * n, sizeof(*b->lens));
    b->calls = calloc(b->chunks, sizeof(*b->calls));
    b->reps = calloc(b->chunks, sizeof(*b->reps));
    if (!b->k || !b->argv || !b->lens || !b->calls || !b->reps)
        return -1;
    for (size_t c = 0; c < b->chunks; c++) {
        size_t first = c * RENEW_CHUNK, m = n - first < RENEW_CHUNK ? n - first : RENEW_CHUNK;
        const char **kv = b->argv + 4 * first, **av = kv + 2 * m;
        for (size_t j = 0; j < m; j++) {
            keys *k = &b->k[first + j];
            keys_of(r, items[first + j].name, k);
            lc__redis_num(k->num[0], items[first + j].ttl_ms);
            kv[2 * j] = k->lock;
            kv[2 * j + 1] = k->meta;
            av[2 * j] = items[first + j].token;
            av[2 * j + 1] = k->num[0];
        }
        for (size_t j = 0; j < 4 * m; j++)
            b->lens[4 * first + j] = strlen(kv[j]);
        call_init(&b->calls[c], LC__RS_RENEW_MANY, (int)(2 * m));
        b->calls[c].more = kv;
        b->calls[c].more_lens = b->lens + 4 * first;
        b->calls[c].nmore = 4 * m;
    }
    return 0;
}

/* On one server: one renew-many script call per RENEW_CHUNK leases (one
 * for up to that many), all in one round trip. */
static lc_status renew_many_scripted(lc__redis *r, lc_renew_item *items, size_t n, lc_error *err)
{
    renew_batch b;
    lc_status rc = LC_OK;
    if (renew_batch_init(r, items, n, &b) != 0)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (rc == LC_OK)
        rc = eval_many(r, b.calls, b.chunks, b.reps, err);
    for (size_t c = 0; rc == LC_OK && c < b.chunks; c++) {
        size_t first = c * RENEW_CHUNK, m = n - first < RENEW_CHUNK ? n - first : RENEW_CHUNK;
        const redisReply *rep = b.reps[c];
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != m) {
            rc = bad_reply(r, "renew", items[first].name, rep, err);
            break;
        }
        for (size_t j = 0; j < m; j++) {
            const redisReply *e = rep->element[j];
            if (e->type != REDIS_REPLY_INTEGER) {
                rc = bad_reply(r, "renew", items[first + j].name, e, err);
                break;
            }
            items[first + j].status = e->integer == 1 ? LC_OK : LC_ERR_LOST;
        }
    }
    renew_batch_free(&b);
    return rc;
}

/* All renewals in one round trip: on one server, one script call for all
 * of them (renew_many_scripted); in a cluster, whose keys of different
 * slots cannot share a script call, one pipeline of renew calls per
 * master. Plus a WAIT when replicas must confirm: then a shortfall fails
 * the whole call as unavailable and the leases are left to the next
 * renewal or their ttl. */
static lc_status rds_renew_many(void *state, lc_renew_item *items, size_t n, lc_error *err)
{
    lc__redis *r = state;
    if (n == 0)
        return LC_OK;
    if (!r->cluster) {
        lc_status rc = renew_many_scripted(r, items, n, err);
        return rc != LC_OK ? rc : lc__redis_wait_replicas(r, &r->main, r->main.epoch, err);
    }
    renew_slot *slots = calloc(n, sizeof(*slots));
    lc__rs_call *calls = calloc(n, sizeof(*calls));
    redisReply **reps = calloc(n, sizeof(*reps));
    lc_status rc = LC_OK;
    if (slots == NULL || calls == NULL || reps == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; rc == LC_OK && i < n; i++) {
        keys *k = &slots[i].k;
        keys_of(r, items[i].name, k);
        lc__redis_num(k->num[0], items[i].ttl_ms);
        lock_meta_call(&calls[i], LC__RS_RENEW, k);
        lc__rs_arg(&calls[i], items[i].token);
        lc__rs_arg(&calls[i], k->num[0]);
    }
    if (rc == LC_OK) /* one pipeline and WAIT per master */
        rc = lc__cluster_eval_many(r, calls, n, reps, 1, err);
    for (size_t i = 0; rc == LC_OK && i < n; i++) {
        const redisReply *rep = reps[i];
        if (rep->type == REDIS_REPLY_INTEGER)
            items[i].status = rep->integer == 1 ? LC_OK : LC_ERR_LOST;
        else
            rc = bad_reply(r, "renew", items[i].name, rep, err);
    }
    for (size_t i = 0; reps && i < n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
    free(reps);
    free(calls);
    free(slots);
    return rc;
}

static lc_status rds_release(void *state, const char *name, const char *token,
                             const lc_run_result *res, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    release_call(r, name, token, res, &k, &call);
    return run_token_checked(r, &call, name, err);
}

static lc_status rds_abandon(void *state, const char *name, const char *token, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    release_call(r, name, token, NULL, &k, &call);
    return run_token_checked(r, &call, name, err);
}

static lc_status rds_start_run(void *state, const char *name, const char *token,
                               int64_t *started_at_ms, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    op_init(r, name, LC__RS_START, &k, &call);
    lc__rs_arg(&call, token);
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, name, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (!is_array(rep, 1) || rep->element[0]->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, "start", name, rep, err);
    else if (rep->element[0]->integer != 1)
        rc = lc__err_not_yours(err, name);
    else if (!is_array(rep, 2))
        rc = bad_reply(r, "start", name, rep, err);
    else
        *started_at_ms = int_at(rep, 1);
    freeReplyObject(rep);
    return rc;
}

lc_status lc__redis_force_reply(lc__redis *r, const char *name, const redisReply *rep,
                                int *was_held, lc_holder *prev, lc_error *err)
{
    if (!is_array(rep, 5))
        return bad_reply(r, "force-release", name, rep, err);
    *was_held = int_at(rep, 0) == 1;
    lc__strlcpy(prev->owner, str_at(rep, 1), sizeof(prev->owner));
    prev->fence = (uint64_t)int_at(rep, 2);
    prev->acquired_at_ms = int_at(rep, 3);
    prev->expires_in_ms = *was_held && int_at(rep, 4) >= 0 ? int_at(rep, 4) : -1;
    return LC_OK;
}

lc_status lc__redis_force_fenced(void *state, const char *name, const char *reason, int64_t seen,
                                 int *was_held, lc_holder *prev, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    char f[24];
    op_init(r, name, LC__RS_FORCE, &k, &call);
    notify_args(&call, &k);
    lc__rs_arg(&call, reason);
    if (seen >= 0) {
        snprintf(f, sizeof(f), "%lld", (long long)seen);
        lc__rs_arg(&call, f);
    }
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, name, &rep, err);
    if (rc != LC_OK)
        return rc;
    rc = lc__redis_force_reply(r, name, rep, was_held, prev, err);
    freeReplyObject(rep);
    return rc;
}

static lc_status rds_force_release(void *state, const char *name, const char *reason, int *was_held,
                                   lc_holder *prev, lc_error *err)
{
    return lc__redis_force_fenced(state, name, reason, -1, was_held, prev, err);
}

static lc_status rds_record_run(void *state, const char *name, const lc_run_result *res,
                                const lc_holder *who, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    char fence[24], started[24];
    keys_of(r, name, &k);
    call_init(&call, LC__RS_RECORD, who ? 3 : 2);
    lc__rs_arg(&call, k.meta);
    lc__rs_arg(&call, k.runs);
    if (who)
        lc__rs_arg(&call, k.lock);
    run_result_args(r, &call, res, &k);
    if (who) {
        snprintf(fence, sizeof(fence), "%llu", (unsigned long long)who->fence);
        snprintf(started, sizeof(started), "%lld", (long long)who->acquired_at_ms);
        lc__rs_arg(&call, fence);
        lc__rs_arg(&call, who->owner);
        lc__rs_arg(&call, started);
    }
    return run_token_checked(r, &call, name, err);
}

static lc_status rds_pause(void *state, const char *name, const char *by, const char *reason,
                           int64_t for_ms, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    keys_of(r, name, &k);
    snprintf(k.num[0], sizeof(k.num[0]), "%lld", (long long)for_ms);
    call_init(&call, LC__RS_PAUSE, 2);
    lc__rs_arg(&call, k.meta);
    lc__rs_arg(&call, k.pause);
    lc__rs_arg(&call, by);
    lc__rs_arg(&call, reason);
    lc__rs_arg(&call, k.num[0]);
    return run_token_checked(r, &call, name, err);
}

static lc_status rds_resume(void *state, const char *name, int *was_paused, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    keys_of(r, name, &k);
    call_init(&call, LC__RS_RESUME, 1);
    lc__rs_arg(&call, k.pause);
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, name, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(r, "resume", name, rep, err);
    else
        *was_paused = rep->integer > 0;
    freeReplyObject(rep);
    return rc;
}

static int64_t json_num(const cJSON *o, const char *key, int64_t if_missing)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : if_missing;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One entry of the runs list (the record function's JSON); 0 when it is
 * not one (written by someone else): it is skipped. -1 when out of
 * memory. */
static int run_entry_of(const redisReply *e, lc_run_entry *out)
{
    if (e->type != REDIS_REPLY_STRING)
        return 0;
    cJSON *o = cJSON_ParseWithLength(e->str, e->len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->fence = (uint64_t)json_num(o, "fence", 0);
    lc__strlcpy(out->owner, json_str(o, "owner"), sizeof(out->owner));
    out->started_at_ms = json_num(o, "started", -1);
    out->completed_at_ms = json_num(o, "completed", -1);
    out->duration_ms = json_num(o, "duration", -1);
    out->outcome = lc__outcome_parse(json_str(o, "outcome"));
    out->has_exit = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "exit"));
    out->exit_code = (int)json_num(o, "exit", 0);
    out->http_status = (int)json_num(o, "http", 0);
    out->attempts = (int)json_num(o, "attempts", 1);
    const char *error = json_str(o, "error");
    out->error = lc__strdup(error);
    cJSON_Delete(o);
    return error && !out->error ? -1 : 1;
}

static lc_status rds_history(void *state, const char *name, size_t limit, int64_t since_ms,
                             lc_run_entry **out, size_t *n, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    keys_of(r, name, &k);
    /* The release script trims the list in bulk, once it holds an eighth
     * more than lock.history: what is past the first lock.history entries
     * is on its way out, and not shown. */
    char last[24];
    snprintf(last, sizeof(last), "%d", r->history - 1);
    const char *argv[4] = {"LRANGE", k.runs, "0", last};
    size_t lens[4] = {6, strlen(k.runs), 1, strlen(last)};
    redisReply *rep = NULL;
    lc_status rc = r->cluster ? lc__cluster_command(r, k.runs, 4, argv, lens, &rep, err)
                              : lc__rconn_command(&r->main, 4, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY) {
        rc = bad_reply(r, "history", name, rep, err);
        freeReplyObject(rep);
        return rc;
    }
    lc_run_entry *list = calloc(rep->elements ? rep->elements : 1, sizeof(*list));
    size_t got = 0;
    if (list == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; rc == LC_OK && i < rep->elements && (limit == 0 || got < limit); i++) {
        int ok = run_entry_of(rep->element[i], &list[got]);
        if (ok < 0)
            rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        else if (ok && since_ms > 0 && list[got].completed_at_ms < since_ms)
            free(list[got].error);
        else if (ok)
            got++;
    }
    freeReplyObject(rep);
    if (rc != LC_OK) {
        lc_run_entries_free(list, got);
        return rc;
    }
    *out = list;
    *n = got;
    return LC_OK;
}

static lc_status rds_checkpoint(void *state, const char *name, const char *token, const char *value,
                                lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    op_init(r, name, LC__RS_CHECKPOINT, &k, &call);
    lc__rs_arg(&call, token);
    lc__rs_arg(&call, value);
    return run_token_checked(r, &call, name, err);
}

/* ---- inspect and list --------------------------------------------------- */

enum {
    M_OWNER,
    M_FENCE,
    M_ACQUIRED,
    M_STATUS,
    M_STARTED,
    M_COMPLETED,
    M_COUNT,
    M_ERROR,
    M_EXIT,
    M_CHECKPOINT,
    M_OUTCOME,
    M_HTTP,
    M_ATTEMPTS,
    M_MISSED,
    M_DURATION,
    M_SUCCESS,
    M_FAILURES,
    M_FIELDS
};

static const char *const meta_fields[M_FIELDS] = {"owner",
                                                  "fence",
                                                  "acquired_at_ms",
                                                  "status",
                                                  "last_started_at_ms",
                                                  "last_completed_at_ms",
                                                  "sync_count",
                                                  "last_error",
                                                  "last_exit",
                                                  "checkpoint",
                                                  "last_outcome",
                                                  "last_http_status",
                                                  "last_attempts",
                                                  "last_missed_slots",
                                                  "last_duration_ms",
                                                  "last_success_at_ms",
                                                  "consecutive_failures"};

/* A numeric meta field; absent leaves *v alone. */
static lc_status meta_num(lc__redis *r, const char *name, const redisReply *m, int f, int64_t *v,
                          lc_error *err)
{
    const redisReply *e = m->element[f];
    long long x;
    if (e->type == REDIS_REPLY_NIL)
        return LC_OK;
    if (num_of(e, &x) != 0)
        return lc__err(err, LC_ERR_INTERNAL, 0,
                       "redis %s: key %s:{%s}:meta: field %s is not a number", r->addr.label,
                       r->prefix, name, meta_fields[f]);
    *v = x;
    return LC_OK;
}

/* The last run's record beyond what every lock has. */
static lc_status meta_run(lc__redis *r, const char *name, const redisReply *m, lc_lock_info *out,
                          lc_error *err)
{
    int64_t http = 0, attempts = 0, missed = 0, failures = 0;
    lc_status rc = meta_num(r, name, m, M_HTTP, &http, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_ATTEMPTS, &attempts, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_MISSED, &missed, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_DURATION, &out->last_duration_ms, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_SUCCESS, &out->last_success_at_ms, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_FAILURES, &failures, err);
    out->last_http_status = (int)http;
    out->last_attempts = (int)attempts;
    out->last_missed_slots = (int)missed;
    out->consecutive_failures = (uint64_t)failures;
    out->last_outcome = lc__outcome_parse(str_at(m, M_OUTCOME));
    return rc;
}

static lc_status meta_nums(lc__redis *r, const char *name, const redisReply *m, lc_lock_info *out,
                           lc_error *err)
{
    int64_t fence = 0, count = 0, exit_code = -1;
    lc_status rc = meta_num(r, name, m, M_FENCE, &fence, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_ACQUIRED, &out->acquired_at_ms, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_STARTED, &out->last_started_at_ms, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_COMPLETED, &out->last_completed_at_ms, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_COUNT, &count, err);
    if (rc == LC_OK)
        rc = meta_num(r, name, m, M_EXIT, &exit_code, err);
    rc = rc == LC_OK ? meta_run(r, name, m, out, err) : rc;
    out->fence = (uint64_t)fence;
    out->sync_count = (uint64_t)count;
    out->has_last_exit = m->element[M_EXIT]->type != REDIS_REPLY_NIL;
    out->last_exit = (int)exit_code;
    return rc;
}

static lc_status meta_strs(const redisReply *m, lc_lock_info *out, lc_error *err)
{
    const char *e = str_at(m, M_ERROR), *cp = str_at(m, M_CHECKPOINT);
    lc__strlcpy(out->owner, str_at(m, M_OWNER), sizeof(out->owner));
    out->last_error = lc__strdup(e);
    out->checkpoint = lc__strdup(cp);
    if ((e && !out->last_error) || (cp && !out->checkpoint))
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    return LC_OK;
}

/* The pause part of an inspect reply: {by, reason, until_ms}, or {} (or
 * nothing, from a server that ran an older script) when not paused. */
static lc_status pause_info(const redisReply *rep, lc_lock_info *out, lc_error *err)
{
    if (!is_array(rep, 4) || !is_array(rep->element[3], 3))
        return LC_OK;
    const redisReply *p = rep->element[3];
    const char *reason = str_at(p, 1);
    out->paused = 1;
    lc__strlcpy(out->paused_by, str_at(p, 0), sizeof(out->paused_by));
    out->paused_reason = strdup(reason ? reason : "");
    long long until = -1;
    out->paused_until_ms = num_of(p->element[2], &until) == 0 && until > 0 ? until : -1;
    if (out->paused_reason == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    return LC_OK;
}

/* {pttl, now_ms, {meta fields}, {pause}} into out (already initialised). */
static lc_status fill_info(lc__redis *r, const char *name, const redisReply *rep, lc_lock_info *out,
                           lc_error *err)
{
    if (!is_array(rep, 3) || !is_array(rep->element[2], M_FIELDS))
        return bad_reply(r, "inspect", name, rep, err);
    const redisReply *m = rep->element[2];
    long long pttl = int_at(rep, 0), now = int_at(rep, 1);
    lc_status rc = meta_nums(r, name, m, out, err);
    if (rc == LC_OK)
        rc = meta_strs(m, out, err);
    if (rc != LC_OK) {
        lc_lock_info_clear(out);
        return rc;
    }
    if ((rc = pause_info(rep, out, err)) != LC_OK) {
        lc_lock_info_clear(out);
        return rc;
    }
    const char *status = str_at(m, M_STATUS);
    out->server_now_ms = now;
    out->held = pttl != -2;
    out->stale = !out->held && status && strcmp(status, "running") == 0;
    if (out->held) {
        out->expires_in_ms = pttl >= 0 ? pttl : -1;
        /* Both times are the server's; anything else (a meta hash written
         * by another tool) is unknown, not an overflow. */
        out->held_for_ms =
            out->acquired_at_ms >= 0 && now >= out->acquired_at_ms ? now - out->acquired_at_ms : -1;
    }
    return LC_OK;
}

static lc_status rds_inspect(void *state, const char *name, lc_lock_info *out, lc_error *err)
{
    lc__redis *r = state;
    keys k;
    lc__rs_call call;
    inspect_call(r, name, &k, &call);
    redisReply *rep = NULL;
    lc_status rc = run(r, &call, name, &rep, err);
    if (rc != LC_OK)
        return rc;
    lc__lock_info_init(out, name);
    rc = fill_info(r, name, rep, out, err);
    freeReplyObject(rep);
    return rc;
}

lc_status lc__redis_info_reply(lc__redis *r, const char *name, const redisReply *rep,
                               lc_lock_info *out, int *foreign, lc_error *err)
{
    lc__lock_info_init(out, name);
    *foreign = lc__reply_is_error(rep, "WRONGTYPE");
    if (*foreign)
        return lc__err(err, LC_ERR_INTERNAL, 0, "%s", rep->str);
    if (rep->type == REDIS_REPLY_ERROR)
        return bad_reply(r, "inspect", name, rep, err);
    lc_status rc = fill_info(r, name, rep, out, err);
    *foreign = rc == LC_ERR_INTERNAL;
    return rc;
}

/* Reports a lock skipped as foreign: its name, and the error without the
 * "redis HOST: " it starts with. */
static void skip_foreign(lc__redis *r, const char *name, const lc_error *why, size_t *skipped)
{
    char what[LC_NAME_MAX + 8], head[320];
    snprintf(what, sizeof(what), "'%s'", name);
    snprintf(head, sizeof(head), "redis %s: ", r->addr.label);
    const char *reason = why->message;
    if (strncmp(reason, head, strlen(head)) == 0)
        reason += strlen(head);
    lc__redis_skip(r, skipped, what, reason);
}

/* Inspects names[0..n) in one pipelined round trip. A foreign lock is
 * reported, cleared and marked in skip[]; other failures fail the call. */
static lc_status inspect_batch(lc__redis *r, char **names, size_t n, lc_lock_info *out,
                               unsigned char *skip, size_t *skipped, lc_error *err)
{
    keys *k = calloc(n, sizeof(*k));
    lc__rs_call *calls = calloc(n, sizeof(*calls));
    redisReply **reps = calloc(n, sizeof(*reps));
    lc_status rc = LC_OK;
    if (k == NULL || calls == NULL || reps == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        inspect_call(r, names[i], &k[i], &calls[i]);
    if (rc == LC_OK)
        rc = eval_many(r, calls, n, reps, err);
    size_t filled = 0;
    for (; rc == LC_OK && filled < n; filled++) {
        lc_error why;
        int foreign = 0;
        lc_status one =
            lc__redis_info_reply(r, names[filled], reps[filled], &out[filled], &foreign, &why);
        if (one != LC_OK && !foreign) {
            rc = one;
            if (err)
                *err = why;
            break;
        }
        if (one != LC_OK) {
            skip_foreign(r, names[filled], &why, skipped);
            lc_lock_info_clear(&out[filled]);
            skip[filled] = 1;
        }
    }
    for (size_t i = 0; rc != LC_OK && i < filled; i++)
        lc_lock_info_clear(&out[i]);
    for (size_t i = 0; reps && i < n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
    free(reps);
    free(calls);
    free(k);
    return rc;
}

/* Removes the skipped entries, keeping the order; returns the new count. */
static size_t drop_skipped(lc_lock_info *list, const unsigned char *skip, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (!skip[i])
            list[j++] = list[i];
    return j;
}

#define LIST_BATCH 256

/* Every lock under the prefix. Keys there that are not lockcoord's are
 * skipped and reported (lc__redis_skip), so one stray key does not hide
 * the rest. */
static lc_status rds_list(void *state, lc_lock_info **out, size_t *n, lc_error *err)
{
    lc__redis *r = state;
    char **names = NULL;
    size_t count = 0, skipped = 0;
    lc_status rc = lc__redis_scan_names(r, &names, &count, &skipped, err);
    if (rc != LC_OK)
        return rc;
    lc_lock_info *list = calloc(count ? count : 1, sizeof(*list));
    unsigned char *skip = calloc(count ? count : 1, 1);
    if (list == NULL || skip == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    size_t done = 0;
    while (rc == LC_OK && done < count) {
        size_t b = count - done < LIST_BATCH ? count - done : LIST_BATCH;
        rc = inspect_batch(r, names + done, b, list + done, skip + done, &skipped, err);
        if (rc == LC_OK)
            done += b;
    }
    lc__redis_names_free(names, count);
    if (rc != LC_OK) {
        lc_lock_list_free(list, done); /* skipped entries are cleared: freeing them is a no-op */
        free(skip);
        return rc;
    }
    if (skipped > LC__SKIP_NAMED)
        lc__log(r->main.log, r->main.log_ctx, LC_LOG_WARN,
                "redis %s: listing skipped %zu keys under '%s' that are not lockcoord locks",
                r->addr.label, skipped, r->prefix);
    *out = list;
    *n = drop_skipped(list, skip, count);
    free(skip);
    return LC_OK;
}

/* The scripts on every master of a cluster. */
static lc_status cluster_migrate(lc__redis *r, char *what, size_t what_size, lc_error *err)
{
    lc__redis_conn **conns = NULL;
    size_t n = 0;
    int loaded = 0;
    lc_status rc = lc__cluster_masters(r, &conns, &n, err);
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        rc = lc__rs_load_all(conns[i], &r->scripts, &loaded, err);
    free(conns);
    if (rc == LC_OK && what && what_size)
        snprintf(what, what_size, "redis cluster %s: loaded %d scripts on %zu masters",
                 r->addr.label, loaded, n);
    return rc;
}

static lc_status rds_migrate(void *state, char *what, size_t what_size, lc_error *err)
{
    lc__redis *r = state;
    int loaded = 0;
    if (r->cluster)
        return cluster_migrate(r, what, what_size, err);
    lc_status rc = lc__rs_load_all(&r->main, &r->scripts, &loaded, err);
    if (rc == LC_ERR_UNAVAILABLE && retry_after(r, 1, "SCRIPT LOAD", err))
        rc = lc__rs_load_all(&r->main, &r->scripts, &loaded, err);
    if (rc == LC_OK && what && what_size)
        snprintf(what, what_size, "redis %s: loaded %d scripts", r->addr.label, loaded);
    return rc;
}

static uint64_t rds_requests(void *state)
{
    const lc__redis *r = state;
    return r->cluster ? lc__cluster_requests(r) : r->main.requests;
}

const lc_backend_ops lc__backend_redis = {
    .name = "redis",
    .open = rds_open,
    .close = rds_close,
    .acquire = rds_acquire,
    .leave = rds_leave,
    .renew = rds_renew,
    .renew_many = rds_renew_many,
    .release = rds_release,
    .force_release = rds_force_release,
    .record_run = rds_record_run,
    .start_run = rds_start_run,
    .abandon = rds_abandon,
    .checkpoint = rds_checkpoint,
    .pause = rds_pause,
    .resume = rds_resume,
    .history = rds_history,
    .inspect = rds_inspect,
    .list = rds_list,
    .migrate = rds_migrate,
    .watch = lc__redis_watch,
    .wait = lc__redis_wait,
    .unwatch = lc__redis_unwatch,
    .requests = rds_requests,
    .bench = &lc__bench_redis,
    .variant = lc__redis_variant,
};
