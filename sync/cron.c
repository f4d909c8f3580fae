/* sync/cron.c -- cron expressions (see cron_int.h for the syntax).
 *
 * A parsed expression is one bitmask per field. Searching walks the
 * calendar from the given instant and, at each level that does not match,
 * jumps to the next (or previous) candidate of that level -- the next
 * selected month, day, hour, minute -- resetting the levels below it. So a
 * search costs a few steps per month it crosses, never a step per minute,
 * and it gives up after a ten-year window. A parsed expression always fires
 * within eight years (29 February of the next leap year, 2096 to 2104), so
 * only the calendar's end stops a search for one. */
#include "sync/cron_int.h"

#include "core/error_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SEARCH_YEARS 10
#define FIRST_YEAR   1970
#define LAST_YEAR    9999
#define MINUTE_MS    ((int64_t)60 * 1000)
#define DAY_MS       (24 * 60 * MINUTE_MS)
#define END_MS       ((int64_t)2932897 * DAY_MS) /* 10000-01-01T00:00Z */

#define MDAY_ALL  0xfffffffeu /* days 1..31 */
#define WDAY_ALL  0x7fu
#define TOKEN_MAX 40 /* bytes of a token quoted in a message */

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct field_def {
    const char *name;
    int lo, hi;               /* values as written (day-of-week: 0..7) */
    int span;                 /* the largest step */
    const char *const *names; /* names[i] stands for lo + i, or NULL */
    int n_names;
    const char *names_hint;
} field_def;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const field_def fields[5] = {
    {"minute", 0, 59, 60, NULL, 0, NULL},
    {"hour", 0, 23, 24, NULL, 0, NULL},
    {"day-of-month", 1, 31, 31, NULL, 0, NULL},
    {"month", 1, 12, 12, month_names, 12, "jan..dec"},
    {"day-of-week", 0, 7, 7, day_names, 7, "sun..sat"},
};

/* The five fields of @-macros, as croniter and Vixie cron define them. */
static const struct {
    const char *name, *fields;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* One field's text and where it is, for messages. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* "cron field N (name): <message>". */
static lc_status field_err(lc_error *err, int idx, const char *fmt, ...) LC__PRINTF(3, 4);

static lc_status field_err(lc_error *err, int idx, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return lc__err(err, LC_ERR_INVALID, 0, "cron field %d (%s): %s", idx + 1, fields[idx].name,
                   what);
}

/* A token's length for "%.*s", cut to TOKEN_MAX. */
static int tok(size_t n)
{
    return n > TOKEN_MAX ? TOKEN_MAX : (int)n;
}

#define CANNOT_READ                                                                                \
    "cannot read '%.*s' (expected a number, a range like 1-5, a step like */5, or a list of "      \
    "those)"

/* A number or (in month and day-of-week) a name at *p, no further than
 * end. Advances *p. */
static lc_status read_value(const span *item, int idx, const char **p, const char *end, int *out,
                            lc_error *err)
{
    const field_def *f = &fields[idx];
    const char *s = *p;
    size_t n = 0;
    while (s + n < end && isalnum((unsigned char)s[n]))
        n++;
    if (n == 0)
        return field_err(err, idx, CANNOT_READ, tok(item->n), item->p);
    *p = s + n;
    if (isdigit((unsigned char)s[0])) {
        int v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)s[i]))
                return field_err(err, idx, "'%.*s' is not a number", tok(n), s);
            v = v < 1000 ? v * 10 + (s[i] - '0') : v;
        }
        if (v < f->lo || v > f->hi)
            return field_err(err, idx, "%.*s is out of range %d-%d", tok(n), s, f->lo, f->hi);
        *out = v;
        return LC_OK;
    }
    for (int i = 0; i < f->n_names; i++) {
        if (n == 3 && strncasecmp(s, f->names[i], 3) == 0) {
            *out = f->lo + i;
            return LC_OK;
        }
    }
    if (f->names == NULL)
        return field_err(err, idx, "'%.*s' is not a number", tok(n), s);
    return field_err(err, idx, "unknown name '%.*s' (expected %s)", tok(n), s, f->names_hint);
}

