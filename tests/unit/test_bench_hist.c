/* tests/unit/test_bench_hist.c -- the latency histogram of `lockcoord
 * bench` (cli/bench_hist.c, built into this test): percentiles within the
 * bucket width, exact maximum and mean, merging. */
#include "testenv.h"

#include "bench.h"

#include <stdlib.h>

static bench_hist *hist_new(void)
{
    bench_hist *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    return h;
}

/* |got - want| within 2% of want (a bucket is at most 1/32 wide). */
static void assert_near(int64_t got, int64_t want)
{
    int64_t d = got > want ? got - want : want - got;
    if (d * 50 > want)
        fail_msg("got %lld, want %lld within 2%%", (long long)got, (long long)want);
}

static void test_bench_hist_empty_is_zero(void **state)
{
    (void)state;
    bench_hist *h = hist_new();
    assert_int_equal(bench_hist_pct(h, 0.5), 0);
    assert_true(bench_hist_mean(h) == 0.0);
    free(h);
}

static void test_bench_hist_small_values_are_exact(void **state)
{
    (void)state;
    bench_hist *h = hist_new();
    for (int v = 1; v <= 10; v++)
        bench_hist_add(h, v);
    assert_int_equal(bench_hist_pct(h, 0.5), 5);
    assert_int_equal(bench_hist_pct(h, 0.99), 10);
    assert_int_equal(bench_hist_pct(h, 0.01), 1);
    assert_int_equal(h->max_ns, 10);
    assert_true(bench_hist_mean(h) == 5.5);
    free(h);
}

static void test_bench_hist_percentiles_within_bucket_width(void **state)
{
    (void)state;
    bench_hist *h = hist_new();
    for (int64_t us = 1; us <= 10000; us++)
        bench_hist_add(h, us * 1000);
    assert_near(bench_hist_pct(h, 0.50), 5000 * 1000);
    assert_near(bench_hist_pct(h, 0.99), 9900 * 1000);
    assert_near(bench_hist_pct(h, 0.10), 1000 * 1000);
    assert_int_equal(h->max_ns, 10000 * 1000);
    assert_true(bench_hist_pct(h, 1.0) <= h->max_ns);
    assert_true(bench_hist_mean(h) == 5000.5 * 1000);
    free(h);
}

static void test_bench_hist_negative_counts_as_zero(void **state)
{
    (void)state;
    bench_hist *h = hist_new();
    bench_hist_add(h, -5000);
    bench_hist_add(h, -1);
    bench_hist_add(h, 100);
    assert_int_equal(bench_hist_pct(h, 0.5), 0);
    assert_int_equal(h->n, 3);
    assert_int_equal(h->sum_ns, 100);
    free(h);
}

static void test_bench_hist_huge_value_is_capped_not_lost(void **state)
{
    (void)state;
    bench_hist *h = hist_new();
    int64_t huge = (int64_t)1 << 50;
    bench_hist_add(h, huge);
    assert_int_equal(h->max_ns, huge);
    assert_true(bench_hist_pct(h, 0.5) > 0);
    assert_true(bench_hist_pct(h, 0.5) <= huge);
    free(h);
}

static void test_bench_hist_merge_adds_everything(void **state)
{
    (void)state;
    bench_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
    for (int64_t v = 1; v <= 2000; v++) {
        bench_hist_add(v % 2 ? a : b, v * 997);
        bench_hist_add(all, v * 997);
    }
    bench_hist_merge(a, b);
    assert_int_equal(a->n, all->n);
    assert_int_equal(a->sum_ns, all->sum_ns);
    assert_int_equal(a->max_ns, all->max_ns);
    assert_int_equal(bench_hist_pct(a, 0.5), bench_hist_pct(all, 0.5));
    assert_int_equal(bench_hist_pct(a, 0.99), bench_hist_pct(all, 0.99));
    free(a);
    free(b);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_hist_empty_is_zero),
        cmocka_unit_test(test_bench_hist_small_values_are_exact),
        cmocka_unit_test(test_bench_hist_percentiles_within_bucket_width),
        cmocka_unit_test(test_bench_hist_negative_counts_as_zero),
        cmocka_unit_test(test_bench_hist_huge_value_is_capped_not_lost),
        cmocka_unit_test(test_bench_hist_merge_adds_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
