/* tests/unit/test_client.c -- what the client refuses before any backend
 * is touched: ttls out of range, malformed tokens, text that is not clean
 * UTF-8 or holds control characters. Runs on the memory backend; a refusal
 * must leave the store as it was. */
#include "testenv.h"

#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    lc_config *cfg;
    lc_memstore *store;
    lc_client *c;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cfg = lct_config("memory");
    f->store = lc_memstore_new(NULL);
    assert_non_null(f->store);
    lc_client_opts o = {.memstore = f->store};
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &o, &f->c, &err), LC_OK, &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lc_client_close(f->c);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

/* The lock was never taken: ready with fence 0. */
static void assert_untouched(fixture *f, const char *name)
{
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_int_equal(info.fence, 0);
    assert_int_equal(info.sync_count, 0);
    lc_lock_info_clear(&info);
}

static lc_status try_acquire(fixture *f, const char *name, int64_t ttl_ms, const char *owner,
                             lc_lease **l, lc_error *err)
{
    lc_acquire_opts o = {.ttl_ms = ttl_ms, .wait_ms = -1, .owner = owner};
    *l = NULL;
    return lc_acquire(f->c, name, &o, l, err);
}

/* ------------------------------------------------------------------------ */
/* ttl bounds                                                               */
/* ------------------------------------------------------------------------ */

static void test_acquire_ttl_over_365d_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/ttl-max");
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 3000000LL * 3600000, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "at most 365d"));
    lct_assert_rc(try_acquire(f, name, LC_DURATION_MAX_MS + 1, NULL, &l, &err), LC_ERR_INVALID,
                  &err);
    assert_untouched(f, name);
    /* Exactly the maximum is a lease that is not lost at once. */
    lct_assert_rc(try_acquire(f, name, LC_DURATION_MAX_MS, NULL, &l, &err), LC_OK, &err);
    assert_true(lc_lease_deadline_ns(l) > lc_clock_system()->mono_ns(NULL));
    lct_assert_rc(lc_renew(f->c, l, LC_DURATION_MAX_MS + 1, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_renew(f->c, l, LC_DURATION_MAX_MS, &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_acquire_ttl_under_minimum_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/ttl-min");
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 1, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "at least 10 ms"));
    lct_assert_rc(try_acquire(f, name, LC_TTL_MIN_MS - 1, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_untouched(f, name);
    lct_assert_rc(try_acquire(f, name, LC_TTL_MIN_MS, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_renew(f->c, l, LC_TTL_MIN_MS - 1, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_ttl_over_365d_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_ttl_under_minimum_is_invalid, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
