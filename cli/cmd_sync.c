/* cli/cmd_sync.c -- `sync [--once] [--job NAME ...] [--now]
 * [--shutdown-grace D] [--listen ADDR]`: the job engine (lc_sync_*) as a
 * daemon until SIGTERM/SIGINT, or one pass with --once, with /metrics and
 * /healthz served on ADDR (cli/serve.c). This file only parses, turns
 * signals into lc_sync_stop, prints the engine's events and picks the
 * exit code. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JOBS 256

typedef struct sync_args {
    lc_sync_opts opts;
    const char *jobs[MAX_JOBS];
    const char *listen; /* --listen, NULL: sync.listen */
} sync_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    sync_args *a = ctx;
    switch (opt) {
    case 'o': a->opts.once = 1; return 0;
    case 'n': a->opts.now = 1; return 0;
    case 'j':
        if (a->opts.n_jobs == MAX_JOBS)
            return cli_usage(app, "--job: at most %d jobs", MAX_JOBS);
        a->jobs[a->opts.n_jobs++] = arg;
        return cli_check_name(app, arg);
    case 'g':
        a->opts.shutdown_grace_set = 1;
        return cli_duration_opt(app, "shutdown-grace", arg, &a->opts.shutdown_grace_ms);
    case 'l': a->listen = arg; return 0;
    }
    return EXIT_USAGE;
}

/* The engine, for the signal handler. */
static lc_sync *volatile g_engine;

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    if (g_engine)
        lc_sync_stop(g_engine, 0); /* a second signal stops at once */
    errno = saved;
}

static void handle_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char *const kind_names[] = {
    [LC_SYNC_START] = "start", [LC_SYNC_FINISH] = "finish", [LC_SYNC_SKIP] = "skip",
    [LC_SYNC_RETRY] = "retry", [LC_SYNC_LOST] = "lost",     [LC_SYNC_STOPPING] = "stopping",
};

/* One line per event: the message as a log line, or with log.format json
 * an object with every field. */
static void on_event(void *ctx, const lc_sync_event *ev)
{
    static const char *const levels[] = {"error", "warning", "info", "debug"};
    cli *app = ctx;
    if (ev->level > app->log_level)
        return;
    if (!app->cfg->log.json) {
        cli_log(app, ev->level, ev->message);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "level", levels[ev->level]);
    cJSON_AddStringToObject(o, "event", kind_names[ev->kind]);
    if (ev->job[0]) {
        cJSON_AddStringToObject(o, "job", ev->job);
        cJSON_AddStringToObject(o, "lock", ev->lock);
    }
    if (ev->fence)
        cJSON_AddNumberToObject(o, "fence", (double)ev->fence);
    if (ev->slot[0])
        cJSON_AddStringToObject(o, "slot", ev->slot);
    if (ev->kind == LC_SYNC_FINISH && ev->duration_ms >= 0) {
        cJSON_AddStringToObject(o, "outcome", lc_outcome_name(ev->outcome));
        cJSON_AddNumberToObject(o, "duration_ms", (double)ev->duration_ms);
    }
    if (ev->attempt > 0)
        cJSON_AddNumberToObject(o, "attempts", ev->attempt);
    if (ev->kind == LC_SYNC_START)
        cJSON_AddNumberToObject(o, "missed_slots", ev->missed);
    if (ev->delay_ms >= 0)
        cJSON_AddNumberToObject(o, "delay_ms", (double)ev->delay_ms);
    if (ev->reason[0])
        cJSON_AddStringToObject(o, "reason", ev->reason);
    cJSON_AddStringToObject(o, "msg", ev->message);
    char *raw = cJSON_PrintUnformatted(o);
    char *s = raw ? lc_text_utf8(raw) : NULL;
    if (s)
        fprintf(stderr, "%s\n", s);
    free(raw);
    free(s);
    cJSON_Delete(o);
}

/* --once: 1 when a job failed, 69 when the backend could not be asked,
 * 75 when a job was held elsewhere, else 0. */
static int once_exit(const lc_sync_summary *sum)
{
    if (sum->failed)
        return 1;
    if (sum->unavailable)
        return EXIT_UNAVAILABLE;
    if (sum->held)
        return EXIT_CONFLICT;
    return 0;
}

