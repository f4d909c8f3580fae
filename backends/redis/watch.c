/* backends/redis/watch.c -- release notifications: a second connection
 * subscribes to P:{NAME}:released, and wait polls its socket. In a
 * cluster whose nodes have sharded pub/sub (Redis 7), that is SSUBSCRIBE
 * on the master of the lock's slot, where the scripts SPUBLISH: the
 * message stays on that shard instead of crossing the whole cluster bus.
 * Elsewhere it is SUBSCRIBE, and the scripts PUBLISH. */
#include "backends/redis/cluster_int.h"
#include "backends/redis/redis_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

static int64_t now_ms(void)
{
    return lc__mono_ns(NULL) / 1000000;
}

lc__redis_push lc__redis_push_of(const redisReply *rep, const char *channel)
{
    static const struct {
        const char *kind;
        lc__redis_push push;
    } kinds[] = {
        {"message", LC__PUSH_MESSAGE},      {"smessage", LC__PUSH_MESSAGE},
        {"subscribe", LC__PUSH_SUBSCRIBED}, {"ssubscribe", LC__PUSH_SUBSCRIBED},
        {"unsubscribe", LC__PUSH_ENDED},    {"sunsubscribe", LC__PUSH_ENDED},
    };
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
        return LC__PUSH_OTHER;
    const redisReply *kind = rep->element[0], *ch = rep->element[1];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING ||
        ch->len != strlen(channel) || memcmp(ch->str, channel, ch->len) != 0)
        return LC__PUSH_OTHER;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind->str, kinds[i].kind) == 0)
            return kinds[i].push;
    return LC__PUSH_OTHER;
}

/* A subscription belongs to the connection, so ending one is dropping
 * it: no stale confirmations or messages are left to read. */
static void drop_subscription(lc__redis *r)
{
    lc__rconn_drop(&r->sub);
    r->watching = 0;
}

void lc__redis_unwatch(void *state)
{
    lc__redis *r = state;
    drop_subscription(r);
    r->watch_channel[0] = '\0';
}

static lc_status send_subscribe(lc__redis *r, int sharded, redisReply **rep, lc_error *err)
{
    const char *argv[2] = {sharded ? "SSUBSCRIBE" : "SUBSCRIBE", r->watch_channel};
    size_t lens[2] = {strlen(argv[0]), strlen(r->watch_channel)};
    return lc__rconn_command(&r->sub, 2, argv, lens, rep, err);
}

/* One try on a new connection, to the master of the channel's slot in a
 * cluster (with the map read afresh when `refresh`): SSUBSCRIBE where
 * that node has it, else SUBSCRIBE (the scripts' PUBLISH reaches every
 * node of a cluster). A MOVED is left in *rep for the caller to follow;
 * SSUBSCRIBE refused otherwise (an ACL) falls back to SUBSCRIBE, as the
 * scripts' SPUBLISH falls back to PUBLISH. */
static lc_status subscribe_once(lc__redis *r, int refresh, int *sharded, redisReply **rep,
                                lc_error *err)
{
    drop_subscription(r);
    lc_status rc = r->cluster ? lc__cluster_route_sub(r, r->watch_channel, refresh, err) : LC_OK;
    if (rc == LC_OK)
        rc = lc__rconn_ensure(&r->sub, err);
    if (rc != LC_OK)
        return rc;
    *sharded = lc__cluster_sharded(r, &r->sub);
    rc = send_subscribe(r, *sharded, rep, err);
    if (rc != LC_OK || !*sharded || (*rep)->type != REDIS_REPLY_ERROR ||
        lc__reply_is_error(*rep, "MOVED "))
        return rc;
    lc__log(r->sub.log, r->sub.log_ctx, LC_LOG_DEBUG,
            "redis %s: SSUBSCRIBE %s: %s; subscribing with SUBSCRIBE", r->sub.addr->label,
            r->watch_channel, (*rep)->str);
    freeReplyObject(*rep);
    *rep = NULL;
    *sharded = 0;
    return send_subscribe(r, 0, rep, err);
}

/* Subscribes to the watched channel (`again`: after losing a
 * subscription), following MOVED a bounded number of times. */
