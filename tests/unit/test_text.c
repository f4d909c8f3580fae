/* tests/unit/test_text.c -- text for humans (core/text.c): the UTF-8 and
 * control-character check, cutting on character boundaries (also inside
 * lc__strlcpy and error messages), escaping for terminals and repairing
 * for JSON. */
#include "testenv.h"

#include "core/error_int.h"
#include "core/text_int.h"

#include <stdlib.h>
#include <string.h>

static void assert_clean(const char *s)
{
    lc_error err;
    lct_assert_rc(lc_text_check(s, strlen(s), &err), LC_OK, &err);
}

static void assert_unclean(const char *s, size_t len, const char *msg)
{
    lc_error err;
    lct_assert_rc(lc_text_check(s, len, &err), LC_ERR_INVALID, &err);
    assert_string_equal(err.message, msg);
}

#define CONTROL(cp, at)                                                                            \
    "control character " cp " at byte " at " (text must be one line of printable characters)"

/* ------------------------------------------------------------------------ */
/* lc_text_check                                                            */
/* ------------------------------------------------------------------------ */

static void test_text_check_printable_utf8_ok(void **state)
{
    (void)state;
    assert_clean("");
    assert_clean("web-1:31826");
    assert_clean("upstream returned 503 \"Service Unavailable\" \\ done");
    assert_clean("caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x94\x92"); /* café 漢字 🔒 */
    assert_clean("\xc2\xa0");                                              /* U+00A0: not C1 */
    assert_clean("\xef\xbf\xbd");                                          /* U+FFFD itself */
    assert_clean("\xf4\x8f\xbf\xbf");                                      /* U+10FFFF */
}

static void test_text_check_control_characters_invalid(void **state)
{
    (void)state;
    assert_unclean("\x1b[31mred", 8, CONTROL("U+001B", "0"));
    assert_unclean("two\nlines", 9, CONTROL("U+000A", "3"));
    assert_unclean("tab\there", 8, CONTROL("U+0009", "3"));
    assert_unclean("bell\x07", 5, CONTROL("U+0007", "4"));
    assert_unclean("del\x7f", 4, CONTROL("U+007F", "3"));
    assert_unclean("csi\xc2\x9b"
                   "31m",
                   8, CONTROL("U+009B", "3")); /* C1 CSI */
    assert_unclean("nul\0after", 9, CONTROL("U+0000", "3"));
}

static void test_text_check_invalid_utf8_invalid(void **state)
{
    (void)state;
    assert_unclean("ab\xff", 3, "not valid UTF-8 at byte 2 (0xff)");
    assert_unclean("\x80", 1, "not valid UTF-8 at byte 0 (0x80)");         /* stray continuation */
    assert_unclean("x\xc0\xaf", 3, "not valid UTF-8 at byte 1 (0xc0)");    /* overlong '/' */
    assert_unclean("\xe0\x80\xaf", 3, "not valid UTF-8 at byte 0 (0xe0)"); /* overlong */
    assert_unclean("\xed\xa0\x80", 3, "not valid UTF-8 at byte 0 (0xed)"); /* surrogate */
    assert_unclean("\xf4\x90\x80\x80", 4, "not valid UTF-8 at byte 0 (0xf4)"); /* > U+10FFFF */
    assert_unclean("caf\xc3", 4, "not valid UTF-8 at byte 3 (0xc3)");          /* truncated */
    assert_unclean("\xe6\xbc", 2, "not valid UTF-8 at byte 0 (0xe6)");
}

/* ------------------------------------------------------------------------ */
/* Cutting                                                                  */
/* ------------------------------------------------------------------------ */

static void test_utf8_cut_on_character_boundary(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x94\x92"; /* a é 漢 🔒: 1+2+3+4 bytes */
    size_t len = strlen(s);
    assert_int_equal(lc__utf8_cut(s, len, 100), len); /* fits */
    assert_int_equal(lc__utf8_cut(s, len, 10), 10);
    assert_int_equal(lc__utf8_cut(s, len, 9), 6); /* inside 🔒 */
    assert_int_equal(lc__utf8_cut(s, len, 7), 6);
    assert_int_equal(lc__utf8_cut(s, len, 6), 6);
    assert_int_equal(lc__utf8_cut(s, len, 5), 3); /* inside 漢 */
    assert_int_equal(lc__utf8_cut(s, len, 4), 3);
    assert_int_equal(lc__utf8_cut(s, len, 2), 1); /* inside é */
    assert_int_equal(lc__utf8_cut(s, len, 1), 1);
    assert_int_equal(lc__utf8_cut(s, len, 0), 0);
    /* Not UTF-8: cut plainly. */
    assert_int_equal(lc__utf8_cut("\x80\x80\x80\x80\x80", 5, 4), 4);
    assert_int_equal(lc__utf8_cut("ab\xff\xff", 4, 3), 3);
}

