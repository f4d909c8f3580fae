/* cli/common.c -- config and client, errors, exit codes, JSON, options. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_code(lc_status code)
{
    switch (code) {
    case LC_OK: return 0;
    case LC_ERR_CONFLICT:
    case LC_ERR_PAUSED: return EXIT_CONFLICT;
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

static char *json_text(cJSON *obj);

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
        char *s = json_text(o);
        if (s)
            fprintf(stderr, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    fprintf(stderr, "lockcoord: %s: %s\n", names[level], cli_safe(msg));
}

/* errno of the first failed flush of stdout: the stream keeps only a flag. */
static int stdout_errno;

static void flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) != 0 && stdout_errno == 0)
        stdout_errno = errno;
}

/* cJSON copies string bytes as they are: text read back from a backend
 * that is not valid UTF-8 would make the whole output invalid JSON. The
 * bytes at stake are all >= 0x80, so only string contents change. */
static char *json_text(cJSON *obj)
{
    char *raw = obj ? cJSON_PrintUnformatted(obj) : NULL;
    char *s = raw ? lc_text_utf8(raw) : NULL;
    free(raw);
    return s;
}

int cli_print_json(cJSON *obj)
{
    char *s = json_text(obj);
    cJSON_Delete(obj);
    if (s == NULL) {
        fprintf(stderr, "lockcoord: out of memory\n");
        return EXIT_INTERNAL;
    }
    printf("%s\n", s);
    flush_stdout();
    free(s);
    return 0;
}

int cli_output_failed(char *why, size_t size)
{
    flush_stdout();
    if (!ferror(stdout) && stdout_errno == 0)
        return 0;
    snprintf(why, size, "%s", stdout_errno ? strerror(stdout_errno) : "write error");
    return 1;
}

int cli_check_output(cli *app)
{
    char why[128];
    if (!cli_output_failed(why, sizeof(why)))
        return 0;
    int top = strcmp(app->command, "lockcoord") == 0;
    fprintf(stderr, "lockcoord: %s%scould not write the output: %s\n", top ? "" : app->command,
            top ? "" : ": ", why);
    return EXIT_IOERR;
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
            h->owner[0] ? cli_safe(h->owner) : "unknown", (unsigned long long)h->fence,
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
        fprintf(stderr, "lockcoord: %s: %s\n", cli_safe(what), cli_safe(err->message));
    return code;
}

/* An error as JSON {"error": code, "message": json_msg} on stdout, or as
 * the line `text` on stderr. */
static void report(cli *app, const char *code, const char *json_msg, const char *text)
{
    if (!app->json) {
        fprintf(stderr, "%s\n", text);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", code);
        cJSON_AddStringToObject(o, "message", json_msg);
        cli_print_json(o);
    }
}

