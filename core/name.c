/* core/name.c -- lock-name rules: 1..200 bytes of [A-Za-z0-9._:/-]. */
#include "core/error_int.h"

#include <ctype.h>

static int name_byte_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '/' || c == '-';
}

lc_status lc_name_check(const char *name, size_t len, lc_error *err)
{
    if (name == NULL || len == 0)
        return lc__err(err, LC_ERR_INVALID, 0, "invalid lock name: empty");
    if (len > LC_NAME_MAX)
        return lc__err(err, LC_ERR_INVALID, 0, "invalid lock name: %zu bytes, at most %d allowed",
                       len, LC_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (name_byte_ok(c))
            continue;
        if (isprint(c) && c != ' ')
            return lc__err(err, LC_ERR_INVALID, 0,
                           "invalid lock name: '%c' at byte %zu; allowed are "
                           "A-Z a-z 0-9 . _ : / -",
                           c, i);
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid lock name: byte 0x%02x at byte %zu; allowed are "
                       "A-Z a-z 0-9 . _ : / -",
                       c, i);
    }
    return LC_OK;
}
