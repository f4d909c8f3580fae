/* core/timing_int.h -- the timing rules of a lease, each written once:
 * the defaults (renew_every = ttl/3, a 5 s kill grace), the limits (a ttl
 * of at least LC_TTL_MIN_MS, renew_every below ttl/2) and the drift
 * allowance of the local deadline (1% of the ttl plus 2 ms). The config
 * loader, the client, the keeper and lc_lease_timing_settle all ask here. */
#ifndef LC_TIMING_INT_H
#define LC_TIMING_INT_H

#include "lockcoord.h"

/* SIGTERM-to-SIGKILL delay when a run does not say. */
#define LC__KILL_GRACE_MS 5000

/* renew_every for a lease of ttl_ms when nothing else says: ttl/3, so two
 * renewals can fail before the lease is lost. */
int64_t lc__timing_renew_default(int64_t ttl_ms);

/* 1 when renew_every_ms is positive and less than half of ttl_ms (a
 * renewal can fail once and the next still lands in time), else 0. */
int lc__timing_renew_fits(int64_t ttl_ms, int64_t renew_every_ms);

/* The drift allowance taken off a lease's ttl for its local deadline:
 * 1% of the ttl plus 2 ms. */
int64_t lc__timing_allowance_ms(int64_t ttl_ms);

/* LC_ERR_INVALID unless ttl_ms is at least LC_TTL_MIN_MS and at most
 * LC_DURATION_MAX_MS. */
lc_status lc__timing_check_ttl(int64_t ttl_ms, lc_error *err);

/* LC_ERR_INVALID with "renew_every (X) must be less than half the ttl
 * (Y)" unless lc__timing_renew_fits. */
lc_status lc__timing_check_renew(int64_t ttl_ms, int64_t renew_every_ms, lc_error *err);

/* The kill grace of a run: ms when given (set, or not 0; 0 with set means
 * SIGKILL right after SIGTERM), else LC__KILL_GRACE_MS. -1 when ms is
 * negative. */
int64_t lc__timing_kill_grace(int64_t ms, int set);

#endif
