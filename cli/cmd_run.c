/* cli/cmd_run.c -- `run NAME [options] -- CMD ARGS...`: the command-line
 * front of lc_run, which takes the lease, runs CMD under it, stops it when
 * the lease is lost, the timeout passes or a signal comes, and gives the
 * lease back recording the run. Here: the options, the signals (blocked,
 * and read by lc_run from a signalfd, which passes each on to CMD), and
 * what is printed and the exit code. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct run_args {
    lc_run_opts o;
    int conflict_exit;
} run_args;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    run_args *a = ctx;
    char *end;
    switch (opt) {
    case 't': return cli_duration_opt_min(app, "ttl", arg, LC_TTL_MIN_MS, &a->o.timing.ttl_ms);
    case 'r':
        return cli_duration_opt_min(app, "renew-every", arg, LC_PERIOD_MIN_MS,
                                    &a->o.timing.renew_every_ms);
    case 'w':
        if (cli_duration_opt(app, "wait", arg, &a->o.wait_ms) != 0)
            return EXIT_USAGE;
        if (a->o.wait_ms == 0)
            a->o.wait_ms = -1; /* not even lock.wait */
        return 0;
    case 'T': return cli_duration_opt(app, "timeout", arg, &a->o.timeout_ms);
    case 'g':
        /* An explicit 0s too: SIGKILL right after SIGTERM. */
        a->o.timing.kill_grace_set = 1;
        return cli_duration_opt(app, "kill-grace", arg, &a->o.timing.kill_grace_ms);
    case 'o': a->o.owner = arg; return cli_text_opt(app, "owner", arg);
    case 'x':
        a->conflict_exit = (int)strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || a->conflict_exit < 0 || a->conflict_exit > 255)
            return cli_usage(app, "--conflict-exit-code: expected 0..255, got '%s'", arg);
        return 0;
    }
    return EXIT_USAGE;
}

/* Settles the timing options against each other and the config, before
 * anything is sent: a mistake is a usage error. */
static int settle_timing(cli *app, run_args *a)
{
    lc_error err;
    if (lc_lease_timing_settle(app->cfg, &a->o.timing, &err) == LC_OK)
        return 0;
    static const char renew[] = "renew_every";
    if (strncmp(err.message, renew, sizeof(renew) - 1) == 0)
        return cli_usage(app, "--renew-every%s", err.message + sizeof(renew) - 1);
    return cli_usage(app, "%s", err.message);
}

static void print_result(cli *app, const char *name, uint64_t fence, int code, const char *error,
                         const char *outcome_name)
{
    if (!app->json)
        return;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "lock", name);
        if (fence)
            cJSON_AddNumberToObject(o, "fence", (double)fence);
        else
            cJSON_AddNullToObject(o, "fence");
        cJSON_AddStringToObject(o, "outcome", outcome_name);
        cJSON_AddNumberToObject(o, "exit_code", code);
        if (error && *error)
            cJSON_AddStringToObject(o, "error", error);
        else
            cJSON_AddNullToObject(o, "error");
    }
    cli_print_json(o);
}

static void print_note(const char *name, const lc_run_report *rep)
{
    if (rep->note[0])
        fprintf(stderr, "lockcoord: run %s: %s\n", name, cli_safe(rep->note));
}

/* A stop signal ended the run before CMD started: 128+N, as if CMD had got
 * it, and never the command's success. */
static int interrupted(cli *app, const char *name, const lc_run_report *rep)
{
    char msg[192];
    int sig = rep->stop_signal;
    snprintf(msg, sizeof(msg), "interrupted by signal %d (%s) %s", sig, strsignal(sig),
             rep->fence ? "before the command started; the lock was released"
                        : "while waiting for the lock; nothing was acquired");
    fprintf(stderr, "lockcoord: run %s: %s\n", name, msg);
    print_result(app, name, rep->fence, 128 + sig, msg, "interrupted");
    return 128 + sig;
}

/* What the run says and exits with, CMD never started. */
static int not_started(cli *app, const char *name, lc_status rc, const lc_run_report *rep,
                       const lc_error *err, int conflict_exit)
{
    char what[LC_NAME_MAX + 16];
    snprintf(what, sizeof(what), "run %s", name);
    if (rc == LC_ERR_CANCELLED && rep->stop_signal) {
        print_note(name, rep);
        return interrupted(app, name, rep);
    }
    int code = cli_fail(app, what, name, err);
    print_note(name, rep);
    return rc == LC_ERR_CONFLICT || rc == LC_ERR_PAUSED ? conflict_exit : code;
}

/* What the run says and exits with, CMD started: CMD's own code, but 76
 * when the lease was lost and 124 when it timed out. */