static void test_strlcpy_owner_cut_on_character_boundary(void **state)
{
    (void)state;
    /* 200 x "é" (400 bytes) into an owner field of 255 + 1. */
    char src[401], dst[LC_OWNER_MAX + 1];
    for (int i = 0; i < 200; i++)
        memcpy(src + 2 * i, "\xc3\xa9", 2);
    src[400] = '\0';
    lc__strlcpy(dst, src, sizeof(dst));
    assert_int_equal(strlen(dst), 254);
    assert_clean(dst);
    lc__strlcpy(dst, "short", sizeof(dst));
    assert_string_equal(dst, "short");
}

static void test_error_message_cut_on_character_boundary(void **state)
{
    (void)state;
    char big[601]; /* 200 x "漢" */
    for (int i = 0; i < 200; i++)
        memcpy(big + 3 * i, "\xe6\xbc\xa2", 3);
    big[600] = '\0';
    for (int pad = 0; pad < 3; pad++) {
        lc_error err;
        lc__err(&err, LC_ERR_INVALID, 0, "%.*s%s", pad, "xx", big);
        assert_clean(err.message);
        assert_true(strlen(err.message) >= sizeof(err.message) - 3);
    }
}

/* ------------------------------------------------------------------------ */
/* Escaping for terminals, repairing for JSON                               */
/* ------------------------------------------------------------------------ */

static void assert_rewrite(char *(*fn)(const char *), const char *in, const char *want)
{
    char *out = fn(in);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void test_text_escape_controls_and_invalid_bytes(void **state)
{
    (void)state;
    assert_rewrite(lc_text_escape, "\x1b[31mEVIL\x1b[0m", "\\x1b[31mEVIL\\x1b[0m");
    assert_rewrite(lc_text_escape,
                   "a\xff"
                   "b",
                   "a\\xffb");
    assert_rewrite(lc_text_escape, "csi\xc2\x9b", "csi\\xc2\\x9b");
    assert_rewrite(lc_text_escape, "line\nnext\ttab\x7f", "line\\x0anext\\x09tab\\x7f");
    assert_rewrite(lc_text_escape, "caf\xc3\xa9 \\ ok", "caf\xc3\xa9 \\ ok");
    assert_rewrite(lc_text_escape, "cut\xe6\xbc", "cut\\xe6\\xbc");
    assert_rewrite(lc_text_escape, "", "");
    assert_rewrite(lc_text_escape, NULL, "");
    /* What comes out is clean text. */
    char *out = lc_text_escape("\x1b\xff\xc2\x85\xed\xa0\x80");
    assert_clean(out);
    free(out);
}

static void test_text_utf8_replaces_invalid_bytes(void **state)
{
    (void)state;
    assert_rewrite(lc_text_utf8,
                   "a\xff"
                   "b",
                   "a\xef\xbf\xbd"
                   "b");
    assert_rewrite(lc_text_utf8, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_rewrite(lc_text_utf8, "caf\xc3\xa9", "caf\xc3\xa9");
    assert_rewrite(lc_text_utf8, "cut\xe6\xbc", "cut\xef\xbf\xbd\xef\xbf\xbd");
    /* Control characters are valid UTF-8: JSON escapes them itself. */
    assert_rewrite(lc_text_utf8, "\x1b[31m\n", "\x1b[31m\n");
    assert_rewrite(lc_text_utf8, NULL, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_check_printable_utf8_ok),
        cmocka_unit_test(test_text_check_control_characters_invalid),
        cmocka_unit_test(test_text_check_invalid_utf8_invalid),
        cmocka_unit_test(test_utf8_cut_on_character_boundary),
        cmocka_unit_test(test_strlcpy_owner_cut_on_character_boundary),
        cmocka_unit_test(test_error_message_cut_on_character_boundary),
        cmocka_unit_test(test_text_escape_controls_and_invalid_bytes),
        cmocka_unit_test(test_text_utf8_replaces_invalid_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
