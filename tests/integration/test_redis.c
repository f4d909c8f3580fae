/* tests/integration/test_redis.c -- the Redis backend against the shared
 * test server (LOCKCOORD_TEST_REDIS_URL): key layout, expiry, fences,
 * scripts, bad data, notifications. Fault tests that need their own server
 * are in test_redis_faults.c. */
#include "testenv.h"

#include "backends/backend_int.h"
#include "backends/redis/redis_int.h"
#include "core/client_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    lc_config *cfg;
    lc_client *a;
    lc_client *b;
    redisContext *raw; /* a plain connection to look at the keys */
} fixture;

static redisContext *raw_connect(const char *url)
{
    lc__redis_addr addr;
    lc_error err;
    if (lc__redis_url_parse(url, &addr, &err) != LC_OK)
        fail_msg("%s", err.message);
    struct timeval tv = {2, 0};
    redisContext *c = addr.path ? redisConnectUnixWithTimeout(addr.path, tv)
                                : redisConnectWithTimeout(addr.host, addr.port, tv);
    if (c == NULL || c->err)
        fail_msg("raw connect to %s failed", addr.label);
    if (addr.password) {
        redisReply *r = addr.user ? redisCommand(c, "AUTH %s %s", addr.user, addr.password)
                                  : redisCommand(c, "AUTH %s", addr.password);
        freeReplyObject(r);
    }
    if (addr.db) {
        redisReply *r = redisCommand(c, "SELECT %d", addr.db);
        freeReplyObject(r);
    }
    lc__redis_addr_free(&addr);
    return c;
}

static int setup(void **state)
{
    if (lct_backend_missing("redis"))
        return 0;
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cfg = lct_config("redis");
    f->cfg->redis.command_timeout_ms = 2000;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, NULL, &f->a, &err), LC_OK, &err);
    lct_assert_rc(lc_client_open(f->cfg, NULL, &f->b, &err), LC_OK, &err);
    f->raw = raw_connect(f->cfg->redis.url);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    lc_client_close(f->a);
    lc_client_close(f->b);
    if (f->raw)
        redisFree(f->raw);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

#define NEED_SERVER(state)                                                                         \
    do {                                                                                           \
        if (*(state) == NULL)                                                                      \
            skip();                                                                                \
    } while (0)

static char *key_of(const fixture *f, const char *name, const char *suffix)
{
    static char buf[4][LC__KEY_MAX];
    static int i;
    char *k = buf[i++ % 4];
    snprintf(k, LC__KEY_MAX, "%s:{%s}:%s", f->cfg->redis.key_prefix, name, suffix);
    return k;
}

static long long raw_int(fixture *f, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(f->raw, "%s %s", cmd, key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void raw_do(fixture *f, const char *cmd)
{
    redisReply *r = redisCommand(f->raw, cmd);
    assert_non_null(r);
    freeReplyObject(r);
}

static lc_lease *take(lc_client *c, const char *name, int64_t ttl)
{
    lc_acquire_opts o = {.ttl_ms = ttl, .wait_ms = -1};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);
    return l;
}

/* ---- layout ------------------------------------------------------------- */

static void test_redis_acquire_writes_documented_keys(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("layout");
    lc_lease *l = take(f->a, name, 5000);
    redisReply *r = redisCommand(f->raw, "GET %s", key_of(f, name, "lock"));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, lc_lease_token(l));
    freeReplyObject(r);
    long long pttl = raw_int(f, "PTTL", key_of(f, name, "lock"));
    assert_true(pttl > 3000 && pttl <= 5000); /* PX is the lease's ttl */
    r = redisCommand(f->raw, "HGET %s status", key_of(f, name, "meta"));
    assert_string_equal(r->str, "running");
    freeReplyObject(r);
    r = redisCommand(f->raw, "HGET %s owner", key_of(f, name, "meta"));
    assert_string_equal(r->str, lc_client_owner(f->a));
    freeReplyObject(r);
    lc_error err;
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    assert_int_equal(raw_int(f, "EXISTS", key_of(f, name, "lock")), 0);
    r = redisCommand(f->raw, "HGET %s status", key_of(f, name, "meta"));
    assert_string_equal(r->str, "idle");
    freeReplyObject(r);
    lc_lease_free(l);
}