int cli_fail_os(cli *app, const char *what, const char *fmt, ...)
{
    char msg[512], json_msg[640], text[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(json_msg, sizeof(json_msg), "%s: %s", what, msg);
    snprintf(text, sizeof(text), "lockcoord: %s: %s", cli_safe(what), cli_safe(msg));
    report(app, "os", json_msg, text);
    return EXIT_OSERR;
}

int cli_usage(cli *app, const char *fmt, ...)
{
    char msg[512], text[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int top = strcmp(app->command, "lockcoord") == 0;
    snprintf(text, sizeof(text), "lockcoord: %s%s%s (see 'lockcoord %s%s--help')",
             top ? "" : app->command, top ? "" : ": ", cli_safe(msg), top ? "" : app->command,
             top ? "" : " ");
    report(app, "usage", msg, text);
    return EXIT_USAGE;
}

int cli_duration_opt(cli *app, const char *opt, const char *value, int64_t *ms)
{
    lc_error err;
    if (strncmp(value, "--", 2) == 0) /* "--ttl --wait 5s" */
        return cli_usage(app, "option '--%s' needs a value, got the option '%s'", opt, value);
    if (lc_duration_parse(value, ms, &err) != LC_OK)
        return cli_usage(app, "--%s: %s", opt, err.message);
    return 0;
}

int cli_duration_opt_min(cli *app, const char *opt, const char *value, int64_t min_ms, int64_t *ms)
{
    int64_t v;
    int rc = cli_duration_opt(app, opt, value, &v);
    if (rc != 0)
        return rc;
    if (v < min_ms) {
        char a[32], b[32];
        return cli_usage(app, "--%s: must be at least %s, got %s", opt,
                         lc_duration_format(min_ms, a, sizeof(a)),
                         lc_duration_format(v, b, sizeof(b)));
    }
    *ms = v;
    return 0;
}

int cli_text_opt(cli *app, const char *opt, const char *value)
{
    lc_error err;
    if (lc_text_check(value, strlen(value), &err) != LC_OK)
        return cli_usage(app, "--%s: %s", opt, err.message);
    return 0;
}

#define SAFE_RING 8
static char *safe_ring[SAFE_RING];
static unsigned safe_next;

const char *cli_safe(const char *s)
{
    char **slot = &safe_ring[safe_next++ % SAFE_RING];
    free(*slot);
    *slot = lc_text_escape(s);
    return *slot ? *slot : "?";
}

static void safe_free(void)
{
    for (size_t i = 0; i < SAFE_RING; i++) {
        free(safe_ring[i]);
        safe_ring[i] = NULL;
    }
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
    /* libpq and libcurl are loaded with the config (dlopen) when it needs
     * them. Both link OpenLDAP, which links GnuTLS, whose constructor
     * initialises GnuTLS as it is loaded -- its system settings, p11-kit's
     * modules: about 650 KiB of memory -- for nothing lockcoord does
     * (OpenLDAP initialises GnuTLS itself before it uses it).
     * GNUTLS_NO_IMPLICIT_INIT, GnuTLS's own switch, skips that. It is set
     * only while the config loads, while this process has one thread, and
     * only when the user has not set it: no command lockcoord runs
     * inherits it. */
    int quiet_tls =
        getenv("GNUTLS_NO_IMPLICIT_INIT") == NULL && setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0) == 0;
    lc_error err;
    lc_status loaded = lc_config_load(path, &app->cfg, &err);
    if (quiet_tls)
        unsetenv("GNUTLS_NO_IMPLICIT_INIT");
    if (loaded != LC_OK)
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
    safe_free();
}

static int too_many(cli *app, const char *arg, int max_pos)
{
    if (max_pos <= 1)
        return cli_usage(app, "unexpected argument '%s'", arg);
    return cli_usage(app, "too many arguments (at most %d): '%s'", max_pos, arg);
}

static void print_command_help(const cli_command *cmd)
{
    printf("usage: lockcoord [-c FILE] [--json] %s\n\n%s", cmd->usage, cmd->help);
}

/* Everything after "--" is positional, as in getopt's own convention. */
static int take_rest(cli *app, int argc, char **argv, int from, const char **pos, int max_pos,
                     int *npos)
{
    for (int i = from; i < argc; i++) {
        if (*npos >= max_pos)
            return too_many(app, argv[i], max_pos);
        pos[(*npos)++] = argv[i];
    }
    return 0;
}

int cli_parse(cli *app, const cli_command *cmd, int argc, char **argv, const char *shortopts,
              const struct option *longopts, cli_opt_fn on_opt, void *ctx, const char **pos,
              int max_pos, int *npos, int *rest, int *done)
{
    char spec[64];
    snprintf(spec, sizeof(spec), "+:h%s", shortopts);
    *npos = 0;
    if (rest)
        *rest = -1;
    *done = 0;
    optind = 0; /* glibc: start over for this argv */
    opterr = 0;
    for (;;) {
        int before = optind ? optind : 1;
        int c = getopt_long(argc, argv, spec, longopts, NULL);
        if (c == -1) {
            if (before < argc && strcmp(argv[before], "--") == 0 && optind == before + 1) {
                if (rest == NULL)
                    return take_rest(app, argc, argv, optind, pos, max_pos, npos);
                *rest = optind;
                return 0;
            }
            if (optind >= argc)
                return 0;
            if (*npos >= max_pos)
                return too_many(app, argv[optind], max_pos);
            pos[(*npos)++] = argv[optind++];
            continue;
        }
        /* "--ttl -- cmd": getopt took the "--" as the value. */
        if (optarg && optarg == argv[optind - 1] && strcmp(optarg, "--") == 0)
            return cli_usage(app, "option '%s' needs a value", argv[optind - 2]);
        int rc;
        switch (c) {
        case 'h':
            print_command_help(cmd);
            *done = 1;
            return 0;
        case 'J': app->json = 1; continue;
        case ':': return cli_usage(app, "option '%s' needs a value", argv[optind - 1]);
        case '?':
            /* A short one may sit inside "-xyz", where optind has not moved
             * on yet: name it by optopt. */
            if (optopt > 0)
                return cli_usage(app,
                                 "unknown option '-%c' (a NAME that starts with '-' goes "
                                 "after '--')",
                                 optopt);
            return cli_usage(app, "unknown option '%s'", argv[optind - 1]);
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
    return cli_parse(app, cmd, argc, argv, "", opts, no_options, NULL, pos, max_pos, npos, NULL,
                     done);
}
