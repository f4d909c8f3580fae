/* tests/unit/test_duration.c -- time as lockcoord writes it: duration
 * parsing and printing (every unit, compound and fractional forms, the
 * refusals with their exact messages, format -> parse round trips), the
 * local deadline's drift allowance, and RFC 3339 timestamps. */
#include "testenv.h"

#include "core/clock_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_MS LC_DURATION_MAX_MS /* the largest duration lc_duration_parse accepts */

static void assert_parses(const char *text, int64_t want)
{
    lc_error err;
    int64_t ms = -1;
    lct_assert_rc(lc_duration_parse(text, &ms, &err), LC_OK, &err);
    if (ms != want)
        fail_msg("'%s' parsed as %lld ms, want %lld", text, (long long)ms, (long long)want);
}

/* Refused with LC_ERR_INVALID and exactly `msg`; the output is untouched. */
static void assert_refused(const char *text, const char *msg)
{
    lc_error err;
    int64_t ms = 12345;
    lct_assert_rc(lc_duration_parse(text, &ms, &err), LC_ERR_INVALID, &err);
    assert_int_equal(err.code, LC_ERR_INVALID);
    assert_string_equal(err.message, msg);
    assert_int_equal(ms, 12345);
}

static void assert_formats(int64_t ms, const char *want)
{
    char buf[64];
    assert_ptr_equal(lc_duration_format(ms, buf, sizeof(buf)), buf);
    assert_string_equal(buf, want);
}

/* ------------------------------------------------------------------------ */
/* Parsing what is valid                                                    */
/* ------------------------------------------------------------------------ */

static void test_duration_milliseconds_parsed(void **state)
{
    (void)state;
    assert_parses("250ms", 250);
    assert_parses("1ms", 1);
}

static void test_duration_seconds_parsed(void **state)
{
    (void)state;
    assert_parses("30s", 30000);
}

static void test_duration_minutes_parsed(void **state)
{
    (void)state;
    assert_parses("5m", 300000);
}

static void test_duration_hours_parsed(void **state)
{
    (void)state;
    assert_parses("1h", 3600000);
}

static void test_duration_compound_summed(void **state)
{
    (void)state;
    assert_parses("1h30m", 5400000);
    assert_parses("1m30s", 90000);
    assert_parses("1h2m3s4ms", 3723004);
    /* "ms" after digits is milliseconds, not minutes followed by 's'. */
    assert_parses("2m5ms", 120005);
}

static void test_duration_fraction_scaled(void **state)
{
    (void)state;
    assert_parses("1.5s", 1500);
    assert_parses("0.25s", 250);
    assert_parses("1.5h", 5400000);
    assert_parses(".5m", 30000);
}

static void test_duration_zero_accepted(void **state)
{
    (void)state;
    assert_parses("0s", 0);
    assert_parses("0ms", 0);
}