/* CRC16/XMODEM as Redis Cluster uses it, over the hash tag if any. */
static unsigned crc16(const char *s, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

static unsigned slot_of(const char *key)
{
    const char *open = strchr(key, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    if (open && close && close > open + 1)
        return crc16(open + 1, (size_t)(close - open - 1)) % 16384;
    return crc16(key, strlen(key)) % 16384;
}

static void test_redis_keys_of_one_lock_share_cluster_slot(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    assert_int_equal(crc16("123456789", 9), 0x31C3); /* the standard check value */
    const char *name = lct_name("slot");
    lc_lease *l = take(f->a, name, 5000);
    const char *suffixes[] = {"lock", "fence", "meta"};
    unsigned slot = slot_of(key_of(f, name, "released"));
    for (int i = 0; i < 3; i++) {
        const char *k = key_of(f, name, suffixes[i]);
        assert_int_equal(raw_int(f, "EXISTS", k), 1);
        assert_int_equal(slot_of(k), slot);
    }
    assert_int_not_equal(slot_of(key_of(f, "other", "lock")), 0xffffffffu);
    lc_error err;
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* ---- expiry and fences -------------------------------------------------- */

static void test_redis_lease_300ms_reclaimable_after_expiry_not_before(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("expiry");
    int64_t t0 = lct_now_ms();
    lc_lease *l = take(f->a, name, 300);
    lc_acquire_opts o = {.ttl_ms = 300, .wait_ms = -1};
    lc_lease *l2 = NULL;
    lc_error err;
    lc_status rc;
    int64_t got_at = -1;
    while (lct_now_ms() - t0 < 10000) {
        int64_t before = lct_now_ms();
        rc = lc_acquire(f->b, name, &o, &l2, &err);
        if (rc == LC_OK) {
            got_at = before;
            break;
        }
        lct_assert_rc(rc, LC_ERR_CONFLICT, &err);
        assert_true(err.holder.fence == lc_lease_fence(l));
        lct_sleep_ms(10);
    }
    assert_true(got_at >= 0);
    /* Taken no earlier than the ttl after the first acquire was sent. */
    assert_true(lct_now_ms() - t0 >= 299);
    assert_true(lc_lease_fence(l2) > lc_lease_fence(l));
    rc = lc_renew(f->a, l, 300, &err);
    lct_assert_rc(rc, LC_ERR_LOST, &err);
    lct_assert_rc(lc_release(f->b, l2, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_lease_free(l2);
}

static void test_redis_expired_running_lock_inspects_stale(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("stale");
    lc_lease *l = take(f->a, name, 1000);
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_true(info.expires_in_ms > 0 && info.expires_in_ms <= 1000);
    assert_true(info.held_for_ms >= 0);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    lct_sleep_ms(1100); /* let the ttl pass on purpose */
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_STALE);
    assert_int_equal(info.held_for_ms, -1);
    assert_string_equal(info.owner, lc_client_owner(f->a));
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_redis_fences_increase_over_1000_acquisitions_and_reset(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("fence");
    uint64_t last = 0;
    lc_error err;
    for (int i = 0; i < 1000; i++) {
        lc_lease *l = take(i % 2 ? f->a : f->b, name, 5000);
        assert_true(lc_lease_fence(l) > last);
        last = lc_lease_fence(l);
        if (i % 100 == 50) {
            int held = 0;
            lct_assert_rc(lc_force_release(f->a, name, "test reset", &held, NULL, &err), LC_OK,
                          &err);
            assert_true(held);
        } else {
            lct_assert_rc(lc_release(i % 2 ? f->a : f->b, l, NULL, &err), LC_OK, &err);
        }
        lc_lease_free(l);
    }
    assert_int_equal(last, 1000);
    assert_int_equal(raw_int(f, "PTTL", key_of(f, name, "fence")), -1);
}

static void test_redis_fence_key_deleted_by_hand_fence_still_increases(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("fencelost");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    uint64_t first = lc_lease_fence(l);
    lc_lease_free(l);
    raw_int(f, "DEL", key_of(f, name, "fence"));
    l = take(f->a, name, 5000);
    assert_true(lc_lease_fence(l) > first);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* ---- the backend table directly: idempotence and lost releases ---------- */

static void test_redis_acquire_retried_with_same_token_same_fence(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("retry");
    const lc_backend_ops *ops = lc__backend_find("redis");
    lc_acquire_args a = {name, "0123456789abcdef0123456789abcdef", "me", 5000, 0, 0};
    lc_grant g1 = {0, 0, NULL, 0, -1}, g2 = {0, 0, NULL, 0, -1};
    lc_error err;
    lct_assert_rc(ops->acquire(f->a->state, &a, &g1, &err), LC_OK, &err);
    lct_assert_rc(ops->acquire(f->a->state, &a, &g2, &err), LC_OK, &err);
    assert_int_equal(g1.fence, g2.fence);
    assert_int_equal(g1.acquired_at_ms, g2.acquired_at_ms);
    lc_run_result res = {.has_exit = 1, .exit_code = 3, .error = "boom"};
    lct_assert_rc(ops->release(f->a->state, name, a.token, &res, &err), LC_OK, &err);
    lct_assert_rc(ops->release(f->a->state, name, a.token, &res, &err), LC_ERR_LOST, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.sync_count, 1);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_true(info.has_last_exit);
    assert_int_equal(info.last_exit, 3);
    assert_string_equal(info.last_error, "boom");
    assert_true(info.last_completed_at_ms > 0);
    lc_lock_info_clear(&info);
}

static void test_redis_checkpoint_stored_and_returned_on_next_acquire(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("checkpoint");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    assert_null(lc_lease_checkpoint(l));
    lct_assert_rc(lc_checkpoint(f->a, l, "cursor-42", &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lct_assert_rc(lc_checkpoint(f->a, l, "late", &err), LC_ERR_LOST, &err);
    lc_lease_free(l);
    l = take(f->b, name, 5000);
    assert_string_equal(lc_lease_checkpoint(l), "cursor-42");
    lct_assert_rc(lc_release(f->b, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_redis_force_release_returns_previous_holder(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("reset");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    int held = 0;
    lc_holder prev;
    lct_assert_rc(lc_force_release(f->b, name, "stuck", &held, &prev, &err), LC_OK, &err);
    assert_true(held);
    assert_string_equal(prev.owner, lc_client_owner(f->a));
    assert_int_equal(prev.fence, lc_lease_fence(l));
    assert_true(prev.expires_in_ms > 0);
    lct_assert_rc(lc_renew(f->a, l, 0, &err), LC_ERR_LOST, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_string_equal(info.last_error, "stuck");
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_force_release(f->b, name, "again", &held, &prev, &err), LC_OK, &err);
    assert_false(held);
    lc_lease_free(l);
}

/* The reset quorum mode sends each master: only if the master still holds
 * what it showed when the reset looked -- that lease's fence, or nothing
 * (0) -- else nothing is done, and no lease is reported. */
static void test_redis_force_if_unchanged_leaves_a_lease_taken_since(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("reset-seen");
    lc_error err;
    int held = 0;
    lc_holder prev;
    lc_lease *l = take(f->a, name, 5000);
    int64_t fence = (int64_t)lc_lease_fence(l);
    /* The look saw another lease (older fence), or none: left alone. */
    lct_assert_rc(lc__redis_force_fenced(f->b->state, name, "late", fence - 1, &held, &prev, &err),
                  LC_OK, &err);
    assert_false(held);
    lct_assert_rc(lc__redis_force_fenced(f->b->state, name, "late", 0, &held, &prev, &err), LC_OK,
                  &err);
    assert_false(held);
    lct_assert_rc(lc_renew(f->a, l, 5000, &err), LC_OK, &err);
    /* It saw this one: ended. */
    lct_assert_rc(lc__redis_force_fenced(f->b->state, name, "seen", fence, &held, &prev, &err),
                  LC_OK, &err);
    assert_true(held);
    assert_int_equal(prev.fence, (uint64_t)fence);
    lct_assert_rc(lc_renew(f->a, l, 0, &err), LC_ERR_LOST, &err);
    /* It saw none, and none is held: the reset is recorded. */
    lct_assert_rc(lc__redis_force_fenced(f->b->state, name, "idle", 0, &held, &prev, &err), LC_OK,
                  &err);
    assert_false(held);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_string_equal(info.last_error, "idle");
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_redis_record_run_keeps_lease(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("record");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    lc_run_result res = {.has_exit = 1, .exit_code = 0, .error = NULL};
    lct_assert_rc(lc_record_run(f->b, name, &res, &err), LC_OK, &err);
    lct_assert_rc(lc_renew(f->a, l, 0, &err), LC_OK, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->b, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.sync_count, 1);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* The run history list is trimmed in bulk (once it holds lock.history / 8
 * + 1 more than lock.history), and history shows the newest lock.history
 * entries whatever the list holds. */
static void test_redis_history_trimmed_in_bulk_shows_configured_entries(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("histcap");
    f->cfg->lock.history = 16;
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, NULL, &c, &err), LC_OK, &err);
    long long longest = 0;
    uint64_t last = 0;
    for (int i = 0; i < 39; i++) {
        lc_lease *l = take(c, name, 5000);
        last = lc_lease_fence(l);
        lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
        lc_lease_free(l);
        long long len = raw_int(f, "LLEN", key_of(f, name, "runs"));
        longest = len > longest ? len : longest;
        assert_true(len >= (i + 1 < 16 ? i + 1 : 16));
    }
    assert_int_equal(longest, 18); /* 16 + 16 / 8: the 19th entry trims it back to 16 */
    assert_int_equal(raw_int(f, "LLEN", key_of(f, name, "runs")), 18); /* 39 = 18 + 7 * 3 */
    lc_run_entry *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_history(c, name, 0, 0, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, 16);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].fence, last - i);
    lc_run_entries_free(list, n);
    lc_client_close(c);
}

static void test_redis_renew_many_reports_each_item(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    lc_error err;
    char n1[LC_NAME_MAX + 1], n2[LC_NAME_MAX + 1];
    lc__strlcpy(n1, lct_name("many"), sizeof(n1));
    lc__strlcpy(n2, lct_name("many"), sizeof(n2));
    lc_lease *l1 = take(f->a, n1, 5000), *l2 = take(f->a, n2, 5000);
    lct_assert_rc(lc_force_release(f->b, n2, "gone", NULL, NULL, &err), LC_OK, &err);
    lc_renew_item items[2] = {{n1, lc_lease_token(l1), 8000, LC_ERR_INTERNAL},
                              {n2, lc_lease_token(l2), 8000, LC_ERR_INTERNAL}};
    const lc_backend_ops *ops = lc__backend_find("redis");
    const lc__redis *r = f->a->state;
    assert_int_equal(r->scripts.sha[LC__RS_RENEW_MANY][0], '\0');
    lct_assert_rc(ops->renew_many(f->a->state, items, 2, &err), LC_OK, &err);
    /* The pipeline loaded the script: later batches send only its SHA. */
    assert_int_equal(strlen(r->scripts.sha[LC__RS_RENEW_MANY]), 40);
    assert_int_equal(items[0].status, LC_OK);
    assert_int_equal(items[1].status, LC_ERR_LOST);
    assert_true(raw_int(f, "PTTL", key_of(f, n1, "lock")) > 5000);
    lct_assert_rc(lc_release(f->a, l1, NULL, &err), LC_OK, &err);
    lc_lease_free(l1);
    lc_lease_free(l2);
}

/* One script call renews a thousand leases; 1,001 take two calls, in the
 * same round trip, and each lease gets its own answer. */
static void test_redis_renew_many_one_call_per_thousand_leases(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    enum {
        N = 1001
    };
    static char names[N][LC_NAME_MAX + 1];
    static lc_renew_item items[N];
    char base[LC_NAME_MAX + 1];
    lc__strlcpy(base, lct_name("manybig"), sizeof(base));
    for (int i = 0; i < N; i++)
        snprintf(names[i], sizeof(names[i]), "%s-%d", base, i);
    lc_lease *first = take(f->a, names[0], 5000), *last = take(f->a, names[N - 1], 5000);
    for (int i = 0; i < N; i++) /* the others were never taken: lost */
        items[i] =
            (lc_renew_item){names[i], lc_lease_token(i == 0 ? first : last), 8000, LC_ERR_INTERNAL};
    const lc_backend_ops *ops = lc__backend_find("redis");
    lc_error err;
    lct_assert_rc(ops->renew_many(f->a->state, items, 1000, &err), LC_OK, &err); /* loads */
    uint64_t before = ops->requests(f->a->state);
    lct_assert_rc(ops->renew_many(f->a->state, items, 1000, &err), LC_OK, &err);
    assert_int_equal(ops->requests(f->a->state) - before, 1);
    before = ops->requests(f->a->state);
    lct_assert_rc(ops->renew_many(f->a->state, items, N, &err), LC_OK, &err);
    assert_int_equal(ops->requests(f->a->state) - before, 2);
    assert_int_equal(items[0].status, LC_OK);
    assert_int_equal(items[N - 1].status, LC_OK);
    for (int i = 1; i < N - 1; i++)
        assert_int_equal(items[i].status, LC_ERR_LOST);
    assert_true(raw_int(f, "PTTL", key_of(f, names[N - 1], "lock")) > 5000);
    lct_assert_rc(lc_release(f->a, first, NULL, &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->a, last, NULL, &err), LC_OK, &err);
    lc_lease_free(first);
    lc_lease_free(last);
}

/* ---- scripts and bad data ----------------------------------------------- */

static void test_redis_script_flush_between_calls_still_works(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("flush");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    raw_do(f, "SCRIPT FLUSH");
    lct_assert_rc(lc_renew(f->a, l, 0, &err), LC_OK, &err);
    raw_do(f, "SCRIPT FLUSH");
    const lc_backend_ops *ops = lc__backend_find("redis");
    lc_renew_item item = {name, lc_lease_token(l), 5000, LC_ERR_INTERNAL};
    lct_assert_rc(ops->renew_many(f->a->state, &item, 1, &err), LC_OK, &err);
    assert_int_equal(item.status, LC_OK);
    raw_do(f, "SCRIPT FLUSH");
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_redis_meta_key_holding_string_clear_error(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("wrongtype");
    const char *meta = key_of(f, name, "meta");
    redisReply *r = redisCommand(f->raw, "SET %s oops", meta);
    freeReplyObject(r);
    lc_error err;
    lc_lock_info info;
    lc_status rc = lc_inspect(f->a, name, &info, &err);
    assert_int_not_equal(rc, LC_OK);
    assert_non_null(strstr(err.message, meta));
    assert_non_null(strstr(err.message, "string"));
    lc_lease *l = NULL;
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1};
    rc = lc_acquire(f->a, name, &o, &l, &err);
    assert_int_equal(rc, LC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, meta));
    assert_int_equal(raw_int(f, "EXISTS", key_of(f, name, "lock")), 0);
    /* Renewing many: the one bad meta fails the call, naming it. */
    const char *tok = "0123456789abcdef0123456789abcdef";
    r = redisCommand(f->raw, "SET %s %s PX 5000", key_of(f, name, "lock"), tok);
    freeReplyObject(r);
    lc_renew_item item = {name, tok, 5000, LC_ERR_INTERNAL};
    rc = lc__backend_find("redis")->renew_many(f->a->state, &item, 1, &err);
    assert_int_equal(rc, LC_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, meta));
    raw_int(f, "DEL", key_of(f, name, "lock"));
    raw_int(f, "DEL", meta);
}

/* ---- list, inspect, notifications, migrate ------------------------------ */

static void test_redis_inspect_never_seen_is_ready_fence_0(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->a, lct_name("never"), &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_int_equal(info.fence, 0);
    assert_int_equal(info.last_completed_at_ms, -1);
    lc_lock_info_clear(&info);
}

static void test_redis_list_finds_every_lock_under_prefix(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    lc_config *cfg = lct_config("redis");
    free(cfg->redis.key_prefix);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "lclist*%ld", (long)lct_now_ms());
    cfg->redis.key_prefix = strdup(prefix);
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_OK, &err);
    enum {
        N = 300
    };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "job-%03d", i);
        lc_lease *l = take(c, name, 5000);
        if (i % 3)
            lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
        lc_lease_free(l);
    }
    lc_lock_info *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_list(c, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "job-%03zu", i);
        assert_string_equal(list[i].name, want);
        assert_int_equal(list[i].health, i % 3 ? LC_HEALTH_READY : LC_HEALTH_HELD);
        assert_int_equal(list[i].fence, 1);
    }
    lc_lock_list_free(list, n);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "job-%03d", i);
        lc_force_release(c, name, "cleanup", NULL, NULL, &err);
    }
    lc_client_close(c);
    lc_config_free(cfg);
    (void)f;
}

