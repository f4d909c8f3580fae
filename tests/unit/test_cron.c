/* tests/unit/test_cron.c -- cron expressions: the syntax into bitmasks,
 * the refusals with their exact messages, and next/prev around the
 * calendar's edges (leap days, month and year ends, the either-day rule).
 * tests/unit/cron_oracle.py checks the same module against croniter on
 * thousands of generated cases. */
#include "testenv.h"

#include "sync/cron_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Unix ms of "YYYY-MM-DDTHH:MM[:SS]" UTC. */
static int64_t at(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    assert_true(n >= 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static lc__cron parse_ok(const char *text)
{
    lc__cron c;
    lc_error err;
    lct_assert_rc(lc__cron_parse(text, &c, &err), LC_OK, &err);
    return c;
}

/* Refused with LC_ERR_INVALID and exactly `msg`; the output is untouched. */
static void assert_refused(const char *text, const char *msg)
{
    lc__cron c;
    memset(&c, 0xab, sizeof(c));
    lc_error err;
    lct_assert_rc(lc__cron_parse(text, &c, &err), LC_ERR_INVALID, &err);
    if (strcmp(err.message, msg) != 0)
        fail_msg("'%s': got \"%s\"\nwant \"%s\"", text, err.message, msg);
    assert_int_equal(c.minute, 0xababababababababULL);
}

static void assert_time(const char *what, int64_t got, const char *want_iso)
{
    int64_t want = want_iso ? at(want_iso) : -1;
    if (got != want) {
        char g[40] = "-1", w[40] = "-1";
        if (got >= 0)
            lc_time_format(got, g, sizeof(g));
        if (want >= 0)
            lc_time_format(want, w, sizeof(w));
        fail_msg("%s: got %s, want %s", what, g, w);
    }
}

/* next(from) and prev(from) of expr, as ISO times (NULL: none). */
static void assert_next_prev(const char *expr, const char *from, const char *next, const char *prev)
{
    lc__cron c = parse_ok(expr);
    char what[128];
    snprintf(what, sizeof(what), "next of '%s' after %s", expr, from);
    assert_time(what, lc__cron_next(&c, at(from)), next);
    snprintf(what, sizeof(what), "prev of '%s' at %s", expr, from);
    assert_time(what, lc__cron_prev(&c, at(from)), prev);
}

static uint64_t bits(int lo, int hi, int step)
{
    uint64_t m = 0;
    for (int v = lo; v <= hi; v += step)
        m |= (uint64_t)1 << v;
    return m;
}

static void test_cron_every_form_sets_its_bits(void **state)
{
    (void)state;
    lc__cron c = parse_ok("*/15 9-17 1,15,31 jan-mar/2,Dec mon-fri");
    assert_int_equal(c.minute, bits(0, 59, 15));
    assert_int_equal(c.hour, bits(9, 17, 1));
    assert_int_equal(c.mday, bits(1, 1, 1) | bits(15, 15, 1) | bits(31, 31, 1));
    assert_int_equal(c.month, bits(1, 3, 2) | bits(12, 12, 1));
    assert_int_equal(c.wday, bits(1, 5, 1));
    c = parse_ok("  5/20\t*  */10  *  *  ");
    assert_int_equal(c.minute, bits(5, 59, 20));
    assert_int_equal(c.hour, bits(0, 23, 1));
    assert_int_equal(c.mday, bits(1, 31, 10));
    assert_int_equal(c.month, bits(1, 12, 1));
    assert_int_equal(c.wday, bits(0, 6, 1));
    c = parse_ok("0 0 * * 3-5,1-3/2");
    assert_int_equal(c.wday, bits(1, 3, 2) | bits(3, 5, 1));
}

static void test_cron_names_any_case_and_sunday_as_7(void **state)
{
    (void)state;
    lc__cron c = parse_ok("0 0 * JAN,fEb,dec SUN");
    assert_int_equal(c.month, bits(1, 2, 1) | bits(12, 12, 1));
    assert_int_equal(c.wday, 1);
    assert_int_equal(parse_ok("0 0 * * 7").wday, 1);
    assert_int_equal(parse_ok("0 0 * * 5-7").wday, bits(5, 6, 1) | 1);
    assert_int_equal(parse_ok("0 0 * * fri-sun").wday, bits(5, 6, 1) | 1);
    assert_int_equal(parse_ok("0 0 * * 5-0").wday, bits(5, 6, 1) | 1);
    assert_int_equal(parse_ok("0 0 * * */2").wday, bits(0, 6, 2));
}

static void test_cron_macros_expand_to_five_fields(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"},   {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},   {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {" @HOURLY ", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        lc__cron a = parse_ok(pairs[i][0]), b = parse_ok(pairs[i][1]);
        assert_int_equal(a.minute, b.minute);
        assert_int_equal(a.hour, b.hour);
        assert_int_equal(a.mday, b.mday);
        assert_int_equal(a.month, b.month);
        assert_int_equal(a.wday, b.wday);
    }
}

static void test_cron_bad_expressions_name_field_and_token(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
        {"* * * *", "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
        {"* * * * * *", "cron: expected 5 fields (minute hour day-of-month month day-of-week), "
                        "got more than 5"},
        {"* 25 * * *", "cron field 2 (hour): 25 is out of range 0-23"},
        {"60 * * * *", "cron field 1 (minute): 60 is out of range 0-59"},
        {"* * 0 * *", "cron field 3 (day-of-month): 0 is out of range 1-31"},
        {"* * * 13 *", "cron field 4 (month): 13 is out of range 1-12"},
        {"* * * * 8", "cron field 5 (day-of-week): 8 is out of range 0-7"},
        {"99999999999 * * * *", "cron field 1 (minute): 99999999999 is out of range 0-59"},
        {"* * * foo *", "cron field 4 (month): unknown name 'foo' (expected jan..dec)"},
        {"* * * * monday", "cron field 5 (day-of-week): unknown name 'monday' (expected sun..sat)"},
        {"* * * * abc", "cron field 5 (day-of-week): unknown name 'abc' (expected sun..sat)"},
        {"* * * abc *", "cron field 4 (month): unknown name 'abc' (expected jan..dec)"},
        {"* mon * * *", "cron field 2 (hour): 'mon' is not a number"},
        {"5x * * * *", "cron field 1 (minute): '5x' is not a number"},
        {"*/0 * * * *", "cron field 1 (minute): step 0 is out of range 1-60"},
        {"* */25 * * *", "cron field 2 (hour): step 25 is out of range 1-24"},
        {"*/ * * * *", "cron field 1 (minute): '*/' has no step after '/'"},
        {"*/5x * * * *", "cron field 1 (minute): step '5x' is not a number"},
        {"* 20-10 * * *",
         "cron field 2 (hour): range 20-10 runs backwards (write it as two ranges)"},
        {"1,,2 * * * *", "cron field 1 (minute): empty item in the list '1,,2'"},
        {"1, * * * *", "cron field 1 (minute): empty item in the list '1,'"},
        {"5- * * * *", "cron field 1 (minute): cannot read '5-' (expected a number, a range like "
                       "1-5, a step like */5, or a list of those)"},
        {"* * L * *", "cron field 3 (day-of-month): 'L' is not a number"},
        {"* * * * 5#2", "cron field 5 (day-of-week): cannot read '5#2' (expected a number, a range "
                        "like 1-5, a step like */5, or a list of those)"},
        {"** * * * *", "cron field 1 (minute): cannot read '**' (expected a number, a range like "
                       "1-5, a step like */5, or a list of those)"},
        {"@reboot", "cron: unknown '@reboot' (expected five fields, or one of @yearly, "
                    "@annually, @monthly, @weekly, @daily, @midnight, @hourly)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_refused(cases[i][0], cases[i][1]);
    lc__cron c;
    lc_error err;
    lct_assert_rc(lc__cron_parse(NULL, &c, &err), LC_ERR_INVALID, &err);
}

static void test_cron_days_that_never_exist_are_refused(void **state)
{
    (void)state;
    assert_refused("0 0 30 2 *", "cron field 3 (day-of-month): '30' never falls in the selected "
                                 "months ('2'), so the expression never fires");
    assert_refused("0 0 31 apr,jun,sep,nov *",
                   "cron field 3 (day-of-month): '31' never falls in the selected months "
                   "('apr,jun,sep,nov'), so the expression never fires");
    /* Day-of-week does not rescue it: the day-of-month half is a mistake. */
    assert_refused("0 0 30,31 feb mon", "cron field 3 (day-of-month): '30,31' never falls in the "
                                        "selected months ('feb'), so the expression never fires");
    /* Possible somewhere: fine. */
    parse_ok("0 0 29 2 *");
    parse_ok("0 0 31 2,3 *");
    parse_ok("0 0 15,31 2 *");
}

static void test_cron_next_is_strictly_after_and_prev_at_or_before(void **state)
{
    (void)state;
    /* On a fire time: next is the one after, prev is itself. */
    assert_next_prev("*/5 * * * *", "2026-11-30T13:25", "2026-11-30T13:30", "2026-11-30T13:25");
    /* Between fire times, and within a minute (seconds and ms ignored). */
    assert_next_prev("*/5 * * * *", "2026-11-30T13:27:59", "2026-11-30T13:30", "2026-11-30T13:25");
    lc__cron c = parse_ok("* * * * *");
    assert_int_equal(lc__cron_next(&c, at("2026-11-30T13:25") + 1), at("2026-11-30T13:26"));
    assert_int_equal(lc__cron_next(&c, at("2026-11-30T13:25") - 1), at("2026-11-30T13:25"));
    assert_int_equal(lc__cron_prev(&c, at("2026-11-30T13:25") + 59999), at("2026-11-30T13:25"));
    assert_int_equal(lc__cron_prev(&c, at("2026-11-30T13:25") - 1), at("2026-11-30T13:24"));
}

static void test_cron_search_crosses_days_months_and_years(void **state)
{
    (void)state;
    assert_next_prev("30 9 * * *", "2026-12-31T10:00", "2027-01-01T09:30", "2026-12-31T09:30");
    assert_next_prev("0 0 1 1 *", "2026-06-15T12:00", "2027-01-01T00:00", "2026-01-01T00:00");
    assert_next_prev("59 23 31 12 *", "2026-12-31T23:59", "2027-12-31T23:59", "2026-12-31T23:59");
    assert_next_prev("0 12 31 * *", "2026-04-15T00:00", "2026-05-31T12:00", "2026-03-31T12:00");
    assert_next_prev("15,45 8-9 * jun *", "2026-06-30T09:50", "2027-06-01T08:15",
                     "2026-06-30T09:45");
}

static void test_cron_leap_days_are_found_years_away(void **state)
{
    (void)state;
    assert_next_prev("0 0 29 2 *", "2024-03-01T00:00", "2028-02-29T00:00", "2024-02-29T00:00");
    /* 2100 is not a leap year: eight years between two 29 Februaries. */
    assert_next_prev("0 0 29 2 *", "2096-03-01T00:00", "2104-02-29T00:00", "2096-02-29T00:00");
    assert_next_prev("0 0 29 2 *", "2103-12-31T00:00", "2104-02-29T00:00", "2096-02-29T00:00");
    /* The day after 28 February is 29 February in a leap year only. */
    assert_next_prev("0 0 * * *", "2024-02-28T12:00", "2024-02-29T00:00", "2024-02-28T00:00");
    assert_next_prev("0 0 * * *", "2100-02-28T12:00", "2100-03-01T00:00", "2100-02-28T00:00");
    assert_next_prev("0 0 */3 * *", "2004-02-29T12:00", "2004-03-01T00:00", "2004-02-28T00:00");
}

static void test_cron_both_day_fields_restricted_means_either(void **state)
{
    (void)state;
    /* 2026-11-13 is a Friday. Either the 13th or a Friday. */
    assert_next_prev("0 12 13 * fri", "2026-11-10T00:00", "2026-11-13T12:00", "2026-11-06T12:00");
    assert_next_prev("0 12 13 * fri", "2026-11-13T12:00", "2026-11-20T12:00", "2026-11-13T12:00");
    assert_next_prev("0 12 13 * fri", "2026-12-05T00:00", "2026-12-11T12:00", "2026-12-04T12:00");
    /* Only one restricted: both must match (Fridays among all days; the
     * 13th whatever day it is). */
    assert_next_prev("0 12 * * fri", "2026-11-10T00:00", "2026-11-13T12:00", "2026-11-06T12:00");
    assert_next_prev("0 12 13 * *", "2026-11-14T00:00", "2026-12-13T12:00", "2026-11-13T12:00");
    /* A field that selects every value is not restricted, however written:
     * 1-31 with fri is Fridays only, not every day. */
    assert_next_prev("0 12 1-31 * fri", "2026-11-10T00:00", "2026-11-13T12:00", "2026-11-06T12:00");
    assert_next_prev("0 12 13 * 0-6", "2026-11-14T00:00", "2026-12-13T12:00", "2026-11-13T12:00");
    assert_next_prev("0 12 13 * 1-7", "2026-11-14T00:00", "2026-12-13T12:00", "2026-11-13T12:00");
    /* A step is a restriction: odd days or Mondays (2026-11-16 a Monday). */
    assert_next_prev("0 0 */2 * mon", "2026-11-15T12:00", "2026-11-16T00:00", "2026-11-15T00:00");
}

static void test_cron_impossible_masks_end_the_search(void **state)
{
    (void)state;
    /* Not parseable, but built by hand: the search gives up, -1. */
    lc__cron c = parse_ok("0 0 1 1 *");
    c.mday = (uint32_t)1 << 30;
    c.month = 1 << 2;
    assert_int_equal(lc__cron_next(&c, at("2026-01-01T00:00")), -1);
    assert_int_equal(lc__cron_prev(&c, at("2026-01-01T00:00")), -1);
    c = parse_ok("0 0 1 1 *");
    c.minute = 0;
    assert_int_equal(lc__cron_next(&c, at("2026-01-01T00:00")), -1);
    assert_int_equal(lc__cron_prev(&c, at("2026-01-01T00:00")), -1);
}

static void test_cron_calendar_edges_answer_minus_one(void **state)
{
    (void)state;
    lc__cron c = parse_ok("0 0 1 1 *");
    assert_int_equal(lc__cron_prev(&c, -1), -1);
    assert_int_equal(lc__cron_prev(&c, 0), 0);
    assert_int_equal(lc__cron_prev(&c, at("1970-06-01T00:00")), 0);
    assert_int_equal(lc__cron_next(&c, -5), 0);
    assert_int_equal(lc__cron_next(&c, -60001), 0);
    assert_time("next at year 9999", lc__cron_next(&c, at("9999-01-01T00:00")), NULL);
    assert_time("next from 9998", lc__cron_next(&c, at("9998-06-01T00:00")), "9999-01-01T00:00");
    assert_time("prev far ahead", lc__cron_prev(&c, INT64_MAX), "9999-01-01T00:00");
    assert_int_equal(lc__cron_next(&c, INT64_MAX), -1);
    c = parse_ok("0 0 29 2 *");
    assert_time("prev before the first leap day", lc__cron_prev(&c, at("1972-01-01T00:00")), NULL);
}

static void test_cron_min_gap_is_shortest_within_and_across_days(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        int64_t minutes;
    } cases[] = {
        {"* * * * *", 1},      {"*/5 * * * *", 5},         {"0,50 * * * *", 10},
        {"0 */2 * * *", 120},  {"30 9 * * mon-fri", 1440}, {"0 0 1 1 *", 1440},
        {"0 9,17 * * *", 480}, {"55 23 * * *", 1440},      {"0,55 23 * * *", 55},
        {"10 0,23 * * *", 60}, {"0,59 0,23 * * *", 1},     {"@hourly", 60},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc__cron c = parse_ok(cases[i].expr);
        if (lc__cron_min_gap_ms(&c) != cases[i].minutes * 60000)
            fail_msg("'%s': min gap %lld ms, want %lld min", cases[i].expr,
                     (long long)lc__cron_min_gap_ms(&c), (long long)cases[i].minutes);
    }
    lc__cron c = parse_ok("* * * * *");
    c.hour = 0;
    assert_int_equal(lc__cron_min_gap_ms(&c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_every_form_sets_its_bits),
        cmocka_unit_test(test_cron_names_any_case_and_sunday_as_7),
        cmocka_unit_test(test_cron_macros_expand_to_five_fields),
        cmocka_unit_test(test_cron_bad_expressions_name_field_and_token),
        cmocka_unit_test(test_cron_days_that_never_exist_are_refused),
        cmocka_unit_test(test_cron_next_is_strictly_after_and_prev_at_or_before),
        cmocka_unit_test(test_cron_search_crosses_days_months_and_years),
        cmocka_unit_test(test_cron_leap_days_are_found_years_away),
        cmocka_unit_test(test_cron_both_day_fields_restricted_means_either),
        cmocka_unit_test(test_cron_impossible_masks_end_the_search),
        cmocka_unit_test(test_cron_calendar_edges_answer_minus_one),
        cmocka_unit_test(test_cron_min_gap_is_shortest_within_and_across_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
