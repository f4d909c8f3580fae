/* core/bench.c -- the backend's floor for benchmarks (lc_bench_ref_*):
 * checks the arguments as the client does, then hands each call to the
 * backend's lc_bench_ops. */
#include "core/client_int.h"
#include "core/error_int.h"
#include "core/timing_int.h"

#include <stdlib.h>
#include <string.h>

struct lc_bench_ref {
    const lc_bench_ops *ops;
    void *state;
};

lc_status lc_bench_ref_open(const lc_client *c, lc_bench_ref **out, lc_error *err)
{
    const lc_bench_ops *ops = c->ops->bench;
    if (ops == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "backend '%s' has no reference floor", c->ops->name);
    lc_bench_ref *ref = calloc(1, sizeof(*ref));
    if (ref == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_backend_env env = {c->clock, c->log, c->log_ctx, NULL};
    lc_status rc = ops->open(c->cfg, &env, &ref->state, err);
    if (rc != LC_OK) {
        free(ref);
        return rc;
    }
    ref->ops = ops;
    *out = ref;
    return LC_OK;
}

void lc_bench_ref_close(lc_bench_ref *ref)
{
    if (ref == NULL)
        return;
    ref->ops->close(ref->state);
    free(ref);
}

const char *lc_bench_ref_floor(const lc_bench_ref *ref)
{
    return ref->ops->floor;
}

/* A name and token the backend may build keys and literals from. */
static lc_status check_lease(const char *name, const char *token, lc_error *err)
{
    lc_status rc = lc_name_check(name, name ? strlen(name) : 0, err);
    return rc == LC_OK ? lc_token_check(token, err) : rc;
}

lc_status lc_bench_ref_acquire(lc_bench_ref *ref, const char *name, const char *token,
                               int64_t ttl_ms, lc_error *err)
{
    lc_status rc = check_lease(name, token, err);
    if (rc == LC_OK)
        rc = lc__timing_check_ttl(ttl_ms, err);
    return rc == LC_OK ? ref->ops->acquire(ref->state, name, token, ttl_ms, err) : rc;
}

lc_status lc_bench_ref_release(lc_bench_ref *ref, const char *name, const char *token,
                               lc_error *err)
{
    lc_status rc = check_lease(name, token, err);
    return rc == LC_OK ? ref->ops->release(ref->state, name, token, err) : rc;
}

lc_status lc_bench_ref_renew(lc_bench_ref *ref, const char *const *names, const char *const *tokens,
                             size_t n, int64_t ttl_ms, size_t *renewed, lc_error *err)
{
    lc_status rc = lc__timing_check_ttl(ttl_ms, err);
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        rc = check_lease(names[i], tokens[i], err);
    if (rc != LC_OK)
        return rc;
    size_t done = 0;
    if (n > 0 &&
        (rc = ref->ops->renew_many(ref->state, names, tokens, n, ttl_ms, &done, err)) != LC_OK)
        return rc;
    if (renewed)
        *renewed = done;
    return LC_OK;
}