/* The step after '/': 1..span. */
static lc_status read_step(const span *item, int idx, const char *p, const char *end, int *out,
                           lc_error *err)
{
    int v = 0;
    if (p == end)
        return field_err(err, idx, "'%.*s' has no step after '/'", tok(item->n), item->p);
    for (const char *q = p; q < end; q++) {
        if (!isdigit((unsigned char)*q))
            return field_err(err, idx, "step '%.*s' is not a number", tok((size_t)(end - p)), p);
        v = v < 1000 ? v * 10 + (*q - '0') : v;
    }
    if (v < 1 || v > fields[idx].span)
        return field_err(err, idx, "step %.*s is out of range 1-%d", tok((size_t)(end - p)), p,
                         fields[idx].span);
    *out = v;
    return LC_OK;
}

/* One list item: *, N, A-B, each with an optional /S; N/S runs to the
 * field's maximum. Sets its bits in *mask. */
static lc_status parse_item(const span *item, int idx, uint64_t *mask, lc_error *err)
{
    const field_def *f = &fields[idx];
    const char *p = item->p, *end = item->p + item->n;
    const char *slash = memchr(p, '/', item->n);
    const char *base_end = slash ? slash : end;
    int lo, hi, step = 1;
    lc_status rc;
    if (p + 1 == base_end && *p == '*') {
        lo = f->lo;
        hi = f->hi;
        p++;
    } else {
        if ((rc = read_value(item, idx, &p, base_end, &lo, err)) != LC_OK)
            return rc;
        hi = slash ? f->hi : lo;
        if (p < base_end && *p == '-') {
            p++;
            if ((rc = read_value(item, idx, &p, base_end, &hi, err)) != LC_OK)
                return rc;
            if (idx == 4 && hi == 0 && lo > 0)
                hi = 7; /* mon-sun */
            if (lo > hi)
                return field_err(err, idx, "range %.*s runs backwards (write it as two ranges)",
                                 tok((size_t)(base_end - item->p)), item->p);
        }
    }
    if (p != base_end)
        return field_err(err, idx, CANNOT_READ, tok(item->n), item->p);
    if (slash && (rc = read_step(item, idx, slash + 1, end, &step, err)) != LC_OK)
        return rc;
    for (int v = lo; v <= hi; v += step)
        *mask |= (uint64_t)1 << v;
    return LC_OK;
}

static lc_status parse_field(const span *fs, int idx, uint64_t *mask, lc_error *err)
{
    const char *p = fs->p, *end = fs->p + fs->n;
    *mask = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        span item = {p, (size_t)((comma ? comma : end) - p)};
        if (item.n == 0)
            return field_err(err, idx, "empty item in the list '%.*s'", tok(fs->n), fs->p);
        lc_status rc = parse_item(&item, idx, mask, err);
        if (rc != LC_OK)
            return rc;
        if (comma == NULL)
            return LC_OK;
        p = comma + 1;
    }
}

/* Splits text at spaces and tabs into at most 6 fields; *n gets the count
 * (6 meaning "more than 5"). */
static void split_fields(const char *text, span out[6], int *n)
{
    const char *p = text;
    *n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *n == 6)
            return;
        const char *start = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        out[(*n)++] = (span){start, (size_t)(p - start)};
    }
}

/* The longest month each month can have: February has 29 days in leap
 * years. */
static const int month_max_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* Whether some selected day of the month exists in some selected month. */
static int days_exist(const lc__cron *c)
{
    for (int m = 1; m <= 12; m++) {
        uint32_t days = (uint32_t)(((uint64_t)1 << (month_max_days[m] + 1)) - 2);
        if ((c->month >> m & 1) && (c->mday & days))
            return 1;
    }
    return 0;
}

