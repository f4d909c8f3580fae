/* tests/integration/test_redis_reconnect.c -- calls on a connection that the
 * server has closed: by its idle timeout (`timeout 1`), by CLIENT KILL, by a
 * restart, or in the middle of a request (a proxy that swallows one
 * reply). Every call reconnects; a call whose reply was lost runs again
 * only when running it twice is safe. Each test starts a private
 * redis-server (scripts/servers.sh) and always stops it. */
#include "testenv.h"

#include "backends/redis/redis_int.h"
#include "core/client_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS 2000
#define LEASE_MS   60000
/* How long the server may take to notice an idle client (`timeout 1`
 * closes one idle for more than a whole second, checked 10 times a
 * second): several times the expected 1-2 s. */
#define IDLE_CLOSE_MS 10000

/* ---- a private server --------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char url[128];
    int port;
    const char *args; /* redis-server arguments for every start */
    lc_config *cfg;
    lc_client *c;
    int reconnects; /* "reconnecting" messages logged by the client */
    int retries;    /* "sending it again" messages */
} fixture;

static const char *servers_sh(void)
{
    static char path[1024];
    const char *src = getenv("LOCKCOORD_SRC");
    if (src && *src) {
        snprintf(path, sizeof(path), "%s/scripts/servers.sh", src);
    } else { /* run by hand: this file is tests/integration/ of the tree */
        snprintf(path, sizeof(path), "%s", __FILE__);
        char *cut = strstr(path, "/tests/integration/");
        if (cut)
            snprintf(cut, sizeof(path) - (size_t)(cut - path), "/scripts/servers.sh");
    }
    return path;
}

/* Runs `servers.sh CMD DIR ARGS`; the last line of its output into out. */
static int servers(fixture *f, const char *cmd, const char *args, char *out, size_t size)
{
    char line[1024], sh[1600];
    snprintf(sh, sizeof(sh), "bash '%s' %s '%s' %s 2>&1", servers_sh(), cmd, f->dir,
             args ? args : "");
    FILE *p = popen(sh, "r");
    if (p == NULL)
        return -1;
    if (out && size)
        out[0] = '\0';
    while (fgets(line, sizeof(line), p))
        if (out)
            snprintf(out, size, "%s", line);
    if (out)
        out[strcspn(out, "\n")] = '\0';
    return pclose(p);
}

static void server_start(fixture *f)
{
    char out[256];
    if (servers(f, "redis-start", f->args, out, sizeof(out)) != 0)
        fail_msg("redis-start failed: %s", out);
    if (f->url[0] != '\0')
        assert_string_equal(out, f->url); /* a restart keeps the port */
    snprintf(f->url, sizeof(f->url), "%s", out);
    assert_int_equal(sscanf(f->url, "redis://127.0.0.1:%d", &f->port), 1);
}

static int setup_with(void **state, const char *args)
{
    if (lct_backend_missing("redis"))
        return 0; /* each test skips */
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lct-rreconn-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->args = args;
    server_start(f);
    *state = f;
    return 0;
}

static int setup_idle_timeout(void **state)
{
    return setup_with(state, "--timeout 1");
}

static int setup_plain(void **state)
{
    return setup_with(state, "");
}

static int setup_persistent(void **state)
{
    return setup_with(state, "--appendonly yes --appendfsync always");
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    char out[256], rm[128];
    int rc = servers(f, "redis-stop", NULL, out, sizeof(out));
    snprintf(rm, sizeof(rm), "rm -rf '%s'", f->dir);
    if (system(rm) != 0)
        rc = -1;
    free(f);
    return rc == 0 ? 0 : -1;
}

#define SKIP_IF_NO_SERVER(state)                                                                   \
    do {                                                                                           \
        if (*(state) == NULL)                                                                      \
            skip();                                                                                \
    } while (0)

static void count_log(void *ctx, lc_log_level level, const char *msg)
{
    fixture *f = ctx;
    (void)level;
    if (strstr(msg, "connection closed by the server, reconnecting"))
        f->reconnects++;
    if (strstr(msg, "sending it again"))
        f->retries++;
}

static lc_client *open_client_on(fixture *f, const char *url)
{
    f->cfg = lc_config_new("redis");
    assert_non_null(f->cfg);
    f->cfg->redis.url = strdup(url);
    assert_non_null(f->cfg->redis.url);
    f->cfg->redis.connect_timeout_ms = TIMEOUT_MS;
    f->cfg->redis.command_timeout_ms = TIMEOUT_MS;
    lc_client_opts opts = {NULL, count_log, f, NULL};
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &opts, &f->c, &err), LC_OK, &err);
    return f->c;
}