/* LOCKCOORD_TEST_MINUTE_MS: the tests' short cron minute. */
static int test_minute(cli *app, lc_sync_opts *o)
{
    const char *v = getenv("LOCKCOORD_TEST_MINUTE_MS");
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    if (*end != '\0' || errno != 0 || ms < 100 || ms > 60000)
        return cli_usage(app, "LOCKCOORD_TEST_MINUTE_MS: expected 100..60000, got '%s'", v);
    o->test_minute_ms = ms;
    fprintf(stderr, "lockcoord: warning: test mode: a cron minute lasts %lldms\n", ms);
    return 0;
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},         {"now", no_argument, NULL, 'n'},
        {"job", required_argument, NULL, 'j'},    {"shutdown-grace", required_argument, NULL, 'g'},
        {"listen", required_argument, NULL, 'l'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    sync_args a;
    memset(&a, 0, sizeof(a));
    const char *pos[1];
    int npos, done;
    int rc =
        cli_parse(app, &cli_cmd_sync, argc, argv, "", opts, on_opt, &a, pos, 0, &npos, NULL, &done);
    if (rc || done)
        return rc;
    if ((rc = test_minute(app, &a.opts)) != 0 || (rc = cli_load_config(app)) != 0)
        return rc;
    /* The listener first: a busy port stops everything before it starts. */
    const char *listen = a.listen ? a.listen : app->cfg->sync.listen;
    cli_server *srv = NULL;
    if (listen && *listen && (rc = cli_server_bind(app, listen, a.listen != NULL, &srv)) != 0)
        return rc;
    a.opts.jobs = a.opts.n_jobs ? a.jobs : NULL;
    a.opts.on_event = on_event;
    a.opts.event_ctx = app;
    lc_client_opts co;
    memset(&co, 0, sizeof(co));
    co.log = cli_log;
    co.log_ctx = app;
    lc_sync *engine = NULL;
    lc_error err;
    if (lc_sync_open(app->cfg, &co, &a.opts, &engine, &err) != LC_OK) {
        cli_server_stop(srv);
        return cli_fail(app, "sync", NULL, &err);
    }
    g_engine = engine;
    handle_signals();
    if (srv && (rc = cli_server_start(srv, engine)) != 0) {
        g_engine = NULL;
        cli_server_stop(srv);
        lc_sync_close(engine);
        return rc;
    }
    lc_sync_summary sum;
    lc_status st = lc_sync_run(engine, &sum, &err);
    g_engine = NULL;
    /* The server uses the engine: it stops first. */
    cli_server_stop(srv);
    lc_sync_close(engine);
    if (st != LC_OK)
        return cli_fail(app, "sync", NULL, &err);
    return a.opts.once ? once_exit(&sum) : 0;
}

const cli_command cli_cmd_sync = {
    "sync",
    run,
    "sync [--once] [--job NAME ...] [--now] [--shutdown-grace D] [--listen ADDR]",
    "Runs the config's jobs on their schedules, each under its lease, until\n"
    "SIGTERM or SIGINT. Every node may run the same config: a job runs on one\n"
    "node at a time, at most once per slot, judged on the backend's clock.\n"
    "\n"
    "  --once              check every job once, run those that are due, wait\n"
    "                      for them and exit: 0 when all ran or were not due,\n"
    "                      75 when a job was held elsewhere, 1 when a job failed\n"
    "                      (69 when the backend could not be asked)\n"
    "  --job NAME          only this job (repeatable)\n"
    "  --now               run the selected jobs even if not due (still under\n"
    "                      the lease: skipped when held elsewhere)\n"
    "  --shutdown-grace D  on SIGTERM/SIGINT, how long running jobs may finish\n"
    "                      before they are stopped (default sync.shutdown_grace,\n"
    "                      30s); a second signal stops them at once\n"
    "  --listen ADDR       serve /metrics (Prometheus) and /healthz on ADDR,\n"
    "                      HOST:PORT such as 127.0.0.1:9187 or [::1]:9187\n"
    "                      (default sync.listen; none when empty). Bound before\n"
    "                      anything starts: a bad address is exit 64 (78 from\n"
    "                      the config), a port in use exit 71. 0.0.0.0 exposes\n"
    "                      the metrics to the whole network\n"
    "\n"
    "One line per job start, finish, skip, retry and lease loss goes to stderr\n"
    "(log.format json: one JSON object per line).\n",
};
