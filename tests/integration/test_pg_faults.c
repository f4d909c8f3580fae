/* tests/integration/test_pg_faults.c -- the Postgres backend when its
 * server misbehaves: a terminated session, a restart, a frozen server.
 * These start one private PostgreSQL (scripts/servers.sh) for the whole
 * binary and always stop it, never touching the shared test server. */
#include "testenv.h"

#include "backends/postgres/pg_int.h"
#include "core/client_int.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* statement_timeout in these tests; the client gives up 1 s after it. */
#define STMT_MS            500
#define CLIENT_DEADLINE_MS (STMT_MS + 1000)
/* connect_timeout is whole seconds, and libpq 15 waits at least 2. */
#define CONNECT_MS 2000
#define SLACK_MS   2000 /* a loaded machine; the bounds prove "bounded", not "fast" */

static char dir[64];
static char conninfo[256];
static pid_t frozen[512];
static size_t n_frozen;

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

/* Runs `servers.sh CMD DIR`; the last line of its output into out. */
static int servers(const char *cmd, char *out, size_t size)
{
    char line[1024], sh[1200];
    snprintf(sh, sizeof(sh), "bash '%s' %s '%s' 2>&1", servers_sh(), cmd, dir);
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

static void thaw(void)
{
    while (n_frozen > 0)
        kill(frozen[--n_frozen], SIGCONT);
}

static int server_up(void **state)
{
    (void)state;
    if (lct_backend_missing("postgres"))
        return 0; /* each test skips */
    snprintf(dir, sizeof(dir), "/tmp/lct-pgfault-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    if (servers("pg-start", conninfo, sizeof(conninfo)) != 0) {
        fprintf(stderr, "pg-start failed: %s\n", conninfo);
        return -1;
    }
    return 0;
}

static int server_down(void **state)
{
    (void)state;
    char out[512], rm[128];
    thaw();
    if (dir[0] == '\0')
        return 0;
    int rc = servers("pg-stop", out, sizeof(out));
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    if (system(rm) != 0)
        rc = -1;
    return rc == 0 ? 0 : -1;
}

static lc_config *fault_config(const char *extra)
{
    lc_config *cfg = lct_config("postgres");
    char ci[512];
    snprintf(ci, sizeof(ci), "%s%s", conninfo, extra ? extra : "");
    free(cfg->postgres.conninfo);
    cfg->postgres.conninfo = strdup(ci);
    assert_non_null(cfg->postgres.conninfo);
    cfg->postgres.statement_timeout_ms = STMT_MS;
    cfg->postgres.connect_timeout_ms = CONNECT_MS;
    return cfg;
}

static lc_client *open_client(const lc_config *cfg)
{
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_OK, &err);
    return c;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static long admin_count(const char *sql)
{
    PGconn *a = PQconnectdb(conninfo);
    if (PQstatus(a) != CONNECTION_OK)
        fail_msg("admin connection: %s", PQerrorMessage(a));
    PQsetNoticeProcessor(a, quiet, NULL);
    PGresult *r = PQexec(a, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(a));
    long n = PQntuples(r) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    PQfinish(a);
    return n;
}

#define SKIP_IF_NO_SERVER()                                                                        \
    do {                                                                                           \
        if (lct_backend_missing("postgres"))                                                       \
            skip();                                                                                \
    } while (0)

/* ------------------------------------------------------------------ */

static char app_name[64];

static int session_gone(void *arg)
{
    (void)arg;
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app_name);
    return admin_count(sql) == 0;
}

static void test_pg_terminated_session_next_call_reconnects(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    char extra[96];
    snprintf(app_name, sizeof(app_name), "lct-term-%ld", (long)getpid());
    snprintf(extra, sizeof(extra), " application_name=%s", app_name);
    lc_config *cfg = fault_config(extra);
    lc_client *c = open_client(cfg);
    const char *name = lct_name("pg-term");
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(c, name, &info, &err), LC_OK, &err);
    lc_lock_info_clear(&info);

    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             app_name);
    assert_int_equal(admin_count(sql), 1);
    assert_true(lct_wait_for(session_gone, NULL, 5000));

    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* ---- calls after the server ended the session ---------------------------- */

