/* tests/unit/test_timing.c -- the timing rules of a lease, written once in
 * core/timing.c: renew_every = ttl/3 by default, below ttl/2 always, a ttl
 * of at least LC_TTL_MIN_MS, a 5 s kill grace, and lc_lease_timing_settle
 * that applies them for a caller. */
#include "testenv.h"

#include "core/timing_int.h"

#include <string.h>

static void test_timing_renew_default_is_a_third_of_ttl(void **state)
{
    (void)state;
    assert_int_equal(lc__timing_renew_default(30000), 10000);
    assert_int_equal(lc__timing_renew_default(3000), 1000);
    assert_int_equal(lc__timing_renew_default(10), 3);
}

static void test_timing_renew_below_half_ttl_fits_half_does_not(void **state)
{
    (void)state;
    assert_true(lc__timing_renew_fits(30000, 14999));
    assert_false(lc__timing_renew_fits(30000, 15000));
    assert_false(lc__timing_renew_fits(30000, 0));
    assert_false(lc__timing_renew_fits(30000, -1));
    assert_true(lc__timing_renew_fits(11, 5));
    assert_false(lc__timing_renew_fits(10, 5));
}

static void test_timing_allowance_is_one_percent_plus_2ms(void **state)
{
    (void)state;
    assert_int_equal(lc__timing_allowance_ms(1000), 12);
    assert_int_equal(lc__timing_allowance_ms(30000), 302);
    assert_int_equal(lc__timing_allowance_ms(0), 2);
}

