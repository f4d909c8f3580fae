/* tests/integration/test_pg_backend.c -- the Postgres backend against the
 * shared test server (LOCKCOORD_TEST_PG_CONNINFO): expiry and reclaim,
 * fences, quoting, migrations, auto_migrate, table locks, multi-host
 * conninfo, notifications, and many contenders. Tests that would disturb
 * other users of the server use their own schema or table. */
#include "testenv.h"

#include "backends/backend_int.h"
#include "backends/postgres/pg_int.h"
#include "core/client_int.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SKIP_IF_NO_SERVER()                                                                        \
    do {                                                                                           \
        if (lct_backend_missing("postgres"))                                                       \
            skip();                                                                                \
    } while (0)

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(getenv("LOCKCOORD_TEST_PG_CONNINFO"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connection: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

static void admin_run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static long admin_count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    assert_non_null(*dst);
}

static lc_client *open_client(const lc_config *cfg)
{
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_OK, &err);
    return c;
}

/* A config whose schema/table no other process uses. */
static lc_config *private_config(const char *schema, const char *table_prefix)
{
    lc_config *cfg = lct_config("postgres");
    char table[64];
    snprintf(table, sizeof(table), "%s_%ld", table_prefix, (long)getpid());
    set_str(&cfg->postgres.table, table);
    if (schema)
        set_str(&cfg->postgres.schema, schema);
    return cfg;
}

static void drop_table(const lc_config *cfg)
{
    PGconn *a = admin();
    char *qs = PQescapeIdentifier(a, cfg->postgres.schema, strlen(cfg->postgres.schema));
    char *qt = PQescapeIdentifier(a, cfg->postgres.table, strlen(cfg->postgres.table));
    char version[128], sql[512];
    snprintf(version, sizeof(version), "%s_schema", cfg->postgres.table);
    char *qv = PQescapeIdentifier(a, version, strlen(version));
    snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s.%s, %s.%s", qs, qt, qs, qv);
    admin_run(a, sql);
    PQfreemem(qs);
    PQfreemem(qt);
    PQfreemem(qv);
    PQfinish(a);
}

static void drop_schema(const char *schema)
{
    PGconn *a = admin();
    char *qs = PQescapeIdentifier(a, schema, strlen(schema));
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", qs);
    admin_run(a, sql);
    PQfreemem(qs);
    PQfinish(a);
}

/* ------------------------------------------------------------------ */

typedef struct stale_probe {
    lc_client *c;
    const char *name;
} stale_probe;

static int is_stale(void *arg)
{
    stale_probe *p = arg;
    lc_lock_info info;
    lc_error err;
    if (lc_inspect(p->c, p->name, &info, &err) != LC_OK)
        return 0;
    int stale = info.health == LC_HEALTH_STALE;
    lc_lock_info_clear(&info);
    return stale;
}

