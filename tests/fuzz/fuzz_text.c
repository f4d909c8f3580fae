/* tests/fuzz/fuzz_text.c -- text for humans: lc_text_check,
 * lc_text_escape, lc_text_utf8, lc__utf8_cut and lc__strlcpy.
 *
 * Input: any bytes. The UTF-8 rules are written out again here (the
 * well-formed sequences of the Unicode standard, table 3-7) as the
 * oracle. Properties: lc_text_check accepts exactly valid UTF-8 without
 * C0, DEL or C1; what lc_text_escape makes passes it; what lc_text_utf8
 * makes is valid UTF-8; both leave clean text as it is; a cut never
 * splits a character of valid text. */
#include "fuzz.h"

#include "core/error_int.h"
#include "core/text_int.h"

/* The length of the well-formed sequence at s[0..n), 0 if none. */
static size_t seq_len(const uint8_t *s, size_t n, uint32_t *cp)
{
    static const struct {
        uint8_t lead_lo, lead_hi, second_lo, second_hi, len;
    } forms[] = {
        {0x00, 0x7F, 0, 0, 1},       {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
        {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
        {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
    };
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        if (s[0] < forms[f].lead_lo || s[0] > forms[f].lead_hi)
            continue;
        size_t len = forms[f].len;
        if (len == 1) {
            *cp = s[0];
            return 1;
        }
        if (n < len || s[1] < forms[f].second_lo || s[1] > forms[f].second_hi)
            return 0;
        for (size_t i = 2; i < len; i++)
            if (s[i] < 0x80 || s[i] > 0xBF)
                return 0;
        uint32_t v = s[0] & (0xFF >> (len + 1));
        for (size_t i = 1; i < len; i++)
            v = v << 6 | (s[i] & 0x3F);
        *cp = v;
        return len;
    }
    return 0;
}

/* 1 when s[0..n) is valid UTF-8 (and, with no_controls, has no C0, DEL
 * or C1 character). */
static int valid(const uint8_t *s, size_t n, int no_controls)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = seq_len(s + i, n - i, &cp);
        if (len == 0 || (no_controls && (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))))
            return 0;
        i += len;
    }
    return 1;
}

static void check_rewrites(const char *s)
{
    size_t len = strlen(s);
    int clean = valid((const uint8_t *)s, len, 1);
    char *esc = lc_text_escape(s);
    char *u8 = lc_text_utf8(s);
    FUZZ_CHECK(esc != NULL && u8 != NULL);
    FUZZ_CHECK(lc_text_check(esc, strlen(esc), NULL) == LC_OK);
    FUZZ_CHECK(valid((const uint8_t *)u8, strlen(u8), 0));
    if (clean) {
        FUZZ_CHECK(strcmp(esc, s) == 0);
        FUZZ_CHECK(strcmp(u8, s) == 0);
    }
    free(esc);
    free(u8);
}

static void check_cut(const uint8_t *data, size_t size)
{
    size_t max = data[0] % 64;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    size_t keep = lc__utf8_cut(s, len, max);
    if (len <= max) {
        FUZZ_CHECK(keep == len);
    } else {
        FUZZ_CHECK(keep <= max && keep + 3 >= max);
        if (valid((const uint8_t *)s, len, 0))
            FUZZ_CHECK(valid((const uint8_t *)s, keep, 0));
    }

    /* lc__strlcpy cuts the same way, into a buffer of max + 1 bytes. */
    char *src = fuzz_cstr(data + 1, size - 1);
    char *dst = malloc(max + 1);
    FUZZ_CHECK(dst != NULL);
    lc__strlcpy(dst, src, max + 1);
    size_t n = strlen(src);
    FUZZ_CHECK(strlen(dst) == lc__utf8_cut(src, n, max));
    FUZZ_CHECK(memcmp(dst, src, strlen(dst)) == 0);
    free(dst);
    free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lc_error err;
    lc_status rc = lc_text_check((const char *)data, size, &err);
    FUZZ_CHECK((rc == LC_OK) == valid(data, size, 1));

    char *s = fuzz_cstr(data, size);
    check_rewrites(s);
    free(s);
    if (size > 0)
        check_cut(data, size);
    return 0;
}