static void test_duration_large_accepted(void **state)
{
    (void)state;
    assert_int_equal(MAX_MS, 365LL * 86400000);
    assert_parses("24d", 24LL * 86400000);
    assert_parses("25d", 25LL * 86400000); /* more ms than an int holds */
    assert_parses("365d", MAX_MS);         /* exactly the limit */
    assert_parses("8760h", MAX_MS);
    assert_parses("31536000000ms", MAX_MS);
    assert_parses("364d23h59m59s999ms", MAX_MS - 1);
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                 */
/* ------------------------------------------------------------------------ */

#define TOO_LARGE(d) "duration '" d "' is too large: at most 365d (31536000000 ms)"

static void test_duration_over_365d_refused(void **state)
{
    (void)state;
    assert_refused("31536000001ms", TOO_LARGE("31536000001ms"));
    assert_refused("366d", TOO_LARGE("366d"));
    assert_refused("8761h", TOO_LARGE("8761h"));
    assert_refused("365.5d", TOO_LARGE("365.5d"));
    /* The reports of issue 8: each overflowed nanosecond arithmetic. */
    assert_refused("3000000h", TOO_LARGE("3000000h"));
    assert_refused("99999999h", TOO_LARGE("99999999h"));
    assert_refused("4503599627370496ms", TOO_LARGE("4503599627370496ms"));
    /* Each term fits, the sum does not. */
    assert_refused("365d1ms", TOO_LARGE("365d1ms"));
    assert_refused("200d200d", TOO_LARGE("200d200d"));
}

static void test_duration_overflow_refused(void **state)
{
    (void)state;
    assert_refused("99999999999999999999999s", TOO_LARGE("99999999999999999999999s"));
    assert_refused("9223372036854775807h", TOO_LARGE("9223372036854775807h"));
    assert_refused("9223372036854775807ms", TOO_LARGE("9223372036854775807ms"));
    assert_refused("4503599627370496ms4503599627370496ms",
                   TOO_LARGE("4503599627370496ms4503599627370496ms"));
}

static void test_duration_bare_number_refused_with_unit_hint(void **state)
{
    (void)state;
    assert_refused("30", "invalid duration '30': a unit is required (ms, s, m, h), e.g. '30s'");
    assert_refused("1.5", "invalid duration '1.5': a unit is required (ms, s, m, h), e.g. '1.5s'");
}

static void test_duration_unknown_unit_refused(void **state)
{
    (void)state;
    assert_refused("5x", "invalid duration '5x': unknown unit; use ms, s, m or h");
    assert_refused("10sec", "invalid duration '10sec': unknown unit; use ms, s, m or h");
    assert_refused("3 s", "invalid duration '3 s': unknown unit; use ms, s, m or h");
    /* The unit is the whole word: "5min" is not "5m" followed by garbage. */
    assert_refused("5min", "invalid duration '5min': unknown unit; use ms, s, m or h");
    assert_refused("1h30mins", "invalid duration '1h30mins': unknown unit; use ms, s, m or h");
    assert_refused("30S", "invalid duration '30S': unknown unit; use ms, s, m or h");
}

static void test_duration_negative_refused(void **state)
{
    (void)state;
    assert_refused("-5s", "invalid duration '-5s': must not be negative");
    assert_refused("-0s", "invalid duration '-0s': must not be negative");
}

static void test_duration_empty_refused(void **state)
{
    (void)state;
    assert_refused("", "invalid duration '': expected a number with a unit, like 30s");
    assert_refused(NULL, "invalid duration '': expected a number with a unit, like 30s");
}

static void test_duration_garbage_refused(void **state)
{
    (void)state;
    const char *want = "expected a number with a unit, like 250ms, 30s, 5m or 1h";
    const char *bad[] = {"abc", "ms", "s", " 30s", "+5s", "1h m", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[160];
        snprintf(msg, sizeof(msg), "invalid duration '%s': %s", bad[i], want);
        assert_refused(bad[i], msg);
    }
}

static void test_duration_null_error_tolerated(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(lc_duration_parse("30", &ms, NULL), LC_ERR_INVALID);
    assert_int_equal(lc_duration_parse("30s", &ms, NULL), LC_OK);
    assert_int_equal(ms, 30000);
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */
/* ------------------------------------------------------------------------ */

static void test_duration_format_exact_strings(void **state)
{
    (void)state;
    assert_formats(250, "250ms");
    assert_formats(30000, "30s");
    assert_formats(300000, "5m");
    assert_formats(3600000, "1h");
    assert_formats(90000, "1m30s");
    assert_formats(0, "0s");
    assert_formats(5400000, "1h30m");
    assert_formats(1500, "1s500ms");
    assert_formats(3723004, "1h2m3s4ms");
    assert_formats(3600005, "1h5ms");
    assert_formats(86400000, "24h");
}

static void test_duration_format_negative_is_zero(void **state)
{
    (void)state;
    assert_formats(-1, "0s");
}

static void test_duration_format_round_trips(void **state)
{
    (void)state;
    static const int64_t values[] = {
        0,     1,     2,       250,     999,     1000,    1001,     1500,      59999,     60000,
        60001, 90000, 3599999, 3600000, 3723004, 5400000, 86400000, 604800000, 1LL << 34, MAX_MS};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[64];
        lc_duration_format(values[i], buf, sizeof(buf));
        assert_parses(buf, values[i]);
    }
}

static void test_duration_format_small_buffer_terminated(void **state)
{
    (void)state;
    char buf[4] = {'x', 'x', 'x', 'x'};
    assert_ptr_equal(lc_duration_format(250, buf, 1), buf);
    assert_string_equal(buf, "");
    lc_duration_format(250, buf, 0); /* size 0: nothing written */
    assert_string_equal(buf, "");
    lc_duration_format(30000, buf, sizeof(buf));
    assert_string_equal(buf, "30s");
}

/* ------------------------------------------------------------------------ */
/* Local deadline: ttl minus 1% and 2 ms, from when the request was sent    */
/* ------------------------------------------------------------------------ */

#define SENT_NS 5000000000LL /* an arbitrary monotonic instant */

static void test_deadline_ttl_1000_ends_at_988(void **state)
{
    (void)state;
    assert_int_equal(lc_deadline_after(SENT_NS, 1000), SENT_NS + 988 * 1000000LL);
}

static void test_deadline_ttl_300_ends_at_295(void **state)
{
    (void)state;
    assert_int_equal(lc_deadline_after(SENT_NS, 300), SENT_NS + 295 * 1000000LL);
    assert_int_equal(lc_deadline_after(SENT_NS, 30000), SENT_NS + 29698 * 1000000LL);
}

static void test_deadline_ttl_zero_ends_at_sent(void **state)
{
    (void)state;
    assert_int_equal(lc_deadline_after(SENT_NS, 0), SENT_NS);
    /* A ttl smaller than the allowance never ends before it was sent. */
    assert_int_equal(lc_deadline_after(SENT_NS, 1), SENT_NS);
    assert_int_equal(lc_deadline_after(SENT_NS, 3), SENT_NS + 1000000LL);
}

static void test_deadline_huge_ttl_saturates(void **state)
{
    (void)state;
    /* An embedder's ttl is not bound by the parser: the deadline must not
     * wrap into the past (which declared such a lease lost at once). */
    assert_int_equal(lc_deadline_after(SENT_NS, 3000000LL * 3600000), INT64_MAX);
    assert_int_equal(lc_deadline_after(SENT_NS, INT64_MAX), INT64_MAX);
    assert_true(lc_deadline_after(SENT_NS, MAX_MS) > SENT_NS);
    assert_int_equal(lc_deadline_after(INT64_MAX - 5, 1000), INT64_MAX);
}

static void test_time_arithmetic_saturates(void **state)
{
    (void)state;
    assert_int_equal(lc__ms_to_ns(1500), 1500000000LL);
    assert_int_equal(lc__ms_to_ns(-7), -7000000LL);
    assert_int_equal(lc__ms_to_ns(INT64_MAX / 1000000), (INT64_MAX / 1000000) * 1000000);
    assert_int_equal(lc__ms_to_ns(INT64_MAX / 1000000 + 1), INT64_MAX);
    assert_int_equal(lc__ms_to_ns(99999999LL * 3600000), INT64_MAX);
    assert_int_equal(lc__ms_to_ns(INT64_MIN), INT64_MIN);
    assert_int_equal(lc__add_sat(1, 2), 3);
    assert_int_equal(lc__add_sat(INT64_MAX - 1, 5), INT64_MAX);
    assert_int_equal(lc__add_sat(INT64_MIN + 1, -5), INT64_MIN);
    assert_int_equal(lc__add_sat(INT64_MAX, INT64_MIN), -1);
}

/* ------------------------------------------------------------------------ */
/* Timestamps: RFC 3339, UTC, milliseconds                                  */
/* ------------------------------------------------------------------------ */

static void assert_time(int64_t unix_ms, const char *want)
{
    char buf[40];
    lc_time_format(unix_ms, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_format_time_fixed_instant_exact(void **state)
{
    (void)state;
    assert_time(1700000000123LL, "2023-11-14T22:13:20.123Z");
}

static void test_format_time_epoch_and_padding_exact(void **state)
{
    (void)state;
    assert_time(0, "1970-01-01T00:00:00.000Z");
    assert_time(1700000000007LL, "2023-11-14T22:13:20.007Z");
    assert_time(951782400999LL, "2000-02-29T00:00:00.999Z"); /* a leap day */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_milliseconds_parsed),
        cmocka_unit_test(test_duration_seconds_parsed),
        cmocka_unit_test(test_duration_minutes_parsed),
        cmocka_unit_test(test_duration_hours_parsed),
        cmocka_unit_test(test_duration_compound_summed),
        cmocka_unit_test(test_duration_fraction_scaled),
        cmocka_unit_test(test_duration_zero_accepted),
        cmocka_unit_test(test_duration_large_accepted),
        cmocka_unit_test(test_duration_over_365d_refused),
        cmocka_unit_test(test_duration_overflow_refused),
        cmocka_unit_test(test_duration_bare_number_refused_with_unit_hint),
        cmocka_unit_test(test_duration_unknown_unit_refused),
        cmocka_unit_test(test_duration_negative_refused),
        cmocka_unit_test(test_duration_empty_refused),
        cmocka_unit_test(test_duration_garbage_refused),
        cmocka_unit_test(test_duration_null_error_tolerated),
        cmocka_unit_test(test_duration_format_exact_strings),
        cmocka_unit_test(test_duration_format_negative_is_zero),
        cmocka_unit_test(test_duration_format_round_trips),
        cmocka_unit_test(test_duration_format_small_buffer_terminated),
        cmocka_unit_test(test_deadline_ttl_1000_ends_at_988),
        cmocka_unit_test(test_deadline_ttl_300_ends_at_295),
        cmocka_unit_test(test_deadline_ttl_zero_ends_at_sent),
        cmocka_unit_test(test_deadline_huge_ttl_saturates),
        cmocka_unit_test(test_time_arithmetic_saturates),
        cmocka_unit_test(test_format_time_fixed_instant_exact),
        cmocka_unit_test(test_format_time_epoch_and_padding_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