static lc_status subscribe(lc__redis *r, int again, lc_error *err)
{
    redisReply *rep = NULL;
    int sharded = 0;
    lc_status rc = subscribe_once(r, again, &sharded, &rep, err);
    for (int hop = 0; rc == LC_OK && hop < LC__CLUSTER_REDIRECTS &&
                      lc__cluster_follow_sub(r, r->watch_channel, rep);
         hop++) {
        freeReplyObject(rep);
        rep = NULL;
        rc = subscribe_once(r, 0, &sharded, &rep, err);
    }
    if (rc != LC_OK) {
        drop_subscription(r);
        return rc;
    }
    if (lc__redis_push_of(rep, r->watch_channel) == LC__PUSH_SUBSCRIBED)
        r->watching = 1;
    else
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: %s %s: %s", r->sub.addr->label,
                     sharded ? "SSUBSCRIBE" : "SUBSCRIBE", r->watch_channel,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    if (rc != LC_OK)
        drop_subscription(r);
    return rc;
}

lc_status lc__redis_watch(void *state, const char *name, lc_error *err)
{
    lc__redis *r = state;
    lc__redis_key(r, name, "released", r->watch_channel);
    return subscribe(r, 0, err);
}

/* The subscription was lost (the server closed its connection, or ended
 * it): make it again. What was published meanwhile is lost, so the caller
 * is told to look again at once. */
static lc_status resubscribe(lc__redis *r, int *notified, lc_error *err)
{
    lc__log(r->sub.log, r->sub.log_ctx, LC_LOG_DEBUG, "redis %s: subscribing to %s again",
            r->addr.label, r->watch_channel);
    lc_status rc = subscribe(r, 1, err);
    if (rc == LC_OK)
        *notified = 1;
    return rc;
}

/* Takes every complete reply already read; *notified when one is a
 * message. A subscription the server ended (in a cluster: the channel's
 * slot moved to another node) is dropped, for the caller to make again. */
static lc_status drain(lc__redis *r, int *notified, lc_error *err)
{
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(r->sub.ctx, &reply) != REDIS_OK) {
            lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: subscription: %s", r->addr.label,
                    r->sub.ctx->errstr);
            drop_subscription(r);
            return LC_ERR_UNAVAILABLE;
        }
        if (reply == NULL)
            return LC_OK;
        lc__redis_push push = lc__redis_push_of(reply, r->watch_channel);
        freeReplyObject(reply);
        if (push == LC__PUSH_MESSAGE)
            *notified = 1;
        if (push == LC__PUSH_ENDED) {
            lc__log(r->sub.log, r->sub.log_ctx, LC_LOG_DEBUG,
                    "redis %s: the server ended the subscription to %s", r->sub.addr->label,
                    r->watch_channel);
            drop_subscription(r);
            return LC_OK;
        }
    }
}

/* Waits for the socket to be readable and reads what came. */
static lc_status read_some(lc__redis *r, int64_t wait_ms, lc_error *err)
{
    struct pollfd p = {r->sub.ctx->fd, POLLIN, 0};
    int n = poll(&p, 1, wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
    if (n < 0 && errno != EINTR)
        return lc__err(err, LC_ERR_UNAVAILABLE, errno, "redis %s: poll: %s", r->addr.label,
                       strerror(errno));
    if (n <= 0)
        return LC_OK;
    if (redisBufferRead(r->sub.ctx) != REDIS_OK) {
        lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: subscription: %s", r->addr.label,
                r->sub.ctx->errstr);
        drop_subscription(r);
        return LC_ERR_UNAVAILABLE;
    }
    return LC_OK;
}

lc_status lc__redis_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err)
{
    lc__redis *r = state;
    *notified = 0;
    if (r->watch_channel[0] == '\0')
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: not watching any lock",
                       r->addr.label);
    if (!r->watching || r->sub.ctx == NULL)
        return resubscribe(r, notified, err);
    int64_t until = lc__add_sat(now_ms(), timeout_ms > 0 ? timeout_ms : 0);
    lc_status rc = drain(r, notified, err);
    while (rc == LC_OK && !*notified && r->watching) {
        int64_t left = until - now_ms();
        if (left <= 0)
            break;
        rc = read_some(r, left, err);
        if (rc == LC_OK)
            rc = drain(r, notified, err);
    }
    if (!r->watching)
        return resubscribe(r, notified, err);
    return rc;
}
