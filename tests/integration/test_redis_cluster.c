/* tests/integration/test_redis_cluster.c -- the Redis backend on a real
 * Redis Cluster (LOCKCOORD_TEST_REDIS_CLUSTER_URL, any one node; see
 * scripts/servers.sh redis-cluster-start): the slot of thousands of
 * generated lock keys against CLUSTER KEYSLOT, a held lease whose slot is
 * moved to another master (ASK while it moves, MOVED after) renewed
 * throughout, a listing that sees the locks of every master, and release
 * notifications by sharded pub/sub (SSUBSCRIBE on the lock's master, also
 * after its slot moved) or, forced, by plain pub/sub. */
#include "testenv.h"

#include "backends/redis/cluster_int.h"
#include "backends/redis/redis_int.h"
#include "core/client_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NAMES      5000
#define MAX_MASTER 16

/* ---- raw access to the nodes ------------------------------------------- */

typedef struct cnode {
    char id[64];
    char host[64];
    int port;
} cnode;

static redisContext *connect_to(const char *host, int port)
{
    struct timeval tv = {5, 0};
    redisContext *ctx = redisConnectWithTimeout(host, port, tv);
    if (ctx == NULL || ctx->err)
        fail_msg("connect %s:%d: %s", host, port, ctx ? ctx->errstr : "out of memory");
    return ctx;
}

static redisContext *seed(void)
{
    const char *url = getenv("LOCKCOORD_TEST_REDIS_CLUSTER_URL");
    lc__redis_addr a;
    lc_error err;
    if (url == NULL || lc__redis_url_parse(url, &a, &err) != LC_OK)
        fail_msg("LOCKCOORD_TEST_REDIS_CLUSTER_URL is not a redis:// URL");
    redisContext *ctx = connect_to(a.host, a.port);
    lc__redis_addr_free(&a);
    return ctx;
}

static redisReply *cmd(redisContext *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis: %s", ctx->errstr);
    return r;
}

static void cmd_ok(redisContext *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("redis %s: %s", fmt, r ? r->str : ctx->errstr);
    freeReplyObject(r);
}

/* The masters that are up, from CLUSTER NODES: "id host:port@bus flags ...". */
static int masters_of(redisContext *ctx, cnode *out)
{
    redisReply *r = cmd(ctx, "CLUSTER NODES");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(r->str, "\n", &save); line && n < MAX_MASTER;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64], addr[128], flags[128];
        if (sscanf(line, "%63s %127s %127s", id, addr, flags) != 3 || !strstr(flags, "master") ||
            strstr(flags, "fail"))
            continue;
        char *at = strchr(addr, '@'), *colon;
        if (at)
            *at = '\0';
        if ((colon = strrchr(addr, ':')) == NULL)
            continue;
        *colon = '\0';
        snprintf(out[n].id, sizeof(out[n].id), "%s", id);
        snprintf(out[n].host, sizeof(out[n].host), "%s", addr);
        out[n].port = atoi(colon + 1);
        n++;
    }
    freeReplyObject(r);
    return n;
}

/* The master that owns `slot`, as `ctx` sees it. */
static int owner_index(redisContext *ctx, int slot, const cnode *m, int n)
{
    redisReply *r = cmd(ctx, "CLUSTER SLOTS");
    int port = -1;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (slot >= e->element[0]->integer && slot <= e->element[1]->integer)
            port = (int)e->element[2]->element[1]->integer;
    }
    freeReplyObject(r);
    for (int i = 0; i < n; i++)
        if (m[i].port == port)
            return i;
    fail_msg("no master owns slot %d", slot);
    return -1;
}

/* ---- the slots of generated names ------------------------------------- */

static void random_name(char *out, size_t *len)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/-";
    unsigned char b[LC_NAME_MAX + 1];
    assert_int_equal(getrandom(b, sizeof(b), 0), (ssize_t)sizeof(b));
    /* Mostly short names, some up to the longest allowed. */
    size_t n = 1 + (b[0] % 4 == 0 ? b[1] % LC_NAME_MAX : b[1] % 24);
    for (size_t i = 0; i < n; i++)
        out[i] = chars[b[i + 1] % (sizeof(chars) - 1)];
    out[n] = '\0';
    *len = n;
}

