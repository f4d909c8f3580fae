/* tests/integration/test_redis_faults.c -- the Redis backend against
 * private redis-server processes this test starts and always stops:
 * passwords, ACL users, unix sockets, a killed and a frozen server,
 * replicas, the persistence warning. Short timeouts keep it fast. */
#include "testenv.h"

#include "backends/redis/redis_int.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_TIMEOUT_MS 300
#define MAX_SERVERS    2

typedef struct server {
    pid_t pid;
    int port;
    char dir[64];
    char sock[128];
    const char *extra[12];
} server;

typedef struct fixture {
    server srv[MAX_SERVERS];
    lc_config *cfg;
    lc_client *c;
} fixture;

/* A port below the kernel's ephemeral range (outgoing connections never
 * take it) that is free right now. */
static int free_port(void)
{
    for (;;) {
        int port = 20000 + (int)(lct_now_ms() * 7919 % 12000) + rand() % 500;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_true(fd >= 0);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
}

static void exec_server(const server *s)
{
    char port[16], log[128];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    const char *argv[32] = {"redis-server",
                            "--port",
                            port,
                            "--bind",
                            "127.0.0.1",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            s->dir,
                            "--unixsocket",
                            s->sock,
                            "--unixsocketperm",
                            "700",
                            "--logfile",
                            log};
    int n = 17;
    for (int i = 0; s->extra[i] && n < 31; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execvp("redis-server", (char *const *)argv);
    _exit(127);
}

/* Any reply (even NOAUTH) means the server is up; an exited server
 * (port taken) ends the wait too. */
static int answers(void *arg)
{
    server *s = arg;
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
        s->pid = 0;
        return 1;
    }
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Returns 1 when the server answers, 0 when it exited at once. */
static int server_try_run(server *s)
{
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0)
        exec_server(s);
    if (!lct_wait_for(answers, s, 5000))
        fail_msg("redis-server on port %d did not start", s->port);
    return s->pid != 0;
}

static void server_run(server *s)
{
    if (!server_try_run(s))
        fail_msg("redis-server on port %d exited at start (see %s/redis.log)", s->port, s->dir);
}

/* Starts a private server; extra args are borrowed (string literals). */
static server *server_start(fixture *f, int i, const char *const *extra)
{
    server *s = &f->srv[i];
    char dir[] = "/tmp/lcredis-XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", dir);
    for (int j = 0; extra && extra[j] && j < 11; j++)
        s->extra[j] = extra[j];
    for (int tries = 0; tries < 5; tries++) {
        s->port = free_port();
        if (server_try_run(s))
            return s;
    }
    fail_msg("redis-server did not start (see %s/redis.log)", s->dir);
    return s;
}

static void server_kill(server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static void server_remove(server *s)
{
    server_kill(s);
    if (s->dir[0] == '\0')
        return;
    char path[192];
    const char *files[] = {"redis.log", "redis.sock", "appendonly.aof", "dump.rdb"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "rm -rf '%s'", s->dir); /* appendonlydir/ of Redis 7 */
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
    s->dir[0] = '\0';
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    for (int i = 0; i < MAX_SERVERS; i++)
        server_remove(&f->srv[i]);
    free(f);
    return 0;
}

static lc_config *config_for(const char *url)
{
    lc_config *cfg = lc_config_new("redis");
    assert_non_null(cfg);
    cfg->redis.url = strdup(url);
    cfg->redis.connect_timeout_ms = CMD_TIMEOUT_MS;
    cfg->redis.command_timeout_ms = CMD_TIMEOUT_MS;
    return cfg;
}

static void tcp_url(const server *s, const char *userinfo, char *buf, size_t size)
{
    snprintf(buf, size, "redis://%s127.0.0.1:%d", userinfo ? userinfo : "", s->port);
}

/* Opens f->c on url (replacing any earlier client). */
static lc_client *open_client(fixture *f, const char *url, const lc_client_opts *opts)
{
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    f->c = NULL;
    f->cfg = config_for(url);
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, opts, &f->c, &err), LC_OK, &err);
    return f->c;
}

/* Opening a client on url fails (the client connects at open): returns
 * the status, *err says why, and nothing is left open. */
static lc_status open_fails(fixture *f, const char *url, lc_error *err)
{
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    f->c = NULL;
    f->cfg = config_for(url);
    lc_client *c = NULL;
    lc_status rc = lc_client_open(f->cfg, NULL, &c, err);
    if (rc == LC_OK)
        f->c = c;
    assert_null(c);
    return rc;
}

static lc_status try_acquire(lc_client *c, const char *name, lc_lease **out, lc_error *err);

/* A client on a new private server, holding a lease on `name`. */
static lc_lease *hold_on_new_server(fixture *f, const char *name, server **s)
{
    *s = server_start(f, 0, NULL);
    char url[256];
    tcp_url(*s, NULL, url, sizeof(url));
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(try_acquire(open_client(f, url, NULL), name, &l, &err), LC_OK, &err);
    return l;
}