typedef struct warnings {
    int n;
    char text[4096];
} warnings;

static void keep_warnings(void *ctx, lc_log_level level, const char *msg)
{
    warnings *w = ctx;
    if (level != LC_LOG_WARN || strstr(msg, "appendonly"))
        return;
    w->n++;
    size_t used = strlen(w->text);
    snprintf(w->text + used, sizeof(w->text) - used, "%s\n", msg);
}

static void raw_cmd(fixture *f, const char *fmt, const char *key, const char *value)
{
    redisReply *r = redisCommand(f->raw, fmt, key, value);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* Keys under the prefix that lockcoord did not write are skipped (and
 * warned about), the real locks listed. */
static void test_redis_list_foreign_keys_skipped_rest_listed_warned(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    lc_config *cfg = lct_config("redis");
    char prefix[64], key[128];
    snprintf(prefix, sizeof(prefix), "lcstray%ld", (long)lct_now_ms());
    free(cfg->redis.key_prefix);
    cfg->redis.key_prefix = strdup(prefix);
    warnings w = {0, ""};
    lc_client_opts opts = {NULL, keep_warnings, &w, NULL};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &opts, &c, &err), LC_OK, &err);
    lc_lease *good = take(c, "good-1", 60000);
    lc_lease_free(take(c, "good-2", 60000));
    lct_assert_rc(lc_release(c, good, NULL, &err), LC_OK, &err);
    lc_lease_free(good);

    snprintf(key, sizeof(key), "%s:{str}:meta", prefix); /* a string where a hash belongs */
    raw_cmd(f, "SET %s %s", key, "x");
    snprintf(key, sizeof(key), "%s:{nan}:meta", prefix); /* a field that does not parse */
    raw_cmd(f, "HSET %s fence %s", key, "abc");
    snprintf(key, sizeof(key), "%s:{lst}:meta", prefix); /* a lock key of another type */
    raw_cmd(f, "HSET %s owner %s", key, "someone");
    snprintf(key, sizeof(key), "%s:{lst}:lock", prefix);
    raw_cmd(f, "RPUSH %s %s", key, "x");
    snprintf(key, sizeof(key), "%s:{a b\x1b[31m}:meta", prefix); /* not a lock name */
    raw_cmd(f, "HSET %s owner %s", key, "x");

    lc_lock_info *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_list(c, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "good-1");
    assert_int_equal(list[0].health, LC_HEALTH_READY);
    assert_string_equal(list[1].name, "good-2");
    assert_int_equal(list[1].health, LC_HEALTH_HELD);
    lc_lock_list_free(list, n);
    assert_int_equal(w.n, 4);
    assert_non_null(strstr(w.text, "skips 'str', not a lockcoord lock: WRONGTYPE"));
    assert_non_null(strstr(w.text, "skips 'nan', not a lockcoord lock: key"));
    assert_non_null(strstr(w.text, "field fence is not a number"));
    assert_non_null(strstr(w.text, "skips 'lst', not a lockcoord lock: WRONGTYPE"));
    assert_non_null(strstr(w.text, "{a b\\x1b[31m}:meta', not a lockcoord lock: not a valid"));
    assert_null(strchr(w.text, '\x1b')); /* never raw to a terminal */

    /* Many: the first ones by name, then how many in all. */
    for (int i = 0; i < 12; i++) {
        char bad[32];
        snprintf(bad, sizeof(bad), "bad %d", i);
        snprintf(key, sizeof(key), "%s:{%s}:meta", prefix, bad);
        raw_cmd(f, "HSET %s owner %s", key, "x");
    }
    w.n = 0;
    w.text[0] = '\0';
    lct_assert_rc(lc_list(c, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, 2);
    lc_lock_list_free(list, n);
    assert_int_equal(w.n, LC__SKIP_NAMED + 1);
    assert_non_null(strstr(w.text, "listing skipped 16 keys under"));

    lc_force_release(c, "good-2", "cleanup", NULL, NULL, &err);
    lc_client_close(c);
    lc_config_free(cfg);
}

