/* core/backoff_int.h -- jittered exponential backoff. */
#ifndef LC_BACKOFF_INT_H
#define LC_BACKOFF_INT_H

#include <stdint.h>

typedef struct lc__backoff {
    int64_t min_ms;
    int64_t max_ms;
    int64_t cur_ms; /* the ceiling of the next delay before jitter */
    uint64_t rng;   /* xorshift state */
} lc__backoff;

/* min_ms >= 1, max_ms >= min_ms (clamped if not). Seeded from getrandom
 * by the first lc__backoff_next, so an unused backoff costs no system call. */
void lc__backoff_init(lc__backoff *b, int64_t min_ms, int64_t max_ms);

/* The next delay: uniform in [cur/2, cur], then cur doubles up to max.
 * Every delay lies within [min/2, max]. */
int64_t lc__backoff_next(lc__backoff *b);

void lc__backoff_reset(lc__backoff *b);

#endif
