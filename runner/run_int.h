/* runner/run_int.h -- starting a command under a lease, guarded. */
#ifndef LC_RUN_INT_H
#define LC_RUN_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "lockcoord.h"

/* How the guard exits when it could not run the command to its end:
 * lockcoord died (its lease goes with it), or the command could not be
 * forked. */
#define LC__GUARD_EXIT_LOST     76
#define LC__GUARD_EXIT_INTERNAL 70

/* The lease's local deadline, in memory shared with the guard: lockcoord
 * moves it at every renewal, and the guard stops the command when it passes
 * without one -- also when lockcoord itself cannot run (stopped, starved),
 * which is when the keeper cannot. */
typedef struct lc__deadline {
    _Atomic int64_t ns; /* CLOCK_MONOTONIC ns; 0: none */
    atomic_int passed;  /* the guard found it passed and stopped the command */
} lc__deadline;

/* A deadline at ns, shared with the processes forked after (MAP_SHARED);
 * NULL with errno set on failure. Free with lc__deadline_free (NULL ok). */
lc__deadline *lc__deadline_new(int64_t ns);
void lc__deadline_free(lc__deadline *d);

/* What the guard enforces besides the command's end. */
typedef struct lc__spawn_opts {
    lc__deadline *deadline; /* may be NULL */
    int64_t kill_grace_ms;  /* SIGTERM to SIGKILL when the deadline passes */
} lc__spawn_opts;

/* The guard of a started command. */
typedef struct lc__guard {
    pid_t pid;    /* the guard; also the command's process group */
    int terminal; /* the group was given the terminal on stdin */
} lc__guard;

/* Forks the guard, which leads a new process group, forks cmd in it with
 * the LOCKCOORD_* environment of `lease`, and exits with cmd's status (or
 * dies of its signal). The guard is a child subreaper: when cmd exits, and
 * when lockcoord dies, it SIGKILLs and reaps every descendant of cmd left,
 * in the group or not. When opts->deadline passes, the guard SIGTERMs the
 * group itself, and SIGKILLs the command opts->kill_grace_ms later. When
 * lockcoord is the foreground job of the terminal on its stdin, the group
 * becomes the terminal's foreground group before cmd starts (so cmd can
 * read it), and the guard stops when cmd is stopped (see
 * lc__guard_suspend). Call with SIGCHLD, SIGINT, SIGTERM, SIGHUP and
 * SIGTTOU blocked. Returns once cmd's process exists in the group, so a
 * signal sent to the group from then on reaches it. Returns 0 with *g
 * filled, or -1 with errno set. */
int lc__spawn(char **cmd, const lc_lease *lease, const lc__spawn_opts *opts, lc__guard *g);

/* waitpid() flags for the guard: WUNTRACED with a terminal. */
#define LC__GUARD_WAIT_FLAGS(g) (WNOHANG | ((g)->terminal ? WUNTRACED : 0))

/* The guard stopped (its command was stopped: Ctrl-Z, or reading the
 * terminal from the background): takes the terminal back and stops
 * lockcoord like a shell job. Returns when lockcoord is continued (`fg`,
 * `bg`); then call lc__guard_resume. */
void lc__guard_suspend(const lc__guard *g);

/* Continues the group, with the terminal if lockcoord has it. */
void lc__guard_resume(const lc__guard *g);

/* After the guard was reaped: gives the terminal back to lockcoord's
 * group. Call before unblocking SIGTTOU. */
void lc__guard_end(const lc__guard *g);

#endif
