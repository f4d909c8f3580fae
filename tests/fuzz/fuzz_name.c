/* tests/fuzz/fuzz_name.c -- lc_name_check and lc_token_check against
 * their rules written out again here.
 *
 * Input: the bytes of a name (NULs included: the length is given) and,
 * as a C string, of a token. */
#include "fuzz.h"

#include "lockcoord.h"

static int name_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > LC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-", s[i]) ||
            s[i] == '\0')
            return 0;
    return 1;
}

static int token_ok(const char *s)
{
    size_t n = strlen(s);
    return n == LC_TOKEN_LEN && strspn(s, "0123456789abcdef") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lc_error err;
    lc_status rc = lc_name_check((const char *)data, size, &err);
    FUZZ_CHECK((rc == LC_OK) == name_ok(data, size));
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_INVALID);
    FUZZ_CHECK(rc == LC_OK || memchr(err.message, '\0', sizeof(err.message)) != NULL);

    char *token = fuzz_cstr(data, size);
    rc = lc_token_check(token, &err);
    FUZZ_CHECK((rc == LC_OK) == token_ok(token));
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_INVALID);
    free(token);
    return 0;
}
