/* tests/unit/test_redis_reply.c -- the Redis scripts' replies decoded
 * without a server (lc__redis_*_reply in backends/redis/redis.c), the
 * pushes of a release subscription (backends/redis/watch.c) and the
 * sharded pub/sub probe (backends/redis/conn.c): reply trees are built by
 * hiredis's reader from protocol text, as the connection builds them. */
#include "testenv.h"

#include "backends/redis/redis_int.h"

#include <stdlib.h>
#include <string.h>

/* One reply from RESP text; the test fails if hiredis cannot read it. */
static redisReply *reply_of(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    void *rep = NULL;
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &rep), REDIS_OK);
    assert_non_null(rep);
    redisReaderFree(rd);
    return rep;
}

static void state_init(lc__redis *r, char *prefix)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->addr.label, sizeof(r->addr.label), "127.0.0.1:6379");
    r->prefix = prefix;
}

/* The inspect reply's meta fields, in the script's order. */
/* The last seven (outcome, http status, attempts, missed slots, duration,
 * last success, consecutive failures) are unset, as for a lock last run
 * by `lockcoord run`. */
#define META(owner, fence, acquired, status)                                                       \
    "*17\r\n" owner fence acquired status "$13\r\n1700000000000\r\n$13\r\n1699999000000\r\n"       \
    "$2\r\n41\r\n$-1\r\n$1\r\n0\r\n$8\r\ncursor-9\r\n"                                             \
    "$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"
#define OWNER "$11\r\nweb-1:31826\r\n"

static void info_of(const char *resp, lc_lock_info *info, lc_status want)
{
    char prefix[] = "lockcoord";
    lc__redis r;
    state_init(&r, prefix);
    redisReply *rep = reply_of(resp);
    lc_error err;
    int foreign = -1;
    lct_assert_rc(lc__redis_info_reply(&r, "build", rep, info, &foreign, &err), want, &err);
    freeReplyObject(rep);
}

static void test_redis_reply_inspect_held_fills_info(void **state)
{
    (void)state;
    lc_lock_info info;
    info_of("*3\r\n:12000\r\n:1700000030000\r\n" META(
                OWNER, "$1\r\n7\r\n", "$13\r\n1700000000000\r\n", "$7\r\nrunning\r\n"),
            &info, LC_OK);
    assert_string_equal(info.name, "build");
    assert_true(info.held);
    assert_string_equal(info.owner, "web-1:31826");
    assert_int_equal(info.fence, 7);
    assert_int_equal(info.expires_in_ms, 12000);
    assert_int_equal(info.held_for_ms, 30000);
    assert_int_equal(info.sync_count, 41);
    assert_true(info.has_last_exit);
    assert_null(info.last_error);
    assert_string_equal(info.checkpoint, "cursor-9");
    lc_lock_info_clear(&info);
}

/* Times from a meta hash another tool wrote: far apart or backwards is an
 * unknown held-for, never an overflow. */
static void test_redis_reply_inspect_extreme_times_give_unknown_held_for(void **state)
{
    (void)state;
    lc_lock_info info;
    info_of("*3\r\n:12000\r\n:-9223372036854775808\r\n" META(
                OWNER, "$1\r\n7\r\n", "$19\r\n9223372036854775807\r\n", "$7\r\nrunning\r\n"),
            &info, LC_OK);
    assert_true(info.held);
    assert_int_equal(info.acquired_at_ms, INT64_MAX);
    assert_int_equal(info.held_for_ms, -1);
    lc_lock_info_clear(&info);
    info_of("*3\r\n:12000\r\n:1000\r\n" META(OWNER, "$1\r\n7\r\n", "$4\r\n2000\r\n",
                                             "$7\r\nrunning\r\n"),
            &info, LC_OK);
    assert_int_equal(info.held_for_ms, -1);
    lc_lock_info_clear(&info);
}

static void test_redis_reply_inspect_foreign_or_malformed_is_refused(void **state)
{
    (void)state;
    lc_lock_info info;
    info_of("-WRONGTYPE key lockcoord:{build}:meta holds a string, expected a hash\r\n", &info,
            LC_ERR_INTERNAL);
    info_of("*3\r\n:12000\r\n:1700000030000\r\n" META(OWNER, "$2\r\nx7\r\n", "$-1\r\n", "$-1\r\n"),
            &info, LC_ERR_INTERNAL);
    assert_null(info.checkpoint);
    info_of("*2\r\n:1\r\n:2\r\n", &info, LC_ERR_INTERNAL);
}

