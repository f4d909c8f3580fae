/* tests/unit/test_engine.c -- the job engine (lc_sync_*) on the memory
 * backend, in one process: two engines share one store as two nodes would
 * share a server. Exec jobs run real commands; real time, short
 * intervals, and bounds several times what is expected. */
#include "testenv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct node {
    lc_sync *s;
    lc_sync_summary sum;
    lc_status rc;
    pthread_t t;
} node;

static char g_dir[256];

static lc_config *config_with_job(const char *name, int64_t every_ms, const char *cmd)
{
    lc_config *cfg = lct_config("memory");
    cfg->lock.ttl_ms = 2000;
    cfg->lock.renew_every_ms = 500;
    cfg->sync.shutdown_grace_ms = 5000;
    cfg->jobs = calloc(1, sizeof(lc_job));
    assert_non_null(cfg->jobs);
    cfg->n_jobs = 1;
    lc_job *j = &cfg->jobs[0];
    j->name = strdup(name);
    j->lock = strdup(name);
    j->every_ms = every_ms;
    j->ttl_ms = 2000;
    j->renew_every_ms = 500;
    j->kill_grace_ms = 1000;
    j->retry_backoff_ms = 10;
    j->exec = calloc(4, sizeof(char *));
    assert_non_null(j->exec);
    j->exec[0] = strdup("sh");
    j->exec[1] = strdup("-c");
    j->exec[2] = strdup(cmd);
    j->exec_argc = 3;
    return cfg;
}

static void *node_main(void *arg)
{
    node *n = arg;
    lc_error err;
    n->rc = lc_sync_run(n->s, &n->sum, &err);
    return NULL;
}

static void open_node(node *n, const lc_config *cfg, lc_client_opts *co, const lc_sync_opts *so)
{
    lc_error err;
    memset(n, 0, sizeof(*n));
    lct_assert_rc(lc_sync_open(cfg, co, so, &n->s, &err), LC_OK, &err);
}

static void inspect(lc_config *cfg, lc_client_opts *co, const char *name, lc_lock_info *info)
{
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, co, &c, &err), LC_OK, &err);
    lct_assert_rc(lc_inspect(c, name, info, &err), LC_OK, &err);
    lc_client_close(c);
}

/* Two nodes, a job every 100 ms whose command fails if another copy runs
 * (mkdir is atomic): for a second, never two at once, runs every interval
 * (not twice per interval), fences up. */
static void test_engine_two_nodes_never_overlap(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "mkdir %s/running || exit 9; echo $LOCKCOORD_FENCE >> %s/fences; sleep 0.03; "
             "rmdir %s/running",
             g_dir, g_dir, g_dir);
    const char *name = lct_name("engine/two");
    lc_config *cfg = config_with_job(name, 100, cmd);
    lc_memstore *store = lc_memstore_new(NULL);
    lc_client_opts co = {.memstore = store};
    node a, b;
    open_node(&a, cfg, &co, NULL);
    open_node(&b, cfg, &co, NULL);
    assert_int_equal(pthread_create(&a.t, NULL, node_main, &a), 0);
    assert_int_equal(pthread_create(&b.t, NULL, node_main, &b), 0);
    lct_sleep_ms(1000); /* the test's length */
    lc_sync_stop(a.s, 0);
    lc_sync_stop(b.s, 0);
    pthread_join(a.t, NULL);
    pthread_join(b.t, NULL);
    assert_int_equal(a.rc, LC_OK);
    assert_int_equal(b.rc, LC_OK);
    unsigned runs = a.sum.ok + a.sum.failed + b.sum.ok + b.sum.failed;
    assert_int_equal(a.sum.failed + b.sum.failed, 0); /* exit 9: two at once */
    assert_true(runs >= 3);                           /* ~10 expected */
    assert_true(runs <= 11); /* one per 100 ms at most, the first at once */
    assert_true(a.sum.held + b.sum.held > 0);

    lc_lock_info info;
    inspect(cfg, &co, name, &info);
    assert_int_equal(info.sync_count, runs);
    assert_false(info.held);
    assert_int_equal(info.last_outcome, LC_OUTCOME_OK);
    lc_lock_info_clear(&info);
    char path[300];
    snprintf(path, sizeof(path), "%s/fences", g_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long prev = 0, v;
    while (fscanf(f, "%lu", &v) == 1) {
        assert_true(v > prev);
        prev = v;
    }
    fclose(f);
    unlink(path);
    lc_sync_close(a.s);
    lc_sync_close(b.s);
    lc_config_free(cfg);
    lc_memstore_free(store);
}

/* --once: a job that fails with retries makes retries + 1 attempts and
 * counts as failed; a second pass finds it not due. */
