/* tests/unit/test_redis_cluster.c -- the slot arithmetic of Redis Cluster
 * routing, against the vectors of the Redis Cluster specification and
 * values CLUSTER KEYSLOT gives (Redis 7.0). The full comparison with a
 * real cluster, for thousands of names, is in
 * tests/integration/test_redis_cluster.c. */
#include "backends/redis/cluster_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int slot_of(const char *key)
{
    return lc__cluster_slot(key, strlen(key));
}

static void test_crc16_spec_vector_matches(void **state)
{
    (void)state;
    /* The specification's check value of CRC16-XMODEM. */
    assert_int_equal(lc__cluster_crc16("123456789", 9), 0x31C3);
    assert_int_equal(lc__cluster_crc16("", 0), 0);
}

static void test_slot_plain_keys_match_keyslot(void **state)
{
    (void)state;
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("123456789"), 12739); /* 0x31C3 & 16383 */
    assert_int_equal(slot_of(""), 0);
    assert_int_equal(slot_of("a{b"), 13340); /* no '}': the whole key */
}

static void test_slot_hash_tag_rules_match_spec(void **state)
{
    (void)state;
    /* A tag: the bytes between the first '{' and the next '}'. */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("{user1000}.following"), 3443);
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* "{bar": the first '{' opens it, the first '}' after it closes it. */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), 4015);
    /* An empty tag is no tag: the whole key is hashed. */
    assert_int_equal(slot_of("foo{}{bar}"), 8363);
    assert_int_equal(slot_of("{}"), 15257);
}

static void test_slot_lock_keys_share_one_slot(void **state)
{
    (void)state;
    static const char *const keys[] = {"lockcoord:{job/a}:lock",  "lockcoord:{job/a}:fence",
                                       "lockcoord:{job/a}:meta",  "lockcoord:{job/a}:runs",
                                       "lockcoord:{job/a}:pause", "lockcoord:{job/a}:released"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(slot_of(keys[i]), 3354);
    /* A prefix with braces of its own would move the tag: names cannot
     * hold braces, and the tag is the first pair. */
    assert_int_equal(slot_of("p{x}:{job/a}:lock"), slot_of("x"));
}

static void test_slot_binary_bytes_are_hashed_whole(void **state)
{
    (void)state;
    const char key[] = {'a', '\0', 'b', '{', '\xff', '}'};
    assert_int_equal(lc__cluster_slot(key, sizeof(key)), lc__cluster_crc16("\xff", 1) & 16383);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_spec_vector_matches),
        cmocka_unit_test(test_slot_plain_keys_match_keyslot),
        cmocka_unit_test(test_slot_hash_tag_rules_match_spec),
        cmocka_unit_test(test_slot_lock_keys_share_one_slot),
        cmocka_unit_test(test_slot_binary_bytes_are_hashed_whole),
    };
    return cmocka_run_group_tests_name("redis_cluster", tests, NULL, NULL);
}
