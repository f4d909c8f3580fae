/* cli/cmd_acquire.c -- `acquire NAME [--ttl D] [--wait D] [--owner S]`. */
#include "cli.h"

#include <signal.h>
#include <string.h>

typedef struct acquire_args {
    lc_acquire_opts opts;
} acquire_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    acquire_args *a = ctx;
    switch (opt) {
    case 't': return cli_duration_opt_min(app, "ttl", arg, LC_TTL_MIN_MS, &a->opts.ttl_ms);
    case 'w':
        if (cli_duration_opt(app, "wait", arg, &a->opts.wait_ms) != 0)
            return EXIT_USAGE;
        if (a->opts.wait_ms == 0)
            a->opts.wait_ms = -1; /* an explicit 0s means: do not wait */
        return 0;
    case 'o': a->opts.owner = arg; return cli_text_opt(app, "owner", arg);
    }
    return EXIT_USAGE;
}

static void print_lease(cli *app, const lc_lease *l)
{
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "lock", lc_lease_name(l));
            cJSON_AddStringToObject(o, "token", lc_lease_token(l));
            cJSON_AddNumberToObject(o, "fence", (double)lc_lease_fence(l));
            cJSON_AddNumberToObject(o, "ttl_ms", (double)lc_lease_ttl_ms(l));
            cJSON_AddStringToObject(o, "owner", lc_lease_owner(l));
        }
        cli_print_json(o);
        return;
    }
    char d[32];
    printf("lock:  %s\ntoken: %s\nfence: %llu\nttl:   %s\nowner: %s\n", lc_lease_name(l),
           lc_lease_token(l), (unsigned long long)lc_lease_fence(l),
           lc_duration_format(lc_lease_ttl_ms(l), d, sizeof(d)), lc_lease_owner(l));
}

/* The token is the only way to the lease: when it could not be written,
 * nobody can renew or release it, so it is given back at once. */
static int output_checked(cli *app, lc_lease *l)
{
    char why[128];
    if (!cli_output_failed(why, sizeof(why)))
        return 0;
    lc_run_result res = {.has_exit = 0,
                         .exit_code = 0,
                         .error = "acquire could not write its output (the token was lost), "
                                  "so the lease was given back"};
    lc_error err;
    if (lc_release(app->client, l, &res, &err) == LC_OK) {
        fprintf(stderr,
                "lockcoord: acquire %s: could not write the output: %s; the lease was "
                "released\n",
                lc_lease_name(l), why);
    } else {
        char d[32];
        fprintf(stderr,
                "lockcoord: acquire %s: could not write the output: %s; releasing failed "
                "too (%s): the lease expires within %s\n",
                lc_lease_name(l), why, err.message,
                lc_duration_format(lc_lease_ttl_ms(l), d, sizeof(d)));
    }
    return EXIT_IOERR;
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},   {"wait", required_argument, NULL, 'w'},
        {"owner", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    acquire_args a;
    memset(&a, 0, sizeof(a));
    const char *pos[1];
    int npos, done;
    int rc = cli_parse(app, &cli_cmd_acquire, argc, argv, "", opts, on_opt, &a, pos, 1, &npos, NULL,
                       &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a lock NAME is required");
    if ((rc = cli_check_name(app, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    /* A closed pipe on stdout must fail the write (and so give the lease
     * back), not kill us with the lease held. Nothing is exec'd here, so
     * ignoring SIGPIPE reaches no other program. */
    signal(SIGPIPE, SIG_IGN);
    lc_lease *l = NULL;
    lc_error err;
    if (lc_acquire(app->client, pos[0], &a.opts, &l, &err) != LC_OK) {
        char what[LC_NAME_MAX + 16];
        snprintf(what, sizeof(what), "acquire %s", pos[0]);
        return cli_fail(app, what, pos[0], &err);
    }
    print_lease(app, l);
    rc = output_checked(app, l);
    lc_lease_free(l);
    return rc;
}

const cli_command cli_cmd_acquire = {
    "acquire",
    run,
    "acquire NAME [--ttl D] [--wait D] [--owner S]",
    "Takes a lease on lock NAME and prints its token and fence. The lease lasts\n"
    "--ttl (default: lock.ttl) unless renewed with `renew`.\n\n"
    "  --ttl D      lease time-to-live\n"
    "  --wait D     wait up to D for a holder to release (default: lock.wait)\n"
    "  --owner S    label for humans (default: config owner, else hostname:pid)\n\n"
    "Exit 75 when another holder has it (the holder is printed). Exit 74 when\n"
    "the output could not be written: the lease is then released at once.\n",
};
