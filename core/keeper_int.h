/* core/keeper_int.h -- test hooks of the keeper.
 *
 * A keeper normally opens its own client and runs two threads (the renewer
 * and the watchdog). Unit tests drive the same logic by hand instead: a
 * manual keeper has no threads, and the test calls lc__keeper_tick (one
 * renewal round, exactly what the renewer thread does each renew_every) and
 * lc__keeper_check (apply the local deadlines against the clock now,
 * exactly what the watchdog thread does when it wakes). */
#ifndef LC_KEEPER_INT_H
#define LC_KEEPER_INT_H

#include "lockcoord.h"

/* A keeper without threads around `c`, which stays the caller's: it must
 * outlive the keeper and is not closed by lc_keeper_stop. On error *out is
 * untouched. */
lc_status lc__keeper_start_manual(lc_client *c, const lc_keeper_opts *kopts, lc_keeper **out,
                                  lc_error *err);

/* A keeper with its threads around `c`, which stays the caller's (as
 * above). For tests that need the real threads but a custom backend table. */
lc_status lc__keeper_start_threaded(lc_client *c, const lc_keeper_opts *kopts, lc_keeper **out,
                                    lc_error *err);

/* One renewal round now: every kept lease that is not lost, in one backend
 * call. Returns when the call has returned and its replies are applied
 * (losses signalled). */
void lc__keeper_tick(lc_keeper *k);

/* Declares lost every kept lease whose local deadline has passed on the
 * client's clock, and signals those losses. */
void lc__keeper_check(lc_keeper *k);

/* The keeper's clock now (its client's), monotonic ns: what its local
 * deadlines are measured on. */
int64_t lc__keeper_now_ns(const lc_keeper *k);

/* Logs through the keeper's client's hook. */
void lc__keeper_log(const lc_keeper *k, lc_log_level level, const char *msg);

/* Called after every renewal round (one backend call) with how many
 * leases it sent, how long the call took (CLOCK_MONOTONIC ns) and its
 * status: for the job engine's metrics. It runs on the renewer thread
 * under the keeper's lock: it must be quick, must not block, and must not
 * call any lc_keeper_* function. */
typedef void (*lc__round_fn)(void *ctx, size_t leases, int64_t took_ns, lc_status rc);

/* Sets (or with NULL clears) the round hook. Any thread, any time before
 * lc_keeper_stop. */
void lc__keeper_on_round(lc_keeper *k, lc__round_fn fn, void *ctx);

/* How many stopped keepers still have a renewer finishing a round (see
 * lc_keeper_stop). A test that lent its client waits for 0 before closing
 * it. */
int lc__keeper_orphans(void);

#endif