static void test_pg_expired_lease_is_reclaimed_with_higher_fence(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *a = open_client(cfg), *b = open_client(cfg);
    const char *name = lct_name("pg-expiry");
    lc_acquire_opts o = {.ttl_ms = 300};
    lc_lease *la = NULL, *lb = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(a, name, &o, &la, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(b, name, &o, &lb, &err), LC_ERR_CONFLICT, &err);
    assert_int_equal(err.holder.fence, lc_lease_fence(la));

    stale_probe p = {b, name};
    assert_true(lct_wait_for(is_stale, &p, 2000)); /* status = 'running', lease expired */
    lct_assert_rc(lc_renew(a, la, 300, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_acquire(b, name, &o, &lb, &err), LC_OK, &err);
    assert_int_equal(lc_lease_fence(lb), lc_lease_fence(la) + 1);
    lct_assert_rc(lc_release(a, la, NULL, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_release(b, lb, NULL, &err), LC_OK, &err);
    lc_lease_free(la);
    lc_lease_free(lb);
    lc_client_close(a);
    lc_client_close(b);
    lc_config_free(cfg);
}

static void test_pg_fences_over_1000_acquisitions_strictly_increase(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *c = open_client(cfg);
    const char *name = lct_name("pg-fences");
    lc_acquire_opts o = {.ttl_ms = 5000};
    uint64_t last = 0;
    lc_error err;
    for (int i = 0; i < 1000; i++) {
        lc_lease *l = NULL;
        lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);
        assert_true(lc_lease_fence(l) > last);
        last = lc_lease_fence(l);
        lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
        lc_lease_free(l);
    }
    assert_int_equal(last, 1000);

    /* A reset keeps the counter: the next holder still gets a higher fence. */
    lc_lease *held = NULL, *next = NULL;
    int was_held = 0;
    lc_holder prev;
    lct_assert_rc(lc_acquire(c, name, &o, &held, &err), LC_OK, &err);
    lct_assert_rc(lc_force_release(c, name, "test reset", &was_held, &prev, &err), LC_OK, &err);
    assert_true(was_held);
    assert_int_equal(prev.fence, lc_lease_fence(held));
    lct_assert_rc(lc_acquire(c, name, &o, &next, &err), LC_OK, &err);
    assert_true(lc_lease_fence(next) > lc_lease_fence(held));
    lct_assert_rc(lc_release(c, held, NULL, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_release(c, next, NULL, &err), LC_OK, &err);
    lc_lease_free(held);
    lc_lease_free(next);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* A client keeping `cap` history entries, and an admin connection to
 * count a lock's entries in the run history table (the default table's). */
typedef struct hist_fixture {
    lc_config *cfg;
    lc_client *c;
    PGconn *admin;
    const char *name;
} hist_fixture;

static void hist_open(hist_fixture *h, int cap, const char *what)
{
    h->cfg = lct_config("postgres");
    h->cfg->lock.history = cap;
    h->c = open_client(h->cfg);
    h->admin = admin();
    h->name = lct_name(what);
}

static void hist_close(hist_fixture *h)
{
    PQfinish(h->admin);
    lc_client_close(h->c);
    lc_config_free(h->cfg);
}

static long history_rows(hist_fixture *h)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM public.lockcoord_runs WHERE name = '%s'",
             h->name);
    return admin_count(h->admin, sql);
}

