/* tests/unit/test_bench_ref.c -- the backend's floor (lc_bench_ref_*)
 * where there is none: the memory backend. The floors of Redis and
 * Postgres are tested against their servers (tests/integration). */
#include "testenv.h"

#include <string.h>

static void test_bench_ref_memory_backend_is_invalid(void **state)
{
    (void)state;
    lc_config *cfg = lct_config("memory");
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_OK, &err);
    lc_bench_ref *ref = NULL;
    lct_assert_rc(lc_bench_ref_open(c, &ref, &err), LC_ERR_INVALID, &err);
    assert_null(ref);
    assert_non_null(strstr(err.message, "memory"));
    lc_bench_ref_close(NULL);
    lc_client_close(c);
    lc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_ref_memory_backend_is_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
