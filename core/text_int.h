/* core/text_int.h -- reading UTF-8 and cutting text on character
 * boundaries (core/text.c). */
#ifndef LC_TEXT_INT_H
#define LC_TEXT_INT_H

#include "lockcoord.h"

/* The length to keep of s[0..len) so that at most max bytes remain and no
 * UTF-8 character is cut in two: len when it fits, else max or up to 3
 * bytes less. Only s[0..max) is read, so a len above max also stands for
 * "it went on" (a truncated snprintf). Bytes that are not UTF-8 are cut
 * plainly. */
size_t lc__utf8_cut(const char *s, size_t len, size_t max);

/* The length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when the
 * bytes there are not one: stray continuation bytes, overlong forms,
 * surrogates, code points above U+10FFFF, truncated sequences. *cp gets
 * the code point. */
size_t lc__utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

#endif
