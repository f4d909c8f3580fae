/* runner/run.c -- lc_run and lc_run_under: a command under a lease, from
 * the start to the record (the guard process is runner/guard.c).
 *
 * The calling thread supervises: it polls the guard's pidfd (the command
 * ended), an eventfd the lease's on_loss hook writes (the keeper declared
 * the lease lost), the caller's stop_fd, and the guard's report pipe (the
 * command was stopped on a terminal), with the timeout or the kill grace
 * as poll's timeout. The keeper's threads talk to the run through its
 * hooks of this one lease only (lc_keeper_hook), so a keeper shared by many
 * runs works the same as one of the run's own: on_loss sends SIGTERM to
 * the command at once, from the keeper's thread, before the supervising
 * thread even wakes up; on_renew moves the deadline the guard enforces. */
#include "runner/run_int.h"

#include "core/client_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"
#include "core/keeper_int.h"
#include "core/timing_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* Why the run stopped the command; the first reason stays, but a loss
 * found at the end overrides every other. */
typedef enum stop_why {
    WHY_NONE = 0,
    WHY_LOST,
    WHY_TIMEOUT,
    WHY_ASKED /* stop_fd */
} stop_why;

/* Everything one run holds, so cleanup has one place. */
typedef struct run_state {
    lc_run_opts o; /* the caller's, timing settled */
    char *const *argv;
    lc_keeper *keeper;
    lc_lease *lease;
    char name[LC_NAME_MAX + 1];
    lc__deadline *deadline; /* the lease's, shared with the guard */
    int wake;               /* eventfd: the lease's on_loss writes it */
    int hooked;             /* the lease's hooks are set */
    lc__guard guard;        /* pid 0 until the command started */
    atomic_int live_group;  /* the guard's pid until it exited, else 0 */
    stop_why why;
    int stop_signal;
    char reason[384]; /* why the lease was lost */
    int reaped;       /* 1: status is the guard's; -1: it could not be collected */
    int status;       /* the guard's wait status */
} run_state;

/* Real monotonic ms: the timeout and the kill grace are measured on it
 * (poll waits on it), whatever clock the keeper reads. */
static int64_t now_ms(void)
{
    return lc__mono_ns(NULL) / 1000000;
}

static void run_init(run_state *r, const lc_run_opts *opts, char *const argv[])
{
    static const lc_run_opts none;
    memset(r, 0, sizeof(*r));
    r->o = opts ? *opts : none;
    r->argv = argv;
    r->wake = -1;
    r->guard.pidfd = r->guard.report = -1;
    atomic_init(&r->live_group, 0);
}

static void report_init(lc_run_report *out)
{
    memset(out, 0, sizeof(*out));
    out->outcome = LC_RUN_ERROR;
    out->exit_code = -1;
    out->holder.expires_in_ms = -1;
}

static int has_command(char *const argv[])
{
    return argv != NULL && argv[0] != NULL && argv[0][0] != '\0';
}

/* ------------------------------------------------------------------------ */
/* The lease's hooks, on the keeper's threads                               */
/* ------------------------------------------------------------------------ */

/* SIGTERM goes to the command at once, without waiting for the
 * supervising thread to wake up: every millisecond counts between the
 * local deadline and the server's expiry. The supervisor then starts the
 * kill grace. */
