/* cli/cmd_run.c -- `run NAME [options] -- CMD ARGS...`: take a lease, run
 * CMD under it while the keeper renews it, stop CMD when the lease is lost
 * or the timeout passes, and always release and record the run.
 *
 * Process layout: lockcoord forks a small guard process that leads a new
 * process group and forks CMD inside it. The guard gets SIGUSR2 when
 * lockcoord dies (PR_SET_PDEATHSIG) and then SIGKILLs the whole group, so
 * no part of the work -- not even CMD's own children -- outlives a
 * lockcoord killed with -9. The guard passes CMD's exit status on as its
 * own. */
#include "cli.h"
#include "spawn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct run_args {
    lc_acquire_opts acq;
    int64_t renew_every_ms;
    int64_t timeout_ms;
    int64_t kill_grace_ms;
    int conflict_exit;
} run_args;

typedef enum outcome {
    RUN_DONE = 0,
    RUN_LOST,
    RUN_TIMEOUT,
    RUN_SIGNALED
} outcome;

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    run_args *a = ctx;
    char *end;
    switch (opt) {
    case 't': return cli_duration_opt(app, "ttl", arg, &a->acq.ttl_ms);
    case 'r': return cli_duration_opt(app, "renew-every", arg, &a->renew_every_ms);
    case 'w':
        if (cli_duration_opt(app, "wait", arg, &a->acq.wait_ms) != 0)
            return EXIT_USAGE;
        if (a->acq.wait_ms == 0)
            a->acq.wait_ms = -1;
        return 0;
    case 'T': return cli_duration_opt(app, "timeout", arg, &a->timeout_ms);
    case 'g': return cli_duration_opt(app, "kill-grace", arg, &a->kill_grace_ms);
    case 'o': a->acq.owner = arg; return 0;
    case 'x':
        a->conflict_exit = (int)strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || a->conflict_exit < 0 || a->conflict_exit > 255)
            return cli_usage(app, "--conflict-exit-code: expected 0..255, got '%s'", arg);
        return 0;
    }
    return EXIT_USAGE;
}

static int64_t now_ms(void)
{
    return lc_clock_system()->mono_ns(NULL) / 1000000;
}

/* Everything one run holds, so cleanup has one place. */
typedef struct run_state {
    cli *app;
    run_args args;
    const char *name;
    lc_lease *lease;
    lc_keeper *keeper;
    pid_t guard;
    atomic_int live_group; /* the guard's pid while it runs, else 0 */
    int sigfd;
    outcome why;
    char reason[256];
    int status; /* the guard's wait status */
} run_state;

/* Sends sig to CMD's process group (the guard ignores it). */
static void signal_group(run_state *r, int sig)
{
    if (r->guard > 0)
        kill(-r->guard, sig);
}

static void begin_stop(run_state *r, outcome why, int sig, int64_t *kill_at)
{
    if (r->why == RUN_DONE)
        r->why = why;
    signal_group(r, sig);
    if (*kill_at == 0)
        *kill_at = now_ms() + r->args.kill_grace_ms;
}

/* Handles what signalfd delivered; returns 1 when the guard has exited. */
static int on_signals(run_state *r, int64_t *kill_at)
{
    struct signalfd_siginfo si;
    int exited = 0;
    while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            if (waitpid(r->guard, &r->status, WNOHANG) == r->guard) {
                atomic_store(&r->live_group, 0);
                exited = 1;
            }
        } else {
            cli_note_signal(r->app, (int)si.ssi_signo);
            begin_stop(r, RUN_SIGNALED, (int)si.ssi_signo, kill_at);
        }
    }
    return exited;
}

