/* tests/unit/test_redis_request.c -- the pieces of a Redis request, built
 * without snprintf and without hiredis's formatting (backends/redis/): keys
 * and decimal numbers checked against what snprintf writes, the protocol
 * text against what hiredis writes. */
#include "testenv.h"

#include "backends/redis/redis_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_redis_request_num_writes_what_snprintf_writes(void **state)
{
    (void)state;
    const long long v[] = {0,
                           1,
                           -1,
                           9,
                           10,
                           -10,
                           99,
                           100,
                           12345,
                           -12345,
                           INT_MAX,
                           INT_MIN,
                           1LL << 53,
                           LLONG_MAX,
                           LLONG_MIN,
                           1000000000000LL,
                           -999999999999LL};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[LC__NUM_MAX], got[LC__NUM_MAX];
        snprintf(want, sizeof(want), "%lld", v[i]);
        memset(got, 'X', sizeof(got));
        assert_ptr_equal(lc__redis_num(got, v[i]), got);
        assert_string_equal(got, want);
    }
}

static void test_redis_request_key_writes_what_snprintf_writes(void **state)
{
    (void)state;
    lc__redis r;
    memset(&r, 0, sizeof(r));
    char prefix[LC__PREFIX_MAX + 1], name[LC_NAME_MAX + 1];
    memset(prefix, 'p', LC__PREFIX_MAX);
    prefix[LC__PREFIX_MAX] = '\0';
    memset(name, 'n', LC_NAME_MAX);
    name[LC_NAME_MAX] = '\0';
    const char *prefixes[] = {"lockcoord", "", prefix};
    const char *names[] = {"sync", "a.b/c:d-e_f", name};
    const char *suffixes[] = {"lock", "released", ""};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++)
            for (size_t k = 0; k < 3; k++) {
                char want[LC__KEY_MAX], got[LC__KEY_MAX];
                r.prefix = (char *)prefixes[i];
                snprintf(want, sizeof(want), "%s:{%s}:%s", prefixes[i], names[j], suffixes[k]);
                lc__redis_key(&r, names[j], suffixes[k], got);
                assert_string_equal(got, want);
            }
}

/* A name longer than any valid one is cut as snprintf would cut it. */
static void test_redis_request_key_too_long_is_cut(void **state)
{
    (void)state;
    lc__redis r;
    memset(&r, 0, sizeof(r));
    r.prefix = "lockcoord";
    char name[2 * LC__KEY_MAX];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    char want[LC__KEY_MAX], got[LC__KEY_MAX + 8];
    memset(got, 'X', sizeof(got));
    snprintf(want, sizeof(want), "%s:{%s}:%s", r.prefix, name, "lock");
    lc__redis_key(&r, name, "lock", got);
    assert_string_equal(got, want);
    assert_int_equal(got[LC__KEY_MAX], 'X');
}

/* The protocol text of argv, as hiredis writes it. */
static void assert_resp_as_hiredis(int argc, const char **argv, const size_t *lens)
{
    char *want = NULL;
    int n = redisFormatCommandArgv(&want, argc, argv, lens);
    assert_true(n > 0);
    sds got = sdsnew("queued before|");
    assert_non_null(got);
    assert_int_equal(lc__resp_append(&got, argc, argv, lens), REDIS_OK);
    assert_int_equal(sdslen(got), 14 + (size_t)n);
    assert_memory_equal(got, "queued before|", 14);
    assert_memory_equal(got + 14, want, (size_t)n);
    assert_int_equal(got[sdslen(got)], '\0');
    sdsfree(got);
    free(want);
}

static void test_redis_request_resp_writes_what_hiredis_writes(void **state)
{
    (void)state;
    const char *one[] = {"PING"};
    size_t one_lens[] = {4};
    assert_resp_as_hiredis(1, one, one_lens);
    /* Empty, binary (NUL, CR LF) and long arguments; 12 of them. */
    static char big[12345];
    memset(big, 'b', sizeof(big));
    const char *many[] = {"EVALSHA", "",    "a\0b", "\r\n", big, "x",
                          "yy",      "zzz", "1",    "22",   big, "end"};
    size_t many_lens[] = {7, 0, 3, 2, 9, 1, 2, 3, 1, 2, sizeof(big), 3};
    assert_resp_as_hiredis(12, many, many_lens);
    const char *args[1000];
    size_t lens[1000];
    for (int i = 0; i < 1000; i++) {
        args[i] = big;
        lens[i] = (size_t)i * 7;
    }
    assert_resp_as_hiredis(1000, args, lens);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_request_num_writes_what_snprintf_writes),
        cmocka_unit_test(test_redis_request_key_writes_what_snprintf_writes),
        cmocka_unit_test(test_redis_request_key_too_long_is_cut),
        cmocka_unit_test(test_redis_request_resp_writes_what_hiredis_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
