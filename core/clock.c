/* core/clock.c -- the system clock behind the injectable lc_clock. */
#include "core/clock_int.h"
#include "core/timing_int.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static int64_t system_mono_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t system_wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const lc_clock system_clock = {system_mono_ns, system_wall_ms, NULL};

const lc_clock *lc_clock_system(void)
{
    return &system_clock;
}

int64_t lc__mono_ns(const lc_clock *c)
{
    return c ? c->mono_ns(c->ctx) : system_mono_ns(NULL);
}

int64_t lc__wall_ms(const lc_clock *c)
{
    return c ? c->wall_ms(c->ctx) : system_wall_ms(NULL);
}

int64_t lc__ms_to_ns(int64_t ms)
{
    if (ms > INT64_MAX / 1000000)
        return INT64_MAX;
    if (ms < INT64_MIN / 1000000)
        return INT64_MIN;
    return ms * 1000000;
}

int64_t lc__add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void lc__cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec lc__mono_after(int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ns < 0)
        ns = 0;
    int64_t nsec = ts.tv_nsec + ns % 1000000000;
    ts.tv_sec += (time_t)(ns / 1000000000 + nsec / 1000000000);
    ts.tv_nsec = (long)(nsec % 1000000000);
    return ts;
}

int64_t lc_deadline_after(int64_t sent_ns, int64_t ttl_ms)
{
    int64_t allowance_ms = lc__timing_allowance_ms(ttl_ms);
    int64_t ms = ttl_ms - allowance_ms;
    if (ms < 0)
        ms = 0;
    return lc__add_sat(sent_ns, lc__ms_to_ns(ms));
}

char *lc_time_format(int64_t unix_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(unix_ms % 1000));
    return buf;
}