/* A lease taken and released; *fence is its fence. */
static void cycle(hist_fixture *h, uint64_t *fence)
{
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(h->c, h->name, &o, &l, &err), LC_OK, &err);
    *fence = lc_lease_fence(l);
    lct_assert_rc(lc_release(h->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* history shows `n` entries, newest first, each fence one below the one
 * before from `newest`, all of them `outcome`. */
static void assert_history(hist_fixture *h, size_t n, uint64_t newest, lc_outcome outcome)
{
    lc_run_entry *list = NULL;
    size_t got = 0;
    lc_error err;
    lct_assert_rc(lc_history(h->c, h->name, 0, 0, &list, &got, &err), LC_OK, &err);
    assert_int_equal(got, n);
    assert_int_equal(list[0].fence, newest);
    for (size_t i = 0; i < got; i++) {
        assert_int_equal(list[i].fence, newest - i);
        assert_int_equal(list[i].outcome, outcome);
    }
    lc_run_entries_free(list, got);
}

/* The history is trimmed in bulk (after every lock.history / 8th release,
 * the entries that fell off since), and history shows the newest
 * lock.history entries whatever the table holds. */
static void test_pg_history_trimmed_in_bulk_shows_configured_entries(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    hist_fixture h;
    hist_open(&h, 16, "pg-histcap");
    long most = 0;
    uint64_t last = 0;
    for (int i = 0; i < 39; i++) {
        cycle(&h, &last);
        long rows = history_rows(&h);
        most = rows > most ? rows : most;
        assert_true(rows >= (i + 1 < 16 ? i + 1 : 16));
    }
    assert_int_equal(most, 17); /* trimmed after every 2nd release, back to 16 */
    assert_int_equal(history_rows(&h), 17);
    assert_history(&h, 16, last, LC_OUTCOME_OK);
    hist_close(&h);
}

/* A lock whose holders all die is never released, and its history grows
 * only by the abandoned entries that the next acquires add: each of those
 * acquires trims it. */
static void test_pg_history_of_dying_holders_stays_at_cap(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    hist_fixture h;
    hist_open(&h, 2, "pg-histdying");
    lc_acquire_opts o = {.ttl_ms = 100, .wait_ms = -1};
    lc_error err;
    for (int i = 0; i < 6; i++) {
        lc_lease *l = NULL;
        lct_assert_rc(lc_acquire(h.c, h.name, &o, &l, &err), LC_OK, &err);
        lc_lease_free(l); /* never released: its holder "died" */
        stale_probe p = {h.c, h.name};
        if (i < 5)
            assert_true(lct_wait_for(is_stale, &p, 5000));
    }
    /* Fences 1 to 5 abandoned, 6 held. */
    assert_int_equal(history_rows(&h), 2);
    assert_history(&h, 2, 5, LC_OUTCOME_ABANDONED);
    hist_close(&h);
}

/* Entries left over the cap (abandoned runs, a lowered cap: here written
 * by hand) are swept by one trim in 64; until then history does not show
 * them. */
static void test_pg_history_left_over_cap_swept(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    hist_fixture h;
    hist_open(&h, 4, "pg-histsweep");
    uint64_t last = 0;
    cycle(&h, &last);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO public.lockcoord_runs (name, outcome, attempts)"
             " SELECT '%s', 'ok', 1 FROM generate_series(1, 20)",
             h.name);
    admin_run(h.admin, sql);
    for (int i = 1; i < 63; i++)
        cycle(&h, &last);
    assert_true(history_rows(&h) > 4); /* sync_count 63: each trim took one */
    assert_history(&h, 4, last, LC_OUTCOME_OK);
    cycle(&h, &last); /* sync_count 64 */
    assert_int_equal(history_rows(&h), 4);
    hist_close(&h);
}

/* The lock statements run their generic plan: the server is not left to
 * plan them anew on every call (it did, once the history table was big). */
static void test_pg_session_runs_generic_plans(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *c = open_client(cfg);
    pg_state *s = c->state;
    PGresult *r = NULL;
    lc_error err;
    lct_assert_rc(lc__pg_exec(s, "show", "SHOW plan_cache_mode", 0, NULL, &r, &err), LC_OK, &err);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "force_generic_plan");
    PQclear(r);
    lc_client_close(c);
    lc_config_free(cfg);
}

static void test_pg_quoted_schema_and_table_work(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    char schema[64];
    snprintf(schema, sizeof(schema), "Lc Schema-%ld", (long)getpid());
    lc_config *cfg = private_config(schema, "We\"ird Table");
    drop_schema(schema);
    lc_client *c = open_client(cfg);
    const char *name = lct_name("pg-quoted");
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_OK, &err); /* auto_migrate */
    lct_assert_rc(lc_checkpoint(c, l, "cursor-1", &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lock_info *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_list(c, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, name);
    assert_string_equal(list[0].checkpoint, "cursor-1");
    lc_lock_list_free(list, n);

    PGconn *a = admin();
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_tables WHERE schemaname = 'Lc Schema-%ld'"
             " AND tablename = 'We\"ird Table_%ld'",
             (long)getpid(), (long)getpid());
    assert_int_equal(admin_count(a, sql), 1);
    PQfinish(a);
    lc_lease_free(l);
    lc_client_close(c);
    drop_schema(schema);
    lc_config_free(cfg);
}

typedef struct migrator {
    lc_client *c;
    pthread_barrier_t *go;
    lc_status rc;
    lc_error err;
} migrator;

static void *migrate_main(void *arg)
{
    migrator *m = arg;
    char what[128];
    pthread_barrier_wait(m->go);
    m->rc = lc_migrate(m->c, what, sizeof(what), &m->err);
    return NULL;
}