static int poll_timeout(const run_state *r, int64_t deadline, int64_t kill_at)
{
    int64_t next = -1, now = now_ms();
    if (deadline && r->why == RUN_DONE)
        next = deadline;
    if (kill_at && (next < 0 || kill_at < next))
        next = kill_at;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

/* The keeper's loss callback, on its watchdog thread: SIGTERM goes to CMD
 * at once, without waiting for the main loop to wake up and read the
 * keeper's fd -- every millisecond counts between the local deadline and
 * the server's expiry. The main loop then starts the kill-grace timer. */
static void stop_on_loss(void *ctx, const char *lock_name, const char *reason)
{
    run_state *r = ctx;
    (void)lock_name;
    (void)reason;
    pid_t group = atomic_load(&r->live_group);
    if (group > 0)
        kill(-group, SIGTERM);
}

/* Waits for the guard, stopping CMD on lease loss, timeout or signals. */
static void supervise(run_state *r)
{
    int64_t deadline = r->args.timeout_ms ? now_ms() + r->args.timeout_ms : 0;
    int64_t kill_at = 0;
    struct pollfd fds[2] = {{r->sigfd, POLLIN, 0}, {lc_keeper_fd(r->keeper), POLLIN, 0}};
    for (;;) {
        int n = poll(fds, 2, poll_timeout(r, deadline, kill_at));
        if (n < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN && on_signals(r, &kill_at)) {
            /* Whatever CMD left behind in its group must not outlive the
             * lease either. */
            signal_group(r, SIGKILL);
            return;
        }
        if (r->why == RUN_DONE &&
            lc_keeper_lost(r->keeper, r->lease, r->reason, sizeof(r->reason))) {
            begin_stop(r, RUN_LOST, SIGTERM, &kill_at);
            fds[1].fd = -1; /* signalled once; stop polling it */
        }
        int64_t now = now_ms();
        if (deadline && r->why == RUN_DONE && now >= deadline)
            begin_stop(r, RUN_TIMEOUT, SIGTERM, &kill_at);
        if (kill_at && now >= kill_at) {
            signal_group(r, SIGKILL);
            kill_at = 0;
        }
    }
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_INTERNAL;
}

/* The run's outcome as recorded: the error text, NULL for success. */
static const char *describe(run_state *r, int code, char *buf, size_t size)
{
    char d[32];
    switch (r->why) {
    case RUN_LOST: snprintf(buf, size, "lease lost: %s", r->reason); return buf;
    case RUN_TIMEOUT:
        snprintf(buf, size, "timed out after %s",
                 lc_duration_format(r->args.timeout_ms, d, sizeof(d)));
        return buf;
    default: break;
    }
    if (WIFSIGNALED(r->status)) {
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(r->status),
                 strsignal(WTERMSIG(r->status)));
        return buf;
    }
    if (code != 0) {
        snprintf(buf, size, "exit status %d", code);
        return buf;
    }
    return NULL;
}

static void print_result(run_state *r, int code, const char *error, const char *outcome_name)
{
    if (!r->app->json)
        return;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "lock", r->name);
        cJSON_AddNumberToObject(o, "fence", (double)lc_lease_fence(r->lease));
        cJSON_AddStringToObject(o, "outcome", outcome_name);
        cJSON_AddNumberToObject(o, "exit_code", code);
        if (error)
            cJSON_AddStringToObject(o, "error", error);
        else
            cJSON_AddNullToObject(o, "error");
    }
    cli_print_json(o);
}

/* Releases (or, after a loss, only records) and picks the exit code. */
static int finish(run_state *r)
{
    if (r->why != RUN_LOST)
        lc_keeper_lost(r->keeper, r->lease, r->reason, sizeof(r->reason));
    lc_status lost = lc_keeper_remove(r->keeper, r->lease);
    if (lost)
        r->why = RUN_LOST;
    /* Lost at the local deadline: the backend did not answer in time, so
     * nothing is sent now (it would only wait for the same silence); the
     * lease expires by itself. */
    int unreachable = lost == LC_ERR_UNAVAILABLE;
    int code = exit_code_of(r->status);
    char ebuf[512];
    const char *error = describe(r, code, ebuf, sizeof(ebuf));
    lc_run_result res = {1, code, error};
    lc_error err;
    if (r->why != RUN_LOST) {
        lc_status st = lc_release(r->app->client, r->lease, &res, &err);
        if (st == LC_ERR_LOST) {
            snprintf(r->reason, sizeof(r->reason), "%s", err.message);
            r->why = RUN_LOST;
            error = "the command finished but the lease was already lost: the work ran "
                    "without the guarantee";
            res.error = error;
        } else if (st != LC_OK) {
            fprintf(stderr, "lockcoord: run %s: release: %s; the lease expires by itself\n",
                    r->name, err.message);
        }
    }
    if (r->why == RUN_LOST) {
        if (unreachable)
            fprintf(stderr,
                    "lockcoord: run %s: the backend is unreachable: the run is not "
                    "recorded and the lease expires by itself\n",
                    r->name);
        else if (lc_record_run(r->app->client, r->name, &res, &err) != LC_OK)
            fprintf(stderr, "lockcoord: run %s: recording the run: %s\n", r->name, err.message);
        fprintf(stderr, "lockcoord: run %s: %s\n", r->name, error ? error : r->reason);
        print_result(r, EXIT_LOST, error, "lost");
        return EXIT_LOST;
    }
    if (r->why == RUN_TIMEOUT) {
        fprintf(stderr, "lockcoord: run %s: %s; the command was stopped\n", r->name, error);
        print_result(r, EXIT_TIMEOUT, error, "timeout");
        return EXIT_TIMEOUT;
    }
    print_result(r, code, error, code == 0 ? "ok" : r->why == RUN_SIGNALED ? "signaled" : "failed");
    return code;
}