/* A command on a connection of the test's own. */
static redisReply *raw(const fixture *f, const char *fmt, const char *arg)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);
    assert_true(c && !c->err);
    redisReply *r = arg ? redisCommand(c, fmt, arg) : redisCommand(c, fmt);
    assert_non_null(r);
    redisFree(c);
    return r;
}

static long long raw_int(const fixture *f, const char *fmt, const char *arg)
{
    redisReply *r = raw(f, fmt, arg);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

/* Only the asking connection is left on the server. */
static int others_gone(void *arg)
{
    redisReply *r = raw(arg, "INFO clients", NULL);
    int gone = r->type == REDIS_REPLY_STRING && strstr(r->str, "connected_clients:1\r\n");
    freeReplyObject(r);
    return gone;
}

/* ---- the ways a connection dies ----------------------------------------- */

typedef void (*breaker)(fixture *f);

static void idle_timeout(fixture *f)
{
    assert_true(lct_wait_for(others_gone, f, IDLE_CLOSE_MS));
}

static void client_kill(fixture *f)
{
    assert_true(raw_int(f, "CLIENT KILL TYPE normal", NULL) >= 1);
    assert_true(lct_wait_for(others_gone, f, 5000));
}

static void restart(fixture *f)
{
    char out[256];
    assert_int_equal(servers(f, "redis-stop", NULL, out, sizeof(out)), 0);
    server_start(f);
}

/* A lease taken, then every kind of call, each after the connection was
 * ended by `brk`: each call must succeed. A call that must not run twice
 * (recording a run, listing) finds the connection closed before sending
 * and reconnects; a repeatable one is sent without that check (a system
 * call per request), fails, and is sent again on a new connection. */
static void every_call_after(fixture *f, breaker brk, int with_list)
{
    lc_client *c = open_client_on(f, f->url);
    const char *name = "reconnect";
    lc_acquire_opts o = {.ttl_ms = LEASE_MS};
    lc_lease *l = NULL;
    lc_lock_info info;
    lc_error err;
    int checked = 0, resent = 0;
    lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);

    brk(f), resent++;
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_OK, &err);
    brk(f), resent++;
    lct_assert_rc(lc_checkpoint(c, l, "cp-1", &err), LC_OK, &err);
    brk(f), resent++;
    lc_renew_item item = {name, lc_lease_token(l), LEASE_MS, LC_ERR_INTERNAL};
    lct_assert_rc(c->ops->renew_many(c->state, &item, 1, &err), LC_OK, &err);
    assert_int_equal(item.status, LC_OK);
    if (with_list) {
        lc_lock_info *list = NULL;
        size_t n = 0;
        brk(f), checked++;
        lct_assert_rc(lc_list(c, &list, &n, &err), LC_OK, &err);
        assert_int_equal(n, 1);
        assert_true(list[0].held);
        lc_lock_list_free(list, n);
    }
    brk(f), resent++;
    lc_run_result failed = {.has_exit = 1, .exit_code = 3, .error = "exit 3"};
    lct_assert_rc(lc_release(c, l, &failed, &err), LC_OK, &err);
    brk(f), checked++;
    lc_run_result ok = {.has_exit = 1, .exit_code = 0, .error = NULL};
    lct_assert_rc(lc_record_run(c, name, &ok, &err), LC_OK, &err);
    brk(f), resent++;
    lct_assert_rc(lc_inspect(c, name, &info, &err), LC_OK, &err);

    assert_false(info.held);
    assert_int_equal(info.sync_count, 2); /* the release ran once */
    assert_int_equal(info.last_exit, 0);
    assert_string_equal(info.checkpoint, "cp-1");
    lc_lock_info_clear(&info);
    lc_lease_free(l);
    assert_int_equal(f->reconnects, checked);
    assert_int_equal(f->retries, resent);
}

static void test_redis_idle_timeout_closed_every_call_reconnects(void **state)
{
    SKIP_IF_NO_SERVER(state);
    every_call_after(*state, idle_timeout, 0);
}

static void test_redis_client_kill_every_call_reconnects(void **state)
{
    SKIP_IF_NO_SERVER(state);
    every_call_after(*state, client_kill, 1);
}

static void test_redis_restart_same_port_every_call_reconnects(void **state)
{
    SKIP_IF_NO_SERVER(state);
    every_call_after(*state, restart, 1);
}

/* ---- the subscription --------------------------------------------------- */

