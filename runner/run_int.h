/* runner/run_int.h -- the guard process between lc_run and the command
 * (runner/guard.c), as runner/run.c uses it.
 *
 * Process layout: the thread calling lc_run forks a small guard process
 * that leads a new process group and forks the command inside it. The
 * guard is a child subreaper, so the command's descendants that leave the
 * group are reparented to it when their parent dies; when the command
 * exits, and when the calling thread dies (the guard gets SIGUSR2,
 * PR_SET_PDEATHSIG), it kills every descendant left, so no part of the
 * work outlives a process killed with -9 either. The guard also enforces
 * the lease's local deadline, which the keeper's renewal hook writes to
 * memory shared with it, so the command is stopped in time even while the
 * calling process is frozen. The guard passes the command's exit status on
 * as its own. */
#ifndef LC_RUN_INT_H
#define LC_RUN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "lockcoord.h"

/* How the guard exits when it could not run the command to its end: its
 * parent died (the lease goes with it), or the command could not be
 * forked. */
#define LC__GUARD_EXIT_LOST     76
#define LC__GUARD_EXIT_INTERNAL 70

/* The lease's local deadline, in memory shared with the guard: the
 * keeper's renewal hook moves it, and the guard stops the command when it
 * passes without one -- also when the calling process itself cannot run
 * (stopped, starved), which is when the keeper cannot. */
typedef struct lc__deadline {
    _Atomic int64_t ns; /* CLOCK_MONOTONIC ns; 0: none */
    atomic_int passed;  /* the guard found it passed and stopped the command */
} lc__deadline;

/* A deadline at ns, shared with the processes forked after (MAP_SHARED);
 * NULL with errno set on failure. Free with lc__deadline_free (NULL ok). */
lc__deadline *lc__deadline_new(int64_t ns);
void lc__deadline_free(lc__deadline *d);

/* What the guard is given. */
typedef struct lc__spawn_opts {
    const lc_lease *lease;  /* for the LOCKCOORD_* environment */
    const char *const *env; /* extra "NAME=value" entries, NULL-terminated; may be NULL */
    lc__deadline *deadline; /* may be NULL */
    int64_t kill_grace_ms;  /* SIGTERM to SIGKILL when the deadline passes */
    int foreground;         /* take the terminal when the caller is its foreground job */
} lc__spawn_opts;

/* A started guard. */
typedef struct lc__guard {
    pid_t pid;      /* the guard; also the command's process group */
    int pidfd;      /* readable once the guard has exited: its pidfd, or,
                     * without pidfd_open, an eventfd a thread signals */
    int report;     /* readable when the guard or the command says something
                     * (lc__guard_read); -1 once at its end */
    int terminal;   /* the group was given the terminal on stdin */
    int exec_errno; /* the command's exec failed with it; 0: it did not */
    int waiter_fd;  /* the fallback's eventfd (== pidfd), -1 without it */
    int has_waiter; /* the fallback's thread runs: joined by lc__guard_close */
    pthread_t waiter;
} lc__guard;

/* What the guard writes on the report pipe when the command was stopped
 * (terminal mode only). */
#define LC__GUARD_STOPPED 'z'

/* Forks the guard, which leads a new process group and forks cmd in it
 * with the process's environment, opts->env, and the LOCKCOORD_* variables
 * of opts->lease (those win; opts->env entries win over the environment),
 * and exits with cmd's status (or dies of its signal). The guard is a
 * child subreaper: when cmd exits, and when the calling thread dies, it
 * SIGKILLs and reaps every descendant of cmd left, in the group or not.
 * When opts->deadline passes, the guard SIGTERMs the group itself, and
 * SIGKILLs the command opts->kill_grace_ms later. With opts->foreground,
 * when the calling process is the foreground job of the terminal on its
 * stdin, the group becomes the terminal's foreground group before cmd
 * starts (so cmd can read it), and the guard writes LC__GUARD_STOPPED to
 * g->report whenever cmd is stopped (see lc__guard_suspend). All signals
 * are blocked in the calling thread for the moment of the fork (the guard
 * sets up its own); the process's signal handling is not changed. Returns
 * once cmd's process exists in the group (or the guard died trying), so a
 * signal sent to the group from then on reaches it. Returns 0 with *g
 * filled (release it with lc__guard_close), or -1 with errno set and
 * nothing left running. */
int lc__spawn(char *const *cmd, const lc__spawn_opts *opts, lc__guard *g);

/* Reads what g->report has (call when poll says it is readable, and once
 * more after the guard was reaped): notes an exec failure in
 * g->exec_errno, and returns 1 when the command was stopped (terminal
 * mode: call lc__guard_suspend), else 0. */
int lc__guard_read(lc__guard *g);

/* Reaps the guard, waiting for it to exit (call when g->pidfd is
 * readable, or after SIGKILL): 1 with its wait status in *status, -1 when
 * it cannot be waited for (errno ECHILD: something else reaped it). */
int lc__guard_reap(lc__guard *g, int *status);

/* The command was stopped (g->report said so): waits until the guard has
 * stopped with it, takes the terminal back and stops the calling process
 * as a shell job (SIGTSTP). Returns when it
 * is continued (`fg`, `bg`; at once when the process group is orphaned and
 * cannot stop); then call lc__guard_resume. */
void lc__guard_suspend(const lc__guard *g);

/* Continues the group, with the terminal if the caller has it. */
void lc__guard_resume(const lc__guard *g);

/* After the guard was reaped: gives the terminal back to the caller's
 * group, and closes the guard's descriptors. */
void lc__guard_close(lc__guard *g);

#endif
