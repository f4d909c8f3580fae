/* core/duration.c -- "250ms", "30s", "5m", "1h", "1h30m", "1.5s". */
#include "core/error_int.h"

#include <stdio.h>
#include <string.h>

/* Digits are summed in int64 up to this bound, far above the real maximum
 * (LC_DURATION_MAX_MS), so no step overflows. */
#define SUM_MAX_MS ((int64_t)1 << 52)

static lc_status too_large(const char *text, lc_error *err)
{
    return lc__err(err, LC_ERR_INVALID, 0, "duration '%s' is too large: at most 365d (%lld ms)",
                   text, (long long)LC_DURATION_MAX_MS);
}

/* The unit is the whole run of letters after the number, so "10sec" or
 * "5min" is an unknown unit rather than "10s" followed by garbage. */
static int unit_ms(const char *s, size_t *len, int64_t *ms)
{
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z'))
        n++;
    *len = n;
    if (n == 2 && s[0] == 'm' && s[1] == 's')
        *ms = 1;
    else if (n == 1 && *s == 's')
        *ms = 1000;
    else if (n == 1 && *s == 'm')
        *ms = 60 * 1000;
    else if (n == 1 && *s == 'h')
        *ms = 3600 * 1000;
    else if (n == 1 && *s == 'd')
        *ms = 24 * 3600 * 1000;
    else
        return 0;
    return 1;
}

/* One "<digits>[.<digits>]<unit>" term; advances *p. */
static lc_status parse_term(const char *text, const char **p, int64_t *out, lc_error *err)
{
    const char *s = *p;
    int64_t whole = 0, frac = 0, scale = 1;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (whole > SUM_MAX_MS)
            return too_large(text, err);
        whole = whole * 10 + (*s++ - '0');
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (scale < 1000000) {
                frac = frac * 10 + (*s - '0');
                scale *= 10;
            }
            s++;
            digits++;
        }
    }
    if (digits == 0)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid duration '%s': expected a number with a unit, like 250ms, "
                       "30s, 5m or 1h",
                       text);
    size_t ulen;
    int64_t mult;
    if (!unit_ms(s, &ulen, &mult)) {
        if (*s == '\0')
            return lc__err(err, LC_ERR_INVALID, 0,
                           "invalid duration '%s': a unit is required (ms, s, m, h), "
                           "e.g. '%ss'",
                           text, text);
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid duration '%s': unknown unit; use ms, s, m or h", text);
    }
    if (whole > SUM_MAX_MS / mult)
        return too_large(text, err);
    *out = whole * mult + (frac * mult) / scale;
    *p = s + ulen;
    return LC_OK;
}

lc_status lc_duration_parse(const char *text, int64_t *ms, lc_error *err)
{
    if (text == NULL || *text == '\0')
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid duration '': expected a number with a unit, like 30s");
    if (*text == '-')
        return lc__err(err, LC_ERR_INVALID, 0, "invalid duration '%s': must not be negative", text);
    const char *p = text;
    int64_t total = 0;
    while (*p) {
        int64_t term = 0;
        lc_status rc = parse_term(text, &p, &term, err);
        if (rc != LC_OK)
            return rc;
        total += term;
        if (total > LC_DURATION_MAX_MS)
            return too_large(text, err);
    }
    *ms = total;
    return LC_OK;
}

char *lc_duration_format(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    if (size == 0)
        return buf;
    if (ms <= 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0; i++) {
        if (ms < units[i].ms)
            continue;
        int64_t n = ms / units[i].ms;
        ms -= n * units[i].ms;
        int w = snprintf(buf + used, size - used, "%lld%s", (long long)n, units[i].unit);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return buf;
}