static void test_redis_subscription_killed_wait_subscribes_again(void **state)
{
    SKIP_IF_NO_SERVER(state);
    fixture *f = *state;
    lc_client *holder = open_client_on(f, f->url);
    lc_config *wcfg = lc_config_new("redis");
    assert_non_null(wcfg);
    wcfg->redis.url = strdup(f->url);
    lc_client *waiter = NULL;
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(wcfg, NULL, &waiter, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(holder, "watched", NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(waiter->ops->watch(waiter->state, "watched", &err), LC_OK, &err);

    assert_int_equal(raw_int(f, "CLIENT KILL TYPE pubsub", NULL), 1);
    /* The wait sees the subscription gone, makes it again, and reports a
     * notification: a release may have been published meanwhile. */
    int notified = 0;
    lct_assert_rc(waiter->ops->wait(waiter->state, 5000, &notified, &err), LC_OK, &err);
    assert_int_equal(notified, 1);
    redisReply *r = raw(f, "PUBSUB NUMSUB %s", "lockcoord:{watched}:released");
    assert_true(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    assert_int_equal(r->element[1]->integer, 1);
    freeReplyObject(r);

    /* And the new subscription hears the release. */
    lct_assert_rc(lc_release(holder, l, NULL, &err), LC_OK, &err);
    notified = 0;
    lct_assert_rc(waiter->ops->wait(waiter->state, 5000, &notified, &err), LC_OK, &err);
    assert_int_equal(notified, 1);
    waiter->ops->unwatch(waiter->state);
    lc_lease_free(l);
    lc_client_close(waiter);
    lc_config_free(wcfg);
}

/* ---- a reply lost in flight --------------------------------------------- */

/* A TCP proxy in front of the server. Armed, it forwards the next request
 * but swallows the reply and closes both sides: the server ran the
 * command, the client never hears of it. */
#define PROXY_PAIRS 8

typedef struct proxy {
    int lfd;
    int port;
    int upstream_port;
    int pair[PROXY_PAIRS][2]; /* client side, server side; -1 when free */
    atomic_int lose_next_reply;
    atomic_int swallowed;
    atomic_int stop;
    pthread_t thread;
} proxy;

static int send_all(int fd, const char *buf, ssize_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= w;
    }
    return 0;
}

static void pair_close(proxy *p, int i)
{
    for (int side = 0; side < 2; side++) {
        if (p->pair[i][side] >= 0)
            close(p->pair[i][side]);
        p->pair[i][side] = -1;
    }
}

static int dial_upstream(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void proxy_accept(proxy *p)
{
    int c = accept(p->lfd, NULL, NULL);
    if (c < 0)
        return;
    for (int i = 0; i < PROXY_PAIRS; i++) {
        if (p->pair[i][0] < 0) {
            p->pair[i][0] = c;
            p->pair[i][1] = dial_upstream(p->upstream_port);
            if (p->pair[i][1] < 0)
                pair_close(p, i);
            return;
        }
    }
    close(c);
}

/* Moves what one side sent to the other; 0 when the pair was closed. */
static int proxy_move(proxy *p, int i, int from)
{
    char buf[65536];
    ssize_t n = read(p->pair[i][from], buf, sizeof(buf));
    if (n <= 0) {
        pair_close(p, i);
        return 0;
    }
    if (from == 1 && atomic_exchange(&p->lose_next_reply, 0)) {
        atomic_fetch_add(&p->swallowed, 1);
        pair_close(p, i);
        return 0;
    }
    if (send_all(p->pair[i][!from], buf, n) != 0) {
        pair_close(p, i);
        return 0;
    }
    return 1;
}

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[1 + 2 * PROXY_PAIRS];
        int who[1 + 2 * PROXY_PAIRS], n = 1;
        fds[0] = (struct pollfd){p->lfd, POLLIN, 0};
        for (int i = 0; i < PROXY_PAIRS; i++)
            for (int side = 0; side < 2 && p->pair[i][0] >= 0; side++) {
                fds[n] = (struct pollfd){p->pair[i][side], POLLIN, 0};
                who[n++] = i * 2 + side;
            }
        if (poll(fds, (nfds_t)n, 50) <= 0)
            continue;
        for (int k = 1; k < n; k++) {
            int i = who[k] / 2, side = who[k] % 2;
            if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) && p->pair[i][side] == fds[k].fd)
                proxy_move(p, i, side);
        }
        if (fds[0].revents & POLLIN)
            proxy_accept(p);
    }
    for (int i = 0; i < PROXY_PAIRS; i++)
        pair_close(p, i);
    return NULL;
}

static void proxy_start(proxy *p, int upstream_port)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < PROXY_PAIRS; i++)
        p->pair[i][0] = p->pair[i][1] = -1;
    p->upstream_port = upstream_port;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(p->lfd >= 0);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 16), 0);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &len), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->lfd);
}