static void test_timing_check_messages_name_both_durations(void **state)
{
    (void)state;
    lc_error err;
    assert_int_equal(lc__timing_check_renew(1000, 600, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "renew_every (600ms) must be less than half the ttl (1s)");
    assert_int_equal(lc__timing_check_ttl(5, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "ttl (5ms) must be at least 10ms");
    assert_int_equal(lc__timing_check_ttl(LC_TTL_MIN_MS, &err), LC_OK);
}

static lc_config *config(int64_t ttl_ms, int64_t renew_every_ms)
{
    lc_config *cfg = lc_config_new("memory");
    assert_non_null(cfg);
    cfg->lock.ttl_ms = ttl_ms;
    cfg->lock.renew_every_ms = renew_every_ms;
    return cfg;
}

static void test_timing_settle_zero_takes_config_and_5s_grace(void **state)
{
    (void)state;
    lc_config *cfg = config(20000, 4000);
    lc_lease_timing t = {0, 0, 0, 0};
    lc_error err;
    lct_assert_rc(lc_lease_timing_settle(cfg, &t, &err), LC_OK, &err);
    assert_int_equal(t.ttl_ms, 20000);
    assert_int_equal(t.renew_every_ms, 4000);
    assert_int_equal(t.kill_grace_ms, 5000);
    lc_config_free(cfg);
}

static void test_timing_settle_own_ttl_brings_own_renew_default(void **state)
{
    (void)state;
    lc_config *cfg = config(20000, 4000);
    lc_lease_timing t = {3000, 0, 250, 0};
    lc_error err;
    lct_assert_rc(lc_lease_timing_settle(cfg, &t, &err), LC_OK, &err);
    assert_int_equal(t.ttl_ms, 3000);
    assert_int_equal(t.renew_every_ms, 1000);
    assert_int_equal(t.kill_grace_ms, 250);
    /* Without a config, a ttl is enough. */
    lc_lease_timing u = {900, 0, 0, 0};
    lct_assert_rc(lc_lease_timing_settle(NULL, &u, &err), LC_OK, &err);
    assert_int_equal(u.renew_every_ms, 300);
    lc_config_free(cfg);
}

static void test_timing_settle_bad_renew_refused_unchanged(void **state)
{
    (void)state;
    lc_config *cfg = config(20000, 4000);
    lc_lease_timing t = {1000, 600, 0, 0};
    lc_error err;
    assert_int_equal(lc_lease_timing_settle(cfg, &t, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "renew_every (600ms) must be less than half the ttl (1s)");
    assert_int_equal(t.ttl_ms, 1000);
    assert_int_equal(t.renew_every_ms, 600);
    assert_int_equal(t.kill_grace_ms, 0);
    /* The config's renew_every against a shorter ttl given here is not
     * taken: the ttl brings its own default. */
    lc_lease_timing u = {5000, 0, 0, 0};
    lct_assert_rc(lc_lease_timing_settle(cfg, &u, &err), LC_OK, &err);
    lc_lease_timing v = {5, 0, 0, 0};
    assert_int_equal(lc_lease_timing_settle(cfg, &v, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "ttl (5ms) must be at least 10ms");
    lc_lease_timing w = {0, 0, -1, 0};
    assert_int_equal(lc_lease_timing_settle(cfg, &w, &err), LC_ERR_INVALID);
    lc_lease_timing x = {0, 0, 0, 0};
    assert_int_equal(lc_lease_timing_settle(NULL, &x, &err), LC_ERR_INVALID);
    lc_config_free(cfg);
}

/* A kill grace given as 0 means SIGKILL right after SIGTERM; settling
 * twice changes nothing (lc_run settles what its caller settled). */
static void test_timing_settle_kill_grace_zero_set_is_kept_and_settles_again(void **state)
{
    (void)state;
    lc_config *cfg = config(20000, 4000);
    lc_lease_timing t = {.kill_grace_ms = 0, .kill_grace_set = 1};
    lc_error err;
    lct_assert_rc(lc_lease_timing_settle(cfg, &t, &err), LC_OK, &err);
    assert_int_equal(t.kill_grace_ms, 0);
    lct_assert_rc(lc_lease_timing_settle(cfg, &t, &err), LC_OK, &err);
    assert_int_equal(t.kill_grace_ms, 0);
    assert_int_equal(t.ttl_ms, 20000);
    assert_int_equal(t.renew_every_ms, 4000);
    lc_lease_timing u = {0, 0, 0, 0};
    lct_assert_rc(lc_lease_timing_settle(cfg, &u, &err), LC_OK, &err);
    assert_int_equal(u.kill_grace_ms, 5000);
    assert_int_equal(u.kill_grace_set, 1);
    lct_assert_rc(lc_lease_timing_settle(cfg, &u, &err), LC_OK, &err);
    assert_int_equal(u.kill_grace_ms, 5000);
    lc_lease_timing v = {.kill_grace_ms = -1, .kill_grace_set = 1};
    assert_int_equal(lc_lease_timing_settle(cfg, &v, &err), LC_ERR_INVALID);
    assert_int_equal(v.kill_grace_set, 1);
    lc_config_free(cfg);
}

static void test_timing_config_defaults_follow_the_rule(void **state)
{
    (void)state;
    lc_config *cfg = lc_config_new("memory");
    assert_non_null(cfg);
    assert_int_equal(cfg->lock.renew_every_ms, lc__timing_renew_default(cfg->lock.ttl_ms));
    lc_config_free(cfg);
}

static void test_timing_acquire_and_renew_below_min_ttl_refused(void **state)
{
    (void)state;
    lc_config *cfg = lc_config_new("memory");
    assert_non_null(cfg);
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_OK, &err);
    lc_acquire_opts o = {.ttl_ms = LC_TTL_MIN_MS - 1, .wait_ms = -1};
    lc_lease *l = NULL;
    assert_int_equal(lc_acquire(c, "timing/min", &o, &l, &err), LC_ERR_INVALID);
    assert_null(l);
    o.ttl_ms = LC_TTL_MIN_MS;
    lct_assert_rc(lc_acquire(c, "timing/min", &o, &l, &err), LC_OK, &err);
    assert_int_equal(lc_renew(c, l, 5, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "ttl (5ms) must be at least 10ms");
    lc_lease_free(l);
    lc_client_close(c);
    lc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_renew_default_is_a_third_of_ttl),
        cmocka_unit_test(test_timing_renew_below_half_ttl_fits_half_does_not),
        cmocka_unit_test(test_timing_allowance_is_one_percent_plus_2ms),
        cmocka_unit_test(test_timing_check_messages_name_both_durations),
        cmocka_unit_test(test_timing_settle_zero_takes_config_and_5s_grace),
        cmocka_unit_test(test_timing_settle_own_ttl_brings_own_renew_default),
        cmocka_unit_test(test_timing_settle_bad_renew_refused_unchanged),
        cmocka_unit_test(test_timing_settle_kill_grace_zero_set_is_kept_and_settles_again),
        cmocka_unit_test(test_timing_config_defaults_follow_the_rule),
        cmocka_unit_test(test_timing_acquire_and_renew_below_min_ttl_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