static void test_redis_reply_acquire_grant_and_conflict_are_decoded(void **state)
{
    (void)state;
    char prefix[] = "lockcoord";
    lc__redis r;
    state_init(&r, prefix);
    lc_grant g;
    lc_error err;
    memset(&g, 0, sizeof(g));
    redisReply *rep = reply_of("*6\r\n:1\r\n:8\r\n:1700000000000\r\n$8\r\ncursor-9\r\n"
                               ":1700000000005\r\n:1699999000000\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_OK, &err);
    assert_int_equal(g.fence, 8);
    assert_string_equal(g.checkpoint, "cursor-9");
    assert_int_equal(g.server_now_ms, 1700000000005);
    assert_int_equal(g.last_started_at_ms, 1699999000000);
    free(g.checkpoint);
    freeReplyObject(rep);
    /* A grant's six elements are required; a status other than 0 or 1 is
     * no grant however long the reply (the fuzzer found one of five
     * elements read past its end). */
    rep = reply_of("*4\r\n:1\r\n:8\r\n:1700000000000\r\n$8\r\ncursor-9\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_INTERNAL, &err);
    freeReplyObject(rep);
    rep = reply_of("*5\r\n:5\r\n:0\r\n:0\r\n:0\r\n:0\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_INTERNAL, &err);
    freeReplyObject(rep);
    rep = reply_of("*5\r\n:0\r\n" OWNER ":7\r\n:1700000000000\r\n:12000\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_CONFLICT, &err);
    assert_string_equal(err.holder.owner, "web-1:31826");
    assert_int_equal(err.holder.expires_in_ms, 12000);
    freeReplyObject(rep);
    rep = reply_of("+OK\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_INTERNAL, &err);
    freeReplyObject(rep);
}

/* A paused lock: {2, by, reason, until_ms, 0} is a refusal naming who and
 * why; odd element types give a refusal all the same, never a grant. */
static void test_redis_reply_acquire_paused_is_refused(void **state)
{
    (void)state;
    char prefix[] = "lockcoord";
    lc__redis r;
    state_init(&r, prefix);
    lc_grant g;
    lc_error err;
    memset(&g, 0, sizeof(g));
    redisReply *rep = reply_of("*5\r\n:2\r\n$4\r\nops1\r\n$10\r\ndb upgrade\r\n:-1\r\n:0\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_PAUSED, &err);
    assert_string_equal(err.message, "lock 'build' is paused by ops1: db upgrade");
    assert_string_equal(err.holder.owner, "ops1");
    freeReplyObject(rep);
    rep = reply_of("*5\r\n:2\r\n:7\r\n*0\r\n$-1\r\n:0\r\n");
    lct_assert_rc(lc__redis_acquire_reply(&r, "build", rep, &g, &err), LC_ERR_PAUSED, &err);
    assert_non_null(strstr(err.message, "paused by an operator"));
    assert_null(g.checkpoint);
    freeReplyObject(rep);
}

/* The inspect reply's fourth element: the pause, or {} when none. */
static void test_redis_reply_inspect_pause_fills_info(void **state)
{
    (void)state;
    lc_lock_info info;
    info_of(
        "*4\r\n:-2\r\n:1700000030000\r\n" META(
            OWNER, "$1\r\n7\r\n", "$-1\r\n",
            "$4\r\nidle\r\n") "*3\r\n$4\r\nops1\r\n$10\r\ndb upgrade\r\n$13\r\n1700000090000\r\n",
        &info, LC_OK);
    assert_true(info.paused);
    assert_string_equal(info.paused_by, "ops1");
    assert_string_equal(info.paused_reason, "db upgrade");
    assert_int_equal(info.paused_until_ms, 1700000090000);
    lc_lock_info_clear(&info);
    assert_null(info.paused_reason);
    info_of("*4\r\n:-2\r\n:1700000030000\r\n" META(OWNER, "$1\r\n7\r\n", "$-1\r\n",
                                                   "$4\r\nidle\r\n") "*0\r\n",
            &info, LC_OK);
    assert_false(info.paused);
    assert_int_equal(info.paused_until_ms, -1);
    lc_lock_info_clear(&info);
    /* Types another tool could leave: until resumed, no crash. */
    info_of(
        "*4\r\n:-2\r\n:1700000030000\r\n" META(OWNER, "$1\r\n7\r\n", "$-1\r\n",
                                               "$4\r\nidle\r\n") "*3\r\n:1\r\n$-1\r\n$2\r\nxx\r\n",
        &info, LC_OK);
    assert_true(info.paused);
    assert_string_equal(info.paused_by, "");
    assert_string_equal(info.paused_reason, "");
    assert_int_equal(info.paused_until_ms, -1);
    lc_lock_info_clear(&info);
}

#define CHANNEL      "lockcoord:{build}:released"
#define BULK_CHANNEL "$26\r\n" CHANNEL "\r\n"

typedef struct push_case {
    const char *resp;
    const char *channel; /* the one watched */
    lc__redis_push want;
} push_case;

static void expect_pushes(const push_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = reply_of(cases[i].resp);
        lc__redis_push got = lc__redis_push_of(rep, cases[i].channel);
        freeReplyObject(rep);
        if (got != cases[i].want)
            fail_msg("case %zu: push %d, want %d", i, (int)got, (int)cases[i].want);
    }
}

#define EXPECT_PUSHES(cases) expect_pushes(cases, sizeof(cases) / sizeof(cases[0]))

/* Sharded pub/sub's message (Redis 7, SPUBLISH) wakes a waiter as the
 * plain one does. */
static void test_redis_reply_push_smessage_is_a_message(void **state)
{
    (void)state;
    static const push_case cases[] = {
        {"*3\r\n$8\r\nsmessage\r\n" BULK_CHANNEL "$8\r\nreleased\r\n", CHANNEL, LC__PUSH_MESSAGE},
        {"*3\r\n$7\r\nmessage\r\n" BULK_CHANNEL "$8\r\nreleased\r\n", CHANNEL, LC__PUSH_MESSAGE},
    };
    EXPECT_PUSHES(cases);
}

/* The confirmations, and the end a cluster node announces when the
 * channel's slot leaves it (sunsubscribe with no request for it). */
static void test_redis_reply_push_subscribe_and_end_are_told_apart(void **state)
{
    (void)state;
    static const push_case cases[] = {
        {"*3\r\n$10\r\nssubscribe\r\n" BULK_CHANNEL ":1\r\n", CHANNEL, LC__PUSH_SUBSCRIBED},
        {"*3\r\n$9\r\nsubscribe\r\n" BULK_CHANNEL ":1\r\n", CHANNEL, LC__PUSH_SUBSCRIBED},
        {"*3\r\n$12\r\nsunsubscribe\r\n" BULK_CHANNEL ":0\r\n", CHANNEL, LC__PUSH_ENDED},
        {"*3\r\n$11\r\nunsubscribe\r\n" BULK_CHANNEL ":0\r\n", CHANNEL, LC__PUSH_ENDED},
    };
    EXPECT_PUSHES(cases);
}

/* Another channel (a prefix of it too), a pattern message, an unknown
 * kind, a torn shape or an error is none of the above. */
static void test_redis_reply_push_other_channel_or_shape_is_ignored(void **state)
{
    (void)state;
    static const push_case cases[] = {
        {"*3\r\n$8\r\nsmessage\r\n" BULK_CHANNEL "$8\r\nreleased\r\n", "lockcoord:{other}:released",
         LC__PUSH_OTHER},
        {"*3\r\n$7\r\nmessage\r\n$17\r\nlockcoord:{build}\r\n$1\r\nx\r\n", CHANNEL, LC__PUSH_OTHER},
        {"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n" BULK_CHANNEL "$1\r\nx\r\n", CHANNEL, LC__PUSH_OTHER},
        {"*3\r\n$9\r\nsmessages\r\n" BULK_CHANNEL "$1\r\nx\r\n", CHANNEL, LC__PUSH_OTHER},
        {"*2\r\n$8\r\nsmessage\r\n" BULK_CHANNEL, CHANNEL, LC__PUSH_OTHER},
        {"*3\r\n:1\r\n" BULK_CHANNEL "$1\r\nx\r\n", CHANNEL, LC__PUSH_OTHER},
        {"*3\r\n$8\r\nsmessage\r\n$-1\r\n$1\r\nx\r\n", CHANNEL, LC__PUSH_OTHER},
        {"-MOVED 3999 127.0.0.1:7002\r\n", CHANNEL, LC__PUSH_OTHER},
    };
    EXPECT_PUSHES(cases);
    assert_int_equal(lc__redis_push_of(NULL, CHANNEL), LC__PUSH_OTHER);
}

static int has_command(const char *resp)
{
    redisReply *rep = reply_of(resp);
    int has = lc__reply_has_command(rep);
    freeReplyObject(rep);
    return has;
}

/* COMMAND INFO SPUBLISH: Redis 7.0.15's answer (sharded pub/sub), an
 * older server's nil (Redis 6: "$-1", Redis 5: "*-1"), a refusal. */
static void test_redis_reply_command_info_tells_whether_known(void **state)
{
    (void)state;
    assert_true(
        has_command("*1\r\n*10\r\n$8\r\nspublish\r\n:3\r\n*4\r\n+pubsub\r\n+loading\r\n+stale\r\n"
                    "+fast\r\n:1\r\n:1\r\n:1\r\n*2\r\n+@pubsub\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n"
                    "$5\r\nflags\r\n*1\r\n+not_key\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n"
                    "$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n"
                    "*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n"
                    "$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n"));
    assert_false(has_command("*1\r\n$-1\r\n"));
    assert_false(has_command("*1\r\n*-1\r\n"));
    assert_false(has_command("*0\r\n"));
    assert_false(
        has_command("-NOPERM this user has no permissions to run the 'command' command\r\n"));
    assert_false(lc__reply_has_command(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_reply_inspect_held_fills_info),
        cmocka_unit_test(test_redis_reply_inspect_extreme_times_give_unknown_held_for),
        cmocka_unit_test(test_redis_reply_inspect_foreign_or_malformed_is_refused),
        cmocka_unit_test(test_redis_reply_acquire_grant_and_conflict_are_decoded),
        cmocka_unit_test(test_redis_reply_acquire_paused_is_refused),
        cmocka_unit_test(test_redis_reply_inspect_pause_fills_info),
        cmocka_unit_test(test_redis_reply_push_smessage_is_a_message),
        cmocka_unit_test(test_redis_reply_push_subscribe_and_end_are_told_apart),
        cmocka_unit_test(test_redis_reply_push_other_channel_or_shape_is_ignored),
        cmocka_unit_test(test_redis_reply_command_info_tells_whether_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
