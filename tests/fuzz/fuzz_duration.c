/* tests/fuzz/fuzz_duration.c -- lc_duration_parse and lc_duration_format.
 *
 * Input: the text of a duration. Properties: a parsed duration is within
 * 0..LC_DURATION_MAX_MS and formats to text that parses back to the same
 * value; the first 8 bytes as any int64 format into any buffer size,
 * NUL-terminated. */
#include "fuzz.h"

#include "lockcoord.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    lc_error err;
    int64_t ms = -1;
    lc_status rc = lc_duration_parse(text, &ms, &err);
    if (rc == LC_OK) {
        FUZZ_CHECK(ms >= 0 && ms <= LC_DURATION_MAX_MS);
        char buf[64];
        int64_t back = -1;
        lc_duration_format(ms, buf, sizeof(buf));
        FUZZ_CHECK(lc_duration_parse(buf, &back, NULL) == LC_OK);
        FUZZ_CHECK(back == ms);
    } else {
        FUZZ_CHECK(rc == LC_ERR_INVALID);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    }
    free(text);

    if (size >= 9) {
        int64_t v;
        memcpy(&v, data, sizeof(v));
        size_t cap = data[8] % 40;
        char small[40];
        memset(small, 'x', sizeof(small));
        lc_duration_format(v, small, cap);
        FUZZ_CHECK(cap == 0 || memchr(small, '\0', cap) != NULL);
        FUZZ_CHECK(cap == sizeof(small) || small[cap] == 'x');
    }
    return 0;
}
