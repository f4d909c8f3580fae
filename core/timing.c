/* core/timing.c -- the timing rules of a lease (see core/timing_int.h). */
#include "core/timing_int.h"

#include "core/error_int.h"

#include <stddef.h>

int64_t lc__timing_renew_default(int64_t ttl_ms)
{
    return ttl_ms / 3;
}

int lc__timing_renew_fits(int64_t ttl_ms, int64_t renew_every_ms)
{
    return renew_every_ms > 0 && renew_every_ms * 2 < ttl_ms;
}

int64_t lc__timing_allowance_ms(int64_t ttl_ms)
{
    return ttl_ms / 100 + 2;
}

lc_status lc__timing_check_ttl(int64_t ttl_ms, lc_error *err)
{
    if (ttl_ms > LC_DURATION_MAX_MS)
        return lc__err(err, LC_ERR_INVALID, 0, "ttl of %lld ms is too long: at most 365d",
                       (long long)ttl_ms);
    if (ttl_ms >= LC_TTL_MIN_MS)
        return LC_OK;
    char t[32], min[32];
    return lc__err(err, LC_ERR_INVALID, 0, "ttl (%s) must be at least %s",
                   ttl_ms > 0 ? lc_duration_format(ttl_ms, t, sizeof(t)) : "0",
                   lc_duration_format(LC_TTL_MIN_MS, min, sizeof(min)));
}

lc_status lc__timing_check_renew(int64_t ttl_ms, int64_t renew_every_ms, lc_error *err)
{
    if (lc__timing_renew_fits(ttl_ms, renew_every_ms))
        return LC_OK;
    char r[32], t[32];
    if (renew_every_ms <= 0)
        return lc__err(err, LC_ERR_INVALID, 0, "renew_every must be positive");
    return lc__err(err, LC_ERR_INVALID, 0, "renew_every (%s) must be less than half the ttl (%s)",
                   lc_duration_format(renew_every_ms, r, sizeof(r)),
                   lc_duration_format(ttl_ms, t, sizeof(t)));
}

int64_t lc__timing_kill_grace(int64_t ms, int set)
{
    if (ms < 0)
        return -1;
    return ms == 0 && !set ? LC__KILL_GRACE_MS : ms;
}

lc_status lc_lease_timing_settle(const lc_config *cfg, lc_lease_timing *t, lc_error *err)
{
    if (t->ttl_ms == 0 && cfg == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "no ttl given and no config to take it from");
    int64_t ttl = t->ttl_ms != 0 ? t->ttl_ms : cfg->lock.ttl_ms;
    int64_t every = t->renew_every_ms;
    if (every == 0)
        every = t->ttl_ms != 0 ? lc__timing_renew_default(ttl) : cfg->lock.renew_every_ms;
    lc_status rc = lc__timing_check_ttl(ttl, err);
    if (rc == LC_OK)
        rc = lc__timing_check_renew(ttl, every, err);
    int64_t grace = lc__timing_kill_grace(t->kill_grace_ms, t->kill_grace_set);
    if (rc == LC_OK && grace < 0)
        rc = lc__err(err, LC_ERR_INVALID, 0, "kill grace must not be negative");
    if (rc != LC_OK)
        return rc;
    t->ttl_ms = ttl;
    t->renew_every_ms = every;
    t->kill_grace_ms = grace;
    t->kill_grace_set = 1;
    return LC_OK;
}
