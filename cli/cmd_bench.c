/* cli/cmd_bench.c -- `bench cycles|contend|renew [--clients N] [--duration
 * D] [--hold D] [--leases N] [--reference]`: measures this backend and
 * prints a table, or one JSON object. The measuring is in bench_run.c and
 * bench_renew.c. */
#include "cli.h"

#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS_MAX 256
#define LEASES_MAX  100000

static const char *const mode_names[] = {"cycles", "contend", "renew"};

typedef struct bench_args {
    bench_opts o;
    int clients_set, hold_set, leases_set;
} bench_args;

void bench_progress(const bench_opts *o, const char *fmt, ...)
{
    if (!o->progress)
        return;
    fputs("\r\033[K", stderr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fflush(stderr);
}

/* The run's own clients say only what is an error: the command's client
 * has warned about the server already. */
static void quiet_log(void *ctx, lc_log_level level, const char *msg)
{
    if (level <= LC_LOG_ERROR)
        cli_log(ctx, level, msg);
}

/* A whole number lo..hi, else a usage error naming the option. */
static int whole_opt(cli *app, const char *opt, const char *value, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || value[0] == ' ' || v < lo || v > hi)
        return cli_usage(app, "--%s: a whole number from %ld to %ld, got '%s'", opt, lo, hi, value);
    *out = (int)v;
    return 0;
}

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    bench_args *a = ctx;
    switch (opt) {
    case 'n':
        a->clients_set = 1;
        return whole_opt(app, "clients", arg, 1, CLIENTS_MAX, &a->o.clients);
    case 'd':
        return cli_duration_opt_min(app, "duration", arg, LC_PERIOD_MIN_MS, &a->o.duration_ms);
    case 'H': a->hold_set = 1; return cli_duration_opt(app, "hold", arg, &a->o.hold_ms);
    case 'l': a->leases_set = 1; return whole_opt(app, "leases", arg, 1, LEASES_MAX, &a->o.leases);
    case 'r': a->o.reference = 1; return 0;
    }
    return EXIT_USAGE;
}

/* The mode from its name, the defaults, and the options it takes. */
static int settle(cli *app, bench_args *a, const char *mode)
{
    size_t m = 0;
    while (m < 3 && strcmp(mode, mode_names[m]) != 0)
        m++;
    if (m == 3)
        return cli_usage(app, "unknown mode '%s' (cycles, contend or renew)", mode);
    a->o.mode = (bench_mode)m;
    if (a->hold_set && a->o.mode != BENCH_CONTEND)
        return cli_usage(app, "--hold is for contend only");
    if (a->leases_set && a->o.mode != BENCH_RENEW)
        return cli_usage(app, "--leases is for renew only");
    if (a->clients_set && a->o.mode == BENCH_RENEW)
        return cli_usage(app, "--clients is for cycles and contend (renew has one keeper)");
    if (!a->clients_set)
        a->o.clients = a->o.mode == BENCH_CONTEND ? 8 : 1;
    if (!a->leases_set)
        a->o.leases = 1000;
    if (a->o.duration_ms == 0)
        a->o.duration_ms = 5000;
    if (a->o.hold_ms > LC_DURATION_MAX_MS / 4)
        return cli_usage(app, "--hold: at most 91d");
    return 0;
}

/* ---- figures ---------------------------------------------------------------- */

/* x rounded to the nearest multiple of unit (x >= 0). */
static double round_to(double x, double unit)
{
    return (double)(int64_t)(x / unit + 0.5) * unit;
}

static double ms_of(double ns)
{
    return round_to(ns / 1e6, 0.001);
}

static double rate(const bench_side *s)
{
    return s->seconds > 0 ? (double)s->ops / s->seconds : 0.0;
}

/* lockcoord's rate as a share of the reference's; < 0 without one. */
static double ratio(const bench_result *r)
{
    double ref = rate(&r->side[SIDE_REF]);
    if (!r->side[SIDE_REF].measured || ref <= 0)
        return -1;
    return rate(&r->side[SIDE_LC]) / ref;
}

static int64_t wait_max(const bench_side *s)
{
    return s->wait.max_ns > s->cut_wait_max_ns ? s->wait.max_ns : s->cut_wait_max_ns;
}

