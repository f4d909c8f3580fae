/* cli/common.c -- config and client, errors, exit codes, JSON, options. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_code(lc_status code)
{
    switch (code) {
    case LC_OK: return 0;
    case LC_ERR_CONFLICT: return EXIT_CONFLICT;
    case LC_ERR_LOST: return EXIT_LOST;
    case LC_ERR_TIMEOUT:
    case LC_ERR_UNAVAILABLE: return EXIT_UNAVAILABLE;
    case LC_ERR_INVALID: return EXIT_USAGE;
    case LC_ERR_CONFIG: return EXIT_CONFIG;
    case LC_ERR_NOMEM:
    case LC_ERR_CANCELLED: /* only run cancels, and it picks 128+N itself */
    case LC_ERR_INTERNAL: return EXIT_INTERNAL;
    }
    return EXIT_INTERNAL;
}

static const char *json_code(lc_status code)
{
    switch (code) {
    case LC_ERR_NOMEM: return "internal";
    case LC_OK: return "internal";
    default: return lc_status_name(code);
    }
}

void cli_log(void *ctx, lc_log_level level, const char *msg)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    cli *app = ctx;
    if (level > app->log_level)
        return;
    if (app->cfg && app->cfg->log.json) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            return;
        cJSON_AddStringToObject(o, "level", names[level]);
        cJSON_AddStringToObject(o, "msg", msg);
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            fprintf(stderr, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    fprintf(stderr, "lockcoord: %s: %s\n", names[level], msg);
}

int cli_print_json(cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (s == NULL) {
        fprintf(stderr, "lockcoord: out of memory\n");
        return EXIT_INTERNAL;
    }
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    return 0;
}

const char *cli_time(int64_t unix_ms, char *buf, size_t size)
{
    if (unix_ms < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    return lc_time_format(unix_ms, buf, size);
}

void cli_json_holder(cJSON *obj, const char *key, const lc_holder *h)
{
    char t[40];
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "owner", h->owner);
    cJSON_AddNumberToObject(o, "fence", (double)h->fence);
    if (h->acquired_at_ms > 0)
        cJSON_AddStringToObject(o, "acquired_at", cli_time(h->acquired_at_ms, t, sizeof(t)));
    else
        cJSON_AddNullToObject(o, "acquired_at");
    if (h->expires_in_ms >= 0)
        cJSON_AddNumberToObject(o, "expires_in_ms", (double)h->expires_in_ms);
    else
        cJSON_AddNullToObject(o, "expires_in_ms");
}

static void print_conflict_text(cli *app, const char *what, const lc_error *err)
{
    char t[40], d[32];
    const lc_holder *h = &err->holder;
    fprintf(stderr, "lockcoord: %s: held by %s (fence %llu, since %s, expires in %s)\n", what,
            h->owner[0] ? h->owner : "unknown", (unsigned long long)h->fence,
            cli_time(h->acquired_at_ms > 0 ? h->acquired_at_ms : -1, t, sizeof(t)),
            h->expires_in_ms >= 0 ? lc_duration_format(h->expires_in_ms, d, sizeof(d)) : "?");
    (void)app;
}

int cli_fail(cli *app, const char *what, const char *lock, const lc_error *err)
{
    int code = cli_exit_code(err->code);
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            return code;
        cJSON_AddStringToObject(o, "error", json_code(err->code));
        char msg[sizeof(err->message) + 128];
        snprintf(msg, sizeof(msg), "%s: %s", what, err->message);
        cJSON_AddStringToObject(o, "message", msg);
        if (lock)
            cJSON_AddStringToObject(o, "lock", lock);
        if (err->code == LC_ERR_CONFLICT)
            cli_json_holder(o, "holder", &err->holder);
        cli_print_json(o);
        return code;
    }
    if (err->code == LC_ERR_CONFLICT)
        print_conflict_text(app, what, err);
    else
        fprintf(stderr, "lockcoord: %s: %s\n", what, err->message);
    return code;
}

int cli_usage(cli *app, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "error", "usage");
            cJSON_AddStringToObject(o, "message", msg);
            cli_print_json(o);
        }
    } else {
        int top = strcmp(app->command, "lockcoord") == 0;
        fprintf(stderr, "lockcoord: %s%s%s (see 'lockcoord %s%s--help')\n", top ? "" : app->command,
                top ? "" : ": ", msg, top ? "" : app->command, top ? "" : " ");
    }
    return EXIT_USAGE;
}

