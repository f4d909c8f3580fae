/* core/backoff.c -- "equal jitter" exponential backoff: each delay is half
 * fixed, half random, so contenders spread out but never spin. */
#include "core/backoff_int.h"

#include <sys/random.h>
#include <time.h>

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

void lc__backoff_init(lc__backoff *b, int64_t min_ms, int64_t max_ms)
{
    if (min_ms < 1)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->cur_ms = min_ms;
    b->rng = 0; /* seeded by the first delay: most acquires never wait */
}

static void seed(lc__backoff *b)
{
    if (getrandom(&b->rng, sizeof(b->rng), GRND_NONBLOCK) != sizeof(b->rng))
        b->rng = (uint64_t)time(NULL) * 2654435761u;
    if (b->rng == 0)
        b->rng = 88172645463325252ull;
}

int64_t lc__backoff_next(lc__backoff *b)
{
    if (b->rng == 0)
        seed(b);
    int64_t ceil = b->cur_ms;
    int64_t half = ceil / 2;
    int64_t span = ceil - half;
    int64_t d = half + (span > 0 ? (int64_t)(xorshift(&b->rng) % (uint64_t)(span + 1)) : 0);
    if (b->cur_ms < b->max_ms)
        b->cur_ms = b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2; /* no overflow */
    return d;
}

void lc__backoff_reset(lc__backoff *b)
{
    b->cur_ms = b->min_ms;
}
