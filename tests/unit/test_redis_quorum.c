/* tests/unit/test_redis_quorum.c -- the arithmetic of quorum mode: the
 * majority, the validity time, and which master's view of a lock stands
 * for it (backends/redis/quorum.c). No servers. */
#include "testenv.h"

#include "backends/redis/quorum_int.h"
#include "core/client_int.h"

#include <stdio.h>
#include <string.h>

static void view(lc_lock_info *v, int held, const char *owner, uint64_t fence)
{
    lc__lock_info_init(v, "job");
    v->held = held;
    v->fence = fence;
    snprintf(v->owner, sizeof(v->owner), "%s", owner);
}

static void test_quorum_majority_of_odd_counts_is_more_than_half(void **state)
{
    (void)state;
    assert_int_equal(lc__quorum_majority(3), 2);
    assert_int_equal(lc__quorum_majority(5), 3);
    assert_int_equal(lc__quorum_majority(9), 5);
}

static void test_quorum_validity_is_ttl_minus_drift_allowance(void **state)
{
    (void)state;
    assert_int_equal(lc__quorum_validity_ms(30000), 30000 - 302);
    assert_int_equal(lc__quorum_validity_ms(1000), 1000 - 12);
}

static void test_quorum_pick_holder_named_by_majority(void **state)
{
    (void)state;
    lc_lock_info a, b, c;
    view(&a, 0, "old", 4);
    view(&b, 1, "x", 5);
    view(&c, 1, "x", 5);
    const lc_lock_info *v[3] = {&a, &b, &c};
    uint64_t fence = 0;
    assert_int_equal(lc__quorum_pick_info(v, 3, 2, &fence), 1);
    assert_int_equal(fence, 5);
}

static void test_quorum_pick_minority_holder_is_not_held(void **state)
{
    (void)state;
    lc_lock_info a, b, c;
    view(&a, 1, "x", 7); /* held on one master only: not a lease */
    view(&b, 0, "x", 6);
    view(&c, 0, "y", 6);
    const lc_lock_info *v[3] = {&a, &b, &c};
    uint64_t fence = 0;
    size_t p = lc__quorum_pick_info(v, 3, 2, &fence);
    assert_false(v[p]->held);
    assert_int_equal(fence, 7); /* the highest any master handed out */
}

static void test_quorum_pick_disagreeing_holders_takes_highest_fence(void **state)
{
    (void)state;
    lc_lock_info a, b;
    view(&a, 1, "x", 3);
    view(&b, 1, "y", 9);
    const lc_lock_info *v[2] = {&a, &b};
    uint64_t fence = 0;
    assert_int_equal(lc__quorum_pick_info(v, 2, 2, &fence), 1);
    assert_int_equal(fence, 9);
}

static void test_quorum_pick_same_fence_other_owner_is_no_majority(void **state)
{
    (void)state;
    lc_lock_info a, b, c;
    view(&a, 1, "x", 5);
    view(&b, 1, "y", 5);
    view(&c, 0, "", 5);
    const lc_lock_info *v[3] = {&a, &b, &c};
    uint64_t fence = 0;
    assert_int_equal(lc__quorum_pick_info(v, 3, 2, &fence), 2);
}

/* Three masters' reports: the holder vm:1 (fence 614) on the first and
 * last, and a stray lease of vm:2 (fence 616) on the middle one. */
static void reports(lc_holder hs[3], const lc_holder *h[3])
{
    static const struct {
        const char *owner;
        uint64_t fence;
    } r[3] = {{"vm:1", 614}, {"vm:2", 616}, {"vm:1", 614}};
    for (int i = 0; i < 3; i++) {
        memset(&hs[i], 0, sizeof(hs[i]));
        snprintf(hs[i].owner, sizeof(hs[i].owner), "%s", r[i].owner);
        hs[i].fence = r[i].fence;
        h[i] = &hs[i];
    }
}

/* The torture test's finding: a reset named a failed attempt's stray
 * lease (fence 616, one master) instead of the lease two masters held
 * (fence 614), so the holder it took the lock from went unnamed. */
static void test_quorum_pick_holder_majority_beats_higher_stray_fence(void **state)
{
    (void)state;
    lc_holder hs[3];
    const lc_holder *h[3];
    reports(hs, h);
    unsigned char held[] = {1, 1, 1};
    assert_int_equal(lc__quorum_pick_holder(h, held, 3, 2), 0);
}

static void test_quorum_pick_holder_without_majority_takes_highest_fence(void **state)
{
    (void)state;
    lc_holder hs[3];
    const lc_holder *h[3];
    reports(hs, h);
    unsigned char held[] = {1, 1, 0};
    assert_int_equal(lc__quorum_pick_holder(h, held, 3, 2), 1);
    /* Same fence, other owner: not the same holder. */
    snprintf(hs[2].owner, sizeof(hs[2].owner), "vm:3");
    held[2] = 1;
    assert_int_equal(lc__quorum_pick_holder(h, held, 3, 2), 1);
}

static void test_quorum_pick_holder_none_held_is_k(void **state)
{
    (void)state;
    lc_holder hs[3];
    const lc_holder *h[3];
    reports(hs, h);
    unsigned char held[] = {0, 0, 0};
    assert_int_equal(lc__quorum_pick_holder(h, held, 3, 2), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorum_majority_of_odd_counts_is_more_than_half),
        cmocka_unit_test(test_quorum_validity_is_ttl_minus_drift_allowance),
        cmocka_unit_test(test_quorum_pick_holder_named_by_majority),
        cmocka_unit_test(test_quorum_pick_minority_holder_is_not_held),
        cmocka_unit_test(test_quorum_pick_disagreeing_holders_takes_highest_fence),
        cmocka_unit_test(test_quorum_pick_same_fence_other_owner_is_no_majority),
        cmocka_unit_test(test_quorum_pick_holder_majority_beats_higher_stray_fence),
        cmocka_unit_test(test_quorum_pick_holder_without_majority_takes_highest_fence),
        cmocka_unit_test(test_quorum_pick_holder_none_held_is_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
