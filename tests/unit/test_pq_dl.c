/* tests/unit/test_pq_dl.c -- libpq loaded on demand
 * (backends/postgres/pq_dl.c): a Redis config leaves it unloaded, and a
 * libpq that cannot be loaded is one clear error: a config error for a
 * config of the postgres backend (as a missing libcurl is for one with an
 * http job), "unavailable" when a client opens on a config built in code,
 * and the same message from the loader itself. The loader runs once per
 * process, so the cases run in this order in one process, pointed at a
 * library that does not exist. */
#include "testenv.h"

#include "backends/postgres/pq_dl_int.h"

#include <stdlib.h>
#include <string.h>

#define MISSING "libpq-lockcoord-test-missing.so.5"
#define WHY     MISSING " (needed by the postgres backend) cannot be loaded: " MISSING ": "

static void test_pq_dl_redis_config_does_not_load_libpq(void **state)
{
    (void)state;
    const char *yaml = "backend: redis\nredis:\n  url: redis://:pw@127.0.0.1:6379/0\n";
    lc_config *cfg = NULL;
    lc_error err;
    lct_assert_rc(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_OK, &err);
    lc_config_free(cfg);
    assert_false(lct_mapped("libpq"));
}

static void test_pq_dl_postgres_config_without_libpq_is_config_error(void **state)
{
    (void)state;
    lc__pq_set_soname(MISSING);
    const char *yaml = "backend: postgres\npostgres:\n  conninfo: \"host=h password=Hunter2pw\"\n";
    lc_config *cfg = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_ERR_CONFIG);
    assert_null(cfg);
    lct_assert_prefix(err.message, "t.yaml:1:10: backend: " WHY);
    assert_false(lct_mapped("libpq"));
}

/* A config of another backend that happens to have a conninfo is read as
 * a build without Postgres reads it: libpq is not needed to use Redis. */
static void test_pq_dl_redis_config_with_conninfo_without_libpq_loads(void **state)
{
    (void)state;
    const char *yaml = "backend: redis\nredis:\n  url: redis://127.0.0.1:6379/0\n"
                       "postgres:\n  conninfo: \"host=h\"\n";
    lc_config *cfg = NULL;
    lc_error err;
    lct_assert_rc(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_OK, &err);
    lc_config_free(cfg);
}

static void test_pq_dl_client_open_without_libpq_is_unavailable(void **state)
{
    (void)state;
    lc_config *cfg = lc_config_new("postgres");
    assert_non_null(cfg);
    cfg->postgres.conninfo = strdup("host=127.0.0.1 password=Hunter2pw");
    assert_non_null(cfg->postgres.conninfo);
    lc_client *c = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(lc_client_open(cfg, NULL, &c, &err), LC_ERR_UNAVAILABLE);
    assert_null(c);
    lct_assert_prefix(err.message, WHY);
    assert_null(strstr(err.message, "Hunter2pw"));
    lc_config_free(cfg);
    assert_false(lct_mapped("libpq"));
}

static void test_pq_dl_missing_library_is_unavailable_every_time(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        lc_error err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(lc__pq_load(&err), LC_ERR_UNAVAILABLE);
        lct_assert_prefix(err.message, WHY);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pq_dl_redis_config_does_not_load_libpq),
        cmocka_unit_test(test_pq_dl_postgres_config_without_libpq_is_config_error),
        cmocka_unit_test(test_pq_dl_redis_config_with_conninfo_without_libpq_loads),
        cmocka_unit_test(test_pq_dl_client_open_without_libpq_is_unavailable),
        cmocka_unit_test(test_pq_dl_missing_library_is_unavailable_every_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