static lc_status parse_fields(const char *text, lc__cron *out, lc_error *err)
{
    span fs[6];
    int n;
    split_fields(text, fs, &n);
    if (n != 5)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "cron: expected 5 fields (minute hour day-of-month month day-of-week), "
                       "got %s%d",
                       n > 5 ? "more than " : "", n > 5 ? 5 : n);
    uint64_t m[5];
    for (int i = 0; i < 5; i++) {
        lc_status rc = parse_field(&fs[i], i, &m[i], err);
        if (rc != LC_OK)
            return rc;
    }
    lc__cron c = {
        .minute = m[0],
        .hour = (uint32_t)m[1],
        .mday = (uint32_t)m[2],
        .month = (uint16_t)m[3],
        .wday = (uint8_t)((m[4] | m[4] >> 7) & WDAY_ALL), /* 7 is Sunday */
    };
    if (!days_exist(&c))
        return lc__err(err, LC_ERR_INVALID, 0,
                       "cron field 3 (day-of-month): '%.*s' never falls in the selected months "
                       "('%.*s'), so the expression never fires",
                       tok(fs[2].n), fs[2].p, tok(fs[3].n), fs[3].p);
    *out = c;
    return LC_OK;
}

lc_status lc__cron_parse(const char *text, lc__cron *out, lc_error *err)
{
    if (text == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "cron: no expression");
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '@')
        return parse_fields(text, out, err);
    size_t n = strcspn(p, " \t");
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
        if (strlen(macros[i].name) == n && strncasecmp(p, macros[i].name, n) == 0 &&
            p[n + strspn(p + n, " \t")] == '\0')
            return parse_fields(macros[i].fields, out, err);
    return lc__err(err, LC_ERR_INVALID, 0,
                   "cron: unknown '%.*s' (expected five fields, or one of @yearly, @annually, "
                   "@monthly, @weekly, @daily, @midnight, @hourly)",
                   tok(n), p);
}

/* ------------------------------------------------------------------------ */
/* The calendar                                                             */
/* ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil, for years >= 1). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

/* The inverse, for days >= 0. */
static void civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int doe = (int)(z - era * 146097);
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : month_max_days[m];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int y, int m, int d)
{
    return (int)((days_from_civil(y, m, d) + 4) % 7);
}

/* A position on the calendar, to the minute. Fields may run one past
 * their range (day 0, hour 24): the search then moves to the neighbour. */
typedef struct when {
    int y, mo, d, h, mi;
} when;

static when when_from_ms(int64_t ms)
{
    when t;
    int64_t minutes = ms / MINUTE_MS;
    civil_from_days(minutes / 1440, &t.y, &t.mo, &t.d);
    t.h = (int)(minutes % 1440 / 60);
    t.mi = (int)(minutes % 60);
    return t;
}

static int64_t when_to_ms(const when *t)
{
    return days_from_civil(t->y, t->mo, t->d) * DAY_MS + (t->h * 60 + t->mi) * MINUTE_MS;
}

/* A day fires when both day fields match, or, with both restricted,
 * either. */
static int day_fires(const lc__cron *c, int d, int wd)
{
    int dom = (int)(c->mday >> d & 1), dow = c->wday >> wd & 1;
    if (c->mday != MDAY_ALL && c->wday != WDAY_ALL)
        return dom || dow;
    return dom && dow;
}

/* The first day >= d of t's month that fires, or 0. */
static int next_day(const lc__cron *c, const when *t, int d)
{
    int last = days_in_month(t->y, t->mo);
    if (d > last)
        return 0;
    for (int wd = weekday(t->y, t->mo, d); d <= last; d++, wd = (wd + 1) % 7)
        if (day_fires(c, d, wd))
            return d;
    return 0;
}

/* The last day <= d of t's month that fires, or 0. */
static int prev_day(const lc__cron *c, const when *t, int d)
{
    if (d < 1)
        return 0;
    for (int wd = weekday(t->y, t->mo, d); d >= 1; d--, wd = (wd + 6) % 7)
        if (day_fires(c, d, wd))
            return d;
    return 0;
}

/* The lowest set bit >= from, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from > 63 || (mask >>= from) == 0)
        return -1;
    return from + __builtin_ctzll(mask);
}

/* The highest set bit <= from, or -1. */
static int prev_bit(uint64_t mask, int from)
{
    if (from < 0)
        return -1;
    if (from < 63)
        mask &= ((uint64_t)2 << from) - 1;
    return mask ? 63 - __builtin_clzll(mask) : -1;
}

