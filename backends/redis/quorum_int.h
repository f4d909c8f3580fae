/* backends/redis/quorum_int.h -- quorum mode (redis.quorum): a lease held
 * on a majority of independent Redis masters, each reached through the
 * single-node Redis backend, all of them asked in parallel. */
#ifndef LC_REDIS_QUORUM_INT_H
#define LC_REDIS_QUORUM_INT_H

#include "backends/backend_int.h"
#include "backends/limits_int.h"

#include <stddef.h>
#include <stdint.h>

/* The quorum table; the Redis table hands it every config with
 * redis.quorum (lc__redis_variant). */
extern const lc_backend_ops lc__backend_redis_quorum;

/* The table that serves cfg: the quorum table when cfg->redis.n_quorum
 * is not 0, else the single-node (or cluster) Redis table. */
const lc_backend_ops *lc__redis_variant(const lc_config *cfg);

/* How many of n masters make a majority: n / 2 + 1. */
size_t lc__quorum_majority(size_t n);

/* How long an acquire on the masters stays good for, measured from when it
 * was sent: the ttl minus the local deadline's drift allowance (1% of the
 * ttl plus 2 ms). An acquire whose majority comes later is given back. */
int64_t lc__quorum_validity_ms(int64_t ttl_ms);

/* Which of k masters' views of one lock (k >= 1) stands for the lock:
 * the view of a holder that at least `majority` of them name (the same
 * owner and fence), else the not-held view with the highest fence (the
 * first of them on a tie), or the highest-fence view of all when every
 * one is held and no holder has a majority. *fence gets the highest fence any of them has seen,
 * which is what the lock has handed out. */
size_t lc__quorum_pick_info(const lc_lock_info *const *views, size_t k, size_t majority,
                            uint64_t *fence);

/* Which of k holders the masters reported (held[i] 0: master i reported
 * none) to name as the lock's holder: one that at least `majority` of
 * them name (the same owner and fence), else the one with the highest
 * fence (the first of them on a tie); k when none is held. A minority's
 * stray lease -- an attempt that failed, not yet given back -- can carry
 * a higher fence than the lease a majority holds, so "highest fence"
 * alone would name the wrong holder. */
size_t lc__quorum_pick_holder(const lc_holder *const *h, const unsigned char *held, size_t k,
                              size_t majority);

#endif
