/* tests/integration/test_redis_cluster.c -- the Redis backend on a real
 * Redis Cluster (LOCKCOORD_TEST_REDIS_CLUSTER_URL, any one node; see
 * scripts/servers.sh redis-cluster-start): the slot of thousands of
 * generated lock keys against CLUSTER KEYSLOT, a held lease whose slot is
 * moved to another master (ASK while it moves, MOVED after) renewed
 * throughout, and a listing that sees the locks of every master. */
#include "testenv.h"

#include "backends/redis/cluster_int.h"
#include "backends/redis/redis_int.h"
#include "core/client_int.h"

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

/* Moves every key of `slot` from m[from] to m[to] as redis-cli --cluster
 * reshard does, renewing the leases after each step. */
static void move_slot(int slot, cnode *m, int n, int from, int to, lc_client *c, lc_lease *lease,
                      lc_lease *other)
{
    redisContext *src = connect_to(m[from].host, m[from].port);
    redisContext *dst = connect_to(m[to].host, m[to].port);
    cmd_ok(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, m[from].id);
    cmd_ok(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, m[to].id);
    renew_both(c, lease, other); /* the keys are still on the source */
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
    renew_both(c, lease, other); /* the source answers ASK */
    cmd_ok(dst, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
    cmd_ok(src, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
    for (int i = 0; i < n; i++) {
        if (i == from || i == to)
            continue;
        redisContext *o = connect_to(m[i].host, m[i].port);
        cmd_ok(o, "CLUSTER SETSLOT %d NODE %s", slot, m[to].id);
        redisFree(o);
    }
    renew_both(c, lease, other); /* the source answers MOVED */
    redisFree(src);
    redisFree(dst);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_slot_of_generated_names_matches_keyslot),
        cmocka_unit_test(test_cluster_lease_survives_slot_migration),
        cmocka_unit_test(test_cluster_list_sees_every_master),
    };
    return cmocka_run_group_tests_name("redis_cluster", tests, NULL, NULL);
}
