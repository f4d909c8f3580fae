/* cli/cmd_history.c -- `history NAME [--limit N] [--since D]`: the lock's
 * last runs, newest first. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct history_args {
    long limit;       /* 0: all kept */
    int64_t since_ms; /* 0: any */
} history_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    history_args *a = ctx;
    if (opt == 's')
        return cli_duration_opt_min(app, "since", arg, 1, &a->since_ms);
    if (opt != 'l')
        return EXIT_USAGE;
    char *end = NULL;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < 1 || v > 1000000)
        return cli_usage(app, "--limit: expected a whole number from 1 to 1000000, got '%s'", arg);
    a->limit = v;
    return 0;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[40];
    if (ms > 0)
        cJSON_AddStringToObject(o, key, cli_time(ms, t, sizeof(t)));
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *entry_json(const lc_run_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "fence", (double)e->fence);
    cJSON_AddStringToObject(o, "owner", e->owner);
    add_time(o, "started_at", e->started_at_ms);
    add_time(o, "completed_at", e->completed_at_ms);
    if (e->duration_ms >= 0)
        cJSON_AddNumberToObject(o, "duration_ms", (double)e->duration_ms);
    else
        cJSON_AddNullToObject(o, "duration_ms");
    const char *outcome = lc_outcome_name(e->outcome);
    cJSON_AddStringToObject(o, "outcome", outcome[0] ? outcome : "ok");
    if (e->has_exit)
        cJSON_AddNumberToObject(o, "exit", e->exit_code);
    else
        cJSON_AddNullToObject(o, "exit");
    if (e->http_status > 0)
        cJSON_AddNumberToObject(o, "http_status", e->http_status);
    else
        cJSON_AddNullToObject(o, "http_status");
    if (e->error)
        cJSON_AddStringToObject(o, "error", e->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "attempts", e->attempts);
    return o;
}

static int report(cli *app, const char *name, const lc_run_entry *list, size_t n)
{
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *runs = NULL;
        if (o) {
            cJSON_AddStringToObject(o, "lock", name);
            runs = cJSON_AddArrayToObject(o, "runs");
        }
        for (size_t i = 0; runs && i < n; i++) {
            cJSON *e = entry_json(&list[i]);
            if (e)
                cJSON_AddItemToArray(runs, e);
        }
        return cli_print_json(o);
    }
    if (n == 0) {
        printf("%s: no runs recorded\n", cli_safe(name));
        return 0;
    }
    printf("%-24s  %-10s  %-11s  %-6s  %-24s  %s\n", "STARTED", "DURATION", "OUTCOME", "FENCE",
           "OWNER", "ERROR");
    for (size_t i = 0; i < n; i++) {
        const lc_run_entry *e = &list[i];
        char t[40], d[32], fence[24];
        const char *outcome = lc_outcome_name(e->outcome);
        snprintf(fence, sizeof(fence), "%llu", (unsigned long long)e->fence);
        printf("%-24s  %-10s  %-11s  %-6s  %-24s  %s\n",
               cli_time(e->started_at_ms > 0 ? e->started_at_ms : -1, t, sizeof(t)),
               e->duration_ms >= 0 ? lc_duration_format(e->duration_ms, d, sizeof(d)) : "-",
               outcome[0] ? outcome : "ok", fence, cli_safe(e->owner),
               e->error ? cli_safe(e->error) : "-");
    }
    return 0;
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"since", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    history_args a = {0};
    const char *pos[1];
    int npos, done;
    int rc = cli_parse(app, &cli_cmd_history, argc, argv, "", opts, on_opt, &a, pos, 1, &npos, NULL,
                       &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if ((rc = cli_check_name(app, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    char what[LC_NAME_MAX + 16];
    snprintf(what, sizeof(what), "history %s", pos[0]);
    lc_error err;
    int64_t since = 0;
    if (a.since_ms > 0) { /* measured back from the backend's clock */
        lc_lock_info info;
        if (lc_inspect(app->client, pos[0], &info, &err) != LC_OK)
            return cli_fail(app, what, pos[0], &err);
        since = info.server_now_ms - a.since_ms;
        lc_lock_info_clear(&info);
        if (since < 1)
            since = 1;
    }
    lc_run_entry *list = NULL;
    size_t n = 0;
    if (lc_history(app->client, pos[0], (size_t)a.limit, since, &list, &n, &err) != LC_OK)
        return cli_fail(app, what, pos[0], &err);
    rc = report(app, pos[0], list, n);
    lc_run_entries_free(list, n);
    return rc;
}

const cli_command cli_cmd_history = {
    "history",
    run,
    "history NAME [--limit N] [--since D]",
    "Shows the last runs of lock NAME, newest first: started, duration,\n"
    "outcome, fence, owner and error (JSON adds completed_at, exit,\n"
    "http_status, attempts). Each lock keeps its last lock.history runs\n"
    "(default 100), written in the same atomic step as the release.\n"
    "  --limit N  at most N runs\n"
    "  --since D  only runs completed within the last D (backend's clock)\n",
};