typedef struct counted {
    int reconnects; /* "reconnecting" messages logged by the client */
    int retries;    /* "sending it again" messages */
} counted;

static void count_log(void *ctx, lc_log_level level, const char *msg)
{
    counted *n = ctx;
    (void)level;
    if (strstr(msg, "connection closed by the server, reconnecting"))
        n->reconnects++;
    if (strstr(msg, "sending it again"))
        n->retries++;
}

/* A config whose sessions carry an application_name unique to the test. */
static lc_config *named_config(const char *tag)
{
    char extra[96];
    snprintf(app_name, sizeof(app_name), "lct-%s-%ld", tag, (long)getpid());
    snprintf(extra, sizeof(extra), " application_name=%s", app_name);
    return fault_config(extra);
}

/* Ends the test's session with pg_terminate_backend and waits until it is
 * gone (its goodbye and EOF are then in the client's socket). */
static void terminate_session(void)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             app_name);
    assert_int_equal(admin_count(sql), 1);
    assert_true(lct_wait_for(session_gone, NULL, 5000));
}

/* The goodbye (a FATAL) comes before the EOF: one look at the socket that
 * finds it must be enough to replace the session. */
static void test_pg_terminated_idle_session_noticed_by_one_check(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = named_config("bye");
    lc_client *c = open_client(cfg);
    pg_state *s = c->state;
    lc_error err;
    lct_assert_rc(lc__pg_connect(s, &err), LC_OK, &err);
    int old = PQbackendPID(s->conn);
    terminate_session();
    lct_assert_rc(lc__pg_connect(s, &err), LC_OK, &err);
    assert_int_not_equal(PQbackendPID(s->conn), old);
    lc_client_close(c);
    lc_config_free(cfg);
}

static void test_pg_terminated_idle_session_every_call_reconnects(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = named_config("idle");
    counted n = {0, 0};
    lc_client_opts opts = {NULL, count_log, &n, NULL};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &opts, &c, &err), LC_OK, &err);
    const char *name = lct_name("pg-idle");
    lc_acquire_opts o = {.ttl_ms = 60000};
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);

    terminate_session();
    lct_assert_rc(lc_renew(c, l, 0, &err), LC_OK, &err);
    terminate_session();
    lct_assert_rc(lc_checkpoint(c, l, "cp-1", &err), LC_OK, &err);
    terminate_session();
    lc_renew_item item = {name, lc_lease_token(l), 60000, LC_ERR_INTERNAL};
    lct_assert_rc(c->ops->renew_many(c->state, &item, 1, &err), LC_OK, &err);
    assert_int_equal(item.status, LC_OK);
    terminate_session();
    lc_lock_info *list = NULL;
    size_t count = 0;
    lct_assert_rc(lc_list(c, &list, &count, &err), LC_OK, &err);
    lc_lock_list_free(list, count);
    terminate_session();
    lc_run_result failed = {.has_exit = 1, .exit_code = 3, .error = "exit 3"};
    lct_assert_rc(lc_release(c, l, &failed, &err), LC_OK, &err);
    terminate_session();
    lc_run_result ok = {.has_exit = 1, .exit_code = 0, .error = NULL};
    lct_assert_rc(lc_record_run(c, name, &ok, &err), LC_OK, &err);
    terminate_session();
    lc_lock_info info;
    lct_assert_rc(lc_inspect(c, name, &info, &err), LC_OK, &err);
    assert_false(info.held);
    assert_int_equal(info.sync_count, 2);
    assert_string_equal(info.checkpoint, "cp-1");
    lc_lock_info_clear(&info);
    /* Each call found its session ended before sending: none ran twice. */
    assert_int_equal(n.reconnects, 7);
    assert_int_equal(n.retries, 0);
    lc_lease_free(l);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* A call blocked behind a row lock, run on a thread. */
