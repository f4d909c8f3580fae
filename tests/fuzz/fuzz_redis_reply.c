/* tests/fuzz/fuzz_redis_reply.c -- decoding the Redis scripts' replies
 * into grants, holders and lock info (backends/redis/redis.c), and every
 * reply as a subscription's push (backends/redis/watch.c) and as the
 * sharded pub/sub probe's answer (backends/redis/conn.c), on reply trees
 * that hiredis's own reader builds from the fuzz bytes.
 *
 * Input: one byte choosing the decoder (acquire, force-release, inspect),
 * then a reply in the Redis protocol (RESP), e.g.
 * "*3\r\n:1500\r\n:1700000000000\r\n*10\r\n$3\r\nweb\r\n...". Properties:
 * whatever the server sends, the decoders return a status (never crash,
 * leak or overflow); an error leaves nothing allocated; lock info is
 * consistent (not held: no expiry, no held-for). */
#include "fuzz.h"

#include "backends/redis/redis_int.h"

static void acquire(lc__redis *r, const redisReply *rep)
{
    lc_grant g;
    memset(&g, 0, sizeof(g));
    lc_error err;
    lc_status rc = lc__redis_acquire_reply(r, "build", rep, &g, &err);
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_CONFLICT || rc == LC_ERR_PAUSED ||
               rc == LC_ERR_INTERNAL || rc == LC_ERR_UNAVAILABLE);
    if (rc == LC_OK)
        free(g.checkpoint);
    else
        FUZZ_CHECK(g.checkpoint == NULL);
    if (rc == LC_ERR_CONFLICT || rc == LC_ERR_PAUSED) {
        FUZZ_CHECK(memchr(err.holder.owner, '\0', sizeof(err.holder.owner)) != NULL);
        FUZZ_CHECK(err.holder.acquired_at_ms >= 0 && err.holder.expires_in_ms >= -1);
    }
}

static void force(lc__redis *r, const redisReply *rep)
{
    lc_holder prev;
    memset(&prev, 0, sizeof(prev));
    int was_held = -1;
    lc_error err;
    lc_status rc = lc__redis_force_reply(r, "build", rep, &was_held, &prev, &err);
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_INTERNAL || rc == LC_ERR_UNAVAILABLE);
    if (rc == LC_OK) {
        FUZZ_CHECK(was_held == 0 || was_held == 1);
        FUZZ_CHECK(memchr(prev.owner, '\0', sizeof(prev.owner)) != NULL);
        FUZZ_CHECK(prev.expires_in_ms >= -1 && (was_held || prev.expires_in_ms == -1));
    }
}

static void inspect(lc__redis *r, const redisReply *rep)
{
    lc_lock_info info;
    int foreign = -1;
    lc_error err;
    lc_status rc = lc__redis_info_reply(r, "build", rep, &info, &foreign, &err);
    FUZZ_CHECK(foreign == 0 || foreign == 1);
    FUZZ_CHECK(strcmp(info.name, "build") == 0);
    if (rc != LC_OK) {
        FUZZ_CHECK(info.last_error == NULL && info.checkpoint == NULL &&
                   info.paused_reason == NULL);
        return;
    }
    FUZZ_CHECK(!foreign);
    FUZZ_CHECK(memchr(info.owner, '\0', sizeof(info.owner)) != NULL);
    if (!info.held)
        FUZZ_CHECK(info.expires_in_ms == -1 && info.held_for_ms == -1);
    FUZZ_CHECK(info.expires_in_ms >= -1);
    FUZZ_CHECK(!info.stale || !info.held);
    FUZZ_CHECK(info.paused ? info.paused_reason != NULL : info.paused_reason == NULL);
    FUZZ_CHECK(memchr(info.paused_by, '\0', sizeof(info.paused_by)) != NULL);
    lc_lock_info_clear(&info);
}

/* Whether the input declares an array of more than a few thousand
 * elements: hiredis's reader allocates the element vector before reading
 * any element, so "*500000000" is an out-of-memory in hiredis, not in the
 * decoders (it is skipped). */
static int huge_array(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        long long n = 0;
        for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9' && n <= 10000; j++)
            n = n * 10 + (data[j] - '0');
        if (n > 10000)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || huge_array(data, size))
        return 0;
    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader != NULL);
    redisReply *rep = NULL;
    void *got = NULL;
    if (redisReaderFeed(reader, (const char *)data + 1, size - 1) == REDIS_OK &&
        redisReaderGetReply(reader, &got) == REDIS_OK)
        rep = got;
    redisReaderFree(reader);
    if (rep == NULL)
        return 0;

    lc__redis r;
    memset(&r, 0, sizeof(r));
    snprintf(r.addr.label, sizeof(r.addr.label), "127.0.0.1:6379");
    char prefix[] = "lockcoord";
    r.prefix = prefix;
    switch (data[0] % 3) {
    case 0: acquire(&r, rep); break;
    case 1: force(&r, rep); break;
    default: inspect(&r, rep); break;
    }
    lc__redis_push push = lc__redis_push_of(rep, "lockcoord:{build}:released");
    FUZZ_CHECK(push >= LC__PUSH_OTHER && push <= LC__PUSH_ENDED);
    FUZZ_CHECK(lc__reply_has_command(rep) == 0 || lc__reply_has_command(rep) == 1);
    freeReplyObject(rep);
    return 0;
}
