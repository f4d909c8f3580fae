/* tests/unit/test_name.c -- lock-name rules: 1..200 bytes of
 * [A-Za-z0-9._:/-]; every other byte class is refused with a message that
 * names the byte and its position. */
#include "testenv.h"

#include <string.h>

#define ALLOWED "; allowed are A-Z a-z 0-9 . _ : / -"

static void assert_valid(const char *name, size_t len)
{
    lc_error err;
    lct_assert_rc(lc_name_check(name, len, &err), LC_OK, &err);
}

static void assert_refused(const char *name, size_t len, const char *msg)
{
    lc_error err;
    lct_assert_rc(lc_name_check(name, len, &err), LC_ERR_INVALID, &err);
    assert_int_equal(err.code, LC_ERR_INVALID);
    assert_string_equal(err.message, msg);
}

/* "job" + the byte c + "x", checked with its full length of 5. */
static void assert_byte_refused(char c, const char *msg)
{
    const char name[] = {'j', 'o', 'b', c, 'x'};
    assert_refused(name, sizeof(name), msg);
}

static void test_name_every_allowed_class_valid(void **state)
{
    (void)state;
    const char *all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-";
    assert_valid(all, strlen(all));
    assert_valid("smartsuite-sync", strlen("smartsuite-sync"));
    assert_valid("team/app:nightly.v2_run", strlen("team/app:nightly.v2_run"));
    assert_valid("a", 1);
    assert_valid("-", 1);
}

static void test_name_exactly_200_bytes_valid(void **state)
{
    (void)state;
    char name[LC_NAME_MAX];
    memset(name, 'a', sizeof(name));
    assert_int_equal(sizeof(name), 200);
    assert_valid(name, sizeof(name));
}

static void test_name_201_bytes_refused(void **state)
{
    (void)state;
    char name[LC_NAME_MAX + 1];
    memset(name, 'a', sizeof(name));
    assert_refused(name, sizeof(name), "invalid lock name: 201 bytes, at most 200 allowed");
}

static void test_name_empty_refused(void **state)
{
    (void)state;
    assert_refused("", 0, "invalid lock name: empty");
    assert_refused(NULL, 0, "invalid lock name: empty");
}

static void test_name_open_brace_refused(void **state)
{
    (void)state;
    assert_byte_refused('{', "invalid lock name: '{' at byte 3" ALLOWED);
}

static void test_name_close_brace_refused(void **state)
{
    (void)state;
    assert_byte_refused('}', "invalid lock name: '}' at byte 3" ALLOWED);
}

static void test_name_space_refused(void **state)
{
    (void)state;
    assert_byte_refused(' ', "invalid lock name: byte 0x20 at byte 3" ALLOWED);
}

static void test_name_double_quote_refused(void **state)
{
    (void)state;
    assert_byte_refused('"', "invalid lock name: '\"' at byte 3" ALLOWED);
}

static void test_name_single_quote_refused(void **state)
{
    (void)state;
    assert_byte_refused('\'', "invalid lock name: ''' at byte 3" ALLOWED);
}

static void test_name_other_punctuation_refused(void **state)
{
    (void)state;
    assert_byte_refused('*', "invalid lock name: '*' at byte 3" ALLOWED);
    assert_byte_refused('\\', "invalid lock name: '\\' at byte 3" ALLOWED);
    assert_byte_refused('%', "invalid lock name: '%' at byte 3" ALLOWED);
}

/* len counts past the NUL, so "job\0x" is 5 bytes and the NUL is caught. */
static void test_name_nul_inside_refused(void **state)
{
    (void)state;
    assert_byte_refused('\0', "invalid lock name: byte 0x00 at byte 3" ALLOWED);
}

static void test_name_newline_refused(void **state)
{
    (void)state;
    assert_byte_refused('\n', "invalid lock name: byte 0x0a at byte 3" ALLOWED);
}

static void test_name_tab_refused(void **state)
{
    (void)state;
    assert_byte_refused('\t', "invalid lock name: byte 0x09 at byte 3" ALLOWED);
}

static void test_name_del_refused(void **state)
{
    (void)state;
    assert_byte_refused(0x7f, "invalid lock name: byte 0x7f at byte 3" ALLOWED);
}

static void test_name_non_ascii_refused(void **state)
{
    (void)state;
    assert_byte_refused((char)0xc3, "invalid lock name: byte 0xc3 at byte 3" ALLOWED);
    /* "é" in UTF-8 at the start: the first byte is named. */
    assert_refused("\xc3\xa9t\xc3\xa9", 5, "invalid lock name: byte 0xc3 at byte 0" ALLOWED);
}

static void test_name_first_bad_byte_named(void **state)
{
    (void)state;
    assert_refused("ok {x}", 6, "invalid lock name: byte 0x20 at byte 2" ALLOWED);
    /* A bad byte at the very end of a 200-byte name. */
    char name[LC_NAME_MAX];
    memset(name, 'a', sizeof(name));
    name[LC_NAME_MAX - 1] = '}';
    assert_refused(name, sizeof(name), "invalid lock name: '}' at byte 199" ALLOWED);
}

static void test_name_null_error_tolerated(void **state)
{
    (void)state;
    assert_int_equal(lc_name_check("a b", 3, NULL), LC_ERR_INVALID);
    assert_int_equal(lc_name_check("ab", 2, NULL), LC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_every_allowed_class_valid),
        cmocka_unit_test(test_name_exactly_200_bytes_valid),
        cmocka_unit_test(test_name_201_bytes_refused),
        cmocka_unit_test(test_name_empty_refused),
        cmocka_unit_test(test_name_open_brace_refused),
        cmocka_unit_test(test_name_close_brace_refused),
        cmocka_unit_test(test_name_space_refused),
        cmocka_unit_test(test_name_double_quote_refused),
        cmocka_unit_test(test_name_single_quote_refused),
        cmocka_unit_test(test_name_other_punctuation_refused),
        cmocka_unit_test(test_name_nul_inside_refused),
        cmocka_unit_test(test_name_newline_refused),
        cmocka_unit_test(test_name_tab_refused),
        cmocka_unit_test(test_name_del_refused),
        cmocka_unit_test(test_name_non_ascii_refused),
        cmocka_unit_test(test_name_first_bad_byte_named),
        cmocka_unit_test(test_name_null_error_tolerated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
