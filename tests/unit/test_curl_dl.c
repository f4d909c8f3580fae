/* tests/unit/test_curl_dl.c -- libcurl loaded on demand (sync/curl_dl.c):
 * a config without http jobs leaves it unloaded, and a libcurl that cannot
 * be loaded is one clear error: a config error for a config with an http
 * job, and the same message from the loader itself. The loader runs once
 * per process, so the cases run in this order in one process, pointed at
 * a library that does not exist. */
#include "testenv.h"

#include "sync/curl_dl_int.h"

#include <string.h>

#define MISSING "libcurl-lockcoord-test-missing.so.4"

static void test_curl_dl_config_without_http_job_does_not_load_libcurl(void **state)
{
    (void)state;
    const char *yaml = "backend: redis\nredis:\n  url: redis://:pw@127.0.0.1:6379/0\n"
                       "jobs:\n  - {name: a, every: 1m, exec: [\"true\"]}\n";
    lc_config *cfg = NULL;
    lc_error err;
    lct_assert_rc(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_OK, &err);
    lc_config_free(cfg);
    assert_false(lct_mapped("libcurl"));
}

static void test_curl_dl_http_job_without_libcurl_is_config_error(void **state)
{
    (void)state;
    lc__curl_set_soname(MISSING);
    const char *yaml = "backend: redis\nredis:\n  url: redis://127.0.0.1:6379/0\n"
                       "jobs:\n  - name: a\n    every: 1m\n    http:\n      url: http://h/\n";
    lc_config *cfg = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_ERR_CONFIG);
    assert_null(cfg);
    const char *want = "t.yaml:8:12: jobs[0].http.url: " MISSING " (needed by http jobs) cannot "
                       "be loaded: " MISSING ": cannot open shared object file";
    lct_assert_prefix(err.message, want);
    assert_false(lct_mapped("libcurl"));
}

static void test_curl_dl_missing_library_is_unavailable_every_time(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        lc_error err;
        memset(&err, 0, sizeof(err));
        assert_int_equal(lc__curl_load(&err), LC_ERR_UNAVAILABLE);
        const char *want = MISSING " (needed by http jobs) cannot be loaded: " MISSING ": ";
        lct_assert_prefix(err.message, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_dl_config_without_http_job_does_not_load_libcurl),
        cmocka_unit_test(test_curl_dl_http_job_without_libcurl_is_config_error),
        cmocka_unit_test(test_curl_dl_missing_library_is_unavailable_every_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