static void test_engine_once_retries_then_not_due(void **state)
{
    (void)state;
    const char *name = lct_name("engine/once");
    lc_config *cfg = config_with_job(name, 60000, "exit 3");
    cfg->jobs[0].retries = 2;
    lc_memstore *store = lc_memstore_new(NULL);
    lc_client_opts co = {.memstore = store};
    lc_sync_opts so = {.once = 1};
    node n;
    open_node(&n, cfg, &co, &so);
    node_main(&n);
    assert_int_equal(n.rc, LC_OK);
    assert_int_equal(n.sum.failed, 1);
    lc_sync_close(n.s);
    lc_lock_info info;
    inspect(cfg, &co, name, &info);
    assert_int_equal(info.last_attempts, 3);
    assert_int_equal(info.last_outcome, LC_OUTCOME_FAILED);
    assert_true(info.has_last_exit);
    assert_int_equal(info.last_exit, 3);
    assert_int_equal(info.sync_count, 1);
    lc_lock_info_clear(&info);

    open_node(&n, cfg, &co, &so);
    node_main(&n);
    assert_int_equal(n.sum.not_due, 1);
    assert_int_equal(n.sum.failed + n.sum.ok, 0);
    lc_sync_close(n.s);
    inspect(cfg, &co, name, &info);
    assert_int_equal(info.sync_count, 1); /* the not-due claim recorded nothing */
    lc_lock_info_clear(&info);
    lc_config_free(cfg);
    lc_memstore_free(store);
}

/* --once on a paused job: skipped as paused (an event saying so), nothing
 * run or recorded; after a resume it runs. */
typedef struct skips {
    int paused;
    char message[512];
} skips;

static void on_event(void *ctx, const lc_sync_event *ev)
{
    skips *k = ctx;
    if (ev->kind == LC_SYNC_SKIP && ev->reason && strcmp(ev->reason, "paused") == 0) {
        k->paused++;
        snprintf(k->message, sizeof(k->message), "%s", ev->message ? ev->message : "");
    }
}

static void test_engine_paused_job_skipped_until_resumed(void **state)
{
    (void)state;
    const char *name = lct_name("engine/paused");
    lc_config *cfg = config_with_job(name, 60000, "exit 0");
    lc_memstore *store = lc_memstore_new(NULL);
    lc_client_opts co = {.memstore = store};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &co, &c, &err), LC_OK, &err);
    lct_assert_rc(lc_pause(c, name, "ops", "vendor outage", 0, &err), LC_OK, &err);

    skips k = {0};
    lc_sync_opts so = {.once = 1, .on_event = on_event, .event_ctx = &k};
    node n;
    open_node(&n, cfg, &co, &so);
    node_main(&n);
    assert_int_equal(n.rc, LC_OK);
    assert_int_equal(n.sum.paused, 1);
    assert_int_equal(n.sum.held, 1);
    assert_int_equal(n.sum.ok + n.sum.failed, 0);
    assert_int_equal(k.paused, 1);
    assert_non_null(strstr(k.message, "paused by ops: vendor outage"));
    lc_sync_close(n.s);
    lc_lock_info info;
    inspect(cfg, &co, name, &info);
    assert_int_equal(info.sync_count, 0);
    assert_int_equal(info.health, LC_HEALTH_PAUSED);
    lc_lock_info_clear(&info);

    lct_assert_rc(lc_resume(c, name, NULL, &err), LC_OK, &err);
    open_node(&n, cfg, &co, &so);
    node_main(&n);
    assert_int_equal(n.sum.ok, 1);
    assert_int_equal(n.sum.paused, 0);
    lc_sync_close(n.s);
    lc_client_close(c);
    lc_config_free(cfg);
    lc_memstore_free(store);
}

/* A stop during a run: the command gets the grace, then SIGTERM; the run
 * is recorded interrupted and the lease given back. */
static void test_engine_stop_interrupts_after_grace(void **state)
{
    (void)state;
    const char *name = lct_name("engine/stop");
    lc_config *cfg = config_with_job(name, 60000, "sleep 30");
    lc_memstore *store = lc_memstore_new(NULL);
    lc_client_opts co = {.memstore = store};
    lc_sync_opts so = {.shutdown_grace_ms = 200, .shutdown_grace_set = 1};
    node n;
    open_node(&n, cfg, &co, &so);
    assert_int_equal(pthread_create(&n.t, NULL, node_main, &n), 0);
    lct_sleep_ms(300); /* the command is running by then */
    int64_t t0 = lct_now_ms();
    lc_sync_stop(n.s, 0);
    pthread_join(n.t, NULL);
    int64_t took = lct_now_ms() - t0;
    assert_true(took >= 190);
    assert_true(took < 10000); /* well before the command's 30 s */
    assert_int_equal(n.sum.failed, 1);
    lc_sync_close(n.s);
    lc_lock_info info;
    inspect(cfg, &co, name, &info);
    assert_int_equal(info.last_outcome, LC_OUTCOME_INTERRUPTED);
    assert_false(info.held);
    lc_lock_info_clear(&info);
    lc_config_free(cfg);
    lc_memstore_free(store);
}

