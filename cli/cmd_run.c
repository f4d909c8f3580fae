/* cli/cmd_run.c -- `run NAME [options] -- CMD ARGS...`: take a lease, run
 * CMD under it while the keeper renews it, stop CMD when the lease is lost
 * or the timeout passes, and always release and record the run.
 *
 * Process layout: lockcoord forks a small guard process that leads a new
 * process group and forks CMD inside it. The guard is a child subreaper, so
 * CMD's descendants that leave the group are reparented to it when their
 * parent dies; when CMD exits, and when lockcoord dies (the guard gets
 * SIGUSR2, PR_SET_PDEATHSIG), it kills every descendant left, so no part of
 * the work outlives a lockcoord killed with -9 either. The guard also
 * enforces the lease's local deadline, which the keeper's renewal hook
 * writes to memory shared with it, so CMD is stopped in time even while
 * lockcoord is frozen. The guard passes CMD's exit status on as its own.
 * On a terminal, the group is the terminal's foreground group while CMD
 * runs, and stops and continues as one shell job with lockcoord. */
#include "cli.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
    case 't': return cli_duration_opt_min(app, "ttl", arg, LC_TTL_MIN_MS, &a->acq.ttl_ms);
    case 'r':
        return cli_duration_opt_min(app, "renew-every", arg, LC_PERIOD_MIN_MS, &a->renew_every_ms);
    case 'w':
        if (cli_duration_opt(app, "wait", arg, &a->acq.wait_ms) != 0)
            return EXIT_USAGE;
        if (a->acq.wait_ms == 0)
            a->acq.wait_ms = -1;
        return 0;
    case 'T': return cli_duration_opt(app, "timeout", arg, &a->timeout_ms);
    case 'g':
        if (cli_duration_opt(app, "kill-grace", arg, &a->kill_grace_ms) != 0)
            return EXIT_USAGE;
        if (a->kill_grace_ms == 0)
            a->kill_grace_ms = -1; /* an explicit 0s: SIGKILL right after SIGTERM */
        return 0;
    case 'o': a->acq.owner = arg; return cli_text_opt(app, "owner", arg);
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
    cli_guard guard;        /* pid 0 until CMD started */
    cli_deadline *deadline; /* the lease's, shared with the guard */
    atomic_int live_group;  /* the guard's pid while it runs, else 0 */
    int sigfd;
    outcome why;
    char reason[384];
    int status; /* the guard's wait status */
} run_state;

/* Sends sig to CMD's process group (the guard ignores it). */
static void signal_group(run_state *r, int sig)
{
    if (r->guard.pid > 0)
        kill(-r->guard.pid, sig);
}

static void begin_stop(run_state *r, outcome why, int sig, int64_t *kill_at)
{
    if (r->why == RUN_DONE)
        r->why = why;
    signal_group(r, sig);
    if (*kill_at == 0)
        *kill_at = now_ms() + r->args.kill_grace_ms;
}

/* CMD was stopped and the guard with it (Ctrl-Z on the terminal): stop
 * lockcoord too, as the shell's job, and continue CMD when lockcoord is
 * continued -- with SIGTERM first if the lease's local deadline passed
 * meanwhile (the keeper declares the loss; CMD must not run on first). */
static void suspend_job(run_state *r)
{
    cli_guard_suspend(&r->guard);
    if (lc_clock_system()->mono_ns(NULL) >= lc_keeper_deadline_ns(r->keeper, r->lease))
        signal_group(r, SIGTERM);
    cli_guard_resume(&r->guard);
}

/* Reaps the guard if it exited (returns 1); suspends with it if stopped. */
static int reap_guard(run_state *r)
{
    int status;
    while (waitpid(r->guard.pid, &status, CLI_GUARD_WAIT_FLAGS(&r->guard)) == r->guard.pid) {
        if (!WIFSTOPPED(status)) {
            r->status = status;
            atomic_store(&r->live_group, 0);
            return 1;
        }
        suspend_job(r);
    }
    return 0;
}

/* Handles what signalfd delivered; returns 1 when the guard has exited. */
static int on_signals(run_state *r, int64_t *kill_at)
{
    struct signalfd_siginfo si;
    int exited = 0;
    while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            exited |= reap_guard(r);
        } else {
            cli_note_signal(r->app, (int)si.ssi_signo);
            begin_stop(r, RUN_SIGNALED, (int)si.ssi_signo, kill_at);
        }
    }
    return exited;
}

/* poll()'s timeout until the next of the two times (-1: neither). A wait
 * longer than poll can take (INT_MAX ms, under 25 days) is cut short: the
 * loop wakes up, finds nothing due, and polls again. */