/* A client through a proxy, its scripts already loaded (so each call is
 * one EVALSHA). */
static lc_client *client_via(fixture *f, proxy *p)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", p->port);
    lc_client *c = open_client_on(f, url);
    char what[128];
    lc_error err;
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);
    return c;
}

static void inspect(lc_client *c, const char *name, lc_lock_info *info)
{
    lc_error err;
    lct_assert_rc(lc_inspect(c, name, info, &err), LC_OK, &err);
}

static void test_redis_reply_lost_repeatable_calls_sent_again(void **state)
{
    SKIP_IF_NO_SERVER(state);
    fixture *f = *state;
    proxy p;
    proxy_start(&p, f->port);
    lc_client *c = client_via(f, &p);
    const char *name = "lost-reply";
    lc_acquire_opts o = {.ttl_ms = LEASE_MS};
    lc_lease *l = NULL;
    lc_lock_info info;
    lc_error err;

    /* The acquire ran, its reply was lost: the retry finds the lock held
     * with its own token and is granted the same fence. */
    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);
    assert_int_equal(atomic_load(&p.swallowed), 1);
    assert_int_equal(lc_lease_fence(l), 1);
    assert_int_equal(raw_int(f, "GET %s", "lockcoord:{lost-reply}:fence"), 1);

    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_OK, &err);
    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_checkpoint(c, l, "cp-lost", &err), LC_OK, &err);
    atomic_store(&p.lose_next_reply, 1);
    inspect(c, name, &info);
    assert_true(info.held);
    lc_lock_info_clear(&info);
    assert_int_equal(atomic_load(&p.swallowed), 4);

    /* The release ran (and recorded the run), its reply was lost: the
     * retry sees that this token released the lock, and records nothing
     * more. */
    lc_run_result res = {.has_exit = 1, .exit_code = 3, .error = "exit 3"};
    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_release(c, l, &res, &err), LC_OK, &err);
    assert_int_equal(atomic_load(&p.swallowed), 5);
    inspect(c, name, &info);
    assert_false(info.held);
    assert_int_equal(info.sync_count, 1);
    assert_int_equal(info.last_exit, 3);
    assert_string_equal(info.checkpoint, "cp-lost");
    lc_lock_info_clear(&info);
    /* A second release of the same lease is still refused. */
    lct_assert_rc(lc_release(c, l, &res, &err), LC_ERR_LOST, &err);
    assert_int_equal(f->retries, 5);

    lc_lease_free(l);
    lc_client_close(f->c);
    f->c = NULL;
    proxy_stop(&p);
}

static void test_redis_reply_lost_counting_calls_not_sent_twice(void **state)
{
    SKIP_IF_NO_SERVER(state);
    fixture *f = *state;
    proxy p;
    proxy_start(&p, f->port);
    lc_client *c = client_via(f, &p);
    const char *name = "lost-count";
    lc_lock_info info;
    lc_error err;

    /* A run record ran once; sending it again would count it twice. */
    lc_run_result res = {.has_exit = 1, .exit_code = 5, .error = NULL};
    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_record_run(c, name, &res, &err), LC_ERR_UNAVAILABLE, &err);
    inspect(c, name, &info);
    assert_int_equal(info.sync_count, 1);
    lc_lock_info_clear(&info);

    /* A reset ran once; sent again it would report the lock free. */
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_OK, &err);
    int was_held = -1;
    atomic_store(&p.lose_next_reply, 1);
    lct_assert_rc(lc_force_release(c, name, "lost reply", &was_held, NULL, &err),
                  LC_ERR_UNAVAILABLE, &err);
    assert_int_equal(was_held, -1);
    inspect(c, name, &info);
    assert_false(info.held);
    assert_string_equal(info.last_error, "lost reply");
    lc_lock_info_clear(&info);
    assert_int_equal(atomic_load(&p.swallowed), 2);
    assert_int_equal(f->retries, 0);

    lc_lease_free(l);
    lc_client_close(f->c);
    f->c = NULL;
    proxy_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_idle_timeout_closed_every_call_reconnects,
                                        setup_idle_timeout, teardown),
        cmocka_unit_test_setup_teardown(test_redis_client_kill_every_call_reconnects, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart_same_port_every_call_reconnects,
                                        setup_persistent, teardown),
        cmocka_unit_test_setup_teardown(test_redis_subscription_killed_wait_subscribes_again,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_redis_reply_lost_repeatable_calls_sent_again,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_redis_reply_lost_counting_calls_not_sent_twice,
                                        setup_plain, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