static void stop_on_loss(void *ctx, const char *lock_name, const char *reason)
{
    run_state *r = ctx;
    (void)lock_name;
    (void)reason;
    pid_t group = atomic_load(&r->live_group);
    if (group > 0)
        kill(-group, SIGTERM);
    uint64_t one = 1;
    if (write(r->wake, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, so the fd is readable already. */
    }
}

/* The guard enforces the new local deadline too. The keeper's clock may
 * be an injected one: only the distance is carried over to the real
 * monotonic clock the guard reads (read first, so any error is on the
 * early side). */
static void pass_deadline(void *ctx, const char *lock_name, int64_t deadline_ns)
{
    run_state *r = ctx;
    (void)lock_name;
    int64_t real = lc__mono_ns(NULL);
    int64_t left = deadline_ns - lc__keeper_now_ns(r->keeper);
    atomic_store(&r->deadline->ns, lc__add_sat(real, left));
}

/* Sets up what the command runs with: the shared deadline, the wake-up
 * eventfd, the lease's hooks (which set the deadline at once). */
static lc_status prepare(run_state *r, lc_error *err)
{
    if ((r->deadline = lc__deadline_new(0)) == NULL)
        return lc__err(err, LC_ERR_INTERNAL, errno, "mmap: %s", strerror(errno));
    if ((r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return lc__err(err, LC_ERR_INTERNAL, errno, "eventfd: %s", strerror(errno));
    lc_lease_hooks h = {stop_on_loss, r, pass_deadline, r};
    lc_status rc = lc_keeper_hook(r->keeper, r->lease, &h, err);
    r->hooked = rc == LC_OK;
    return rc;
}

/* Undoes prepare; once the hooks are cleared no keeper thread touches r. */
static void unprepare(run_state *r)
{
    if (r->hooked)
        lc_keeper_hook(r->keeper, r->lease, NULL, NULL);
    r->hooked = 0;
    if (r->wake >= 0)
        close(r->wake);
    r->wake = -1;
    lc__deadline_free(r->deadline);
    r->deadline = NULL;
}

/* ------------------------------------------------------------------------ */
/* Stop requests                                                            */
/* ------------------------------------------------------------------------ */

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The next stop signal in a signalfd stop_fd, 0 when none is waiting (it
 * is read only when poll says so, so a blocking signalfd never blocks). */
static int next_signal(int fd)
{
    struct signalfd_siginfo si;
    while (readable(fd)) {
        if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
            return 0;
        if (si.ssi_signo != SIGCHLD)
            return (int)si.ssi_signo;
    }
    return 0;
}

/* A stop asked for before the command started: its signal (a signalfd
 * stop_fd; read, so it is not passed on later), SIGTERM for a plain
 * descriptor that is readable, 0 when none. */
static int pending_stop(run_state *r)
{
    if (r->o.stop_fd <= 0)
        return 0;
    if (r->o.stop_fd_is_signalfd)
        return next_signal(r->o.stop_fd);
    return readable(r->o.stop_fd) ? SIGTERM : 0;
}

static void note_stop_signal(run_state *r, int sig)
{
    if (r->stop_signal == 0)
        r->stop_signal = sig;
}

/* "interrupted by signal N (NAME) WHEN", or without the signal part when
 * the stop came from a plain descriptor. */
static void interrupted_text(char *buf, size_t size, int sig, const char *when)
{
    if (sig)
        snprintf(buf, size, "interrupted by signal %d (%s) %s", sig, strsignal(sig), when);
    else
        snprintf(buf, size, "interrupted %s", when);
}

/* ------------------------------------------------------------------------ */
/* Supervising the command                                                  */
/* ------------------------------------------------------------------------ */

static lc_status start_command(run_state *r, lc_error *err)
{
    lc__spawn_opts so = {r->lease, r->o.env, r->deadline, r->o.timing.kill_grace_ms,
                         r->o.foreground};
    if (lc__spawn(r->argv, &so, &r->guard) != 0)
        return lc__err(err, LC_ERR_INTERNAL, errno, "starting the command: %s", strerror(errno));
    atomic_store(&r->live_group, r->guard.pid);
    return LC_OK;
}

/* Sends sig to the command's process group (the guard ignores it). */
static void signal_group(run_state *r, int sig)
{
    if (r->guard.pid > 0 && r->reaped == 0)
        kill(-r->guard.pid, sig);
}

static void begin_stop(run_state *r, stop_why why, int sig, int64_t *kill_at)
{
    if (r->why == WHY_NONE)
        r->why = why;
    signal_group(r, sig);
    if (*kill_at == 0)
        *kill_at = lc__add_sat(now_ms(), r->o.timing.kill_grace_ms);
}

/* The command was stopped on the terminal: stop the caller too, as the
 * shell's job, and continue the command when it is continued -- with
 * SIGTERM first if the lease's local deadline passed meanwhile (the keeper
 * declares the loss; the command must not run on first). */
static void suspend_job(run_state *r)
{
    lc__guard_suspend(&r->guard);
    if (lc__keeper_now_ns(r->keeper) >= lc_keeper_deadline_ns(r->keeper, r->lease))
        signal_group(r, SIGTERM);
    lc__guard_resume(&r->guard);
}

/* Reaps the guard once its pidfd said it exited. The group is forgotten
 * first, so the loss hook never signals a reused pid. */
static void reap_guard(run_state *r)
{
    atomic_store(&r->live_group, 0);
    r->reaped = lc__guard_reap(&r->guard, &r->status);
}

/* Handles a readable stop_fd. */
static void on_stop_fd(run_state *r, struct pollfd *p, int64_t *kill_at)
{
    if (!r->o.stop_fd_is_signalfd) {
        note_stop_signal(r, 0);
        begin_stop(r, WHY_ASKED, SIGTERM, kill_at);
        p->fd = -1; /* never read: it stays readable; once is enough */
        return;
    }
    int sig;
    while ((sig = next_signal(p->fd)) != 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "got %s; passing it on to the command", strsignal(sig));
        lc__keeper_log(r->keeper, LC_LOG_INFO, msg);
        note_stop_signal(r, sig);
        begin_stop(r, WHY_ASKED, sig, kill_at);
    }
}

/* poll()'s timeout until the next of the two times (-1: neither). A wait
 * longer than poll can take (INT_MAX ms, under 25 days) is cut short: the
 * loop wakes up, finds nothing due, and polls again. */
static int poll_timeout(const run_state *r, int64_t deadline, int64_t kill_at)
{
    int64_t next = -1, now = now_ms();
    if (deadline && r->why == WHY_NONE)
        next = deadline;
    if (kill_at && (next < 0 || kill_at < next))
        next = kill_at;
    if (next < 0)
        return -1;
    if (next <= now)
        return 0;
    return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* Waits for the guard, stopping the command on lease loss, timeout or a
 * stop request. Returns once the guard is reaped. */
static void supervise(run_state *r)
{
    int64_t deadline = r->o.timeout_ms > 0 ? lc__add_sat(now_ms(), r->o.timeout_ms) : 0;
    int64_t kill_at = 0;
    struct pollfd fds[4] = {
        {r->guard.pidfd, POLLIN, 0},
        {r->wake, POLLIN, 0},
        {r->o.stop_fd > 0 ? r->o.stop_fd : -1, POLLIN, 0},
        {r->guard.report, POLLIN, 0},
    };
    for (;;) {
        int n = poll(fds, 4, poll_timeout(r, deadline, kill_at));
        if (n < 0 && errno != EINTR) {
            /* Nothing can be watched any more: end the command now. */
            signal_group(r, SIGKILL);
            kill(r->guard.pid, SIGKILL);
            reap_guard(r);
            return;
        }
        if (n > 0 && fds[3].revents) {
            if (lc__guard_read(&r->guard) && r->guard.terminal)
                suspend_job(r);
            fds[3].fd = r->guard.report;
        }
        if (n > 0 && fds[2].revents & POLLIN)
            on_stop_fd(r, &fds[2], &kill_at);
        if (n > 0 && fds[0].revents & POLLIN) {
            reap_guard(r);
            /* Whatever the command left behind in its group must not
             * outlive the lease either. */
            if (r->reaped > 0)
                kill(-r->guard.pid, SIGKILL);
            return;
        }
        if (n > 0 && fds[1].revents & POLLIN) {
            uint64_t count; /* drained: a loss after another stop must not spin the loop */
            if (read(r->wake, &count, sizeof(count)) < 0) {
                /* EAGAIN: drained already */
            }
        }
        if (r->why == WHY_NONE && lc_keeper_lost(r->keeper, r->lease, r->reason, sizeof(r->reason)))
            begin_stop(r, WHY_LOST, SIGTERM, &kill_at);
        int64_t now = now_ms();
        if (deadline && r->why == WHY_NONE && now >= deadline)
            begin_stop(r, WHY_TIMEOUT, SIGTERM, &kill_at);
        if (kill_at && now >= kill_at) {
            signal_group(r, SIGKILL);
            kill_at = 0;
        }
    }
}

/* Starts the command and supervises it to its end. */
static lc_status run_command(run_state *r, lc_error *err)
{
    lc_status rc = start_command(r, err);
    if (rc != LC_OK)
        return rc;
    supervise(r);
    lc__guard_read(&r->guard); /* an exec failure the command reported */
    lc__guard_close(&r->guard);
    return LC_OK;
}

/* ------------------------------------------------------------------------ */
/* The outcome                                                              */
/* ------------------------------------------------------------------------ */

/* Settles whether the lease was lost while the command ran, and why.
 * `lost` is what the keeper said last (lc_keeper_remove, or
 * lc_keeper_lost for a lease it keeps on); `known` whether r->reason has
 * the keeper's reason already. */
static void settle_loss(run_state *r, int known, lc_status lost)
{
    if (lost && !known) /* declared after the reason was asked: say how */
        snprintf(r->reason, sizeof(r->reason), "%s",
                 lost == LC_ERR_TIMEOUT       ? "deadline passed while this process was not running"
                 : lost == LC_ERR_UNAVAILABLE ? "deadline passed while the backend was unreachable"
                                              : "not held with this token any more");
    if (lost)
        r->why = WHY_LOST;
    if (atomic_load(&r->deadline->passed)) {
        /* The lease's local deadline passed while the command ran, whether
         * or not the keeper got to say so yet (the process stopped or
         * starved). */
        if (r->why != WHY_LOST)
            snprintf(r->reason, sizeof(r->reason),
                     "the local deadline passed before the command ended");
        r->why = WHY_LOST;
        size_t n = strlen(r->reason);
        snprintf(r->reason + n, sizeof(r->reason) - n,
                 "; the guard stopped the command at the deadline");
    }
}

/* The command's exit status and the run's error text and outcome, from
 * what supervise saw and settle_loss decided. */
static void describe(const run_state *r, lc_run_report *out)
{
    char d[32];
    out->started = 1;
    out->exec_errno = r->guard.exec_errno;
    out->stop_signal = r->stop_signal;
    if (r->reaped > 0 && WIFEXITED(r->status)) {
        out->exit_code = WEXITSTATUS(r->status);
    } else if (r->reaped > 0 && WIFSIGNALED(r->status)) {
        out->term_signal = WTERMSIG(r->status);
        out->exit_code = 128 + out->term_signal;
    }
    char *e = out->error;
    size_t size = sizeof(out->error);
    if (r->why == WHY_LOST)
        snprintf(e, size, "lease lost: %s", r->reason);
    else if (r->why == WHY_TIMEOUT)
        snprintf(e, size, "timed out after %s", lc_duration_format(r->o.timeout_ms, d, sizeof(d)));
    else if (out->term_signal)
        snprintf(e, size, "killed by signal %d (%s)", out->term_signal,
                 strsignal(out->term_signal));
    else if (out->exit_code < 0)
        snprintf(e, size, "exit status unknown: something else in this process reaped the command");
    else if (out->exit_code != 0)
        snprintf(e, size, "exit status %d", out->exit_code);
    else
        e[0] = '\0';

    if (r->why == WHY_LOST)
        out->outcome = LC_RUN_LOST;
    else if (r->why == WHY_TIMEOUT)
        out->outcome = LC_RUN_TIMEOUT;
    else if (out->exit_code == 0)
        out->outcome = LC_RUN_DONE;
    else if (r->why == WHY_ASKED)
        out->outcome = LC_RUN_INTERRUPTED;
    else if (out->term_signal)
        out->outcome = LC_RUN_SIGNALLED;
    else
        out->outcome = LC_RUN_FAILED;
}

/* The outcome of a run that never started because of rc. */
static lc_run_outcome not_started(lc_status rc)
{
    switch (rc) {
    case LC_ERR_CONFLICT: return LC_RUN_CONFLICT;
    case LC_ERR_CANCELLED: return LC_RUN_INTERRUPTED;
    case LC_ERR_LOST: return LC_RUN_LOST;
    case LC_ERR_UNAVAILABLE:
    case LC_ERR_TIMEOUT: return LC_RUN_UNAVAILABLE;
    default: return LC_RUN_ERROR;
    }
}

/* Fills out for a run that never started, and err from e. */
static lc_status fail(lc_run_report *out, lc_status rc, const lc_error *e, lc_error *err)
{
    out->outcome = not_started(rc);
    if (out->error[0] == '\0')
        lc__strlcpy(out->error, e->message, sizeof(out->error));
    if (rc == LC_ERR_CONFLICT)
        out->holder = e->holder;
    if (err)
        *err = *e;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* lc_run: take, keep, run, give back                                       */
/* ------------------------------------------------------------------------ */

/* What lc_run holds besides the run. */
typedef struct lease_hold {
    lc_client *client;
    lc_client_opts copts; /* the own keeper's client's; borrowed by it */
    lc_keeper *own;       /* a keeper of the run's own, or NULL */
    int kept;             /* the lease is in the keeper */
} lease_hold;

/* Takes the lease, with stop_fd ending a wait. */
static lc_status take(run_state *r, lease_hold *h, const char *name, lc_run_report *out,
                      lc_error *e)
{
    lc_acquire_opts ao = {.ttl_ms = r->o.timing.ttl_ms,
                          .wait_ms = r->o.wait_ms,
                          .owner = r->o.owner,
                          .cancel_fd = r->o.stop_fd};
    lc_status rc = lc_acquire(h->client, name, &ao, &r->lease, e);
    if (rc == LC_ERR_CANCELLED) {
        int sig = r->o.stop_fd_is_signalfd ? next_signal(r->o.stop_fd) : 0;
        out->stop_signal = sig;
        interrupted_text(out->error, sizeof(out->error), sig,
                         "while waiting for the lock; nothing was acquired");
        lc__err(e, LC_ERR_CANCELLED, 0, "%s", out->error);
    }
    if (rc == LC_OK) {
        lc__strlcpy(r->name, lc_lease_name(r->lease), sizeof(r->name));
        out->fence = lc_lease_fence(r->lease);
    }
    return rc;
}

/* Keeps the lease: with the caller's keeper, or one of the run's own. */
static lc_status keep(run_state *r, lease_hold *h, lc_error *e)
{
    r->keeper = r->o.keeper;
    if (r->keeper == NULL) {
        lc__client_opts(h->client, &h->copts);
        lc_keeper_opts ko = {.renew_every_ms = r->o.timing.renew_every_ms};
        lc_status rc = lc_keeper_start(lc_client_config(h->client), &h->copts, &ko, &h->own, e);
        if (rc != LC_OK)
            return rc;
        r->keeper = h->own;
    }
    lc_status rc = lc_keeper_add(r->keeper, r->lease, e);
    h->kept = rc == LC_OK;
    return rc;
}

/* Takes the lease out of the keeper; returns what the keeper said last. */
static lc_status unkeep(run_state *r, lease_hold *h)
{
    lc_status lost = LC_OK;
    if (h->kept)
        lost = lc_keeper_remove(r->keeper, r->lease);
    h->kept = 0;
    return lost;
}

/* How a run's outcome is recorded with the lock. */
static lc_outcome record_outcome(lc_run_outcome o)
{
    switch (o) {
    case LC_RUN_DONE: return LC_OUTCOME_OK;
    case LC_RUN_TIMEOUT: return LC_OUTCOME_TIMEOUT;
    case LC_RUN_LOST: return LC_OUTCOME_LOST;
    case LC_RUN_INTERRUPTED: return LC_OUTCOME_INTERRUPTED;
    default: return LC_OUTCOME_FAILED;
    }
}

/* Gives the lease back when the command did not start, recording why. */
static void give_back(run_state *r, lease_hold *h, const char *why, lc_run_report *out)
{
    unkeep(r, h);
    lc_run_result res = {.error = why};
    lc_error e;
    if (lc_release(h->client, r->lease, &res, &e) == LC_OK)
        out->recorded = 1;
    else
        snprintf(out->note, sizeof(out->note), "release: %s; the lease expires by itself",
                 e.message);
    lc__strlcpy(out->error, why, sizeof(out->error));
}

/* After the command: releases (or, after a loss, only records) and fills
 * in the rest of out. */
static void finish(run_state *r, lease_hold *h, lc_run_report *out)
{
    int known =
        r->why == WHY_LOST || lc_keeper_lost(r->keeper, r->lease, r->reason, sizeof(r->reason));
    lc_status lost = unkeep(r, h);
    settle_loss(r, known, lost);
    describe(r, out);
    /* Lost at the local deadline: the backend did not answer in time, so
     * nothing is sent now (it would only wait for the same silence); the
     * lease expires by itself. */
    int unreachable = lost == LC_ERR_UNAVAILABLE;
    lc_run_result res = {.has_exit = out->exit_code >= 0,
                         .exit_code = out->exit_code,
                         .error = out->error[0] ? out->error : NULL,
                         .outcome = record_outcome(out->outcome)};
    lc_error e;
    if (r->why != WHY_LOST) {
        lc_status st = lc_release(h->client, r->lease, &res, &e);
        if (st == LC_ERR_LOST) {
            lc__strlcpy(r->reason, e.message, sizeof(r->reason));
            r->why = WHY_LOST;
            out->outcome = LC_RUN_LOST;
            lc__strlcpy(out->error,
                        "the command finished but the lease was already lost: the work ran "
                        "without the guarantee",
                        sizeof(out->error));
            res.error = out->error;
            res.outcome = LC_OUTCOME_LOST;
        } else if (st != LC_OK) {
            snprintf(out->note, sizeof(out->note), "release: %s; the lease expires by itself",
                     e.message);
        } else {
            out->recorded = 1;
        }
    }
    if (r->why != WHY_LOST)
        return;
    if (unreachable)
        snprintf(out->note, sizeof(out->note),
                 "the backend is unreachable: the run is not recorded and the lease expires by "
                 "itself");
    else if (lc_record_lost(h->client, r->lease, &res, &e) != LC_OK)
        snprintf(out->note, sizeof(out->note), "recording the run: %s", e.message);
    else
        out->recorded = 1;
}

/* From the lease taken to the lease given back. Returns LC_OK when the
 * command ran; otherwise it did not start, and the lease was given back. */
static lc_status run_held(run_state *r, lease_hold *h, lc_run_report *out, lc_error *e)
{
    lc_status rc = keep(r, h, e);
    if (rc != LC_OK) {
        give_back(r, h, "could not start the lease keeper", out);
        return rc;
    }
    if ((rc = prepare(r, e)) != LC_OK) {
        give_back(r, h, "could not start the command", out);
        return rc;
    }
    /* The last moment a stop keeps the command from starting; from here on
     * a stop is passed on to it. */
    int sig = pending_stop(r);
    if (sig) {
        char why[128];
        out->stop_signal = r->o.stop_fd_is_signalfd ? sig : 0;
        interrupted_text(why, sizeof(why), out->stop_signal, "before the command started");
        unprepare(r);
        give_back(r, h, why, out);
        return lc__err(e, LC_ERR_CANCELLED, 0, "%s", why);
    }
    if ((rc = run_command(r, e)) != LC_OK) {
        unprepare(r);
        give_back(r, h, "could not start the command", out);
        return rc;
    }
    /* The hooks go before the lease leaves the keeper: a loss after this is
     * what lc_keeper_remove returns. */
    if (r->hooked)
        lc_keeper_hook(r->keeper, r->lease, NULL, NULL);
    r->hooked = 0;
    finish(r, h, out);
    unprepare(r);
    return LC_OK;
}

lc_status lc_run(lc_client *c, const char *name, char *const argv[], const lc_run_opts *opts,
                 lc_run_report *out, lc_error *err)
{
    if (out == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "run: no report to fill in");
    report_init(out);
    lc_error e;
    lc__err_clear(&e);
    run_state r;
    run_init(&r, opts, argv);
    if (c == NULL || name == NULL || !has_command(argv))
        return fail(out, lc__err(&e, LC_ERR_INVALID, 0, "run: no client, lock name or command"), &e,
                    err);
    lc_status rc = lc_lease_timing_settle(lc_client_config(c), &r.o.timing, &e);
    lease_hold h = {.client = c};
    if (rc == LC_OK)
        rc = take(&r, &h, name, out, &e);
    if (rc == LC_OK) {
        rc = run_held(&r, &h, out, &e);
        lc_keeper_stop(h.own);
        lc_lease_free(r.lease);
    }
    if (rc != LC_OK)
        return fail(out, rc, &e, err);
    return LC_OK;
}

/* ------------------------------------------------------------------------ */
/* lc_run_under: run under a lease the caller holds and keeps               */
/* ------------------------------------------------------------------------ */

lc_status lc_run_under(lc_keeper *k, lc_lease *lease, char *const argv[], const lc_run_opts *opts,
                       lc_run_report *out, lc_error *err)
{
    if (out == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "run: no report to fill in");
    report_init(out);
    lc_error e;
    lc__err_clear(&e);
    run_state r;
    run_init(&r, opts, argv);
    if (k == NULL || lease == NULL || !has_command(argv))
        return fail(out, lc__err(&e, LC_ERR_INVALID, 0, "run: no keeper, lease or command"), &e,
                    err);
    r.keeper = k;
    r.lease = lease;
    lc__strlcpy(r.name, lc_lease_name(lease), sizeof(r.name));
    out->fence = lc_lease_fence(lease);
    r.o.timing.kill_grace_ms =
        lc__timing_kill_grace(r.o.timing.kill_grace_ms, r.o.timing.kill_grace_set);
    if (r.o.timing.kill_grace_ms < 0)
        return fail(out, lc__err(&e, LC_ERR_INVALID, 0, "kill grace must not be negative"), &e,
                    err);
    lc_status rc = prepare(&r, &e);
    int sig = 0;
    if (rc == LC_OK && lc_keeper_lost(k, lease, r.reason, sizeof(r.reason))) {
        snprintf(out->error, sizeof(out->error), "lease lost: %s", r.reason);
        rc = lc__err(&e, LC_ERR_LOST, 0, "%s", out->error);
    } else if (rc == LC_OK && (sig = pending_stop(&r)) != 0) {
        out->stop_signal = r.o.stop_fd_is_signalfd ? sig : 0;
        interrupted_text(out->error, sizeof(out->error), out->stop_signal,
                         "before the command started");
        rc = lc__err(&e, LC_ERR_CANCELLED, 0, "%s", out->error);
    } else if (rc == LC_OK && (rc = run_command(&r, &e)) == LC_OK) {
        int known = r.why == WHY_LOST || lc_keeper_lost(k, lease, r.reason, sizeof(r.reason));
        settle_loss(&r, known, lc_keeper_lost(k, lease, NULL, 0));
        describe(&r, out);
    }
    unprepare(&r);
    if (rc != LC_OK)
        return fail(out, rc, &e, err);
    return LC_OK;
}

const char *lc_run_outcome_name(lc_run_outcome outcome)
{
    static const char *const names[] = {"done",        "failed",   "signalled",   "timeout", "lost",
                                        "interrupted", "conflict", "unavailable", "error"};
    if ((unsigned)outcome < sizeof(names) / sizeof(names[0]))
        return names[outcome];
    return "error";
}