static int poll_timeout(const run_state *r, int64_t deadline, int64_t kill_at)
{
    int64_t next = -1, now = now_ms();
    if (deadline && r->why == RUN_DONE)
        next = deadline;
    if (kill_at && (next < 0 || kill_at < next))
        next = kill_at;
    if (next < 0)
        return -1;
    if (next <= now)
        return 0;
    return next - now > INT_MAX ? INT_MAX : (int)(next - now);
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

/* The keeper's renewal hook, on its renewer thread: the guard enforces the
 * new local deadline too, so CMD is stopped in time even when lockcoord is
 * not running to do it (SIGSTOP, starved). */
static void pass_deadline(void *ctx, const char *lock_name, int64_t deadline_ns)
{
    run_state *r = ctx;
    (void)lock_name;
    atomic_store(&r->deadline->ns, deadline_ns);
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
        if (r->lease)
            cJSON_AddNumberToObject(o, "fence", (double)lc_lease_fence(r->lease));
        else
            cJSON_AddNullToObject(o, "fence");
        cJSON_AddStringToObject(o, "outcome", outcome_name);
        cJSON_AddNumberToObject(o, "exit_code", code);
        if (error)
            cJSON_AddStringToObject(o, "error", error);
        else
            cJSON_AddNullToObject(o, "error");
    }
    cli_print_json(o);
}

/* Stops keeping the lease and settles whether it was lost, and why;
 * returns what lc_keeper_remove said. */
static int settle_loss(run_state *r)
{
    int known =
        r->why == RUN_LOST || lc_keeper_lost(r->keeper, r->lease, r->reason, sizeof(r->reason));
    lc_status lost = lc_keeper_remove(r->keeper, r->lease);
    if (lost && !known) /* declared between the two calls: no reason copied */
        snprintf(r->reason, sizeof(r->reason), "%s",
                 lost == LC_ERR_TIMEOUT       ? "deadline passed while lockcoord was not running"
                 : lost == LC_ERR_UNAVAILABLE ? "deadline passed while the backend was unreachable"
                                              : "not held with this token any more");
    if (lost)
        r->why = RUN_LOST;
    if (atomic_load(&r->deadline->passed)) {
        /* The lease's local deadline passed while CMD ran, whether or not
         * the keeper got to say so yet (lockcoord stopped or starved). */
        if (r->why != RUN_LOST)
            snprintf(r->reason, sizeof(r->reason),
                     "the local deadline passed before the command ended");
        r->why = RUN_LOST;
        size_t n = strlen(r->reason);
        snprintf(r->reason + n, sizeof(r->reason) - n,
                 "; the guard stopped the command at the deadline");
    }
    return lost;
}

/* Releases (or, after a loss, only records) and picks the exit code. */
static int finish(run_state *r)
{
    int lost = settle_loss(r);
    /* Lost at the local deadline: the backend did not answer in time, so
     * nothing is sent now (it would only wait for the same silence); the
     * lease expires by itself. */
    int unreachable = lost == LC_ERR_UNAVAILABLE;
    int code = exit_code_of(r->status);
    char ebuf[512];
    const char *error = describe(r, code, ebuf, sizeof(ebuf));
    lc_run_result res = {.has_exit = 1, .exit_code = code, .error = error};
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
    else if (a->kill_grace_ms < 0)
        a->kill_grace_ms = 0;
    return 0;
}

/* The signals that stop a run; SIGCHLD joins them once CMD is started. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* A stop signal received before CMD started (the signalfd holds nothing
 * else yet), or 0. */