static void test_cluster_slot_of_generated_names_matches_keyslot(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    redisContext *ctx = seed();
    static char names[NAMES][LC_NAME_MAX + 1];
    static char keys[NAMES][LC__KEY_MAX];
    for (int i = 0; i < NAMES; i++) {
        size_t len;
        random_name(names[i], &len);
        snprintf(keys[i], sizeof(keys[i]), "lockcoord:{%s}:%s", names[i], i % 2 ? "lock" : "meta");
        redisAppendCommand(ctx, "CLUSTER KEYSLOT %s", keys[i]);
        redisAppendCommand(ctx, "CLUSTER KEYSLOT %s", names[i]);
    }
    for (int i = 0; i < NAMES; i++) {
        for (int k = 0; k < 2; k++) {
            redisReply *r = NULL;
            assert_int_equal(redisGetReply(ctx, (void **)&r), REDIS_OK);
            assert_int_equal(r->type, REDIS_REPLY_INTEGER);
            const char *key = k == 0 ? keys[i] : names[i];
            int mine = lc__cluster_slot(key, strlen(key));
            if (mine != r->integer)
                fail_msg("slot of '%s': lockcoord %d, CLUSTER KEYSLOT %lld", key, mine, r->integer);
            freeReplyObject(r);
        }
        /* The lock's keys live in the slot of its name. */
        assert_int_equal(lc__cluster_slot(keys[i], strlen(keys[i])),
                         lc__cluster_slot(names[i], strlen(names[i])));
    }
    redisFree(ctx);
}

/* ---- a lease whose slot moves ------------------------------------------ */

typedef struct counts {
    int ask, moved;
} counts;

static void count_redirects(void *ctx, lc_log_level level, const char *msg)
{
    counts *c = ctx;
    (void)level;
    c->ask += strstr(msg, ": ASK ") != NULL;
    c->moved += strstr(msg, ": MOVED ") != NULL;
}

static lc_client *open_cluster(lc_config **cfg, counts *seen)
{
    *cfg = lct_config("redis-cluster");
    lc_client_opts opts = {.log = count_redirects, .log_ctx = seen};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(*cfg, &opts, &c, &err), LC_OK, &err);
    return c;
}

/* Renews `lease` one by one and `other` with it in one batch. */
static void renew_both(lc_client *c, lc_lease *lease, lc_lease *other)
{
    lc_error err;
    lct_assert_rc(lc_renew(c, lease, 0, &err), LC_OK, &err);
    lc_renew_item items[2] = {
        {lc_lease_name(lease), lc_lease_token(lease), 5000, LC_ERR_INTERNAL},
        {lc_lease_name(other), lc_lease_token(other), 5000, LC_ERR_INTERNAL},
    };
    lct_assert_rc(lc__client_renew_many(c, items, 2, &err), LC_OK, &err);
    assert_int_equal(items[0].status, LC_OK);
    assert_int_equal(items[1].status, LC_OK);
}

/* What a slot move does between its steps (NULL: nothing). */
typedef void (*move_step)(void *arg);

/* Moves every key of `slot` from m[from] to m[to] as redis-cli --cluster
 * reshard does, calling step(arg) after each step: with the slot marked
 * migrating, with the keys moved (the source answers ASK), and with the
 * slot given to m[to] on every master (the source answers MOVED). */
