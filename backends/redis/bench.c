/* backends/redis/bench.c -- the floor `lockcoord bench --reference`
 * measures the Redis backend against: a lease as a bare `SET key token NX
 * PX ttl`, given back by a one-line compare-and-delete script, renewed in
 * bulk by one script call. These are the fewest round trips a token-checked
 * lease needs, sent with plain hiredis calls on a connection made as the
 * backend makes its own (backends/backend_int.h: lc_bench_ops).
 *
 * The keys are "PREFIX:{NAME}:bench": the hash tag of the lock, a suffix
 * no lock uses, so a reference never touches a lock and listings never
 * see one. With redis.cluster each command goes to the node that owns its
 * key, as lockcoord's own do; the renewal floor (one script over keys of
 * many slots) has no counterpart there. */
#include "backends/backend_int.h"
#include "backends/redis/cluster_int.h"
#include "backends/redis/redis_int.h"
#include "core/error_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char release_lua[] = "if redis.call('get', KEYS[1]) == ARGV[1] then "
                                  "return redis.call('del', KEYS[1]) end return 0";

static const char renew_lua[] = "local n, ms = 0, ARGV[#KEYS + 1] "
                                "for i = 1, #KEYS do "
                                "if redis.call('get', KEYS[i]) == ARGV[i] then "
                                "redis.call('pexpire', KEYS[i], ms) n = n + 1 end end "
                                "return n";

typedef struct rbench {
    void *backend; /* the backend's state: its main connection is ours */
    lc__redis *r;
    char release_sha[41];
    char renew_sha[41];
} rbench;

/* One command with plain hiredis. A connection that broke stays broken
 * (the reference does not reconnect: the caller opens another). Error
 * replies come back as replies. */
static lc_status command(rbench *b, const char *what, const char *key, int argc, const char **argv,
                         const size_t *lens, redisReply **out, lc_error *err)
{
    if (b->r->cluster != NULL && key != NULL)
        return lc__cluster_command(b->r, key, argc, argv, lens, out, err);
    redisContext *ctx = b->r->main.ctx;
    if (ctx == NULL || ctx->err)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: reference %s: connection lost",
                       b->r->addr.label, what);
    redisReply *rep = redisCommandArgv(ctx, argc, argv, lens);
    if (rep == NULL)
        return lc__err(err, LC_ERR_UNAVAILABLE, ctx->err == REDIS_ERR_IO ? errno : 0,
                       "redis %s: reference %s: %s", b->r->addr.label, what, ctx->errstr);
    *out = rep;
    return LC_OK;
}

static lc_status bad_reply(rbench *b, const char *what, redisReply *rep, lc_error *err)
{
    lc_status rc;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: reference %s: %s", b->r->addr.label,
                     what, rep->str);
    else
        rc = lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: reference %s: unexpected reply (type %d)",
                     b->r->addr.label, what, rep->type);
    freeReplyObject(rep);
    return rc;
}

/* SCRIPT LOAD on the node that owns `key` (NULL: the one connected to). */
static lc_status load(rbench *b, const char *src, char sha[41], const char *key, lc_error *err)
{
    const char *argv[] = {"SCRIPT", "LOAD", src};
    size_t lens[] = {6, 4, strlen(src)};
    redisReply *rep = NULL;
    lc_status rc = command(b, "script load", key, 3, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40)
        return bad_reply(b, "script load", rep, err);
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    freeReplyObject(rep);
    return LC_OK;
}

static lc_status load_all(rbench *b, const char *key, lc_error *err)
{
    lc_status rc = load(b, release_lua, b->release_sha, key, err);
    return rc == LC_OK ? load(b, renew_lua, b->renew_sha, key, err) : rc;
}

/* EVALSHA; on NOSCRIPT (SCRIPT FLUSH, a restart without persistence, a
 * cluster node that has not seen them) the scripts are loaded again and
 * the call made once more. argv[1] is the SHA, filled in here; argv[3]
 * the first key. */
static lc_status evalsha(rbench *b, const char *what, const char *sha, int argc, const char **argv,
                         size_t *lens, redisReply **out, lc_error *err)
{
    for (int attempt = 0;; attempt++) {
        argv[1] = sha;
        lens[1] = 40;
        redisReply *rep = NULL;
        lc_status rc = command(b, what, argv[3], argc, argv, lens, &rep, err);
        if (rc != LC_OK)
            return rc;
        if (attempt > 0 || !lc__reply_is_error(rep, "NOSCRIPT")) {
            *out = rep;
            return LC_OK;
        }
        freeReplyObject(rep);
        if ((rc = load_all(b, argv[3], err)) != LC_OK)
            return rc;
    }
}

