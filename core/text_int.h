/* core/text_int.h -- cutting text on character boundaries (core/text.c). */
#ifndef LC_TEXT_INT_H
#define LC_TEXT_INT_H

#include "lockcoord.h"

/* The length to keep of s[0..len) so that at most max bytes remain and no
 * UTF-8 character is cut in two: len when it fits, else max or up to 3
 * bytes less. Only s[0..max) is read, so a len above max also stands for
 * "it went on" (a truncated snprintf). Bytes that are not UTF-8 are cut
 * plainly. */
size_t lc__utf8_cut(const char *s, size_t len, size_t max);

#endif
