/* backends/redis/watch.c -- release notifications: a second connection
 * SUBSCRIBEs to P:{NAME}:released, and wait polls its socket. */
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

static int is_push(const redisReply *rep, const char *kind)
{
    return rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 &&
           rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, kind) == 0;
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

/* SUBSCRIBE to the watched channel on a new connection. In a cluster,
 * that is to the master of the channel's slot (`again`: after losing a
 * subscription, with the slot map read afresh); the scripts' PUBLISH
 * reaches every node of a cluster. */
static lc_status subscribe(lc__redis *r, int again, lc_error *err)
{
    drop_subscription(r);
    lc_status rc0 = r->cluster ? lc__cluster_route_sub(r, r->watch_channel, again, err) : LC_OK;
    if (rc0 != LC_OK)
        return rc0;
    const char *argv[2] = {"SUBSCRIBE", r->watch_channel};
    size_t lens[2] = {9, strlen(r->watch_channel)};
    redisReply *rep = NULL;
    lc_status rc = lc__rconn_command(&r->sub, 2, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (is_push(rep, "subscribe"))
        r->watching = 1;
    else
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: SUBSCRIBE %s: %s", r->addr.label,
                     r->watch_channel,
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

/* The subscription was lost (the server closed its connection): make it
 * again. What was published meanwhile is lost, so the caller is told to
 * look again at once. */
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
 * message. */
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
        if (is_push(reply, "message"))
            *notified = 1;
        freeReplyObject(reply);
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
    while (rc == LC_OK && !*notified) {
        int64_t left = until - now_ms();
        if (left <= 0)
            break;
        rc = read_some(r, left, err);
        if (rc == LC_OK)
            rc = drain(r, notified, err);
    }
    if (rc != LC_OK && !r->watching)
        return resubscribe(r, notified, err);
    return rc;
}
