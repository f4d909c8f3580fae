/* tests/unit/test_registry.c -- the registry: which backends this build
 * has (the build tells the test through LC_HAVE_REDIS / LC_HAVE_POSTGRES,
 * as it tells core/registry.c), and what opening any other name says. */
#include "testenv.h"

#include "backends/backend_int.h"

#include <string.h>

static int listed(const char *name)
{
    for (size_t i = 0; lc_backend_name(i); i++)
        if (strcmp(lc_backend_name(i), name) == 0)
            return 1;
    return 0;
}

#ifdef LC_HAVE_REDIS
#define HAVE_REDIS 1
#else
#define HAVE_REDIS 0
#endif
#ifdef LC_HAVE_POSTGRES
#define HAVE_POSTGRES 1
#else
#define HAVE_POSTGRES 0
#endif

static void test_registry_lists_the_backends_built(void **state)
{
    (void)state;
    assert_int_equal(listed("memory"), 1);
    assert_int_equal(listed("redis"), HAVE_REDIS);
    assert_int_equal(listed("postgres"), HAVE_POSTGRES);
    assert_int_equal(lc_backend_available("redis"), HAVE_REDIS);
    assert_int_equal(lc_backend_available("postgres"), HAVE_POSTGRES);
    assert_true(lc_backend_available("memory"));
    assert_int_equal(lc_backend_available("mongodb"), 0);
    assert_int_equal(lc_backend_available(NULL), 0);
    size_t n = 0;
    while (lc_backend_name(n))
        n++;
    assert_int_equal(n, 1 + HAVE_REDIS + HAVE_POSTGRES);
    assert_null(lc_backend_name(n));
}

static void test_registry_find_gives_each_table_its_name(void **state)
{
    (void)state;
    for (size_t i = 0; lc_backend_name(i); i++) {
        const lc_backend_ops *ops = lc__backend_find(lc_backend_name(i));
        assert_non_null(ops);
        assert_string_equal(ops->name, lc_backend_name(i));
    }
    assert_null(lc__backend_find("nope"));
    assert_null(lc__backend_find(NULL));
}

static void test_registry_unknown_backend_open_names_what_is_built(void **state)
{
    (void)state;
    lc_config *cfg = lc_config_new("mongodb");
    assert_non_null(cfg);
    lc_client *c = (lc_client *)cfg; /* must stay untouched */
    lc_error err;
    assert_int_equal(lc_client_open(cfg, NULL, &c, &err), LC_ERR_CONFIG);
    assert_ptr_equal(c, (lc_client *)cfg);
    assert_non_null(strstr(err.message, "unknown backend 'mongodb' (this build has: "));
    assert_non_null(strstr(err.message, "memory)"));
    lc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_the_backends_built),
        cmocka_unit_test(test_registry_find_gives_each_table_its_name),
        cmocka_unit_test(test_registry_unknown_backend_open_names_what_is_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
