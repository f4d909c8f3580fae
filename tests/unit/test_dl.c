/* tests/unit/test_dl.c -- a library loaded on demand (core/dl.c): its
 * functions land in their slots, and a library that is missing or lacks
 * a function is one line naming it and what it is needed by. */
#include "testenv.h"

#include "core/dl_int.h"

#include <stddef.h>
#include <string.h>

typedef struct table {
    size_t (*length)(const char *s);
    int (*absolute)(int v);
} table;

static const lc__dl_fn libc_fns[] = {
    {"strlen", offsetof(table, length)},
    {"abs", offsetof(table, absolute)},
};

static void test_dl_load_fills_every_slot(void **state)
{
    (void)state;
    table t = {0};
    lc_error err;
    lct_assert_rc(lc__dl_load("libc.so.6", "libc", "a test", libc_fns, 2, &t, &err), LC_OK, &err);
    assert_int_equal(t.length("four"), 4);
    assert_int_equal(t.absolute(-3), 3);
}

static void test_dl_load_missing_library_is_unavailable(void **state)
{
    (void)state;
    table t = {0};
    lc_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        lc__dl_load("libnone-lockcoord-test.so.1", "libnone", "a test", libc_fns, 2, &t, &err),
        LC_ERR_UNAVAILABLE);
    lct_assert_prefix(err.message,
                      "libnone-lockcoord-test.so.1 (needed by a test) cannot be loaded: "
                      "libnone-lockcoord-test.so.1: cannot open shared object file");
}

static void test_dl_load_missing_function_is_too_old(void **state)
{
    (void)state;
    static const lc__dl_fn fns[] = {
        {"strlen", offsetof(table, length)},
        {"lockcoord_no_such_function", offsetof(table, absolute)},
    };
    table t = {0};
    lc_error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(lc__dl_load("libc.so.6", "libfoo", "a test", fns, 2, &t, &err),
                     LC_ERR_UNAVAILABLE);
    lct_assert_prefix(err.message, "libc.so.6 (needed by a test) is too old or not libfoo: ");
    assert_non_null(strstr(err.message, "lockcoord_no_such_function"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dl_load_fills_every_slot),
        cmocka_unit_test(test_dl_load_missing_library_is_unavailable),
        cmocka_unit_test(test_dl_load_missing_function_is_too_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
