/* backends/redis/cluster_int.h -- Redis Cluster routing: the slot of a
 * key, the slot map from CLUSTER SLOTS, a connection per master, and the
 * redirections (MOVED, ASK, TRYAGAIN) a cluster answers with. */
#ifndef LC_REDIS_CLUSTER_INT_H
#define LC_REDIS_CLUSTER_INT_H

#include "backends/redis/redis_int.h"

#include <stddef.h>
#include <stdint.h>

#define LC__CLUSTER_SLOTS 16384

/* How many redirections one command follows before it gives up. */
#define LC__CLUSTER_REDIRECTS 5

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the checksum the
 * Redis Cluster specification uses for key slots. */
uint16_t lc__cluster_crc16(const char *buf, size_t len);

/* The slot of a key: of its hash tag when it has one (the bytes between
 * the first '{' and the first '}' after it, if there are any), else of
 * the whole key. */
int lc__cluster_slot(const char *key, size_t len);

/* The cluster side of a backend state. Made by lc__cluster_open from the
 * state's seed connection (r->main); freed by lc__cluster_free (NULL
 * allowed). */
lc_status lc__cluster_open(lc__redis *r, lc_error *err);
void lc__cluster_free(struct lc__cluster *cl);

/* A script call, routed by its first key's slot: MOVED refreshes the map
 * and goes to the new owner, ASK sends ASKING and the call once to the
 * named node, TRYAGAIN waits a little; at most LC__CLUSTER_REDIRECTS of
 * them. r->last is the connection the call last ran on. A lost connection
 * marks the map for a refresh before the next call, which is how a
 * failover's new master is found. */
lc_status lc__cluster_eval(lc__redis *r, const lc__rs_call *call, redisReply **out, lc_error *err);

/* A plain command routed by `key`'s slot, with the same redirections. */
lc_status lc__cluster_command(lc__redis *r, const char *key, int argc, const char **argv,
                              const size_t *lens, redisReply **out, lc_error *err);

/* Repeatable calls grouped by the node that owns each one's slot: one
 * pipelined round trip per node (then, with `wait_acks`, a WAIT on that
 * node). A call redirected or on a node whose connection broke runs again
 * on its own through lc__cluster_eval. On error every out[i] is NULL. */
lc_status lc__cluster_eval_many(lc__redis *r, const lc__rs_call *calls, size_t n, redisReply **out,
                                int wait_acks, lc_error *err);

/* The connections of every master (after a refresh of the map), for what
 * runs on each of them (SCAN, SCRIPT LOAD). *conns is malloc'd. */
lc_status lc__cluster_masters(lc__redis *r, lc__redis_conn ***conns, size_t *n, lc_error *err);

/* Points r->sub at the node that owns `channel`'s slot (refreshing the
 * map first when `refresh`). Call with the subscriber dropped. */
lc_status lc__cluster_route_sub(lc__redis *r, const char *channel, int refresh, lc_error *err);

/* 1 when release notifications on connection c (a node's, or r->sub
 * once connected) go by sharded pub/sub: in a cluster, on a node that has
 * it (asked at connect: lc__redis_conn.sharded), unless r->plain_pubsub. */
int lc__cluster_sharded(const lc__redis *r, const lc__redis_conn *c);

/* After a subscription on r->sub to `channel` was answered with `rep`:
 * for a MOVED, the map is refreshed, the channel's slot given to the node
 * named, and 1 returned (route the subscriber again); 0 for any other
 * reply, and outside a cluster. */
int lc__cluster_follow_sub(lc__redis *r, const char *channel, const redisReply *rep);

/* Commands sent on every node's connection (backend_int.h: requests). */
uint64_t lc__cluster_requests(const lc__redis *r);

#endif