/* Scrapes metrics and health from another thread while the engine runs,
 * as the /metrics and /healthz server does (run under TSan). */
typedef struct scraper {
    lc_sync *s;
    atomic_int stop;
    int scrapes;
} scraper;

static void *scrape_main(void *arg)
{
    scraper *sc = arg;
    while (!atomic_load(&sc->stop)) {
        char *text = NULL;
        lc_sync_health_report h;
        lc_error err;
        assert_int_equal(lc_sync_metrics(sc->s, &text, NULL, &err), LC_OK);
        free(text);
        assert_int_equal(lc_sync_check_health(sc->s, &h, &err), LC_OK);
        sc->scrapes++;
        lct_sleep_ms(5);
    }
    return NULL;
}

/* A job every 100 ms whose runs all fail: the metrics count the runs, and
 * after two failures the health check finds it overdue (the rule of
 * status --check) and says since when. */
static void test_engine_failing_job_counted_and_overdue(void **state)
{
    (void)state;
    const char *name = lct_name("engine/overdue");
    lc_config *cfg = config_with_job(name, 100, "exit 3");
    lc_memstore *store = lc_memstore_new(NULL);
    lc_client_opts co = {.memstore = store};
    node n;
    open_node(&n, cfg, &co, NULL);
    lc_sync_health_report h;
    lc_error err;
    lct_assert_rc(lc_sync_check_health(n.s, &h, &err), LC_OK, &err);
    assert_true(h.ok); /* never ran: due, not overdue */
    assert_true(h.backend_ok);
    assert_int_equal(h.jobs, 1);
    assert_string_equal(h.reason, "");

    scraper sc = {.s = n.s};
    pthread_t st;
    assert_int_equal(pthread_create(&n.t, NULL, node_main, &n), 0);
    assert_int_equal(pthread_create(&st, NULL, scrape_main, &sc), 0);
    lct_sleep_ms(1500); /* ~10 runs; the health result is reused for 1 s */
    atomic_store(&sc.stop, 1);
    pthread_join(st, NULL);
    lc_sync_stop(n.s, 0);
    pthread_join(n.t, NULL);
    assert_true(sc.scrapes > 0);
    assert_true(n.sum.failed >= 2);

    char *text = NULL;
    lct_assert_rc(lc_sync_metrics(n.s, &text, NULL, &err), LC_OK, &err);
    char want[512];
    snprintf(want, sizeof(want), "lockcoord_runs_total{job=\"%s\",outcome=\"failed\"} %u\n", name,
             n.sum.failed);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "lockcoord_runs_total{job=\"%s\",outcome=\"ok\"} 0\n", name);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "lockcoord_jobs_running 0\n"));
    free(text);

    lct_sleep_ms(1100); /* past the reuse of the last check */
    lct_assert_rc(lc_sync_check_health(n.s, &h, &err), LC_OK, &err);
    assert_false(h.ok);
    assert_true(h.backend_ok);
    assert_int_equal(h.overdue, 1);
    snprintf(want, sizeof(want), "job %s overdue since 20", name);
    assert_non_null(strstr(h.reason, want));
    assert_true(h.checked_at_ms > 0);
    lc_sync_close(n.s);
    lc_config_free(cfg);
    lc_memstore_free(store);
}

static void test_engine_unknown_job_refused(void **state)
{
    (void)state;
    lc_config *cfg = config_with_job("known", 1000, "true");
    const char *names[] = {"unknown"};
    lc_sync_opts so = {.jobs = names, .n_jobs = 1};
    lc_sync *s = NULL;
    lc_error err;
    assert_int_equal(lc_sync_open(cfg, NULL, &so, &s, &err), LC_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.message, "no job named 'unknown'"));
    lc_config_free(cfg);
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "%s/lc-engine-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_two_nodes_never_overlap),
        cmocka_unit_test(test_engine_once_retries_then_not_due),
        cmocka_unit_test(test_engine_stop_interrupts_after_grace),
        cmocka_unit_test(test_engine_paused_job_skipped_until_resumed),
        cmocka_unit_test(test_engine_unknown_job_refused),
        cmocka_unit_test(test_engine_failing_job_counted_and_overdue),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