static lc_status try_acquire(lc_client *c, const char *name, lc_lease **out, lc_error *err)
{
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1};
    *out = NULL;
    return lc_acquire(c, name, &o, out, err);
}

static void acquire_release_ok(lc_client *c)
{
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(try_acquire(c, lct_name("ok"), &l, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void assert_auth_failed(fixture *f, const char *url, const char *secret)
{
    lc_error err;
    lct_assert_rc(open_fails(f, url, &err), LC_ERR_UNAVAILABLE, &err);
    assert_non_null(strstr(err.message, "authentication failed"));
    if (secret)
        assert_null(strstr(err.message, secret));
}

/* ---- credentials and sockets -------------------------------------------- */

static void test_redis_requirepass_right_works_wrong_fails_unnamed(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--requirepass", "s3cret-pw", NULL};
    server *s = server_start(f, 0, extra);
    char url[256];
    tcp_url(s, ":s3cret-pw@", url, sizeof(url));
    acquire_release_ok(open_client(f, url, NULL));
    tcp_url(s, ":wrong-pw@", url, sizeof(url));
    assert_auth_failed(f, url, "wrong-pw");
    tcp_url(s, NULL, url, sizeof(url));
    assert_auth_failed(f, url, NULL);
}

static void test_redis_acl_user_right_works_wrong_fails_unnamed(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--user", "app", "on", ">app-pw-1", "~*", "&*", "+@all", NULL};
    server *s = server_start(f, 0, extra);
    char url[256];
    tcp_url(s, "app:app-pw-1@", url, sizeof(url));
    acquire_release_ok(open_client(f, url, NULL));
    tcp_url(s, "app:nope-pw-2@", url, sizeof(url));
    assert_auth_failed(f, url, "nope-pw-2");
    tcp_url(s, "ghost:app-pw-1@", url, sizeof(url));
    assert_auth_failed(f, url, "app-pw-1");
}

static void test_redis_unix_socket_server_with_db_works(void **state)
{
    fixture *f = *state;
    server *s = server_start(f, 0, NULL);
    char url[256];
    snprintf(url, sizeof(url), "unix://%s?db=2", s->sock);
    lc_client *c = open_client(f, url, NULL);
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(try_acquire(c, "sock-lock", &l, &err), LC_OK, &err);
    struct timeval tv = {1, 0};
    redisContext *raw = redisConnectUnixWithTimeout(s->sock, tv);
    assert_true(raw && !raw->err);
    redisReply *r = redisCommand(raw, "SELECT 2");
    freeReplyObject(r);
    r = redisCommand(raw, "EXISTS lockcoord:{sock-lock}:lock");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(raw);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* ---- a server that dies or freezes -------------------------------------- */

static void test_redis_connection_refused_is_unavailable_naming_server(void **state)
{
    fixture *f = *state;
    char url[64];
    int port = free_port();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    lc_error err;
    lct_assert_rc(open_fails(f, url, &err), LC_ERR_UNAVAILABLE, &err);
    char want[64];
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d: connect: ", port);
    assert_non_null(strstr(err.message, want));
}

static void test_redis_server_killed_unavailable_in_time_then_back_works(void **state)
{
    fixture *f = *state;
    server *s = NULL;
    lc_lease *l = hold_on_new_server(f, "killed", &s);
    lc_client *c = f->c;
    lc_error err;
    server_kill(s);
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_ERR_UNAVAILABLE, &err);
    assert_true(lct_now_ms() - t0 < CMD_TIMEOUT_MS + 1500);
    t0 = lct_now_ms();
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_ERR_UNAVAILABLE, &err);
    assert_true(lct_now_ms() - t0 < CMD_TIMEOUT_MS + 1500);
    server_run(s); /* same port, empty data */
    lc_lease_free(l);
    lct_assert_rc(try_acquire(c, "killed", &l, &err), LC_OK, &err);
    assert_int_equal(lc_lease_fence(l), 1);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_redis_frozen_server_returns_within_command_timeout(void **state)
{
    fixture *f = *state;
    server *s = NULL;
    lc_lease *l = hold_on_new_server(f, "frozen", &s);
    lc_client *c = f->c;
    lc_error err;
    kill(s->pid, SIGSTOP);
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_ERR_UNAVAILABLE, &err);
    int64_t took = lct_now_ms() - t0;
    assert_true(took >= CMD_TIMEOUT_MS - 20 && took < CMD_TIMEOUT_MS + 1500);
    assert_non_null(strstr(err.message, "timed out after 300ms"));
    /* A fresh connection to a frozen server times out too (the kernel
     * accepts it, the server never answers). */
    t0 = lct_now_ms();
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_ERR_UNAVAILABLE, &err);
    assert_true(lct_now_ms() - t0 < CMD_TIMEOUT_MS + 1500);
    kill(s->pid, SIGCONT);
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* ---- persistence warning ------------------------------------------------ */

typedef struct log_capture {
    int warnings;
    char last[512];
} log_capture;

static void capture(void *ctx, lc_log_level level, const char *msg)
{
    log_capture *lc = ctx;
    if (level == LC_LOG_WARN) {
        lc->warnings++;
        snprintf(lc->last, sizeof(lc->last), "%s", msg);
    }
}

static void test_redis_persistence_off_warns_once(void **state)
{
    fixture *f = *state;
    server *s = server_start(f, 0, NULL);
    char url[256];
    tcp_url(s, NULL, url, sizeof(url));
    log_capture cap = {0, ""};
    lc_client_opts opts = {NULL, capture, &cap, NULL};
    lc_client *c = open_client(f, url, &opts);
    acquire_release_ok(c);
    acquire_release_ok(c);
    assert_int_equal(cap.warnings, 1);
    assert_non_null(strstr(cap.last, "appendonly is no"));
    assert_non_null(strstr(cap.last, "appendfsync always"));
}

static void test_redis_persistence_on_does_not_warn(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};
    server *s = server_start(f, 0, extra);
    char url[256];
    tcp_url(s, NULL, url, sizeof(url));
    log_capture cap = {0, ""};
    lc_client_opts opts = {NULL, capture, &cap, NULL};
    acquire_release_ok(open_client(f, url, &opts));
    assert_int_equal(cap.warnings, 0);
}

/* ---- replicas ----------------------------------------------------------- */

typedef struct link_check {
    const server *master;
    const server *replica;
} link_check;

/* INFO replication of the server behind sock, or NULL; the caller frees. */
static redisReply *info_replication(const server *s)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);
    redisReply *r = NULL;
    if (c && !c->err)
        r = redisCommand(c, "INFO replication");
    if (c)
        redisFree(c);
    if (r && r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* The integer after "field:" in an INFO reply, or -1. */
static long long info_field(const redisReply *r, const char *field)
{
    char key[64];
    snprintf(key, sizeof(key), "\n%s:", field);
    const char *p = strstr(r->str, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* The replica is linked, the primary counts it online, and the replica
 * has applied everything the primary has written: only then can a WAIT
 * right after a write be expected to succeed. */
static int replica_caught_up(void *arg)
{
    const link_check *lk = arg;
    redisReply *m = info_replication(lk->master);
    redisReply *r = info_replication(lk->replica);
    int ok = m && r && strstr(m->str, "connected_slaves:1") && strstr(m->str, "state=online") &&
             strstr(r->str, "master_link_status:up") &&
             info_field(r, "slave_repl_offset") >= info_field(m, "master_repl_offset");
    if (m)
        freeReplyObject(m);
    if (r)
        freeReplyObject(r);
    return ok;
}

static long long master_exists(const server *m, const char *key)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(m->sock, tv);
    assert_true(c && !c->err);
    redisReply *r = redisCommand(c, "EXISTS %s", key);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void test_redis_min_replicas_ack_with_replica_ok_without_unavailable(void **state)
{
    fixture *f = *state;
    server *m = server_start(f, 0, NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", m->port);
    const char *extra[] = {"--replicaof", "127.0.0.1", port, NULL};
    server *r = server_start(f, 1, extra);
    link_check lk = {m, r};
    assert_true(lct_wait_for(replica_caught_up, &lk, 20000));
    char url[256];
    tcp_url(m, NULL, url, sizeof(url));
    open_client(f, url, NULL);
    f->cfg->redis.min_replicas_ack = 1; /* read at open: reopen with it */
    /* WAIT gets half the command timeout: 2 s, room for a loaded machine
     * (a caught-up replica on loopback acknowledges in well under 1 ms). */
    f->cfg->redis.command_timeout_ms = 4000;
    lc_client_close(f->c);
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, NULL, &f->c, &err), LC_OK, &err);
    lc_client *c = f->c;
    lc_lease *l = NULL;
    lct_assert_rc(try_acquire(c, "replicated", &l, &err), LC_OK, &err);
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    server_kill(r);
    lct_assert_rc(try_acquire(c, "unreplicated", &l, &err), LC_ERR_UNAVAILABLE, &err);
    assert_non_null(strstr(err.message, "only 0 of 1 replicas acknowledged"));
    assert_int_equal(master_exists(m, "lockcoord:{unreplicated}:lock"), 0);
}

int main(void)
{
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_requirepass_right_works_wrong_fails_unnamed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_acl_user_right_works_wrong_fails_unnamed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_unix_socket_server_with_db_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_connection_refused_is_unavailable_naming_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_server_killed_unavailable_in_time_then_back_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_frozen_server_returns_within_command_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_persistence_off_warns_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_persistence_on_does_not_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_min_replicas_ack_with_replica_ok_without_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