static void test_redis_wait_woken_by_release(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("watch");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    const lc_backend_ops *ops = lc__backend_find("redis");
    lct_assert_rc(ops->watch(f->b->state, name, &err), LC_OK, &err);
    int notified = 1;
    lct_assert_rc(ops->wait(f->b->state, 50, &notified, &err), LC_OK, &err);
    assert_false(notified);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    int64_t t0 = lct_now_ms();
    lct_assert_rc(ops->wait(f->b->state, 5000, &notified, &err), LC_OK, &err);
    assert_true(notified);
    assert_true(lct_now_ms() - t0 < 4000); /* woken, not timed out at 5 s */
    ops->unwatch(f->b->state);
    lc_lease_free(l);
}

static void test_redis_acquire_with_wait_gets_lock_on_release(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    const char *name = lct_name("handoff");
    lc_error err;
    lc_lease *l = take(f->a, name, 400);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 10000};
    lc_lease *l2 = NULL;
    int64_t t0 = lct_now_ms();
    /* Nobody releases: the wait ends when the 400ms ttl lapses. */
    lct_assert_rc(lc_acquire(f->b, name, &o, &l2, &err), LC_OK, &err);
    assert_true(lct_now_ms() - t0 < 8000);
    assert_true(lc_lease_fence(l2) > lc_lease_fence(l));
    lct_assert_rc(lc_release(f->b, l2, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_lease_free(l2);
}

static void test_redis_migrate_loads_scripts(void **state)
{
    NEED_SERVER(state);
    fixture *f = *state;
    char what[256];
    lc_error err;
    lct_assert_rc(lc_migrate(f->a, what, sizeof(what), &err), LC_OK, &err);
    assert_non_null(strstr(what, "loaded 12 scripts"));
    assert_non_null(strstr(what, "redis "));
}

/* ---- URLs --------------------------------------------------------------- */

static void test_redis_url_tcp_with_credentials_decoded(void **state)
{
    (void)state;
    lc__redis_addr a;
    lc_error err;
    lct_assert_rc(lc__redis_url_parse("redis://app:p%40ss@[::1]:7000/3", &a, &err), LC_OK, &err);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7000);
    assert_string_equal(a.user, "app");
    assert_string_equal(a.password, "p@ss");
    assert_int_equal(a.db, 3);
    assert_string_equal(a.label, "[::1]:7000");
    lc__redis_addr_free(&a);
    lct_assert_rc(lc__redis_url_parse("redis://:secret@localhost", &a, &err), LC_OK, &err);
    assert_null(a.user);
    assert_string_equal(a.password, "secret");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    lc__redis_addr_free(&a);
}