static void rb_close(void *state)
{
    rbench *b = state;
    if (b == NULL)
        return;
    lc__backend_redis.close(b->backend);
    free(b);
}

static lc_status rb_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                         lc_error *err)
{
    rbench *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_status rc = lc__backend_redis.open(cfg, env, &b->backend, err);
    if (rc != LC_OK) {
        free(b);
        return rc;
    }
    b->r = b->backend;
    if ((rc = load_all(b, NULL, err)) != LC_OK) {
        rb_close(b);
        return rc;
    }
    *state = b;
    return LC_OK;
}

static lc_status rb_acquire(void *state, const char *name, const char *token, int64_t ttl_ms,
                            lc_error *err)
{
    rbench *b = state;
    char key[LC__KEY_MAX], ms[24];
    lc__redis_key(b->r, name, "bench", key);
    snprintf(ms, sizeof(ms), "%lld", (long long)ttl_ms);
    const char *argv[] = {"SET", key, token, "NX", "PX", ms};
    size_t lens[] = {3, strlen(key), strlen(token), 2, 2, strlen(ms)};
    redisReply *rep = NULL;
    lc_status rc = command(b, "acquire", key, 6, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type == REDIS_REPLY_NIL)
        rc = lc__err(err, LC_ERR_CONFLICT, 0, "reference lock '%s' is held", name);
    else if (rep->type != REDIS_REPLY_STATUS)
        return bad_reply(b, "acquire", rep, err);
    freeReplyObject(rep);
    return rc;
}

static lc_status rb_release(void *state, const char *name, const char *token, lc_error *err)
{
    rbench *b = state;
    char key[LC__KEY_MAX];
    lc__redis_key(b->r, name, "bench", key);
    const char *argv[] = {"EVALSHA", NULL, "1", key, token};
    size_t lens[] = {7, 0, 1, strlen(key), strlen(token)};
    redisReply *rep = NULL;
    lc_status rc = evalsha(b, "release", b->release_sha, 5, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type != REDIS_REPLY_INTEGER)
        return bad_reply(b, "release", rep, err);
    if (rep->integer != 1)
        rc = lc__err_not_yours(err, name);
    freeReplyObject(rep);
    return rc;
}

/* EVALSHA sha n key... token... ttl */
static lc_status rb_renew_many(void *state, const char *const *names, const char *const *tokens,
                               size_t n, int64_t ttl_ms, size_t *renewed, lc_error *err)
{
    rbench *b = state;
    if (b->r->cluster != NULL)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis: bench renew --reference has no floor with redis.cluster (one "
                       "script cannot take keys of many slots)");
    size_t argc = 3 + 2 * n + 1;
    char *keys = malloc(n * LC__KEY_MAX);
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char num[24], ms[24];
    lc_status rc = LC_OK;
    if (keys == NULL || argv == NULL || lens == NULL || argc > (size_t)INT32_MAX) {
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        goto out;
    }
    snprintf(num, sizeof(num), "%zu", n);
    snprintf(ms, sizeof(ms), "%lld", (long long)ttl_ms);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[2] = num;
    lens[2] = strlen(num);
    for (size_t i = 0; i < n; i++) {
        char *key = keys + i * LC__KEY_MAX;
        lc__redis_key(b->r, names[i], "bench", key);
        argv[3 + i] = key;
        lens[3 + i] = strlen(key);
        argv[3 + n + i] = tokens[i];
        lens[3 + n + i] = strlen(tokens[i]);
    }
    argv[argc - 1] = ms;
    lens[argc - 1] = strlen(ms);
    redisReply *rep = NULL;
    rc = evalsha(b, "renew", b->renew_sha, (int)argc, argv, lens, &rep, err);
    if (rc == LC_OK && rep->type != REDIS_REPLY_INTEGER) {
        rc = bad_reply(b, "renew", rep, err);
    } else if (rc == LC_OK) {
        *renewed = rep->integer > 0 ? (size_t)rep->integer : 0;
        freeReplyObject(rep);
    }
out:
    free(keys);
    free(argv);
    free(lens);
    return rc;
}

const lc_bench_ops lc__bench_redis = {
    .floor = "SET NX PX; EVALSHA of a GET/DEL compare script; renewal: one EVALSHA for all",
    .open = rb_open,
    .close = rb_close,
    .acquire = rb_acquire,
    .release = rb_release,
    .renew_many = rb_renew_many,
};
