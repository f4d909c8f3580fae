/* backends/redis/cluster.c -- Redis Cluster routing. Every key of a lock
 * carries the hash tag {NAME}, so each operation touches one slot: it
 * goes to the master that owns that slot in the map read from
 * CLUSTER SLOTS, one connection per master. The cluster tells a client
 * that guessed wrong where to go (MOVED: the slot moved for good, ASK:
 * it is being moved, TRYAGAIN: its keys are half moved); those answers
 * are followed a bounded number of times. */
#include "backends/redis/cluster_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Enough for any real cluster; the map stores node indexes as int16_t. */
#define MAX_NODES 1000

typedef struct node {
    lc__redis_addr addr; /* the seed's credentials at this node's host:port */
    lc__redis_conn conn;
    int master; /* serves slots in the current map */
} node;

struct lc__cluster {
    node **nodes; /* each allocated on its own: r->last and r->sub point into them */
    size_t n, cap;
    int16_t owner[LC__CLUSTER_SLOTS]; /* index into nodes, -1 when unserved */
    int stale;                        /* refresh the map before the next routing */
};

/* ---- slots -------------------------------------------------------------- */

uint16_t lc__cluster_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int lc__cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t after = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - after);
        if (close && close > open + 1)
            return lc__cluster_crc16(open + 1, (size_t)(close - open - 1)) &
                   (LC__CLUSTER_SLOTS - 1);
    }
    return lc__cluster_crc16(key, len) & (LC__CLUSTER_SLOTS - 1);
}

/* ---- nodes -------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A node the state has not seen yet, with a connection like the seed's. */
static node *node_new(lc__redis *r, const char *host, int port)
{
    node *nd = calloc(1, sizeof(*nd));
    if (nd == NULL)
        return NULL;
    nd->addr.host = strdup(host);
    nd->addr.user = dup_or_null(r->addr.user);
    nd->addr.password = dup_or_null(r->addr.password);
    if (nd->addr.host == NULL || (r->addr.user && !nd->addr.user) ||
        (r->addr.password && !nd->addr.password)) {
        lc__redis_addr_free(&nd->addr);
        free(nd);
        return NULL;
    }
    nd->addr.port = port;
    snprintf(nd->addr.label, sizeof(nd->addr.label), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
             port);
    nd->conn = r->main;
    nd->conn.ctx = NULL;
    nd->conn.addr = &nd->addr;
    nd->conn.queued = 0;
    nd->conn.requests = 0;
    nd->conn.epoch = 0;
    nd->conn.failure = LC__RCONN_OK;
    return nd;
}

/* The node at host:port, added when new; NULL when out of memory or when
 * there are too many. */
static node *node_get(lc__redis *r, const char *host, int port)
{
    struct lc__cluster *cl = r->cluster;
    for (size_t i = 0; i < cl->n; i++)
        if (cl->nodes[i]->addr.port == port && strcmp(cl->nodes[i]->addr.host, host) == 0)
            return cl->nodes[i];
    if (cl->n == MAX_NODES)
        return NULL;
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 8;
        node **grown = realloc(cl->nodes, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        cl->nodes = grown;
        cl->cap = cap;
    }
    node *nd = node_new(r, host, port);
    if (nd)
        cl->nodes[cl->n++] = nd;
    return nd;
}

static int16_t index_of(const struct lc__cluster *cl, const node *nd)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cl->nodes[i] == nd)
            return (int16_t)i;
    return -1;
}

/* ---- the slot map ------------------------------------------------------- */

/* The master of one CLUSTER SLOTS entry {start, end, {host, port, id},
 * replicas...}. An empty host means the node that answered; "?" one
 * whose address is unknown (skipped). */
static node *entry_master(lc__redis *r, const lc__redis_conn *from, const redisReply *e,
                          long long *start, long long *end, int *nomem)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
        return NULL;
    const redisReply *m = e->element[2];
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER)
        return NULL;
    *start = e->element[0]->integer;
    *end = e->element[1]->integer;
    const char *host = m->element[0]->str;
    if (strcmp(host, "?") == 0 || *start < 0 || *end >= LC__CLUSTER_SLOTS || *start > *end)
        return NULL;
    if (host[0] == '\0' && from->addr->host)
        host = from->addr->host;
    node *nd = node_get(r, host, (int)m->element[1]->integer);
    *nomem = nd == NULL;
    return nd;
}

