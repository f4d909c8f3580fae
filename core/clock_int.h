/* core/clock_int.h -- reading an lc_clock (NULL means the system clock). */
#ifndef LC_CLOCK_INT_H
#define LC_CLOCK_INT_H

#include "lockcoord.h"

#include <pthread.h>
#include <time.h>

int64_t lc__mono_ns(const lc_clock *c);
int64_t lc__wall_ms(const lc_clock *c);

/* ms as ns, and a + b, saturating at INT64_MAX (and INT64_MIN): a
 * duration from an embedder is not bound by the parser's maximum, and a
 * deadline that overflowed would lie in the past. */
int64_t lc__ms_to_ns(int64_t ms);
int64_t lc__add_sat(int64_t a, int64_t b);

/* A condition variable whose timed waits run on CLOCK_MONOTONIC, so a
 * wall-clock step neither shortens nor stretches them. */
void lc__cond_init_mono(pthread_cond_t *cond);

/* The absolute CLOCK_MONOTONIC time ns from now, for such a wait. */
struct timespec lc__mono_after(int64_t ns);

#endif