static int started(cli *app, const char *name, const lc_run_report *rep)
{
    print_note(name, rep);
    switch (rep->outcome) {
    case LC_RUN_LOST:
        fprintf(stderr, "lockcoord: run %s: %s\n", name, cli_safe(rep->error));
        print_result(app, name, rep->fence, EXIT_LOST, rep->error, "lost");
        return EXIT_LOST;
    case LC_RUN_TIMEOUT:
        fprintf(stderr, "lockcoord: run %s: %s; the command was stopped\n", name,
                cli_safe(rep->error));
        print_result(app, name, rep->fence, EXIT_TIMEOUT, rep->error, "timeout");
        return EXIT_TIMEOUT;
    default: break;
    }
    int code = rep->exit_code >= 0 ? rep->exit_code : EXIT_INTERNAL;
    const char *outcome = code == 0                            ? "ok"
                          : rep->outcome == LC_RUN_INTERRUPTED ? "signaled"
                                                               : "failed";
    print_result(app, name, rep->fence, code, rep->error, outcome);
    return code;
}

/* The signals that stop a run: lc_run passes each on to CMD. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* A signalfd of the stop signals, which it blocks (before any thread
 * starts, so only the signalfd sees them); -1 on failure, with the mask
 * as it was. *old gets the mask to restore. */
static int stop_signalfd(sigset_t *old)
{
    sigset_t set;
    stop_signals(&set);
    /* Blocked, not watched: lockcoord may write to the terminal while CMD's
     * group has it. */
    sigaddset(&set, SIGTTOU);
    sigprocmask(SIG_BLOCK, &set, old);
    stop_signals(&set);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd == 0) { /* stdin was closed; 0 would mean "no stop fd" */
        fd = fcntl(0, F_DUPFD_CLOEXEC, 1);
        close(0);
    }
    if (fd < 0)
        sigprocmask(SIG_SETMASK, old, NULL);
    return fd;
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"renew-every", required_argument, NULL, 'r'},
        {"wait", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"kill-grace", required_argument, NULL, 'g'},
        {"owner", required_argument, NULL, 'o'},
        {"conflict-exit-code", required_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    run_args a;
    memset(&a, 0, sizeof(a));
    a.conflict_exit = EXIT_CONFLICT;
    const char *pos[8];
    int npos, rest, done;
    int rc =
        cli_parse(app, &cli_cmd_run, argc, argv, "", opts, on_opt, &a, pos, 8, &npos, &rest, &done);
    if (rc || done)
        return rc;
    if (npos == 0)
        return cli_usage(app, "a lock NAME is required");
    if (npos > 1 || rest < 0)
        return cli_usage(app, "missing '--' before the command");
    if (rest >= argc)
        return cli_usage(app, "no command after '--'");
    const char *name = pos[0];
    if ((rc = cli_check_name(app, name)) != 0 || (rc = cli_load_config(app)) != 0 ||
        (rc = settle_timing(app, &a)) != 0 || (rc = cli_open(app)) != 0)
        return rc;

    sigset_t old;
    int sigfd = stop_signalfd(&old);
    if (sigfd < 0) {
        fprintf(stderr, "lockcoord: run: signalfd: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    a.o.stop_fd = sigfd;
    a.o.stop_fd_is_signalfd = 1;
    a.o.foreground = 1;
    /* What lockcoord wrote comes before what CMD writes. */
    fflush(stdout);
    fflush(stderr);
    lc_run_report rep;
    lc_error err;
    char **cmd = argv + rest;
    lc_status st = lc_run(app->client, name, cmd, &a.o, &rep, &err);
    if (rep.exec_errno)
        fprintf(stderr, "lockcoord: run: %s: %s\n", cli_safe(cmd[0]), strerror(rep.exec_errno));
    rc = st == LC_OK ? started(app, name, &rep)
                     : not_started(app, name, st, &rep, &err, a.conflict_exit);
    close(sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

const cli_command cli_cmd_run = {
    "run",
    run,
    "run NAME [--ttl D] [--renew-every D] [--wait D] [--timeout D] [--kill-grace D]\n"
    "      [--conflict-exit-code N] [--owner S] -- CMD ARGS...",
    "Takes a lease on NAME, runs CMD under it and keeps renewing it. CMD runs in\n"
    "its own process group (on a terminal, the foreground group) with\n"
    "LOCKCOORD_LOCK, LOCKCOORD_TOKEN, LOCKCOORD_FENCE, LOCKCOORD_OWNER and\n"
    "LOCKCOORD_CHECKPOINT set, and dies with lockcoord. When the lease is lost\n"
    "or --timeout passes, CMD gets SIGTERM, then SIGKILL after --kill-grace\n"
    "(default 5s); SIGINT/SIGTERM/SIGHUP to lockcoord are forwarded (before CMD\n"
    "starts, they end the run with 128+N). The lease is always released and the\n"
    "run recorded.\n\n"
    "  --ttl D                 lease ttl (default: lock.ttl)\n"
    "  --renew-every D         renewal period (default: ttl/3 with --ttl, else\n"
    "                          lock.renew_every); must be below ttl/2\n"
    "  --wait D                wait up to D for the lock (default: lock.wait)\n"
    "  --timeout D             stop CMD after D and exit 124\n"
    "  --kill-grace D          SIGTERM-to-SIGKILL delay\n"
    "  --conflict-exit-code N  exit N instead of 75 when the lock is held\n\n"
    "Exit: CMD's own code (128+N for signal N); 75 held elsewhere; 76 lease lost\n"
    "(also when CMD finished but its lease was already gone); 124 timed out.\n",
};
