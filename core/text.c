/* core/text.c -- text for humans (owner, error, checkpoint, reason): UTF-8
 * checked where it comes in, cut on character boundaries, and made safe
 * where it goes out. Data already in a backend may have been written by
 * another tool, so what is read back is never trusted to be clean. */
#include "core/error_int.h"
#include "core/text_int.h"

#include <stdlib.h>
#include <string.h>

static int cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t lc__utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if (!cont(s[i]))
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* C0, DEL and C1: what a terminal may take as a command. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

lc_status lc_text_check(const char *s, size_t len, lc_error *err)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = lc__utf8_seq(p + i, len - i, &cp);
        if (n == 0)
            return lc__err(err, LC_ERR_INVALID, 0, "not valid UTF-8 at byte %zu (0x%02x)", i, p[i]);
        if (is_control(cp))
            return lc__err(err, LC_ERR_INVALID, 0,
                           "control character U+%04X at byte %zu (text must be one line of "
                           "printable characters)",
                           (unsigned)cp, i);
        i += n;
    }
    return LC_OK;
}

size_t lc__utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    const unsigned char *p = (const unsigned char *)s;
    /* Find the lead byte of the last character that starts before max
     * (at most 3 continuation bytes back); only bytes before max are read. */
    size_t i = max;
    while (i > 0 && max - i < 3 && cont(p[i - 1]))
        i--;
    if (i == 0 || cont(p[i - 1]))
        return max; /* not UTF-8 here: a plain cut harms nothing */
    unsigned char c = p[i - 1];
    size_t need = c < 0x80                 ? 1
                  : c >= 0xC2 && c <= 0xDF ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
    if (need == 0 || i - 1 + need <= max)
        return max;
    return i - 1; /* the character would be cut: leave it out whole */
}

/* Builds the output of lc_text_escape / lc_text_utf8 in one pass over s:
 * each valid character either kept or (when `esc` says so) written as
 * \xNN per byte; each invalid byte as \xNN or as U+FFFD. */
static char *rewrite(const char *s, int escape)
{
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    /* Worst case: every byte becomes 4 ("\xNN") or 3 (U+FFFD). */
    char *out = malloc(len * 4 + 1);
    if (out == NULL)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = lc__utf8_seq(p + i, len - i, &cp);
        if (n > 0 && !(escape && is_control(cp))) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        size_t bad = n ? n : 1;
        for (size_t k = 0; k < bad; k++) {
            if (escape) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[p[i + k] >> 4];
                out[o++] = hex[p[i + k] & 15];
            } else {
                memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
                o += 3;
            }
        }
        i += bad;
    }
    out[o] = '\0';
    return out;
}

char *lc_text_escape(const char *s)
{
    return rewrite(s, 1);
}

char *lc_text_utf8(const char *s)
{
    return rewrite(s, 0);
}