static void per_client_range(const bench_opts *o, const bench_side *s, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (int i = 0; i < o->clients; i++) {
        uint64_t v = s->per_client ? s->per_client[i] : 0;
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

static int exclusion_ok(const bench_result *r)
{
    return r->overlaps == 0 && r->fence_regressions == 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static void add_ms(cJSON *o, const char *key, double ns)
{
    cJSON_AddNumberToObject(o, key, ms_of(ns));
}

static void add_latency(cJSON *o, const bench_hist *h)
{
    add_ms(o, "p50_ms", (double)bench_hist_pct(h, 0.50));
    add_ms(o, "p99_ms", (double)bench_hist_pct(h, 0.99));
    add_ms(o, "max_ms", (double)h->max_ns);
}

static void add_op(cJSON *o, const char *key, const bench_hist *h)
{
    cJSON *op = cJSON_AddObjectToObject(o, key);
    if (op)
        add_latency(op, h);
}

/* One side's figures: ops_per_s and the latency of the mode's main
 * measure, then what the mode adds. */
static void side_json(cJSON *o, const bench_opts *opts, const bench_side *s)
{
    cJSON_AddNumberToObject(o, "ops_per_s", round_to(rate(s), 1));
    add_latency(o, &s->main);
    if (opts->mode == BENCH_CYCLES) {
        cJSON_AddNumberToObject(o, "cycles", (double)s->ops);
        add_op(o, "acquire", &s->acquire);
        add_op(o, "release", &s->release);
    } else if (opts->mode == BENCH_CONTEND) {
        cJSON_AddNumberToObject(o, "acquisitions", (double)s->ops);
        cJSON_AddNumberToObject(o, "handoffs", (double)s->main.n);
        add_ms(o, "wait_mean_ms", bench_hist_mean(&s->wait));
        add_ms(o, "wait_max_ms", (double)wait_max(s));
        cJSON *pc = cJSON_AddArrayToObject(o, "acquisitions_per_client");
        for (int i = 0; pc && s->per_client && i < opts->clients; i++)
            cJSON_AddItemToArray(pc, cJSON_CreateNumber((double)s->per_client[i]));
    } else {
        cJSON_AddNumberToObject(o, "ticks", (double)s->ticks);
        cJSON_AddNumberToObject(o, "calls_per_tick",
                                s->ticks ? round_to((double)s->calls / (double)s->ticks, 0.01) : 0);
        add_ms(o, "tick_mean_ms", bench_hist_mean(&s->main));
    }
}

static int print_json(cli *app, const bench_opts *o, const bench_result *r)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return cli_print_json(NULL);
    const bench_side *lc = &r->side[SIDE_LC], *ref = &r->side[SIDE_REF];
    cJSON_AddStringToObject(j, "mode", mode_names[o->mode]);
    cJSON_AddStringToObject(j, "backend", lc_client_backend(app->client));
    cJSON_AddNumberToObject(j, "clients", o->mode == BENCH_RENEW ? 1 : o->clients);
    cJSON_AddNumberToObject(j, "duration_ms", (double)o->duration_ms);
    cJSON_AddNumberToObject(j, "slices", r->slices);
    side_json(j, o, lc);
    double q = ratio(r);
    if (ref->measured) {
        cJSON_AddNumberToObject(j, "reference_ops_per_s", round_to(rate(ref), 1));
        if (q >= 0)
            cJSON_AddNumberToObject(j, "ratio", round_to(q, 0.001));
        else
            cJSON_AddNullToObject(j, "ratio");
        cJSON *rj = cJSON_AddObjectToObject(j, "reference");
        if (rj) {
            side_json(rj, o, ref);
            cJSON_AddStringToObject(rj, "floor", r->floor ? r->floor : "");
        }
    } else {
        cJSON_AddNullToObject(j, "reference_ops_per_s");
        cJSON_AddNullToObject(j, "ratio");
        cJSON_AddNullToObject(j, "reference");
    }
    if (o->mode == BENCH_CONTEND) {
        cJSON_AddNumberToObject(j, "hold_ms", (double)o->hold_ms);
        cJSON_AddStringToObject(j, "mutual_exclusion", exclusion_ok(r) ? "ok" : "violated");
        cJSON_AddNumberToObject(j, "holders", (double)r->holders);
        cJSON_AddNumberToObject(j, "overlaps", (double)r->overlaps);
        cJSON_AddNumberToObject(j, "fence_regressions", (double)r->fence_regressions);
    } else if (o->mode == BENCH_RENEW) {
        cJSON_AddNumberToObject(j, "leases", o->leases);
        cJSON_AddNumberToObject(j, "renew_every_ms", BENCH_RENEW_EVERY_MS);
    }
    return cli_print_json(j);
}

/* ---- text ------------------------------------------------------------------- */

static void print_title(cli *app, const bench_opts *o, const bench_result *r)
{
    char d[32], h[32];
    lc_duration_format(o->duration_ms, d, sizeof(d));
    printf("%s on %s: ", mode_names[o->mode], lc_client_backend(app->client));
    if (o->mode == BENCH_CYCLES)
        printf("%d client%s, each on its own lock", o->clients, o->clients == 1 ? "" : "s");
    else if (o->mode == BENCH_CONTEND)
        printf("%d client%s on one lock, holding it %s", o->clients, o->clients == 1 ? "" : "s",
               lc_duration_format(o->hold_ms, h, sizeof(h)));
    else
        printf("one keeper holding %d leases, renewing every %dms", o->leases,
               BENCH_RENEW_EVERY_MS);
    if (!o->reference)
        printf(", %s\n", d);
    else if (o->mode == BENCH_RENEW)
        printf(", %s, the reference ticking between the keeper's ticks\n", d);
    else
        printf(", %s of each side in %d slice%s, interleaved\n", d, r->slices,
               r->slices == 1 ? "" : "s");
}

static void print_latency(const char *label, const char *ops, const bench_hist *hist)
{
    printf("%-14s %10s %9.3f %9.3f %9.3f", label, ops, ms_of((double)bench_hist_pct(hist, 0.5)),
           ms_of((double)bench_hist_pct(hist, 0.99)), ms_of((double)hist->max_ns));
}

static void print_side(const bench_opts *o, const char *label, const bench_side *s)
{
    char ops[32];
    snprintf(ops, sizeof(ops), "%.0f", rate(s));
    print_latency(label, ops, &s->main);
    if (o->mode == BENCH_CONTEND)
        printf(" %9.3f %9.3f", ms_of(bench_hist_mean(&s->wait)), ms_of((double)wait_max(s)));
    else if (o->mode == BENCH_RENEW)
        printf(" %7llu %9.2f", (unsigned long long)s->ticks,
               s->ticks ? (double)s->calls / (double)s->ticks : 0.0);
    putchar('\n');
    if (o->mode == BENCH_CYCLES) {
        print_latency("  acquire", "", &s->acquire);
        putchar('\n');
        print_latency("  release", "", &s->release);
        putchar('\n');
    }
}

static void print_contend_notes(const bench_opts *o, const bench_result *r)
{
    uint64_t lo, hi;
    per_client_range(o, &r->side[SIDE_LC], &lo, &hi);
    printf("per client:    %llu to %llu acquisitions", (unsigned long long)lo,
           (unsigned long long)hi);
    if (r->side[SIDE_REF].measured) {
        per_client_range(o, &r->side[SIDE_REF], &lo, &hi);
        printf(" (reference: %llu to %llu)", (unsigned long long)lo, (unsigned long long)hi);
    }
    if (exclusion_ok(r))
        printf("\nmutual exclusion: ok (%llu holders: never two inside at once, fences strictly "
               "increasing)\n",
               (unsigned long long)r->holders);
    else
        printf("\nmutual exclusion: VIOLATED (%llu holders: %llu found another inside, %llu "
               "fences not above the one before)\n",
               (unsigned long long)r->holders, (unsigned long long)r->overlaps,
               (unsigned long long)r->fence_regressions);
}

static void print_text(cli *app, const bench_opts *o, const bench_result *r)
{
    print_title(app, o, r);
    if (o->mode == BENCH_CYCLES)
        printf("%-14s %10s %9s %9s %9s\n", "", "cycles/s", "p50 ms", "p99 ms", "max ms");
    else if (o->mode == BENCH_CONTEND)
        printf("%-14s %10s %9s %9s %9s %9s %9s\n", "", "acq/s", "handoff", "p99 ms", "max ms",
               "wait avg", "wait max");
    else
        printf("%-14s %10s %9s %9s %9s %7s %9s\n", "", "renewals/s", "tick p50", "p99 ms", "max ms",
               "ticks", "calls");
    print_side(o, "lockcoord", &r->side[SIDE_LC]);
    if (r->side[SIDE_REF].measured)
        print_side(o, "reference", &r->side[SIDE_REF]);
    double q = ratio(r);
    if (q >= 0)
        printf("ratio:         %.3f (lockcoord / reference)\n", q);
    if (o->mode == BENCH_CONTEND)
        print_contend_notes(o, r);
    if (r->side[SIDE_REF].measured && r->floor)
        printf("reference:     %s\n", r->floor);
}

/* ---- the command ------------------------------------------------------------ */

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"clients", required_argument, NULL, 'n'}, {"duration", required_argument, NULL, 'd'},
        {"hold", required_argument, NULL, 'H'},    {"leases", required_argument, NULL, 'l'},
        {"reference", no_argument, NULL, 'r'},     {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    bench_args a;
    memset(&a, 0, sizeof(a));
    const char *pos[1];
    int npos, done;
    int rc = cli_parse(app, &cli_cmd_bench, argc, argv, "", opts, on_opt, &a, pos, 1, &npos, NULL,
                       &done);
    if (rc || done)
        return rc;
    if (npos != 1)
        return cli_usage(app, "a mode is required: cycles, contend or renew");
    if ((rc = settle(app, &a, pos[0])) != 0 || (rc = cli_open(app)) != 0)
        return rc;
    /* The floor's Redis requests are plain writes; nothing is exec'd here,
     * so ignoring SIGPIPE reaches no other program. */
    signal(SIGPIPE, SIG_IGN);
    bench_opts *o = &a.o;
    o->cfg = app->cfg;
    o->client = app->client;
    o->copts.log = quiet_log;
    o->copts.log_ctx = app;
    o->progress = isatty(STDERR_FILENO);
    bench_result *r = calloc(1, sizeof(*r));
    lc_error err = {LC_ERR_NOMEM, 0, "out of memory", {{0}, 0, 0, -1}};
    lc_status st = LC_ERR_NOMEM;
    if (r)
        st = o->mode == BENCH_RENEW ? bench_renew(o, r, &err) : bench_run(o, r, &err);
    if (st != LC_OK) {
        char what[32];
        snprintf(what, sizeof(what), "bench %s", mode_names[o->mode]);
        rc = cli_fail(app, what, NULL, &err);
    } else {
        if (app->json)
            rc = print_json(app, o, r);
        else
            print_text(app, o, r);
        /* Two holders at once is a bug in lockcoord, not a figure. */
        if (rc == 0 && o->mode == BENCH_CONTEND && !exclusion_ok(r))
            rc = EXIT_INTERNAL;
    }
    if (r)
        bench_result_free(r);
    free(r);
    return rc;
}

const cli_command cli_cmd_bench = {
    "bench",
    run,
    "bench cycles|contend|renew [--clients N] [--duration D] [--hold D]\n"
    "      [--leases N] [--reference]",
    "Measures this backend with lockcoord's own calls.\n\n"
    "  cycles     --clients N (default 1) clients, each on its own lock, acquire and\n"
    "             release in a loop: cycles per second, latency of each operation\n"
    "  contend    --clients N (default 8) clients on one lock, each holding it --hold\n"
    "             (default 0s): acquisitions per second, handoff latency (a release\n"
    "             returns -> the next holder's acquire returns), the mean and the\n"
    "             longest wait, and a mutual-exclusion check (exit 70 if it fails)\n"
    "  renew      one keeper holding --leases N (default 1000) leases, renewing every\n"
    "             100ms: time per renewal tick, requests to the server per tick\n\n"
    "  --duration D   how long to measure (default 5s; with --reference, each side)\n"
    "  --reference    also measure the backend's own floor on the same server, in\n"
    "                 slices alternating with lockcoord's, and print lockcoord's\n"
    "                 figure as a ratio of it\n\n"
    "Locks are named lockcoord-bench.MODE...; their state stays in the backend like\n"
    "any lock's. A progress line is shown while stderr is a terminal.\n",
};
