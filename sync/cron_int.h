/* sync/cron_int.h -- cron expressions: the five standard fields, evaluated
 * in UTC.
 *
 * Syntax, per field (minute hour day-of-month month day-of-week):
 *   *          every value
 *   N          one value
 *   A-B        a range, A <= B (in day-of-week, B = 0 or sun means 7)
 *   `*`/S, A-B/S, A/S
 *              every S-th value of the range (A/S runs to the field's
 *              maximum); S is 1 up to the number of values in the field
 *   X,Y,...    a list of any of the above
 * Months and days of the week also take names: jan..dec, sun..sat (any
 * case). In day-of-week both 0 and 7 are Sunday. A whole expression may be
 * one of @yearly (@annually), @monthly, @weekly, @daily (@midnight),
 * @hourly.
 *
 * Days: a field that selects every one of its values is unrestricted,
 * however it is written (`*`, `1-31`, `*`/1, `0-6` and `1-7` alike). When
 * both day-of-month and day-of-week are restricted, a day fires if either
 * matches (the Vixie cron rule, as croniter applies it); otherwise a day
 * fires if both match.
 *
 * Times are unix milliseconds, UTC, from 1970 to the end of year 9999;
 * fire times are whole minutes. */
#ifndef LC_CRON_INT_H
#define LC_CRON_INT_H

#include "lockcoord.h"

#include <stdint.h>

typedef struct lc__cron {
    uint64_t minute; /* bit m: minute m (0..59) */
    uint32_t hour;   /* bit h: hour h (0..23) */
    uint32_t mday;   /* bit d: day of the month d (1..31) */
    uint16_t month;  /* bit m: month m (1..12) */
    uint8_t wday;    /* bit w: day of the week w (0 = Sunday .. 6) */
} lc__cron;

/* Parses `text` into *out. Refused with LC_ERR_INVALID and a message
 * naming the field and the token ("cron field 2 (hour): 25 is out of
 * range 0-23"): a wrong number of fields, unknown syntax or names, values
 * out of range, backward ranges, bad steps, and expressions that can never
 * fire because no selected day of the month exists in any selected month
 * (`0 0 30 2 *`), even when day-of-week is restricted too. On error *out
 * is untouched. */
lc_status lc__cron_parse(const char *text, lc__cron *out, lc_error *err);

/* The first fire time strictly after `after_ms`, or -1 when there is none
 * within ten years (which, for a parsed expression, happens only at the
 * end of year 9999). */
int64_t lc__cron_next(const lc__cron *c, int64_t after_ms);

/* A lower bound of the time between two consecutive fire times, in ms:
 * the shortest gap between fire times within a day, or from a day's last
 * fire time to the next day's first, whichever is shorter (so 24h for an
 * expression that fires once on the days it picks, whatever the days).
 * -1 when no minute of the day fires. */
int64_t lc__cron_min_gap_ms(const lc__cron *c);

/* The latest fire time at or before `at_ms`, or -1 when there is none
 * within ten years before it or it would be before 1970. */
int64_t lc__cron_prev(const lc__cron *c, int64_t at_ms);

#endif