/* Replaces the map with a CLUSTER SLOTS reply; nothing changes when it
 * serves no slot (a cluster still being formed). */
static lc_status take_slots(lc__redis *r, const lc__redis_conn *from, const redisReply *rep,
                            lc_error *err)
{
    struct lc__cluster *cl = r->cluster;
    int16_t *owner = malloc(sizeof(cl->owner));
    if (owner == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (int s = 0; s < LC__CLUSTER_SLOTS; s++)
        owner[s] = -1;
    size_t served = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        long long start = 0, end = -1;
        int nomem = 0;
        node *nd = entry_master(r, from, rep->element[i], &start, &end, &nomem);
        if (nomem) {
            free(owner);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
        for (long long s = start; nd && s <= end; s++, served++)
            owner[s] = index_of(cl, nd);
    }
    if (served == 0) {
        free(owner);
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: CLUSTER SLOTS: no slot is served",
                       from->addr->label);
    }
    memcpy(cl->owner, owner, sizeof(cl->owner));
    free(owner);
    for (size_t i = 0; i < cl->n; i++)
        cl->nodes[i]->master = 0;
    for (int s = 0; s < LC__CLUSTER_SLOTS; s++)
        if (cl->owner[s] >= 0)
            cl->nodes[cl->owner[s]]->master = 1;
    cl->stale = 0;
    return LC_OK;
}

static lc_status slots_from(lc__redis *r, lc__redis_conn *c, lc_error *err)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    redisReply *rep = NULL;
    lc_status rc = lc__rconn_command(c, 2, argv, lens, &rep, err);
    if (rc != LC_OK)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0,
                     "redis %s: CLUSTER SLOTS: %s (redis.cluster is true: is this a cluster node?)",
                     c->addr->label, rep->str);
    else if (rep->type != REDIS_REPLY_ARRAY)
        rc = lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: CLUSTER SLOTS: unexpected reply (type %d)",
                     c->addr->label, rep->type);
    else
        rc = take_slots(r, c, rep, err);
    freeReplyObject(rep);
    return rc;
}

/* Reads the map from the first node that answers: the masters first, then
 * the other known nodes (a promoted replica), then the seed. */
static lc_status refresh(lc__redis *r, lc_error *err)
{
    struct lc__cluster *cl = r->cluster;
    lc_status rc = LC_ERR_UNAVAILABLE;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cl->n; i++)
            if (cl->nodes[i]->master == (pass == 0) &&
                (rc = slots_from(r, &cl->nodes[i]->conn, err)) == LC_OK)
                return LC_OK;
    return slots_from(r, &r->main, err);
}

/* The master of `slot`, refreshing a stale or incomplete map first; an
 * old owner is still tried when the refresh fails. */
static node *owner_of(lc__redis *r, int slot, lc_status *rc, lc_error *err)
{
    struct lc__cluster *cl = r->cluster;
    *rc = LC_OK;
    if (cl->stale || cl->owner[slot] < 0)
        *rc = refresh(r, err);
    if (cl->owner[slot] >= 0) {
        *rc = LC_OK;
        return cl->nodes[cl->owner[slot]];
    }
    if (*rc == LC_OK)
        *rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: no cluster master serves slot %d",
                      r->addr.label, slot);
    return NULL;
}

/* ---- redirections ------------------------------------------------------- */

typedef enum redirect {
    RD_NONE,
    RD_MOVED,
    RD_ASK,
    RD_TRYAGAIN
} redirect;

/* "MOVED 3999 127.0.0.1:6381" or "ASK ...": the node named, split at the
 * last ':' (an IPv6 host has more). An empty host is the node asked. */