static void test_redis_url_unix_socket_with_db(void **state)
{
    (void)state;
    lc__redis_addr a;
    lc_error err;
    lct_assert_rc(lc__redis_url_parse("unix:///tmp/my%20dir/r.sock?db=2", &a, &err), LC_OK, &err);
    assert_null(a.host);
    assert_string_equal(a.path, "/tmp/my dir/r.sock");
    assert_int_equal(a.db, 2);
    lc__redis_addr_free(&a);
    lct_assert_rc(lc__redis_url_parse("unix://:pw@/run/r.sock", &a, &err), LC_OK, &err);
    assert_string_equal(a.path, "/run/r.sock");
    assert_string_equal(a.password, "pw");
    lc__redis_addr_free(&a);
}

static void test_redis_url_bad_is_config_error_without_password(void **state)
{
    (void)state;
    lc__redis_addr a;
    lc_error err;
    const char *bad[] = {"http://h",
                         "redis://:hunter2@h/notadb",
                         "redis://:hunter2@h:99999",
                         "unix:///tmp/s?dbx=1",
                         "",
                         "unix://host/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lct_assert_rc(lc__redis_url_parse(bad[i], &a, &err), LC_ERR_CONFIG, &err);
        assert_null(strstr(err.message, "hunter2"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_tcp_with_credentials_decoded),
        cmocka_unit_test(test_redis_url_unix_socket_with_db),
        cmocka_unit_test(test_redis_url_bad_is_config_error_without_password),
        cmocka_unit_test_setup_teardown(test_redis_acquire_writes_documented_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_keys_of_one_lock_share_cluster_slot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_lease_300ms_reclaimable_after_expiry_not_before,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_expired_running_lock_inspects_stale, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_fences_increase_over_1000_acquisitions_and_reset,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_fence_key_deleted_by_hand_fence_still_increases,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_acquire_retried_with_same_token_same_fence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_checkpoint_stored_and_returned_on_next_acquire,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_force_release_returns_previous_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_record_run_keeps_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_history_trimmed_in_bulk_shows_configured_entries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_renew_many_reports_each_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_renew_many_one_call_per_thousand_leases, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_script_flush_between_calls_still_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_meta_key_holding_string_clear_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_inspect_never_seen_is_ready_fence_0, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_list_finds_every_lock_under_prefix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_list_foreign_keys_skipped_rest_listed_warned,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_wait_woken_by_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_acquire_with_wait_gets_lock_on_release, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_migrate_loads_scripts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_force_if_unchanged_leaves_a_lease_taken_since,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