typedef struct blocked {
    pthread_t t;
    lc_client *c;
    lc_lease *l;
    int record; /* 1: lc_record_run, 0: lc_renew */
    lc_status rc;
    lc_error err;
} blocked;

static void *blocked_main(void *arg)
{
    blocked *b = arg;
    lc_run_result res = {.has_exit = 1, .exit_code = 7, .error = NULL};
    b->rc = b->record ? lc_record_run(b->c, lc_lease_name(b->l), &res, &b->err)
                      : lc_renew(b->c, b->l, 0, &b->err);
    return NULL;
}

static long waiting_pid;

/* A session of the test waits for a row lock (and is not waiting_pid). */
static int session_waits(void *arg)
{
    char sql[300];
    (void)arg;
    snprintf(sql, sizeof(sql),
             "SELECT COALESCE(max(pid), 0) FROM pg_stat_activity WHERE application_name = '%s'"
             " AND wait_event_type = 'Lock' AND pid <> %ld",
             app_name, waiting_pid);
    long pid = admin_count(sql);
    if (pid > 0)
        waiting_pid = pid;
    return pid > 0;
}

/* Locks the lock's row in an open transaction of an admin session. */
static PGconn *lock_row(const char *name)
{
    PGconn *a = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(a), CONNECTION_OK);
    PQsetNoticeProcessor(a, quiet, NULL);
    const char *p[] = {name};
    PGresult *r = PQexec(a, "BEGIN");
    PQclear(r);
    r = PQexecParams(a, "SELECT 1 FROM public.lockcoord_locks WHERE name = $1 FOR UPDATE", 1, NULL,
                     p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    return a;
}

static void unlock_row(PGconn *a)
{
    PGresult *r = PQexec(a, "COMMIT");
    PQclear(r);
    PQfinish(a);
}

/* Starts the call, waits until it blocks on the row, ends its session;
 * returns whether it blocked again on a new session (it was sent again)
 * before its row was let go. */
static int terminated_while_blocked(blocked *b, const char *name)
{
    PGconn *a = lock_row(name);
    waiting_pid = 0;
    assert_int_equal(pthread_create(&b->t, NULL, blocked_main, b), 0);
    int blocked_once = lct_wait_for(session_waits, NULL, 10000);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(%ld))", waiting_pid);
    int terminated = blocked_once && admin_count(sql) == 1;
    /* Sent again: a new session of the test waits for the row. A call not
     * sent again has returned by now: the wait runs out. */
    int again = terminated && lct_wait_for(session_waits, NULL, 3000);
    unlock_row(a);
    pthread_join(b->t, NULL);
    assert_true(blocked_once);
    assert_true(terminated);
    return again;
}

static void test_pg_terminated_mid_statement_renew_sent_again_record_not(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = named_config("mid");
    cfg->postgres.statement_timeout_ms = 30000; /* the row lock is let go by the test */
    counted n = {0, 0};
    lc_client_opts opts = {NULL, count_log, &n, NULL};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &opts, &c, &err), LC_OK, &err);
    const char *name = lct_name("pg-mid");
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_OK, &err);

    /* A renewal sets the same expiry when run twice: sent again. */
    blocked renew = {.c = c, .l = l, .record = 0};
    assert_true(terminated_while_blocked(&renew, name));
    lct_assert_rc(renew.rc, LC_OK, &renew.err);
    assert_int_equal(n.retries, 1);

    /* A run record counts once per run: not sent again when its session
     * ended after it was sent, whether or not it had run. */
    blocked record = {.c = c, .l = l, .record = 1};
    assert_false(terminated_while_blocked(&record, name));
    lct_assert_rc(record.rc, LC_ERR_UNAVAILABLE, &record.err);
    assert_int_equal(n.retries, 1);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(c, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.sync_count, 0); /* it was stopped before it ran */
    assert_true(info.held);
    lc_lock_info_clear(&info);

    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* A client holding a 60 s lease, for the faults to happen under. */