static void test_pg_two_migrates_at_once_both_succeed(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    char schema[64];
    snprintf(schema, sizeof(schema), "lc_migrate_%ld", (long)getpid());
    drop_schema(schema);
    lc_config *cfg = private_config(schema, "locks");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    migrator m[2] = {{open_client(cfg), &go, LC_OK, {0}}, {open_client(cfg), &go, LC_OK, {0}}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, migrate_main, &m[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        lct_assert_rc(m[i].rc, LC_OK, &m[i].err);

    PGconn *a = admin();
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE schemaname = '%s'", schema);
    /* the locks, the version table, the runs, the line of waiters */
    assert_int_equal(admin_count(a, sql), 4);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.locks_%ld_schema WHERE version = 5", schema,
             (long)getpid());
    assert_int_equal(admin_count(a, sql), 1);
    PQfinish(a);
    for (int i = 0; i < 2; i++)
        lc_client_close(m[i].c);
    pthread_barrier_destroy(&go);
    drop_schema(schema);
    lc_config_free(cfg);
}

static void test_pg_missing_table_without_auto_migrate_says_run_migrate(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = private_config(NULL, "lc_nomigrate");
    cfg->postgres.auto_migrate = 0;
    drop_table(cfg);
    lc_client *c = open_client(cfg);
    lc_lease *l = NULL;
    lc_error err;
    const char *name = lct_name("pg-nomigrate");
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_ERR_CONFIG, &err);
    assert_non_null(strstr(err.message, "does not exist"));
    assert_non_null(strstr(err.message, "lockcoord migrate"));

    char what[128];
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);
    assert_non_null(strstr(what, "at version 5 (created)"));
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);
    assert_non_null(strstr(what, "up to date"));
    lct_assert_rc(lc_acquire(c, name, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_client_close(c);
    drop_table(cfg);
    lc_config_free(cfg);
}

/* A table made by the first schema version (the DDL as it was), with a
 * lock in it: a client without auto_migrate says to migrate, `migrate`
 * adds the run record's columns and keeps the rows, and claims work. */
static void test_pg_migrate_upgrades_a_version_1_table(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = private_config(NULL, "lc_v1");
    cfg->postgres.auto_migrate = 0;
    drop_table(cfg);
    PGconn *a = admin();
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE %s (name text PRIMARY KEY,"
             " status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle','running')),"
             " token text, owner text, fence bigint NOT NULL DEFAULT 0,"
             " lease_expires_at timestamptz, last_sync_started_at timestamptz,"
             " last_sync_completed_at timestamptz, last_error text, last_exit integer,"
             " sync_count bigint NOT NULL DEFAULT 0, checkpoint text);"
             "CREATE TABLE %s_schema (id boolean PRIMARY KEY DEFAULT true CHECK (id),"
             " version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now());"
             "INSERT INTO %s_schema (version) VALUES (1);"
             "INSERT INTO %s (name, fence, sync_count, checkpoint, last_sync_started_at)"
             " VALUES ('old-lock', 7, 3, 'cursor-9', now() - interval '1 hour')",
             cfg->postgres.table, cfg->postgres.table, cfg->postgres.table, cfg->postgres.table);
    admin_run(a, sql);

    lc_client *c = open_client(cfg);
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(c, "old-lock", &info, &err), LC_ERR_CONFIG, &err);
    assert_non_null(strstr(err.message, "schema version 1"));
    assert_non_null(strstr(err.message, "lockcoord migrate"));

    char what[128];
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);
    assert_non_null(strstr(what, "at version 5 (upgraded)"));
    snprintf(sql, sizeof(sql), "SELECT version FROM %s_schema", cfg->postgres.table);
    assert_int_equal(admin_count(a, sql), 5);
    /* Version 5's line of waiters is there (and empty). */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s_waiters", cfg->postgres.table);
    assert_int_equal(admin_count(a, sql), 0);

    lct_assert_rc(lc_inspect(c, "old-lock", &info, &err), LC_OK, &err);
    assert_int_equal(info.fence, 7);
    assert_int_equal(info.sync_count, 3);
    assert_string_equal(info.checkpoint, "cursor-9");
    assert_int_equal(info.consecutive_failures, 0);
    assert_int_equal(info.last_outcome, LC_OUTCOME_DEFAULT);
    int64_t before = info.last_started_at_ms;
    lc_lock_info_clear(&info);

    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1, .claim = 1};
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(c, "old-lock", &o, &l, &err), LC_OK, &err);
    assert_int_equal(lc_lease_fence(l), 8);
    assert_int_equal(lc_lease_last_started_at_ms(l), before);
    assert_true(lc_lease_server_now_ms(l) - before >= 3600 * 1000 - 1000);
    lct_assert_rc(lc_start_run(c, l, NULL, &err), LC_OK, &err);
    lc_run_result ok = {.attempts = 1};
    lct_assert_rc(lc_release(c, l, &ok, &err), LC_OK, &err);
    lc_lease_free(l);
    lct_assert_rc(lc_inspect(c, "old-lock", &info, &err), LC_OK, &err);
    assert_int_equal(info.sync_count, 4);
    assert_int_equal(info.last_outcome, LC_OUTCOME_OK);
    assert_true(info.last_success_at_ms > before);
    assert_false(info.paused);
    lc_lock_info_clear(&info);

    /* Version 3's pause columns are there. */
    lct_assert_rc(lc_pause(c, "old-lock", NULL, "after the upgrade", 0, &err), LC_OK, &err);
    assert_int_equal(lc_acquire(c, "old-lock", &o, &l, &err), LC_ERR_PAUSED);
    lct_assert_rc(lc_inspect(c, "old-lock", &info, &err), LC_OK, &err);
    assert_true(info.paused);
    assert_string_equal(info.paused_reason, "after the upgrade");
    lc_lock_info_clear(&info);

    lc_client_close(c);
    PQfinish(a);
    drop_table(cfg);
    lc_config_free(cfg);
}

