/* cli/cmd_token.c -- the commands that act on a lease by its token:
 * `renew`, `release` and `checkpoint`. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct token_args {
    const char *token;
    int64_t ttl_ms;
    const char *error;
    const char *value;
    int has_exit;
    int exit_code;
} token_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    token_args *a = ctx;
    char *end;
    switch (opt) {
    case 'k': a->token = arg; return 0;
    case 't': return cli_duration_opt_min(app, "ttl", arg, LC_TTL_MIN_MS, &a->ttl_ms);
    case 'e': a->error = arg; return cli_text_opt(app, "error", arg);
    case 's': a->value = arg; return cli_text_opt(app, "set", arg);
    case 'x': {
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 255)
            return cli_usage(app, "--exit: expected an exit status 0..255, got '%s'", arg);
        a->exit_code = (int)v;
        a->has_exit = 1;
        return 0;
    }
    }
    return EXIT_USAGE;
}

static const struct option token_opts[] = {
    {"token", required_argument, NULL, 'k'}, {"ttl", required_argument, NULL, 't'},
    {"error", required_argument, NULL, 'e'}, {"set", required_argument, NULL, 's'},
    {"exit", required_argument, NULL, 'x'},  {"json", no_argument, NULL, 'J'},
    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
};

/* Parses NAME --token T [...], opens the client and attaches the lease.
 * Returns 0 with *lease set, or an exit code. */
static int prepare(cli *app, const cli_command *cmd, int argc, char **argv, token_args *a,
                   lc_lease **lease, int *done)
{
    const char *pos[1];
    int npos;
    memset(a, 0, sizeof(*a));
    int rc = cli_parse(app, cmd, argc, argv, "", token_opts, on_opt, a, pos, 1, &npos, NULL, done);
    if (rc || *done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if (a->token == NULL)
        return cli_usage(app, "--token is required");
    if ((rc = cli_check_name(app, pos[0])) != 0)
        return rc;
    lc_error err;
    if (lc_lease_attach(pos[0], a->token, lease, &err) != LC_OK)
        return cli_fail(app, app->command, pos[0], &err); /* "invalid", exit 64 */
    if ((rc = cli_open(app)) != 0) {
        lc_lease_free(*lease);
        *lease = NULL;
    }
    return rc;
}

/* Prints {"lock":NAME,"ok":true[,"ttl_ms":N]} or a line of text. */
static int print_ok(cli *app, const lc_lease *l, const char *text, int64_t ttl_ms)
{
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "lock", lc_lease_name(l));
            cJSON_AddBoolToObject(o, "ok", 1);
            if (ttl_ms > 0)
                cJSON_AddNumberToObject(o, "ttl_ms", (double)ttl_ms);
        }
        return cli_print_json(o);
    }
    if (app->verbosity >= 0)
        printf("%s %s\n", text, lc_lease_name(l));
    return 0;
}

static int finish(cli *app, const char *verb, lc_lease *l, lc_status rc, const lc_error *err,
                  const char *text, int64_t ttl_ms)
{
    int code;
    if (rc != LC_OK) {
        char what[LC_NAME_MAX + 32];
        snprintf(what, sizeof(what), "%s %s", verb, lc_lease_name(l));
        code = cli_fail(app, what, lc_lease_name(l), err);
    } else {
        code = print_ok(app, l, text, ttl_ms);
    }
    lc_lease_free(l);
    return code;
}

static int run_renew(cli *app, int argc, char **argv)
{
    token_args a;
    lc_lease *l = NULL;
    int done;
    int rc = prepare(app, &cli_cmd_renew, argc, argv, &a, &l, &done);
    if (rc || done)
        return rc;
    lc_error err;
    lc_status st = lc_renew(app->client, l, a.ttl_ms, &err);
    return finish(app, "renew", l, st, &err, "renewed", lc_lease_ttl_ms(l));
}

static int run_release(cli *app, int argc, char **argv)
{
    token_args a;
    lc_lease *l = NULL;
    int done;
    int rc = prepare(app, &cli_cmd_release, argc, argv, &a, &l, &done);
    if (rc || done)
        return rc;
    lc_run_result res = {.has_exit = a.has_exit, .exit_code = a.exit_code, .error = a.error};
    lc_error err;
    lc_status st = lc_release(app->client, l, &res, &err);
    return finish(app, "release", l, st, &err, "released", 0);
}

static int run_checkpoint(cli *app, int argc, char **argv)
{
    token_args a;
    lc_lease *l = NULL;
    int done;
    int rc = prepare(app, &cli_cmd_checkpoint, argc, argv, &a, &l, &done);
    if (rc || done)
        return rc;
    if (a.value == NULL) {
        lc_lease_free(l);
        return cli_usage(app, "--set VALUE is required");
    }
    lc_error err;
    lc_status st = lc_checkpoint(app->client, l, a.value, &err);
    return finish(app, "checkpoint", l, st, &err, "checkpoint stored for", 0);
}

const cli_command cli_cmd_renew = {
    "renew",
    run_renew,
    "renew NAME --token T [--ttl D]",
    "Extends a lease you hold by --ttl (default: lock.ttl).\n"
    "Exit 76 when the lease is no longer yours (expired, taken over or reset).\n",
};

const cli_command cli_cmd_release = {
    "release",
    run_release,
    "release NAME --token T [--error MSG] [--exit N]",
    "Gives a lease back and records the run: sync count + 1, completed now.\n\n"
    "  --error MSG  record why the run failed (status then shows 'failed')\n"
    "  --exit N     record the run's exit status (0..255)\n\n"
    "Exit 76 when the lease is no longer yours.\n",
};

const cli_command cli_cmd_checkpoint = {
    "checkpoint",
    run_checkpoint,
    "checkpoint NAME --token T --set VALUE",
    "Stores a progress marker for the job under lock NAME, only while you hold\n"
    "its lease. The next holder finds it in LOCKCOORD_CHECKPOINT.\n",
};
