/* core/strbuf_int.h -- a growing NUL-terminated string, for text the
 * library renders (the config dump, the metrics). An allocation failure
 * sticks: every later call does nothing, and the owner checks `failed`
 * once at the end. All-zero is an empty buffer; the owner frees p. */
#ifndef LC_STRBUF_INT_H
#define LC_STRBUF_INT_H

#include "core/error_int.h"

#include <stddef.h>

typedef struct lc__sb {
    char *p; /* NULL until something was added */
    size_t len, cap;
    int failed;
} lc__sb;

/* Appends s[0..n). */
void lc__sb_add(lc__sb *b, const char *s, size_t n);

/* Appends the formatted text, however long. */
void lc__sb_printf(lc__sb *b, const char *fmt, ...) LC__PRINTF(2, 3);

#endif
