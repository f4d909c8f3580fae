/* core/token.c -- 128 random bits from the OS, as 32 lowercase hex chars. */
#include "core/error_int.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

lc_status lc_token_new(char out[LC_TOKEN_LEN + 1], lc_error *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[LC_TOKEN_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lc__err(err, LC_ERR_INTERNAL, errno, "getrandom: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[LC_TOKEN_LEN] = '\0';
    return LC_OK;
}

lc_status lc_token_check(const char *token, lc_error *err)
{
    size_t n = token ? strlen(token) : 0;
    if (n == 0)
        return lc__err(err, LC_ERR_INVALID, 0, "missing token");
    if (n != LC_TOKEN_LEN)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid token: expected %d lowercase hex characters, got %zu", LC_TOKEN_LEN,
                       n);
    size_t hex = strspn(token, "0123456789abcdef");
    if (hex != n)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid token: expected lowercase hex characters, got byte 0x%02x at %zu",
                       (unsigned char)token[hex], hex);
    return LC_OK;
}