static void test_pg_table_locked_by_another_session_times_out(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = private_config(NULL, "lc_locked");
    cfg->postgres.statement_timeout_ms = 500;
    lc_client *c = open_client(cfg);
    char what[128];
    lc_error err;
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);

    PGconn *a = admin();
    char sql[256];
    snprintf(sql, sizeof(sql), "BEGIN; LOCK TABLE public.%s IN ACCESS EXCLUSIVE MODE",
             cfg->postgres.table);
    admin_run(a, sql);
    lc_lease *l = NULL;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_acquire(c, lct_name("pg-locked"), NULL, &l, &err), LC_ERR_TIMEOUT, &err);
    int64_t took = lct_now_ms() - t0;
    assert_non_null(strstr(err.message, "SQLSTATE 57014"));
    assert_true(took >= 450 && took < 5000); /* the statement timeout, not the lock, ended it */
    admin_run(a, "ROLLBACK");
    PQfinish(a);

    lct_assert_rc(lc_acquire(c, lct_name("pg-locked"), NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_client_close(c);
    drop_table(cfg);
    lc_config_free(cfg);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_pg_multi_host_with_dead_first_host_connects(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    PGconn *a = admin();
    char conninfo[512];
    const char *pw = PQpass(a);
    snprintf(conninfo, sizeof(conninfo),
             "host=127.0.0.1,%s port=%d,%s dbname=%s user=%s%s%s "
             "target_session_attrs=read-write",
             PQhost(a), free_port(), PQport(a), PQdb(a), PQuser(a), pw && *pw ? " password=" : "",
             pw && *pw ? pw : "");
    PQfinish(a);
    lc_config *cfg = lct_config("postgres");
    set_str(&cfg->postgres.conninfo, conninfo);
    lc_client *c = open_client(cfg);
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, lct_name("pg-multihost"), NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_client_close(c);
    lc_config_free(cfg);
}

static void test_pg_release_wakes_a_watcher_of_that_name_only(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *holder = open_client(cfg), *waiter = open_client(cfg);
    char name[LC_NAME_MAX + 1], other[LC_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", lct_name("pg-notify"));
    snprintf(other, sizeof(other), "%s", lct_name("pg-notify-other"));
    lc_lease *l = NULL, *lo = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(holder, name, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(holder, other, NULL, &lo, &err), LC_OK, &err);
    const lc_backend_ops *ops = waiter->ops;
    lct_assert_rc(ops->watch(waiter->state, name, &err), LC_OK, &err);

    int notified = 1;
    lct_assert_rc(lc_release(holder, lo, NULL, &err), LC_OK, &err);
    lct_assert_rc(ops->wait(waiter->state, 300, &notified, &err), LC_OK, &err);
    assert_false(notified); /* another name's release does not count */

    lct_assert_rc(lc_release(holder, l, NULL, &err), LC_OK, &err);
    int64_t t0 = lct_now_ms();
    lct_assert_rc(ops->wait(waiter->state, 5000, &notified, &err), LC_OK, &err);
    assert_true(notified);
    assert_true(lct_now_ms() - t0 < 4000); /* woken, not timed out at 5 s */

    /* force_release notifies too. */
    lc_lease_free(l);
    lct_assert_rc(lc_acquire(holder, name, NULL, &l, &err), LC_OK, &err);
    int was_held;
    lc_holder prev;
    lct_assert_rc(lc_force_release(holder, name, "test", &was_held, &prev, &err), LC_OK, &err);
    lct_assert_rc(ops->wait(waiter->state, 5000, &notified, &err), LC_OK, &err);
    assert_true(notified);
    ops->unwatch(waiter->state);
    lc_lease_free(l);
    lc_lease_free(lo);
    lc_client_close(holder);
    lc_client_close(waiter);
    lc_config_free(cfg);
}

static void test_pg_renew_many_reports_each_lease(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *c = open_client(cfg);
    char n1[LC_NAME_MAX + 1];
    snprintf(n1, sizeof(n1), "%s", lct_name("pg-many"));
    lc_lease *l1 = NULL, *l2 = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, n1, NULL, &l1, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(c, lct_name("pg-many"), NULL, &l2, &err), LC_OK, &err);
    lc_renew_item items[3] = {
        {lc_lease_name(l1), lc_lease_token(l1), 5000, LC_ERR_INTERNAL},
        {lc_lease_name(l2), lc_lease_token(l2), 5000, LC_ERR_INTERNAL},
        {lc_lease_name(l1), "0123456789abcdef0123456789abcdef", 5000, LC_ERR_INTERNAL},
    };
    lct_assert_rc(c->ops->renew_many(c->state, items, 3, &err), LC_OK, &err);
    assert_int_equal(items[0].status, LC_OK);
    assert_int_equal(items[1].status, LC_OK);
    assert_int_equal(items[2].status, LC_ERR_LOST);
    lc_release(c, l1, NULL, &err);
    lc_release(c, l2, NULL, &err);
    lc_lease_free(l1);
    lc_lease_free(l2);
    lc_client_close(c);
    lc_config_free(cfg);
}

/* renew_many under the plan the session keeps (generic), where the
 * statistics say no lease is live (the table analyzed while every lock was
 * idle: 1,000 idle locks; autovacuum off so they stay so) while N are
 * held: the arrays are read
 * once, not once per live row (a WHERE on liveness had the planner scan
 * the table first and rescan the arrays for each row: O(N^2), 160 ms a
 * tick for 1,000 leases). Checked in the plan's own counts (EXPLAIN
 * ANALYZE: the Function Scan's loops), and every lease is renewed. */
#define STALE_N 60
static void test_pg_renew_many_reads_its_arrays_once_despite_stale_statistics(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    char schema[64];
    snprintf(schema, sizeof(schema), "lc_stale_%ld", (long)getpid());
    lc_config *cfg = private_config(schema, "stale");
    drop_schema(schema);
    lc_client *c = open_client(cfg);
    lc_lease *l[STALE_N];
    char names[STALE_N][LC_NAME_MAX + 1];
    lc_error err;
    lct_assert_rc(lc_migrate(c, NULL, 0, &err), LC_OK, &err);
    PGconn *a = admin();
    char *qs = PQescapeIdentifier(a, schema, strlen(schema));
    char *qt = PQescapeIdentifier(a, cfg->postgres.table, strlen(cfg->postgres.table));
    char sql[512];
    snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s SET (autovacuum_enabled = false)", qs, qt);
    admin_run(a, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.%s (name) SELECT 'idle-' || i FROM generate_series(1, 1000) i", qs,
             qt);
    admin_run(a, sql);
    for (int i = 0; i < STALE_N; i++)
        snprintf(names[i], sizeof(names[i]), "stale-%d", i);
    snprintf(sql, sizeof(sql), "ANALYZE %s.%s", qs, qt);
    admin_run(a, sql);
    PQfreemem(qs);
    PQfreemem(qt);
    PQfinish(a);

    char an[STALE_N * 16 + 3] = "{", at[STALE_N * 40 + 3] = "{", ttl[STALE_N * 8 + 3] = "{";
    lc_renew_item items[STALE_N];
    for (int i = 0; i < STALE_N; i++) {
        lct_assert_rc(lc_acquire(c, names[i], NULL, &l[i], &err), LC_OK, &err);
        const char *sep = i ? "," : "";
        snprintf(an + strlen(an), sizeof(an) - strlen(an), "%s%s", sep, names[i]);
        snprintf(at + strlen(at), sizeof(at) - strlen(at), "%s%s", sep, lc_lease_token(l[i]));
        snprintf(ttl + strlen(ttl), sizeof(ttl) - strlen(ttl), "%s5000", sep);
        items[i] =
            (lc_renew_item){lc_lease_name(l[i]), lc_lease_token(l[i]), 5000, LC_ERR_INTERNAL};
    }
    snprintf(an + strlen(an), sizeof(an) - strlen(an), "}");
    snprintf(at + strlen(at), sizeof(at) - strlen(at), "}");
    snprintf(ttl + strlen(ttl), sizeof(ttl) - strlen(ttl), "}");
    lct_assert_rc(c->ops->renew_many(c->state, items, STALE_N, &err), LC_OK, &err);
    for (int i = 0; i < STALE_N; i++)
        assert_int_equal(items[i].status, LC_OK);

    /* The same statement, prepared on the client's own session (its
     * generic plan, as the client's own copy runs), explained as it runs. */
    pg_state *s = c->state;
    PGresult *r = NULL;
    size_t size = strlen(s->sql.renew_many) + 64;
    char *prep = malloc(size);
    assert_non_null(prep);
    snprintf(prep, size, "PREPARE t_stale AS %s", s->sql.renew_many);
    lct_assert_rc(lc__pg_exec(s, "prepare", prep, 0, NULL, &r, &err), LC_OK, &err);
    PQclear(r);
    free(prep);
    size = strlen(an) + strlen(at) + strlen(ttl) + 128;
    char *explain = malloc(size);
    assert_non_null(explain);
    snprintf(explain, size, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE t_stale('%s', '%s', '%s')", an,
             at, ttl);
    lct_assert_rc(lc__pg_exec(s, "explain", explain, 0, NULL, &r, &err), LC_OK, &err);
    free(explain);
    const char *plan = PQgetvalue(r, 0, 0);
    const char *fs = strstr(plan, "\"Function Scan\"");
    assert_non_null(fs);
    const char *loops = strstr(fs, "\"Actual Loops\": ");
    assert_non_null(loops);
    if (atoi(loops + strlen("\"Actual Loops\": ")) != 1)
        fail_msg("the arrays were read more than once:\n%s", plan);
    PQclear(r);

    for (int i = 0; i < STALE_N; i++) {
        lc_release(c, l[i], NULL, &err);
        lc_lease_free(l[i]);
    }
    lc_client_close(c);
    lc_config_free(cfg);
    drop_schema(schema);
}

/* 16 threads, each with its own client, acquire one lock in a loop. */
typedef struct contest {
    const lc_config *cfg;
    const char *name;
    int64_t until_ms;
    atomic_int holders;
    atomic_int overlaps;
    atomic_int out_of_order;
    atomic_int errors;
    atomic_int wins;
    atomic_ullong last_fence;
} contest;

static void hold_once(contest *k, lc_lease *l)
{
    if (atomic_fetch_add(&k->holders, 1) != 0)
        atomic_fetch_add(&k->overlaps, 1);
    if (lc_lease_fence(l) <= atomic_load(&k->last_fence))
        atomic_fetch_add(&k->out_of_order, 1);
    atomic_store(&k->last_fence, lc_lease_fence(l));
    atomic_fetch_add(&k->wins, 1);
    atomic_fetch_sub(&k->holders, 1);
}

static void *contender(void *arg)
{
    contest *k = arg;
    lc_client *c = NULL;
    lc_error err;
    if (lc_client_open(k->cfg, NULL, &c, &err) != LC_OK) {
        atomic_fetch_add(&k->errors, 1);
        return NULL;
    }
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1};
    while (lct_now_ms() < k->until_ms) {
        lc_lease *l = NULL;
        lc_status rc = lc_acquire(c, k->name, &o, &l, &err);
        if (rc == LC_OK) {
            hold_once(k, l);
            if (lc_release(c, l, NULL, &err) != LC_OK)
                atomic_fetch_add(&k->errors, 1);
            lc_lease_free(l);
        } else if (rc != LC_ERR_CONFLICT) {
            atomic_fetch_add(&k->errors, 1);
        }
    }
    lc_client_close(c);
    return NULL;
}

static void test_pg_16_threads_never_hold_at_once(void **st)
{
    (void)st;
    SKIP_IF_NO_SERVER();
    lc_config *cfg = lct_config("postgres");
    lc_client *c = open_client(cfg); /* creates the table before the race */
    char what[128];
    lc_error err;
    lct_assert_rc(lc_migrate(c, what, sizeof(what), &err), LC_OK, &err);
    contest k = {.cfg = cfg, .name = lct_name("pg-contest"), .until_ms = lct_now_ms() + 2000};
    pthread_t t[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(pthread_create(&t[i], NULL, contender, &k), 0);
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&k.overlaps), 0);
    assert_int_equal(atomic_load(&k.out_of_order), 0);
    assert_int_equal(atomic_load(&k.errors), 0);
    assert_true(atomic_load(&k.wins) > 16);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(c, k.name, &info, &err), LC_OK, &err);
    assert_int_equal(info.fence, (uint64_t)atomic_load(&k.wins));
    assert_int_equal(info.sync_count, (uint64_t)atomic_load(&k.wins));
    lc_lock_info_clear(&info);
    lc_client_close(c);
    lc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_expired_lease_is_reclaimed_with_higher_fence),
        cmocka_unit_test(test_pg_fences_over_1000_acquisitions_strictly_increase),
        cmocka_unit_test(test_pg_history_trimmed_in_bulk_shows_configured_entries),
        cmocka_unit_test(test_pg_history_of_dying_holders_stays_at_cap),
        cmocka_unit_test(test_pg_history_left_over_cap_swept),
        cmocka_unit_test(test_pg_session_runs_generic_plans),
        cmocka_unit_test(test_pg_quoted_schema_and_table_work),
        cmocka_unit_test(test_pg_two_migrates_at_once_both_succeed),
        cmocka_unit_test(test_pg_missing_table_without_auto_migrate_says_run_migrate),
        cmocka_unit_test(test_pg_migrate_upgrades_a_version_1_table),
        cmocka_unit_test(test_pg_table_locked_by_another_session_times_out),
        cmocka_unit_test(test_pg_multi_host_with_dead_first_host_connects),
        cmocka_unit_test(test_pg_release_wakes_a_watcher_of_that_name_only),
        cmocka_unit_test(test_pg_renew_many_reports_each_lease),
        cmocka_unit_test(test_pg_renew_many_reads_its_arrays_once_despite_stale_statistics),
        cmocka_unit_test(test_pg_16_threads_never_hold_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