static int pending_stop(run_state *r)
{
    struct signalfd_siginfo si;
    if (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        return (int)si.ssi_signo;
    return 0;
}

/* A stop signal ended the run before CMD started: 128+N, as if CMD had got
 * it, and never the command's success. */
static int interrupted(run_state *r, int sig, const char *when)
{
    char msg[192];
    snprintf(msg, sizeof(msg), "interrupted by signal %d (%s) %s", sig, strsignal(sig), when);
    fprintf(stderr, "lockcoord: run %s: %s\n", r->name, msg);
    print_result(r, 128 + sig, msg, "interrupted");
    return 128 + sig;
}

/* Gives the lease back when CMD did not start, recording why. */
static void give_back(run_state *r, const char *why)
{
    lc_error err;
    if (r->keeper)
        lc_keeper_remove(r->keeper, r->lease);
    lc_run_result res = {.has_exit = 0, .exit_code = 0, .error = why};
    if (lc_release(r->app->client, r->lease, &res, &err) != LC_OK)
        fprintf(stderr, "lockcoord: run %s: release: %s; the lease expires by itself\n", r->name,
                err.message);
}

/* Takes the lease. Returns 1 when it is ours; 0 with the run's exit code
 * in *code when not (a conflict, an error, a stop signal while waiting). */
static int take_lease(run_state *r, const char *what, int *code)
{
    lc_error err;
    r->args.acq.cancel_fd = r->sigfd; /* a stop signal ends the wait */
    lc_status st = lc_acquire(r->app->client, r->name, &r->args.acq, &r->lease, &err);
    if (st == LC_OK)
        return 1;
    int sig = st == LC_ERR_CANCELLED ? pending_stop(r) : 0;
    if (sig)
        *code = interrupted(r, sig, "while waiting for the lock; nothing was acquired");
    else
        *code = cli_fail(r->app, what, r->name, &err);
    if (st == LC_ERR_CONFLICT)
        *code = r->args.conflict_exit;
    return 0;
}

/* Takes the lease and starts CMD under it. Returns 1 when CMD runs (the
 * caller supervises and finishes it), or 0 when it never started, with the
 * exit code of the run in *code. Which of the two happened is never read
 * from the code: --conflict-exit-code may well be 0. */
static int start(run_state *r, char **cmd, int *code)
{
    cli *app = r->app;
    lc_error err;
    char what[LC_NAME_MAX + 16];
    snprintf(what, sizeof(what), "run %s", r->name);
    if (!take_lease(r, what, code))
        return 0;
    lc_client_opts co;
    memset(&co, 0, sizeof(co));
    co.log = cli_log;
    co.log_ctx = app;
    lc_keeper_opts ko = {.renew_every_ms = r->args.renew_every_ms,
                         .on_loss = stop_on_loss,
                         .loss_ctx = r,
                         .on_renew = pass_deadline,
                         .renew_ctx = r};
    if ((r->deadline = cli_deadline_new(lc_lease_deadline_ns(r->lease))) == NULL) {
        fprintf(stderr, "lockcoord: %s: mmap: %s\n", what, strerror(errno));
        give_back(r, "could not start the command");
        *code = EXIT_INTERNAL;
        return 0;
    }
    if (lc_keeper_start(app->cfg, &co, &ko, &r->keeper, &err) != LC_OK ||
        lc_keeper_add(r->keeper, r->lease, &err) != LC_OK) {
        *code = cli_fail(app, what, r->name, &err);
        give_back(r, "could not start the lease keeper");
        return 0;
    }
    /* The last moment a stop signal keeps CMD from starting; from here on
     * it stays in the signalfd and supervise() passes it on to CMD. */
    int sig = pending_stop(r);
    if (sig) {
        char why[128];
        snprintf(why, sizeof(why), "interrupted by signal %d (%s) before the command started", sig,
                 strsignal(sig));
        give_back(r, why);
        *code = interrupted(r, sig, "before the command started; the lock was released");
        return 0;
    }
    sigset_t set;
    stop_signals(&set);
    sigaddset(&set, SIGCHLD);
    cli_spawn_opts so = {r->deadline, r->args.kill_grace_ms};
    if (signalfd(r->sigfd, &set, SFD_NONBLOCK | SFD_CLOEXEC) < 0 ||
        cli_spawn(cmd, r->lease, &so, &r->guard) != 0) {
        fprintf(stderr, "lockcoord: %s: starting the command: %s\n", what, strerror(errno));
        give_back(r, "could not start the command");
        *code = EXIT_INTERNAL;
        return 0;
    }
    atomic_store(&r->live_group, r->guard.pid);
    return 1;
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
     * signalfd sees them. Until CMD starts it holds only the stop signals
     * (and cancels a waiting acquire); SIGCHLD is added then. */
    sigset_t set, old;
    stop_signals(&set);
    sigaddset(&set, SIGCHLD);
    /* Blocked, not watched: lockcoord hands the terminal to CMD's group and
     * takes it back, and may write to it while in the background. */
    sigaddset(&set, SIGTTOU);
    sigprocmask(SIG_BLOCK, &set, &old);
    stop_signals(&set);
    r.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r.sigfd == 0) { /* stdin was closed; 0 would mean "no cancel fd" */
        r.sigfd = fcntl(0, F_DUPFD_CLOEXEC, 1);
        close(0);
    }
    if (r.sigfd < 0) {
        fprintf(stderr, "lockcoord: run: signalfd: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return EXIT_INTERNAL;
    }
    if (start(&r, argv + rest, &rc)) {
        supervise(&r);
        cli_guard_end(&r.guard);
        rc = finish(&r);
    }
    lc_keeper_stop(r.keeper);
    cli_deadline_free(r.deadline);
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
