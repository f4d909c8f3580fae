/* tests/unit/test_backoff.c -- jittered exponential backoff: every delay
 * within [min/2, max], a ceiling that doubles up to max, real jitter, reset,
 * and clamping of bad bounds. */
#include "testenv.h"

#include "core/backoff_int.h"

#include <stdint.h>

#define DRAWS 2000

/* The delay drawn at step k (0-based) after a reset. */
static int64_t draw_at_step(lc__backoff *b, int k)
{
    lc__backoff_reset(b);
    int64_t d = 0;
    for (int i = 0; i <= k; i++)
        d = lc__backoff_next(b);
    return d;
}

static void test_backoff_every_delay_within_bounds(void **state)
{
    (void)state;
    static const int64_t bounds[][2] = {{50, 1000}, {1, 1},     {1, 7},
                                        {3, 100},   {100, 100}, {7, 1000000}};
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        int64_t min = bounds[i][0], max = bounds[i][1];
        lc__backoff b;
        lc__backoff_init(&b, min, max);
        for (int n = 0; n < DRAWS; n++) {
            int64_t d = lc__backoff_next(&b);
            if (d < min / 2 || d > max)
                fail_msg("min %lld max %lld: draw %d is %lld, outside [%lld, %lld]", (long long)min,
                         (long long)max, n, (long long)d, (long long)(min / 2), (long long)max);
            if (n % 50 == 49)
                lc__backoff_reset(&b);
        }
    }
}

/* The ceiling after k draws is min*2^k until it reaches max, then stays. */
static void test_backoff_ceiling_doubles_until_max(void **state)
{
    (void)state;
    static const int64_t want[] = {50, 100, 200, 400, 800, 1000, 1000, 1000};
    lc__backoff b;
    lc__backoff_init(&b, 50, 1000);
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        assert_int_equal(b.cur_ms, want[k]);
        lc__backoff_next(&b);
    }
}

/* Over many draws at step k the largest delay approaches min*2^k (capped
 * at max) and the smallest approaches half of that: each step's range is
 * [ceil/2, ceil], uniform. */
static void test_backoff_draws_grow_per_step(void **state)
{
    (void)state;
    static const int64_t ceil[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    lc__backoff b;
    lc__backoff_init(&b, 100, 5000);
    for (int k = 0; k < (int)(sizeof(ceil) / sizeof(ceil[0])); k++) {
        int64_t lo = INT64_MAX, hi = 0;
        for (int n = 0; n < DRAWS; n++) {
            int64_t d = draw_at_step(&b, k);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        int64_t c = ceil[k];
        if (hi > c || hi < c - c / 50)
            fail_msg("step %d: largest of %d draws is %lld, want within 2%% below %lld", k, DRAWS,
                     (long long)hi, (long long)c);
        if (lo < c / 2 || lo > c / 2 + c / 50)
            fail_msg("step %d: smallest of %d draws is %lld, want within 2%% above %lld", k, DRAWS,
                     (long long)lo, (long long)(c / 2));
    }
}

static void test_backoff_same_step_jittered(void **state)
{
    (void)state;
    lc__backoff b;
    lc__backoff_init(&b, 1000, 1000);
    int64_t first = lc__backoff_next(&b);
    int distinct = 0;
    for (int n = 1; n < 100; n++)
        if (draw_at_step(&b, 0) != first)
            distinct++;
    /* 501 equally likely values: a repeat of `first` is rare. */
    assert_true(distinct >= 90);
}

/* Two contenders seeded separately do not back off in lock step. */
static void test_backoff_two_instances_differ(void **state)
{
    (void)state;
    lc__backoff a, b;
    lc__backoff_init(&a, 1000, 1000);
    lc__backoff_init(&b, 1000, 1000);
    int same = 0;
    for (int n = 0; n < 100; n++)
        same += lc__backoff_next(&a) == lc__backoff_next(&b);
    assert_true(same < 10);
}

static void test_backoff_reset_returns_to_min(void **state)
{
    (void)state;
    lc__backoff b;
    lc__backoff_init(&b, 40, 640);
    for (int n = 0; n < 10; n++)
        lc__backoff_next(&b);
    assert_int_equal(b.cur_ms, 640);
    lc__backoff_reset(&b);
    assert_int_equal(b.cur_ms, 40);
    int64_t d = lc__backoff_next(&b);
    assert_in_range(d, 20, 40);
    assert_int_equal(b.cur_ms, 80);
}

static void test_backoff_min_below_one_clamped(void **state)
{
    (void)state;
    lc__backoff b;
    lc__backoff_init(&b, 0, 8);
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 8);
    assert_int_equal(b.cur_ms, 1);
    lc__backoff_init(&b, -100, 8);
    assert_int_equal(b.min_ms, 1);
    for (int n = 0; n < DRAWS; n++)
        assert_in_range(lc__backoff_next(&b), 0, 8);
}

static void test_backoff_max_below_min_clamped(void **state)
{
    (void)state;
    lc__backoff b;
    lc__backoff_init(&b, 200, 10);
    assert_int_equal(b.min_ms, 200);
    assert_int_equal(b.max_ms, 200);
    for (int n = 0; n < DRAWS; n++)
        assert_in_range(lc__backoff_next(&b), 100, 200);
    assert_int_equal(b.cur_ms, 200);
    lc__backoff_init(&b, 0, -5);
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 1);
}

/* A max near INT64_MAX: doubling the ceiling must saturate at max, not
 * overflow (UBSan would report it). */
static void test_backoff_huge_max_saturates(void **state)
{
    (void)state;
    lc__backoff b;
    lc__backoff_init(&b, 1, INT64_MAX);
    for (int n = 0; n < 70; n++) {
        int64_t d = lc__backoff_next(&b);
        assert_true(d >= 0);
    }
    assert_int_equal(b.cur_ms, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_every_delay_within_bounds),
        cmocka_unit_test(test_backoff_ceiling_doubles_until_max),
        cmocka_unit_test(test_backoff_draws_grow_per_step),
        cmocka_unit_test(test_backoff_same_step_jittered),
        cmocka_unit_test(test_backoff_two_instances_differ),
        cmocka_unit_test(test_backoff_reset_returns_to_min),
        cmocka_unit_test(test_backoff_min_below_one_clamped),
        cmocka_unit_test(test_backoff_max_below_min_clamped),
        cmocka_unit_test(test_backoff_huge_max_saturates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