static redirect redirect_of(const redisReply *rep, const lc__redis_conn *asked, char *host,
                            size_t hsize, int *port)
{
    if (rep == NULL || rep->type != REDIS_REPLY_ERROR || rep->str == NULL)
        return RD_NONE;
    if (lc__reply_is_error(rep, "TRYAGAIN"))
        return RD_TRYAGAIN;
    int moved = lc__reply_is_error(rep, "MOVED "), ask = lc__reply_is_error(rep, "ASK ");
    const char *sp = strrchr(rep->str, ' '), *colon = strrchr(rep->str, ':');
    if ((!moved && !ask) || sp == NULL || colon == NULL || colon < sp)
        return RD_NONE;
    size_t hl = (size_t)(colon - sp - 1);
    if (hl == 0 && asked->addr->host)
        lc__strlcpy(host, asked->addr->host, hsize);
    else if (hl > 0 && hl < hsize) {
        memcpy(host, sp + 1, hl);
        host[hl] = '\0';
    } else
        return RD_NONE;
    *port = atoi(colon + 1);
    if (*port <= 0 || *port > 65535)
        return RD_NONE;
    return moved ? RD_MOVED : RD_ASK;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Before the one call an ASK allows: the scripts loaded on that node (an
 * EVALSHA answered NOSCRIPT there would use up the ASKING), then ASKING. */
static lc_status asking(lc__redis *r, node *nd, int scripts, lc_error *err)
{
    int loaded = 0;
    lc_status rc = scripts ? lc__rs_load_all(&nd->conn, &r->scripts, &loaded, err) : LC_OK;
    const char *argv[1] = {"ASKING"};
    size_t lens[1] = {6};
    redisReply *rep = NULL;
    if (rc == LC_OK)
        rc = lc__rconn_command(&nd->conn, 1, argv, lens, &rep, err);
    if (rc == LC_OK && rep->type == REDIS_REPLY_ERROR)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: ASKING: %s", nd->addr.label, rep->str);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* What runs on the chosen node's connection. */
typedef lc_status (*exec_fn)(lc__redis *r, lc__redis_conn *c, const void *arg, redisReply **out,
                             lc_error *err);

/* After a redirection: where the next try goes. MOVED refreshes the map
 * and trusts the node that gave the slot away over a map that may lag. */
static node *follow(lc__redis *r, redirect rd, int slot, const char *host, int port, int hop)
{
    struct lc__cluster *cl = r->cluster;
    if (rd == RD_TRYAGAIN) {
        pause_ms(10 << hop);
        return NULL;
    }
    node *to = node_get(r, host, port);
    if (rd == RD_MOVED) {
        (void)refresh(r, NULL);
        if (to)
            cl->owner[slot] = index_of(cl, to);
        return NULL;
    }
    return to;
}

static lc_status routed(lc__redis *r, int slot, exec_fn fn, const void *arg, int scripts,
                        redisReply **out, lc_error *err)
{
    node *ask = NULL;
    *out = NULL;
    for (int hop = 0;; hop++) {
        lc_status rc = LC_OK;
        node *nd = ask ? ask : owner_of(r, slot, &rc, err);
        if (nd == NULL)
            return rc;
        if (ask)
            rc = asking(r, nd, scripts, err);
        r->last = &nd->conn;
        if (rc == LC_OK)
            rc = fn(r, &nd->conn, arg, out, err);
        if (rc != LC_OK) {
            r->cluster->stale |= rc == LC_ERR_UNAVAILABLE;
            return rc;
        }
        char host[256];
        int port = 0;
        redirect rd = redirect_of(*out, &nd->conn, host, sizeof(host), &port);
        if (rd == RD_NONE)
            return LC_OK;
        if (hop >= LC__CLUSTER_REDIRECTS) {
            rc = lc__err(err, LC_ERR_UNAVAILABLE, 0,
                         "redis %s: slot %d: still redirected after %d tries: %s", nd->addr.label,
                         slot, hop + 1, (*out)->str);
            freeReplyObject(*out);
            *out = NULL;
            return rc;
        }
        lc__log(r->main.log, r->main.log_ctx, LC_LOG_DEBUG, "redis %s: slot %d: %s", nd->addr.label,
                slot, (*out)->str);
        freeReplyObject(*out);
        *out = NULL;
        ask = follow(r, rd, slot, host, port, hop);
        if (rd == RD_ASK && ask == NULL)
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
}

/* ---- calls -------------------------------------------------------------- */

int lc__cluster_sharded(const lc__redis *r, const lc__redis_conn *c)
{
    return r->cluster && !r->plain_pubsub && c->sharded;
}

/* A script call; one that notifies waiters learns how from the node it
 * runs on (connected first: the answer comes with the connection). */
static lc_status exec_script(lc__redis *r, lc__redis_conn *c, const void *arg, redisReply **out,
                             lc_error *err)
{
    const lc__rs_call *call = arg;
    if (call->notify_arg <= 0)
        return lc__rs_eval(c, &r->scripts, call, out, err);
    lc_status rc = c->ctx ? LC_OK : lc__rconn_ensure(c, err);
    if (rc != LC_OK)
        return rc;
    lc__rs_call here = *call;
    here.args[call->notify_arg] = lc__cluster_sharded(r, c) ? "1" : "0";
    here.lens[call->notify_arg] = 1;
    return lc__rs_eval(c, &r->scripts, &here, out, err);
}

/* The slot of a call's keys; every key of one call must share it (the
 * cluster would refuse the call as CROSSSLOT). */
static lc_status call_slot(const lc__redis *r, const lc__rs_call *call, int *slot, lc_error *err)
{
    /* A call over many keys (renew-many) spans slots: never routed. */
    if (call->nmore > 0 || call->nkeys > call->nargs)
        return lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: %s cannot be routed in a cluster",
                       r->addr.label, lc__rs_name(call->script));
    *slot = call->nkeys > 0 ? lc__cluster_slot(call->args[0], call->lens[0]) : 0;
    for (int i = 1; i < call->nkeys; i++)
        if (lc__cluster_slot(call->args[i], call->lens[i]) != *slot)
            return lc__err(err, LC_ERR_INTERNAL, 0,
                           "redis %s: %s: keys %s and %s are in different slots", r->addr.label,
                           lc__rs_name(call->script), call->args[0], call->args[i]);
    return LC_OK;
}

lc_status lc__cluster_eval(lc__redis *r, const lc__rs_call *call, redisReply **out, lc_error *err)
{
    int slot = 0; /* set by call_slot on success; gcc -O3 cannot tell */
    *out = NULL;
    lc_status rc = call_slot(r, call, &slot, err);
    return rc == LC_OK ? routed(r, slot, exec_script, call, 1, out, err) : rc;
}

typedef struct plain_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
} plain_cmd;

static lc_status exec_plain(lc__redis *r, lc__redis_conn *c, const void *arg, redisReply **out,
                            lc_error *err)
{
    const plain_cmd *p = arg;
    (void)r;
    return lc__rconn_command(c, p->argc, p->argv, p->lens, out, err);
}

lc_status lc__cluster_command(lc__redis *r, const char *key, int argc, const char **argv,
                              const size_t *lens, redisReply **out, lc_error *err)
{
    plain_cmd p = {argc, argv, lens};
    return routed(r, lc__cluster_slot(key, strlen(key)), exec_plain, &p, 0, out, err);
}

/* ---- batches ------------------------------------------------------------ */

typedef struct batch {
    node **at;            /* the node each call goes to */
    unsigned char *state; /* 0 to send, 1 done, 2 to run again on its own */
    lc__rs_call *group;
    size_t *idx;
    redisReply **reps;
} batch;

static void batch_free(batch *b)
{
    free(b->at);
    free(b->state);
    free(b->group);
    free(b->idx);
    free(b->reps);
}

/* Sends the calls that go to calls[first]'s node in one pipeline. */
static lc_status send_group(lc__redis *r, const lc__rs_call *calls, size_t n, size_t first,
                            batch *b, redisReply **out, int wait_acks, lc_error *err)
{
    node *nd = b->at[first];
    size_t g = 0;
    for (size_t i = first; i < n; i++)
        if (b->state[i] == 0 && b->at[i] == nd) {
            b->group[g] = calls[i];
            b->idx[g++] = i;
            b->state[i] = 1;
        }
    r->last = &nd->conn;
    lc_status rc = lc__rs_eval_many(&nd->conn, &r->scripts, b->group, g, b->reps, err);
    if (rc == LC_ERR_UNAVAILABLE && lc__rconn_may_retry(&nd->conn, 1)) {
        r->cluster->stale = 1; /* each runs again on its own, after a refresh */
        for (size_t k = 0; k < g; k++)
            b->state[b->idx[k]] = 2;
        return LC_OK;
    }
    if (rc != LC_OK)
        return rc;
    uint64_t epoch = nd->conn.epoch;
    for (size_t k = 0; k < g; k++) {
        char host[256];
        int port;
        if (redirect_of(b->reps[k], &nd->conn, host, sizeof(host), &port) != RD_NONE) {
            freeReplyObject(b->reps[k]);
            b->state[b->idx[k]] = 2;
        } else
            out[b->idx[k]] = b->reps[k];
    }
    return wait_acks ? lc__redis_wait_replicas(r, &nd->conn, epoch, err) : LC_OK;
}

static lc_status run_batch(lc__redis *r, const lc__rs_call *calls, size_t n, batch *b,
                           redisReply **out, int wait_acks, lc_error *err)
{
    lc_status rc = LC_OK;
    for (size_t i = 0; rc == LC_OK && i < n; i++) {
        int slot;
        rc = call_slot(r, &calls[i], &slot, err);
        if (rc == LC_OK && (b->at[i] = owner_of(r, slot, &rc, err)) == NULL)
            return rc;
    }
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        if (b->state[i] == 0)
            rc = send_group(r, calls, n, i, b, out, wait_acks, err);
    for (size_t i = 0; rc == LC_OK && i < n; i++) {
        if (b->state[i] != 2)
            continue;
        rc = lc__cluster_eval(r, &calls[i], &out[i], err);
        if (rc == LC_OK && wait_acks)
            rc = lc__redis_wait_replicas(r, r->last, r->last->epoch, err);
    }
    return rc;
}

lc_status lc__cluster_eval_many(lc__redis *r, const lc__rs_call *calls, size_t n, redisReply **out,
                                int wait_acks, lc_error *err)
{
    memset(out, 0, n * sizeof(*out));
    batch b = {calloc(n, sizeof(*b.at)), calloc(n, 1), calloc(n, sizeof(*b.group)),
               calloc(n, sizeof(*b.idx)), calloc(n, sizeof(*b.reps))};
    lc_status rc = LC_OK;
    if (!b.at || !b.state || !b.group || !b.idx || !b.reps)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (rc == LC_OK)
        rc = run_batch(r, calls, n, &b, out, wait_acks, err);
    for (size_t i = 0; rc != LC_OK && i < n; i++) {
        if (out[i])
            freeReplyObject(out[i]);
        out[i] = NULL;
    }
    batch_free(&b);
    return rc;
}

/* ---- the rest ----------------------------------------------------------- */

lc_status lc__cluster_masters(lc__redis *r, lc__redis_conn ***conns, size_t *n, lc_error *err)
{
    struct lc__cluster *cl = r->cluster;
    lc_status rc = refresh(r, err);
    if (rc != LC_OK)
        return rc;
    *conns = calloc(cl->n ? cl->n : 1, sizeof(**conns));
    if (*conns == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    *n = 0;
    for (size_t i = 0; i < cl->n; i++)
        if (cl->nodes[i]->master)
            (*conns)[(*n)++] = &cl->nodes[i]->conn;
    return LC_OK;
}

lc_status lc__cluster_route_sub(lc__redis *r, const char *channel, int refresh_first, lc_error *err)
{
    lc_status rc;
    r->cluster->stale |= refresh_first;
    node *nd = owner_of(r, lc__cluster_slot(channel, strlen(channel)), &rc, err);
    if (nd == NULL)
        return rc;
    r->sub.addr = &nd->addr;
    return LC_OK;
}

int lc__cluster_follow_sub(lc__redis *r, const char *channel, const redisReply *rep)
{
    char host[256];
    int port = 0;
    if (r->cluster == NULL || redirect_of(rep, &r->sub, host, sizeof(host), &port) != RD_MOVED)
        return 0;
    int slot = lc__cluster_slot(channel, strlen(channel));
    lc__log(r->main.log, r->main.log_ctx, LC_LOG_DEBUG, "redis %s: slot %d: %s", r->sub.addr->label,
            slot, rep->str);
    (void)follow(r, RD_MOVED, slot, host, port, 0);
    return 1;
}

uint64_t lc__cluster_requests(const lc__redis *r)
{
    uint64_t n = r->main.requests;
    for (size_t i = 0; i < r->cluster->n; i++)
        n += r->cluster->nodes[i]->conn.requests;
    return n;
}

lc_status lc__cluster_open(lc__redis *r, lc_error *err)
{
    r->cluster = calloc(1, sizeof(*r->cluster));
    if (r->cluster == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (int s = 0; s < LC__CLUSTER_SLOTS; s++)
        r->cluster->owner[s] = -1;
    lc_status rc = slots_from(r, &r->main, err);
    if (rc != LC_OK) {
        lc__cluster_free(r->cluster);
        r->cluster = NULL;
    }
    return rc;
}

void lc__cluster_free(struct lc__cluster *cl)
{
    if (cl == NULL)
        return;
    for (size_t i = 0; i < cl->n; i++) {
        lc__rconn_drop(&cl->nodes[i]->conn);
        lc__redis_addr_free(&cl->nodes[i]->addr);
        free(cl->nodes[i]);
    }
    free(cl->nodes);
    free(cl);
}
