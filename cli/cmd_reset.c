/* cli/cmd_reset.c -- `reset NAME --reason TEXT`: the operator's manual fix. */
#include "cli.h"

#include <string.h>

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    if (opt != 'r')
        return EXIT_USAGE;
    *(const char **)ctx = arg;
    return cli_text_opt(app, "reason", arg);
}

static int report(cli *app, const char *name, int was_held, const lc_holder *prev)
{
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "lock", name);
            cJSON_AddBoolToObject(o, "was_held", was_held);
            cJSON *p = cJSON_AddObjectToObject(o, "previous");
            if (p && prev->owner[0]) {
                cJSON_AddStringToObject(p, "owner", prev->owner);
                cJSON_AddNumberToObject(p, "fence", (double)prev->fence);
            } else if (p) {
                cJSON_AddNullToObject(p, "owner");
                cJSON_AddNumberToObject(p, "fence", (double)prev->fence);
            }
        }
        return cli_print_json(o);
    }
    if (was_held)
        printf("reset %s: was held by %s (fence %llu); the reason is recorded as last error\n",
               name, cli_safe(prev->owner), (unsigned long long)prev->fence);
    else
        printf("reset %s: was not held; the reason is recorded as last error\n", name);
    return 0;
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    const char *pos[1];
    int npos, done;
    int rc = cli_parse(app, &cli_cmd_reset, argc, argv, "", opts, on_opt, &reason, pos, 1, &npos,
                       NULL, &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if (reason == NULL || *reason == '\0')
        return cli_usage(app, "--reason TEXT is required: say why, it is recorded");
    if ((rc = cli_check_name(app, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    int was_held = 0;
    lc_holder prev;
    memset(&prev, 0, sizeof(prev));
    lc_error err;
    if (lc_force_release(app->client, pos[0], reason, &was_held, &prev, &err) != LC_OK) {
        char what[LC_NAME_MAX + 16];
        snprintf(what, sizeof(what), "reset %s", pos[0]);
        return cli_fail(app, what, pos[0], &err);
    }
    return report(app, pos[0], was_held, &prev);
}

const cli_command cli_cmd_reset = {
    "reset",
    run,
    "reset NAME --reason TEXT",
    "Force-releases lock NAME: the safe form of the manual SQL reset. Says who\n"
    "held it, records TEXT as the last error, keeps the fence counter (the next\n"
    "holder gets a higher fence); the evicted holder's `run` stops its command\n"
    "at its next renewal and exits 76.\n",
};