typedef struct holding {
    lc_config *cfg;
    lc_client *c;
    lc_lease *l;
    char name[LC_NAME_MAX + 1];
} holding;

static void hold(holding *h, const char *prefix)
{
    lc_acquire_opts o = {.ttl_ms = 60000};
    lc_error err;
    h->cfg = fault_config(NULL);
    h->c = open_client(h->cfg);
    h->l = NULL;
    snprintf(h->name, sizeof(h->name), "%s", lct_name(prefix));
    lct_assert_rc(lc_acquire(h->c, h->name, &o, &h->l, &err), LC_OK, &err);
}

/* The lease survived the fault: renew and release both work. */
static void release_held(holding *h)
{
    lc_error err;
    lct_assert_rc(lc_renew(h->c, h->l, 0, &err), LC_OK, &err);
    lct_assert_rc(lc_release(h->c, h->l, NULL, &err), LC_OK, &err);
    lc_lease_free(h->l);
    lc_client_close(h->c);
    lc_config_free(h->cfg);
}

static void test_pg_restart_between_calls_next_call_works(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    holding h;
    lc_error err;
    char out[512];
    hold(&h, "pg-restart");

    assert_int_equal(servers("pg-stop", out, sizeof(out)), 0);
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_renew(h.c, h.l, 0, &err), LC_ERR_UNAVAILABLE, &err); /* down: refused */
    assert_true(lct_now_ms() - t0 < CONNECT_MS + SLACK_MS);

    assert_int_equal(servers("pg-start", out, sizeof(out)), 0);
    assert_string_equal(out, conninfo); /* the same port again */
    release_held(&h);
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *close_paren = strrchr(buf, ')'); /* comm may contain spaces */
    long ppid = -1;
    if (close_paren == NULL || sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* SIGSTOP to the postmaster first (so it forks no more), then to every
 * backend it has. */
static void freeze_server(void)
{
    char pid_text[32];
    assert_int_equal(servers("pg-pid", pid_text, sizeof(pid_text)), 0);
    pid_t pm = (pid_t)strtol(pid_text, NULL, 10);
    assert_true(pm > 1);
    assert_int_equal(kill(pm, SIGSTOP), 0);
    frozen[n_frozen++] = pm;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n_frozen < sizeof(frozen) / sizeof(frozen[0])) {
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        if (pid > 0 && parent_of(pid) == pm && kill(pid, SIGSTOP) == 0)
            frozen[n_frozen++] = pid;
    }
    closedir(d);
}

static void test_pg_frozen_server_fails_unavailable_by_client_deadline(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    holding h;
    lc_lock_info info;
    lc_error err;
    hold(&h, "pg-frozen");

    freeze_server();
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_renew(h.c, h.l, 0, &err), LC_ERR_UNAVAILABLE, &err);
    int64_t took = lct_now_ms() - t0;
    assert_non_null(strstr(err.message, "no answer within"));
    assert_true(took >= CLIENT_DEADLINE_MS - 50 && took < CLIENT_DEADLINE_MS + SLACK_MS);

    /* Reconnecting to a frozen server is bounded by connect_timeout. */
    t0 = lct_now_ms();
    lct_assert_rc(lc_inspect(h.c, h.name, &info, &err), LC_ERR_UNAVAILABLE, &err);
    assert_true(lct_now_ms() - t0 < CONNECT_MS + SLACK_MS);

    thaw();
    release_held(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_terminated_session_next_call_reconnects),
        cmocka_unit_test(test_pg_terminated_idle_session_noticed_by_one_check),
        cmocka_unit_test(test_pg_terminated_idle_session_every_call_reconnects),
        cmocka_unit_test(test_pg_terminated_mid_statement_renew_sent_again_record_not),
        cmocka_unit_test(test_pg_restart_between_calls_next_call_works),
        cmocka_unit_test(test_pg_frozen_server_fails_unavailable_by_client_deadline),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
