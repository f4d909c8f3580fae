/* tests/fuzz/fuzz_cron.c -- the cron parser and its next/prev search
 * (sync/cron.c).
 *
 * Input: "EXPRESSION" or "EXPRESSION\nINSTANT", the instant in unix ms
 * (decimal, clamped to 1970..9999; without one, three fixed instants).
 * Properties of a parsed expression, checked against the bitmasks and a
 * calendar of gmtime_r's, not against the search itself:
 *  - next(t) is a whole minute after t that fires, and no minute between
 *    t and it fires (scanned when the distance is short);
 *  - prev(t) is a whole minute at or before t that fires, and
 *    next(prev(t)) == next(t), prev(next(t) - 1) == prev(t);
 *  - consecutive fire times are at least lc__cron_min_gap_ms apart. */
#include "fuzz.h"

#include "sync/cron_int.h"

#include <time.h>

#define MINUTE_MS  ((int64_t)60 * 1000)
#define END_MS     ((int64_t)2932897 * 24 * 60 * MINUTE_MS) /* 10000-01-01T00:00Z */
#define SCAN_LIMIT 1500                                     /* minutes scanned between */

/* Whether the whole minute at ms fires, from the fields' bits: a day
 * field that selects all its values is unrestricted; with both day fields
 * restricted a day fires if either matches. */
static int fires(const lc__cron *c, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    FUZZ_CHECK(gmtime_r(&secs, &tm) != NULL);
    if (!(c->minute >> tm.tm_min & 1) || !(c->hour >> tm.tm_hour & 1) ||
        !(c->month >> (tm.tm_mon + 1) & 1))
        return 0;
    int dom = c->mday >> tm.tm_mday & 1, dow = c->wday >> tm.tm_wday & 1;
    int dom_all = c->mday == 0xfffffffeu, dow_all = c->wday == 0x7f;
    if (!dom_all && !dow_all)
        return dom || dow;
    return dom && dow;
}

/* No minute in (from, to) fires, when that is few enough to scan. */
static void none_between(const lc__cron *c, int64_t from, int64_t to)
{
    int64_t m = (from / MINUTE_MS + 1) * MINUTE_MS;
    if ((to - m) / MINUTE_MS > SCAN_LIMIT)
        return;
    for (; m < to; m += MINUTE_MS)
        FUZZ_CHECK(!fires(c, m));
}

static void check_at(const lc__cron *c, int64_t t)
{
    int64_t next = lc__cron_next(c, t), prev = lc__cron_prev(c, t);
    int64_t gap = lc__cron_min_gap_ms(c);
    FUZZ_CHECK(gap > 0 && gap <= 24 * 60 * MINUTE_MS);
    if (next != -1) {
        FUZZ_CHECK(next > t && next < END_MS && next % MINUTE_MS == 0);
        FUZZ_CHECK(fires(c, next));
        FUZZ_CHECK(lc__cron_prev(c, next) == next);
        none_between(c, t, next);
        int64_t after = lc__cron_next(c, next);
        FUZZ_CHECK(after == -1 || after - next >= gap);
    } else {
        /* Only the end of year 9999 can leave nothing within ten years. */
        FUZZ_CHECK(t > END_MS - (int64_t)10 * 366 * 24 * 60 * MINUTE_MS);
    }
    if (prev != -1) {
        FUZZ_CHECK(prev >= 0 && prev <= t && prev % MINUTE_MS == 0);
        FUZZ_CHECK(fires(c, prev));
        FUZZ_CHECK(lc__cron_next(c, prev) == next);
        none_between(c, prev, t + 1);
    }
    if (next != -1 && prev != -1)
        FUZZ_CHECK(lc__cron_prev(c, next - 1) == prev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    lc__cron c;
    lc_error err;
    lc_status rc = lc__cron_parse(text, &c, &err);
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_INVALID);
    if (rc == LC_OK) {
        if (nl) {
            long long t = strtoll(nl + 1, NULL, 10);
            t = t < 0 ? 0 : t >= END_MS ? END_MS - 1 : t;
            check_at(&c, t);
            /* Out of range: no crash, and nothing outside 1970..9999. */
            FUZZ_CHECK(lc__cron_prev(&c, -1 - t) == -1);
            FUZZ_CHECK(lc__cron_next(&c, END_MS + t) == -1);
        } else {
            check_at(&c, 0);                 /* 1970-01-01T00:00Z */
            check_at(&c, 1782820800123LL);   /* 2026-06-30T12:00:00.123Z */
            check_at(&c, 253402300799999LL); /* 9999-12-31T23:59:59.999Z */
        }
    }
    free(text);
    return 0;
}