/* Validates the timing options against each other and the config. */
static int settle_timing(cli *app, run_args *a)
{
    const lc_config *cfg = app->cfg;
    int64_t ttl = a->acq.ttl_ms ? a->acq.ttl_ms : cfg->lock.ttl_ms;
    if (a->renew_every_ms == 0)
        a->renew_every_ms = a->acq.ttl_ms ? ttl / 3 : cfg->lock.renew_every_ms;
    if (a->renew_every_ms <= 0 || a->renew_every_ms * 2 >= ttl) {
        char d1[32], d2[32];
        return cli_usage(app, "--renew-every (%s) must be less than half the ttl (%s)",
                         lc_duration_format(a->renew_every_ms, d1, sizeof(d1)),
                         lc_duration_format(ttl, d2, sizeof(d2)));
    }
    if (a->kill_grace_ms == 0)
        a->kill_grace_ms = 5000;
    return 0;
}

static int start(run_state *r, char **cmd)
{
    cli *app = r->app;
    lc_error err;
    char what[LC_NAME_MAX + 16];
    snprintf(what, sizeof(what), "run %s", r->name);
    if (lc_acquire(app->client, r->name, &r->args.acq, &r->lease, &err) != LC_OK) {
        int code = cli_fail(app, what, r->name, &err);
        return err.code == LC_ERR_CONFLICT ? r->args.conflict_exit : code;
    }
    lc_client_opts co;
    memset(&co, 0, sizeof(co));
    co.log = cli_log;
    co.log_ctx = app;
    lc_keeper_opts ko = {r->args.renew_every_ms, stop_on_loss, r};
    if (lc_keeper_start(app->cfg, &co, &ko, &r->keeper, &err) != LC_OK ||
        lc_keeper_add(r->keeper, r->lease, &err) != LC_OK) {
        int code = cli_fail(app, what, r->name, &err);
        lc_run_result res = {0, 0, "could not start the lease keeper"};
        lc_release(app->client, r->lease, &res, &err);
        return code;
    }
    r->guard = cli_spawn(cmd, r->lease);
    if (r->guard > 0)
        atomic_store(&r->live_group, r->guard);
    if (r->guard < 0) {
        fprintf(stderr, "lockcoord: %s: fork: %s\n", what, strerror(errno));
        lc_keeper_remove(r->keeper, r->lease);
        lc_run_result res = {0, 0, "could not start the command"};
        lc_release(app->client, r->lease, &res, &err);
        return EXIT_INTERNAL;
    }
    return 0;
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
    run_state r;
    memset(&r, 0, sizeof(r));
    atomic_init(&r.live_group, 0);
    r.app = app;
    r.sigfd = -1;
    r.args.conflict_exit = EXIT_CONFLICT;
    const char *pos[8];
    int npos, rest, done;
    int rc = cli_parse(app, &cli_cmd_run, argc, argv, "", opts, on_opt, &r.args, pos, 8, &npos,
                       &rest, &done);
    if (rc || done)
        return rc;
    if (npos == 0)
        return cli_usage(app, "a lock NAME is required");
    if (npos > 1 || rest < 0)
        return cli_usage(app, "missing '--' before the command");
    if (rest >= argc)
        return cli_usage(app, "no command after '--'");
    r.name = pos[0];
    if ((rc = cli_check_name(app, r.name)) != 0 || (rc = cli_load_config(app)) != 0 ||
        (rc = settle_timing(app, &r.args)) != 0 || (rc = cli_open(app)) != 0)
        return rc;

    /* Block the signals we wait for before any thread starts, so only the
     * signalfd sees them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    r.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r.sigfd < 0) {
        fprintf(stderr, "lockcoord: run: signalfd: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    rc = start(&r, argv + rest);
    if (rc == 0) {
        supervise(&r);
        rc = finish(&r);
    }
    lc_keeper_stop(r.keeper);
    lc_lease_free(r.lease);
    close(r.sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

const cli_command cli_cmd_run = {
    "run",
    run,
    "run NAME [--ttl D] [--renew-every D] [--wait D] [--timeout D] [--kill-grace D]\n"
    "      [--conflict-exit-code N] [--owner S] -- CMD ARGS...",
    "Takes a lease on NAME, runs CMD under it and keeps renewing it. CMD runs in\n"
    "its own process group with LOCKCOORD_LOCK, LOCKCOORD_TOKEN, LOCKCOORD_FENCE,\n"
    "LOCKCOORD_OWNER and LOCKCOORD_CHECKPOINT set, and dies with lockcoord. When\n"
    "the lease is lost or --timeout passes, CMD gets SIGTERM, then SIGKILL after\n"
    "--kill-grace (default 5s); SIGINT/SIGTERM/SIGHUP to lockcoord are forwarded.\n"
    "The lease is always released and the run recorded.\n\n"
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