static void to_next_month(when *t)
{
    if (++t->mo > 12) {
        t->mo = 1;
        t->y++;
    }
    t->d = 1;
    t->h = t->mi = 0;
}

static void to_prev_month(when *t)
{
    if (--t->mo < 1) {
        t->mo = 12;
        t->y--;
    }
    t->d = days_in_month(t->y, t->mo);
    t->h = 23;
    t->mi = 59;
}

/* Moves t to the first fire time at or after it, up to the end of
 * last_year. Returns 0 when there is none. */
static int seek_forward(const lc__cron *c, when *t, int last_year)
{
    while (t->y <= last_year) {
        int d = c->month >> t->mo & 1 ? next_day(c, t, t->d) : 0;
        if (d == 0) {
            to_next_month(t);
            continue;
        }
        if (d != t->d) {
            t->d = d;
            t->h = t->mi = 0;
        }
        int h = next_bit(c->hour, t->h);
        if (h < 0) {
            t->d++;
            t->h = t->mi = 0;
            continue;
        }
        if (h != t->h) {
            t->h = h;
            t->mi = 0;
        }
        int mi = next_bit(c->minute, t->mi);
        if (mi < 0) {
            t->h++;
            t->mi = 0;
            continue;
        }
        t->mi = mi;
        return 1;
    }
    return 0;
}

/* Moves t to the last fire time at or before it, down to the start of
 * first_year. Returns 0 when there is none. */
static int seek_backward(const lc__cron *c, when *t, int first_year)
{
    while (t->y >= first_year) {
        int d = c->month >> t->mo & 1 ? prev_day(c, t, t->d) : 0;
        if (d == 0) {
            to_prev_month(t);
            continue;
        }
        if (d != t->d) {
            t->d = d;
            t->h = 23;
            t->mi = 59;
        }
        int h = prev_bit(c->hour, t->h);
        if (h < 0) {
            t->d--;
            t->h = 23;
            t->mi = 59;
            continue;
        }
        if (h != t->h) {
            t->h = h;
            t->mi = 59;
        }
        int mi = prev_bit(c->minute, t->mi);
        if (mi < 0) {
            t->h--;
            t->mi = 59;
            continue;
        }
        t->mi = mi;
        return 1;
    }
    return 0;
}

int64_t lc__cron_next(const lc__cron *c, int64_t after_ms)
{
    if (after_ms >= END_MS)
        return -1;
    /* The first whole minute strictly after after_ms. */
    int64_t from = after_ms < 0 ? 0 : (after_ms / MINUTE_MS + 1) * MINUTE_MS;
    if (from >= END_MS)
        return -1;
    when t = when_from_ms(from);
    int last = t.y + SEARCH_YEARS < LAST_YEAR ? t.y + SEARCH_YEARS : LAST_YEAR;
    return seek_forward(c, &t, last) ? when_to_ms(&t) : -1;
}

int64_t lc__cron_prev(const lc__cron *c, int64_t at_ms)
{
    if (at_ms < 0)
        return -1;
    when t = when_from_ms(at_ms < END_MS ? at_ms : END_MS - 1);
    int first = t.y - SEARCH_YEARS > FIRST_YEAR ? t.y - SEARCH_YEARS : FIRST_YEAR;
    return seek_backward(c, &t, first) ? when_to_ms(&t) : -1;
}

int64_t lc__cron_min_gap_ms(const lc__cron *c)
{
    int first = -1, last = -1, gap = 24 * 60;
    for (int h = next_bit(c->hour, 0); h >= 0; h = next_bit(c->hour, h + 1)) {
        for (int m = next_bit(c->minute, 0); m >= 0; m = next_bit(c->minute, m + 1)) {
            int t = h * 60 + m;
            if (first < 0)
                first = t;
            else if (t - last < gap)
                gap = t - last;
            last = t;
        }
    }
    if (first < 0)
        return -1;
    if (24 * 60 - last + first < gap)
        gap = 24 * 60 - last + first;
    return gap * MINUTE_MS;
}