static void migrate_slot(int slot, cnode *m, int n, int from, int to, move_step step, void *arg)
{
    redisContext *src = connect_to(m[from].host, m[from].port);
    redisContext *dst = connect_to(m[to].host, m[to].port);
    cmd_ok(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, m[from].id);
    cmd_ok(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, m[to].id);
    if (step)
        step(arg); /* the keys are still on the source */
    redisReply *keys = cmd(src, "CLUSTER GETKEYSINSLOT %d 1000", slot);
    assert_true(keys->elements > 0);
    const char **argv = calloc(keys->elements + 8, sizeof(*argv));
    char port[16];
    snprintf(port, sizeof(port), "%d", m[to].port);
    int argc = 0;
    const char *head[] = {"MIGRATE", m[to].host, port, "", "0", "5000", "KEYS"};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        argv[argc++] = head[i];
    for (size_t i = 0; i < keys->elements; i++)
        argv[argc++] = keys->element[i]->str;
    redisReply *r = redisCommandArgv(src, argc, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("MIGRATE: %s", r ? r->str : src->errstr);
    freeReplyObject(r);
    free(argv);
    freeReplyObject(keys);
    if (step)
        step(arg); /* the source answers ASK */
    cmd_ok(dst, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
    cmd_ok(src, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
    for (int i = 0; i < n; i++) {
        if (i == from || i == to)
            continue;
        redisContext *o = connect_to(m[i].host, m[i].port);
        cmd_ok(o, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
        redisFree(o);
    }
    if (step)
        step(arg); /* the source answers MOVED */
    redisFree(src);
    redisFree(dst);
}

typedef struct two_leases {
    lc_client *c;
    lc_lease *lease, *other;
} two_leases;

static void renew_step(void *arg)
{
    two_leases *t = arg;
    renew_both(t->c, t->lease, t->other);
}

/* A slot move that renews the leases after each step. */
static void move_slot(int slot, cnode *m, int n, int from, int to, lc_client *c, lc_lease *lease,
                      lc_lease *other)
{
    two_leases t = {c, lease, other};
    migrate_slot(slot, m, n, from, to, renew_step, &t);
}

static void test_cluster_lease_survives_slot_migration(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    counts seen = {0, 0};
    lc_config *cfg;
    lc_client *c = open_cluster(&cfg, &seen);
    redisContext *ctx = seed();
    cnode m[MAX_MASTER];
    int n = masters_of(ctx, m);
    assert_true(n >= 2);
    const char *name = lct_name("cluster/moved");
    char held[LC_NAME_MAX + 1];
    snprintf(held, sizeof(held), "%s", name);
    int slot = lc__cluster_slot(held, strlen(held));
    /* A second lease on another slot rides along in the batch renewals. */
    const char *other_name = lct_name("cluster/other");
    lc_acquire_opts o = {.ttl_ms = 5000};
    lc_lease *lease = NULL, *other = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, held, &o, &lease, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(c, other_name, &o, &other, &err), LC_OK, &err);
    uint64_t fence = lc_lease_fence(lease);
    int from = owner_index(ctx, slot, m, n), to = (from + 1) % n;

    move_slot(slot, m, n, from, to, c, lease, other);

    assert_int_equal(owner_index(ctx, slot, m, n), to);
    assert_true(seen.ask > 0);
    assert_true(seen.moved > 0);
    /* Still the same lease, held with its fence, on its new master. */
    lc_lock_info info;
    lct_assert_rc(lc_inspect(c, held, &info, &err), LC_OK, &err);
    assert_true(info.held);
    assert_int_equal(info.fence, fence);
    lc_lock_info_clear(&info);
    redisContext *dst = connect_to(m[to].host, m[to].port);
    redisReply *r = cmd(dst, "PTTL %s:{%s}:lock", cfg->redis.key_prefix, held);
    assert_true(r->integer > 0);
    freeReplyObject(r);
    redisFree(dst);
    /* A contender is refused; the release and the next acquire work. */
    lc_lease *again = NULL;
    lc_acquire_opts no_wait = {.ttl_ms = 5000, .wait_ms = -1};
    lct_assert_rc(lc_acquire(c, held, &no_wait, &again, &err), LC_ERR_CONFLICT, &err);
    lct_assert_rc(lc_release(c, lease, NULL, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, other, NULL, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(c, held, &no_wait, &again, &err), LC_OK, &err);
    assert_true(lc_lease_fence(again) > fence);
    lct_assert_rc(lc_release(c, again, NULL, &err), LC_OK, &err);
    lc_lease_free(again);
    lc_lease_free(lease);
    lc_lease_free(other);
    redisFree(ctx);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* ---- listing ------------------------------------------------------------ */

static void test_cluster_list_sees_every_master(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    counts seen = {0, 0};
    lc_config *cfg;
    lc_client *c = open_cluster(&cfg, &seen);
    redisContext *ctx = seed();
    cnode m[MAX_MASTER];
    int n = masters_of(ctx, m);
    /* Two locks on each master. */
    enum {
        PER = 2
    };
    char names[MAX_MASTER * PER][LC_NAME_MAX + 1];
    int have[MAX_MASTER] = {0}, total = 0;
    lc_error err;
    for (int tries = 0; total < n * PER && tries < 10000; tries++) {
        const char *name = lct_name("cluster/list");
        int at = owner_index(ctx, lc__cluster_slot(name, strlen(name)), m, n);
        if (have[at] == PER)
            continue;
        have[at]++;
        snprintf(names[total], sizeof(names[total]), "%s", name);
        lc_lease *l = NULL;
        lct_assert_rc(lc_acquire(c, names[total], NULL, &l, &err), LC_OK, &err);
        lc_lease_free(l); /* left held: status shows it */
        total++;
    }
    assert_int_equal(total, n * PER);
    lc_lock_info *list = NULL;
    size_t got = 0;
    lct_assert_rc(lc_list(c, &list, &got, &err), LC_OK, &err);
    size_t listed = 0; /* the prefix is this process's: other tests' locks show too */
    for (size_t j = 0; j < got; j++)
        listed += strncmp(list[j].name, "cluster/list", 12) == 0;
    assert_int_equal(listed, (size_t)total);
    for (int i = 0; i < total; i++) {
        int found = 0;
        for (size_t j = 0; j < got; j++)
            found |= strcmp(list[j].name, names[i]) == 0 && list[j].held;
        if (!found)
            fail_msg("'%s' missing from the listing", names[i]);
    }
    lc_lock_list_free(list, got);
    for (int i = 0; i < total; i++) {
        int was_held = 0;
        lc_holder prev;
        lct_assert_rc(lc_force_release(c, names[i], "test done", &was_held, &prev, &err), LC_OK,
                      &err);
        assert_true(was_held);
    }
    redisFree(ctx);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* ---- release notifications ---------------------------------------------- */

/* The backoff of the waiting clients: its first delay is at least 5 s,
 * so a waiter woken within WOKEN_MS of a release was woken by the
 * notification, not by polling. */
#define RETRY_MIN_MS 10000
#define RETRY_MAX_MS 20000
#define WOKEN_MS     2000

/* A waiting client's backend table with its wait counted: how often it
 * was entered, how often it reported a notification, and the entry that
 * reported the last one. One spied client at a time. */
static lc_backend_ops spy_ops;
static atomic_int spy_entries, spy_notified, spy_notified_entry;

static lc_status spy_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err)
{
    int entry = atomic_fetch_add(&spy_entries, 1) + 1;
    lc_status rc = lc__redis_wait(state, timeout_ms, notified, err);
    if (rc == LC_OK && *notified) {
        atomic_store(&spy_notified_entry, entry);
        atomic_fetch_add(&spy_notified, 1);
    }
    return rc;
}

static void spy_on(lc_client *c)
{
    spy_ops = *c->ops;
    spy_ops.wait = spy_wait;
    c->ops = &spy_ops;
    atomic_store(&spy_entries, 0);
    atomic_store(&spy_notified, 0);
    atomic_store(&spy_notified_entry, 0);
}

static int spy_waiting(void *arg)
{
    return atomic_load(&spy_entries) >= *(int *)arg;
}

/* Back in a wait after the notification it last reported. */
static int spy_waiting_again(void *arg)
{
    (void)arg;
    return atomic_load(&spy_notified) > 0 &&
           atomic_load(&spy_entries) > atomic_load(&spy_notified_entry);
}

/* A client whose waits back off for RETRY_MIN_MS and more. */
static lc_client *open_waiting(lc_config **cfg, counts *seen)
{
    lc_client *c = open_cluster(cfg, seen);
    (*cfg)->lock.retry_min_ms = RETRY_MIN_MS;
    (*cfg)->lock.retry_max_ms = RETRY_MAX_MS;
    return c;
}

typedef struct waiter {
    lc_client *c;
    const char *name;
    pthread_t thread;
    lc_status rc;
    lc_error err;
    lc_lease *got;
    int64_t woke_ms;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 60000};
    w->rc = lc_acquire(w->c, w->name, &o, &w->got, &w->err);
    w->woke_ms = lct_now_ms();
    return NULL;
}

static void waiter_start(waiter *w, lc_client *c, const char *name)
{
    memset(w, 0, sizeof(*w));
    w->c = c;
    w->name = name;
    assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
}

/* Releases `lease` and asserts that the waiter got the lock within
 * WOKEN_MS, woken by a notification. */
static void release_wakes(lc_client *holder, lc_lease *lease, waiter *w)
{
    lc_error err;
    int64_t released = lct_now_ms();
    lct_assert_rc(lc_release(holder, lease, NULL, &err), LC_OK, &err);
    pthread_join(w->thread, NULL);
    lct_assert_rc(w->rc, LC_OK, &w->err);
    if (w->woke_ms - released >= WOKEN_MS)
        fail_msg("woken %lld ms after the release", (long long)(w->woke_ms - released));
    assert_true(atomic_load(&spy_notified) > 0);
    lct_assert_rc(lc_release(w->c, w->got, NULL, &err), LC_OK, &err);
    lc_lease_free(w->got);
}

/* Subscribers of `channel` on the node of ctx: kind "SHARDNUMSUB"
 * (sharded pub/sub) or "NUMSUB" (plain). */
static long long subscribers(redisContext *ctx, const char *kind, const char *channel)
{
    redisReply *r = cmd(ctx, "PUBSUB %s %s", kind, channel);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_INTEGER)
        fail_msg("PUBSUB %s %s: %s", kind, channel,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    long long n = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}

typedef struct sub_count {
    redisContext *node;
    const char *kind;
    const char *channel;
} sub_count;

static int one_subscriber(void *arg)
{
    const sub_count *s = arg;
    return subscribers(s->node, s->kind, s->channel) == 1;
}

/* A lock name whose slot lives on a master other than the one at
 * `port`; *at is that master's index. */
static const char *name_away_from(redisContext *ctx, const cnode *m, int n, int port, int *at)
{
    for (int tries = 0; tries < 1000; tries++) {
        const char *name = lct_name("cluster/spub");
        *at = owner_index(ctx, lc__cluster_slot(name, strlen(name)), m, n);
        if (m[*at].port != port)
            return name;
    }
    fail_msg("every name lands on port %d", port);
    return NULL;
}

static void channel_of(const lc_config *cfg, const char *name, char *out)
{
    snprintf(out, LC__KEY_MAX, "%s:{%s}:released", cfg->redis.key_prefix, name);
}

/* A lock held by `holder` on a master other than the seed, and a
 * waiter for it (spied on) that is waiting already. */
typedef struct held {
    counts seen;
    lc_config *cfg, *wcfg;
    lc_client *holder, *c;
    redisContext *ctx, *owner; /* the seed, the lock's master */
    cnode m[MAX_MASTER];
    int n, at; /* masters, the lock's among them */
    const char *name;
    char channel[LC__KEY_MAX];
    lc_lease *lease;
    waiter w;
} held;

/* `plain`: both clients use plain pub/sub, as where the nodes lack
 * sharded pub/sub. */
static void held_open(held *h, int plain)
{
    memset(h, 0, sizeof(*h));
    h->holder = open_cluster(&h->cfg, &h->seen);
    h->c = open_waiting(&h->wcfg, &h->seen);
    ((lc__redis *)h->holder->state)->plain_pubsub = plain;
    ((lc__redis *)h->c->state)->plain_pubsub = plain;
    h->ctx = seed();
    h->n = masters_of(h->ctx, h->m);
    assert_true(h->n >= 2);
    h->name = name_away_from(h->ctx, h->m, h->n, h->ctx->tcp.port, &h->at);
    channel_of(h->cfg, h->name, h->channel);
    h->owner = connect_to(h->m[h->at].host, h->m[h->at].port);
    lc_acquire_opts o = {.ttl_ms = 30000};
    lc_error err;
    lct_assert_rc(lc_acquire(h->holder, h->name, &o, &h->lease, &err), LC_OK, &err);
    spy_on(h->c);
    waiter_start(&h->w, h->c, h->name);
    int one = 1;
    assert_true(lct_wait_for(spy_waiting, &one, 10000));
}

static void held_close(held *h)
{
    lc_lease_free(h->lease);
    redisFree(h->owner);
    redisFree(h->ctx);
    lc_client_close(h->c);
    lc_client_close(h->holder);
    lc_config_free(h->wcfg);
    lc_config_free(h->cfg);
}

/* The waiter subscribes with SSUBSCRIBE on the master of its lock (not
 * the seed), with no plain subscription anywhere, and a release -- and a
 * reset -- wake it long before its backoff would. */
static void test_cluster_waiter_on_other_master_woken_by_sharded_release(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    held h;
    held_open(&h, 0);
    assert_int_equal(subscribers(h.owner, "SHARDNUMSUB", h.channel), 1);
    for (int i = 0; i < h.n; i++) {
        redisContext *node = connect_to(h.m[i].host, h.m[i].port);
        assert_int_equal(subscribers(node, "NUMSUB", h.channel), 0);
        redisFree(node);
    }
    release_wakes(h.holder, h.lease, &h.w);
    lc_lease_free(h.lease);

    /* A reset notifies the same way. */
    lc_acquire_opts o = {.ttl_ms = 30000};
    lc_error err;
    lct_assert_rc(lc_acquire(h.holder, h.name, &o, &h.lease, &err), LC_OK, &err);
    lct_assert_rc(h.c->ops->watch(h.c->state, h.name, &err), LC_OK, &err);
    assert_int_equal(subscribers(h.owner, "SHARDNUMSUB", h.channel), 1);
    int was_held = 0, notified = 0;
    lc_holder prev;
    lct_assert_rc(lc_force_release(h.holder, h.name, "test", &was_held, &prev, &err), LC_OK, &err);
    lct_assert_rc(h.c->ops->wait(h.c->state, WOKEN_MS, &notified, &err), LC_OK, &err);
    assert_true(notified);
    h.c->ops->unwatch(h.c->state);
    assert_int_equal(subscribers(h.owner, "SHARDNUMSUB", h.channel), 0);
    held_close(&h);
}

/* A waiter subscribed when its lock's slot moves to another master is
 * told by the old master (sunsubscribe), subscribes on the new one and
 * is woken there; a client that still maps the slot to the old master
 * follows the MOVED its SSUBSCRIBE gets. */
static void test_cluster_waiter_follows_its_lock_to_another_master(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    held h;
    held_open(&h, 0);
    counts stale_seen = {0, 0};
    lc_config *scfg;
    lc_client *stale = open_waiting(&scfg, &stale_seen); /* its map is read now */
    int slot = lc__cluster_slot(h.name, strlen(h.name)), to = (h.at + 1) % h.n;
    redisContext *new_owner = connect_to(h.m[to].host, h.m[to].port);
    assert_int_equal(subscribers(h.owner, "SHARDNUMSUB", h.channel), 1);
    migrate_slot(slot, h.m, h.n, h.at, to, NULL, NULL);
    assert_int_equal(owner_index(h.ctx, slot, h.m, h.n), to);
    /* Told, subscribed again on the new master, and waiting again. */
    assert_true(lct_wait_for(spy_waiting_again, NULL, 10000));
    sub_count moved = {new_owner, "SHARDNUMSUB", h.channel};
    assert_true(lct_wait_for(one_subscriber, &moved, 10000));
    release_wakes(h.holder, h.lease, &h.w);

    /* The stale client's SSUBSCRIBE goes to the old master first. */
    lc_error err;
    lct_assert_rc(stale->ops->watch(stale->state, h.name, &err), LC_OK, &err);
    assert_true(stale_seen.moved > 0);
    assert_int_equal(subscribers(new_owner, "SHARDNUMSUB", h.channel), 1);
    stale->ops->unwatch(stale->state);

    redisFree(new_owner);
    lc_client_close(stale);
    lc_config_free(scfg);
    held_close(&h);
}

/* Where sharded pub/sub is not used (forced here; a Redis 6 cluster),
 * the waiter subscribes with SUBSCRIBE on its lock's master and the
 * release's PUBLISH wakes it. */
static void test_cluster_without_sharded_pubsub_plain_wakes(void **state)
{
    (void)state;
    if (lct_backend_missing("redis-cluster"))
        skip();
    held h;
    held_open(&h, 1);
    assert_int_equal(subscribers(h.owner, "NUMSUB", h.channel), 1);
    assert_int_equal(subscribers(h.owner, "SHARDNUMSUB", h.channel), 0);
    release_wakes(h.holder, h.lease, &h.w);
    held_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_slot_of_generated_names_matches_keyslot),
        cmocka_unit_test(test_cluster_lease_survives_slot_migration),
        cmocka_unit_test(test_cluster_list_sees_every_master),
        cmocka_unit_test(test_cluster_waiter_on_other_master_woken_by_sharded_release),
        cmocka_unit_test(test_cluster_waiter_follows_its_lock_to_another_master),
        cmocka_unit_test(test_cluster_without_sharded_pubsub_plain_wakes),
    };
    return cmocka_run_group_tests_name("redis_cluster", tests, NULL, NULL);
}