int cli_duration_opt(cli *app, const char *opt, const char *value, int64_t *ms)
{
    lc_error err;
    if (lc_duration_parse(value, ms, &err) != LC_OK)
        return cli_usage(app, "--%s: %s", opt, err.message);
    return 0;
}

int cli_check_name(cli *app, const char *name)
{
    lc_error err;
    if (lc_name_check(name, strlen(name), &err) != LC_OK)
        return cli_fail(app, app->command, name, &err); /* "invalid", exit 64 */
    return 0;
}

int cli_load_config(cli *app)
{
    const char *path = app->config_path;
    if (path == NULL)
        path = getenv("LOCKCOORD_CONFIG");
    if (path == NULL || *path == '\0')
        path = "lockcoord.yaml";
    lc_error err;
    if (lc_config_load(path, &app->cfg, &err) != LC_OK)
        return cli_fail(app, "config", NULL, &err);
    app->log_level = app->cfg->log.level;
    if (app->verbosity > 0)
        app->log_level = LC_LOG_DEBUG;
    else if (app->verbosity < 0)
        app->log_level = LC_LOG_ERROR;
    return 0;
}

int cli_open(cli *app)
{
    /* run loads the config first (to check its timing options): load it
     * once, or the first copy leaks. */
    int rc = app->cfg ? 0 : cli_load_config(app);
    if (rc != 0)
        return rc;
    lc_client_opts o;
    memset(&o, 0, sizeof(o));
    o.log = cli_log;
    o.log_ctx = app;
    lc_error err;
    if (lc_client_open(app->cfg, &o, &app->client, &err) != LC_OK)
        return cli_fail(app, app->command, NULL, &err);
    return 0;
}

void cli_close(cli *app)
{
    lc_client_close(app->client);
    app->client = NULL;
    lc_config_free(app->cfg);
    app->cfg = NULL;
}

static void print_command_help(const cli_command *cmd)
{
    printf("usage: lockcoord [-c FILE] [--json] %s\n\n%s", cmd->usage, cmd->help);
}

int cli_parse(cli *app, const cli_command *cmd, int argc, char **argv, const char *shortopts,
              const struct option *longopts, cli_opt_fn on_opt, void *ctx, const char **pos,
              int max_pos, int *npos, int *rest, int *done)
{
    char spec[64];
    snprintf(spec, sizeof(spec), "+:h%s", shortopts);
    *npos = 0;
    *rest = -1;
    *done = 0;
    optind = 0; /* glibc: start over for this argv */
    opterr = 0;
    for (;;) {
        int before = optind ? optind : 1;
        int c = getopt_long(argc, argv, spec, longopts, NULL);
        if (c == -1) {
            if (before < argc && strcmp(argv[before], "--") == 0 && optind == before + 1) {
                *rest = optind;
                return 0;
            }
            if (optind >= argc)
                return 0;
            if (*npos >= max_pos)
                return cli_usage(app, "unexpected argument '%s'", argv[optind]);
            pos[(*npos)++] = argv[optind++];
            continue;
        }
        int rc;
        switch (c) {
        case 'h':
            print_command_help(cmd);
            *done = 1;
            return 0;
        case 'J': app->json = 1; continue;
        case ':': return cli_usage(app, "option '%s' needs a value", argv[optind - 1]);
        case '?': return cli_usage(app, "unknown option '%s'", argv[optind - 1]);
        default:
            rc = on_opt(app, ctx, c, optarg);
            if (rc != 0)
                return rc;
        }
    }
}

static int no_options(cli *app, void *ctx, int opt, const char *arg)
{
    (void)app, (void)ctx, (void)opt, (void)arg;
    return EXIT_USAGE; /* unreachable: getopt only returns options we list */
}

int cli_parse_plain(cli *app, const cli_command *cmd, int argc, char **argv, const char **pos,
                    int max_pos, int *npos, int *done)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int rest;
    return cli_parse(app, cmd, argc, argv, "", opts, no_options, NULL, pos, max_pos, npos, &rest,
                     done);
}
