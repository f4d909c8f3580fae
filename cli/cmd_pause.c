/* cli/cmd_pause.c -- `pause NAME --reason TEXT [--for D] [--stop]` and
 * `resume NAME`: stop a lock (and its job) from being taken anywhere, and
 * lift that. */
#include "cli.h"

#include <string.h>

typedef struct pause_args {
    const char *reason;
    int64_t for_ms;
    int stop;
} pause_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    pause_args *a = ctx;
    switch (opt) {
    case 'r': a->reason = arg; return cli_text_opt(app, "reason", arg);
    case 'f': return cli_duration_opt_min(app, "for", arg, 1, &a->for_ms);
    case 's': a->stop = 1; return 0;
    }
    return EXIT_USAGE;
}

static int report(cli *app, const char *name, const lc_lock_info *info, int stopped, int was_held,
                  const lc_holder *prev)
{
    char t[40];
    const char *until =
        info->paused_until_ms > 0 ? cli_time(info->paused_until_ms, t, sizeof(t)) : NULL;
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "lock", name);
            cJSON *p = cJSON_AddObjectToObject(o, "paused");
            if (p) {
                cJSON_AddStringToObject(p, "by", info->paused_by);
                cJSON_AddStringToObject(p, "reason",
                                        info->paused_reason ? info->paused_reason : "");
                if (until)
                    cJSON_AddStringToObject(p, "until", until);
                else
                    cJSON_AddNullToObject(p, "until");
            }
            cJSON_AddBoolToObject(o, "stopped", stopped && was_held);
            if (stopped && was_held) {
                cJSON *h = cJSON_AddObjectToObject(o, "previous");
                if (h) {
                    cJSON_AddStringToObject(h, "owner", prev->owner);
                    cJSON_AddNumberToObject(h, "fence", (double)prev->fence);
                }
            }
        }
        return cli_print_json(o);
    }
    printf("paused %s%s%s", name, until ? " until " : " until resumed", until ? until : "");
    if (stopped && was_held)
        printf("; stopped the run of %s (fence %llu)", cli_safe(prev->owner),
               (unsigned long long)prev->fence);
    else if (info->held)
        printf("; the run of %s (fence %llu) goes on to its end", cli_safe(info->owner),
               (unsigned long long)info->fence);
    printf("\n");
    return 0;
}

static int run_pause(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'}, {"for", required_argument, NULL, 'f'},
        {"stop", no_argument, NULL, 's'},         {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    pause_args a = {0};
    const char *pos[1];
    int npos, done;
    int rc = cli_parse(app, &cli_cmd_pause, argc, argv, "", opts, on_opt, &a, pos, 1, &npos, NULL,
                       &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if (a.reason == NULL || *a.reason == '\0')
        return cli_usage(app, "--reason TEXT is required: say why, it is shown to everyone");
    if ((rc = cli_check_name(app, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    char what[LC_NAME_MAX + 16];
    snprintf(what, sizeof(what), "pause %s", pos[0]);
    lc_error err;
    if (lc_pause(app->client, pos[0], NULL, a.reason, a.for_ms, &err) != LC_OK)
        return cli_fail(app, what, pos[0], &err);
    /* Paused first, so nobody takes it again between the two steps. */
    int was_held = 0;
    lc_holder prev;
    memset(&prev, 0, sizeof(prev));
    if (a.stop) {
        char reason[LC_ERROR_MAX + 1];
        snprintf(reason, sizeof(reason), "stopped by pause: %s", a.reason);
        if (lc_force_release(app->client, pos[0], reason, &was_held, &prev, &err) != LC_OK)
            return cli_fail(app, what, pos[0], &err);
    }
    lc_lock_info info;
    if (lc_inspect(app->client, pos[0], &info, &err) != LC_OK)
        return cli_fail(app, what, pos[0], &err);
    rc = report(app, pos[0], &info, a.stop, was_held, &prev);
    lc_lock_info_clear(&info);
    return rc;
}

static int run_resume(cli *app, int argc, char **argv)
{
    const char *pos[1];
    int npos, done;
    int rc = cli_parse_plain(app, &cli_cmd_resume, argc, argv, pos, 1, &npos, &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if ((rc = cli_check_name(app, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    int was = 0;
    lc_error err;
    if (lc_resume(app->client, pos[0], &was, &err) != LC_OK) {
        char what[LC_NAME_MAX + 16];
        snprintf(what, sizeof(what), "resume %s", pos[0]);
        return cli_fail(app, what, pos[0], &err);
    }
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "lock", pos[0]);
            cJSON_AddBoolToObject(o, "was_paused", was);
        }
        return cli_print_json(o);
    }
    printf(was ? "resumed %s\n" : "%s was not paused\n", pos[0]);
    return 0;
}

const cli_command cli_cmd_pause = {
    "pause",
    run_pause,
    "pause NAME --reason TEXT [--for D] [--stop]",
    "Pauses lock NAME on every machine: `run`, `acquire` and `sync` jobs are\n"
    "refused (exit 75, \"paused by WHO: TEXT\") until `resume`, or for D when\n"
    "--for is given (measured on the backend's clock). A run in progress goes\n"
    "on to its end; --stop also ends it the way `reset` does.\n",
};

const cli_command cli_cmd_resume = {
    "resume",
    run_resume,
    "resume NAME",
    "Lifts the pause of lock NAME: it can be taken again at once.\n",
};
