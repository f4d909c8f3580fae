/* runner/guard.c -- the guard process between lc_run and the command (see
 * runner/run_int.h for the layout).
 *
 * Only async-signal-safe calls run after fork: the caller has threads (the
 * keeper's, the embedder's), and a lock one of them held at fork time would
 * never be released in the child. The environment is therefore built
 * before forking.
 *
 * The guard and the command tell the caller what it cannot see through
 * the report pipe, in records of one struct each (one write(2) each, so
 * never split): the guard that the command exists, or that it was stopped
 * (terminal mode); the command's process that its exec failed. */
#include "runner/run_int.h"
#include "core/thread_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* pidfd_open(2), Linux 5.3; the same number on every architecture. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char **environ;

static const char *const our_vars[] = {"LOCKCOORD_LOCK=", "LOCKCOORD_TOKEN=", "LOCKCOORD_FENCE=",
                                       "LOCKCOORD_OWNER=", "LOCKCOORD_CHECKPOINT="};
#define N_OUR_VARS (sizeof(our_vars) / sizeof(our_vars[0]))

static int is_ours(const char *entry)
{
    for (size_t i = 0; i < N_OUR_VARS; i++)
        if (strncmp(entry, our_vars[i], strlen(our_vars[i])) == 0)
            return 1;
    return 0;
}

/* 1 when `entry` ("NAME=value") sets a variable that one of list sets. */
static int set_in(const char *entry, const char *const *list)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; list && list[i]; i++)
        if (strncmp(list[i], entry, n) == 0 && list[i][n] == '=')
            return 1;
    return 0;
}

static char *env_entry(const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", prefix, value);
    return s;
}

/* Frees what build_env allocated: the array and our variables (the other
 * entries are borrowed from environ and opts->env). */
static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        if (is_ours(env[i]))
            free(env[i]);
    free(env);
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* environ without our variables and those `extra` sets, then `extra`
 * (without our variables), then ours for this lease. NULL when out of
 * memory. */
static char **build_env(const lc_lease *lease, const char *const *extra)
{
    const char *const *inherited = (const char *const *)environ;
    size_t n = count(inherited), x = count(extra);
    char **env = calloc(n + x + N_OUR_VARS + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ours(inherited[i]) && !set_in(inherited[i], extra))
            env[k++] = (char *)inherited[i];
    for (size_t i = 0; i < x; i++)
        if (strchr(extra[i], '=') && !is_ours(extra[i]))
            env[k++] = (char *)extra[i];
    char fence[32];
    snprintf(fence, sizeof(fence), "%llu", (unsigned long long)lc_lease_fence(lease));
    const char *cp = lc_lease_checkpoint(lease);
    const char *values[N_OUR_VARS] = {lc_lease_name(lease), lc_lease_token(lease), fence,
                                      lc_lease_owner(lease), cp ? cp : ""};
    for (size_t i = 0; i < N_OUR_VARS; i++) {
        if ((env[k++] = env_entry(our_vars[i], values[i])) == NULL) {
            free_env(env);
            return NULL;
        }
    }
    return env;
}

/* One message on the report pipe. */
typedef struct report_rec {
    char kind; /* 's': started, LC__GUARD_STOPPED, 'x': exec failed */
    int value; /* 'x': errno */
} report_rec;

static void report(int fd, char kind, int value)
{
    report_rec r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.value = value;
    ssize_t unused = write(fd, &r, sizeof(r));
    (void)unused;
}

/* The signals the guard ignores: those that stop a run reach the whole
 * group, the guard included. */
static const int group_stops[] = {SIGINT, SIGTERM, SIGHUP};
#define N_GROUP_STOPS (sizeof(group_stops) / sizeof(group_stops[0]))

/* In the command's process: default dispositions for the signals the
 * guard ignores, no signal blocked (the rest is as the caller had it),
 * and exec. When exec fails, its errno goes to the caller
 * (lc_run_report.exec_errno) and the process exits as a shell would: 127
 * for a command not found, else 126. */
static void exec_command(char *const *cmd, char **env, int report_fd)
{
    for (size_t i = 0; i < N_GROUP_STOPS; i++)
        signal(group_stops[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(cmd[0], cmd, env);
    int e = errno;
    report(report_fd, 'x', e);
    _exit(e == ENOENT ? 127 : 126);
}

/* Exits the way the command did: same code, or the same signal -- which
 * for SIGSEGV, SIGABRT and the like would dump the guard's core, a copy of
 * the caller's memory with its secrets: the guard is not dumpable (set
 * when it starts) and its core limit is 0. */
static void pass_on(int status)
{
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
    _exit(128 + sig);
}

/* One entry of getdents64(2); glibc has no wrapper everywhere. */
struct dirent64_raw {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* The decimal number that is all of s, or -1. */
static long parse_pid(const char *s)
{
    long n = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 100000000L)
            return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}

/* The parent of pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm
 * may hold anything, so parsing starts after its last ')'), or -1. */
static long parent_of(const char *pid)
{
    char path[64] = "/proc/", buf[512];
    size_t n = strlen(path), k = strlen(pid);
    if (n + k + sizeof("/stat") > sizeof(path))
        return -1;
    memcpy(path + n, pid, k);
    memcpy(path + n + k, "/stat", sizeof("/stat"));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -1;
    p += 4; /* past ") S " */
    char *end = strchr(p, ' ');
    if (end == NULL)
        return -1;
    *end = '\0';
    return parse_pid(p);
}

/* SIGKILLs every child of the guard. Returns how many it could signal (a
 * child of another user, such as a set-user-ID program, may refuse), or -1
 * when /proc cannot be read. */
static int kill_children(void)
{
    long self = (long)getpid();
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int killed = 0;
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            off += d->d_reclen;
            long pid = parse_pid(d->d_name);
            if (pid > 0 && parent_of(d->d_name) == self && kill((pid_t)pid, SIGKILL) == 0)
                killed++;
        }
    }
    close(fd);
    return n < 0 ? -1 : killed;
}

/* Kills and reaps every descendant of the command that is left. The guard
 * is a child subreaper: a descendant whose parent dies is reparented to
 * it, however it left the command's process group (setsid, setpgid, a
 * double fork). So killing its children one generation at a time, and
 * reaping each, ends with none left -- but for children it may not signal,
 * which are left alone rather than waited for. Returns -1 when /proc could
 * not be read. */
static int kill_descendants(void)
{
    for (;;) {
        int killed = kill_children();
        if (killed <= 0) {
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            return killed;
        }
        waitpid(-1, NULL, 0); /* one of them died: its children are ours now */
    }
}

/* The decimal fd that is all of s, or -1. */
static int parse_fd(const char *s)
{
    long n = parse_pid(s);
    return n > INT_MAX ? -1 : (int)n;
}

/* Closes every descriptor the guard inherited marked close-on-exec but
 * `keep`: the caller's connections, other runs' pipes. The command would
 * not get them anyway, and a guard holding them would keep a closed
 * connection's server session alive for as long as it runs. Descriptors
 * without the flag are left open: the command inherits them, as the
 * caller meant. */
static void close_inherited(int keep)
{
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return;
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
            off += d->d_reclen;
            int fd = parse_fd(d->d_name);
            if (fd < 0 || fd == dir || fd == keep)
                continue;
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0 && (flags & FD_CLOEXEC))
                close(fd);
        }
    }
    close(dir);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What the guard works with. */
typedef struct guard_args {
    char *const *cmd;
    char **env;
    pid_t parent;
    int terminal;
    int report; /* the report pipe's write end */
    const lc__spawn_opts *opts;
} guard_args;

/* The guard's own watch over the lease's local deadline, which the
 * caller's keeper moves at every renewal: once it passes, SIGTERM to the
 * group (the guard ignores it), SIGKILL to the command after the grace.
 * *kill_at: 0 before, the SIGKILL time after, -1 once sent. Returns when
 * to look again, 0 for never. */
static int64_t enforce_deadline(const lc__spawn_opts *o, pid_t child, int64_t *kill_at)
{
    int64_t now = mono_ns();
    if (*kill_at > 0 && now >= *kill_at) {
        kill(child, SIGKILL);
        *kill_at = -1;
    }
    if (*kill_at != 0)
        return *kill_at > 0 ? *kill_at : 0;
    int64_t deadline = o->deadline ? atomic_load(&o->deadline->ns) : 0;
    if (deadline == 0 || now < deadline)
        return deadline;
    atomic_store(&o->deadline->passed, 1);
    kill(0, SIGTERM);
    int64_t grace = o->kill_grace_ms;
    *kill_at = grace > (INT64_MAX - now) / 1000000 ? INT64_MAX : now + grace * 1000000;
    return *kill_at;
}

/* Waits for a signal of `set` until the monotonic time `until` (0: no
 * limit); -1 when the time came first. */
static int wait_signal(const sigset_t *set, int64_t until)
{
    if (until == 0)
        return sigwaitinfo(set, NULL);
    int64_t left = until - mono_ns();
    if (left < 0)
        left = 0;
    struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
    return sigtimedwait(set, NULL, &ts);
}

/* Until the command ends: then the guard exits as it did. A stopped
 * command (terminal mode: Ctrl-Z, reading the terminal from the
 * background, a SIGSTOP of its own) is reported, so the caller stops as
 * the shell's job, and the guard stops with it (as one job: `ps` shows it
 * stopped too, and its deadline waits); the caller continues the group
 * when it is continued. */
static void watch(const guard_args *a, pid_t child, const sigset_t *set)
{
    int flags = WNOHANG | (a->terminal ? WUNTRACED : 0);
    int64_t kill_at = 0;
    for (;;) {
        int sig = wait_signal(set, enforce_deadline(a->opts, child, &kill_at));
        if (sig == SIGUSR2) {
            /* The caller died: everything goes. */
            if (kill_descendants() < 0)
                kill(0, SIGKILL);
            _exit(LC__GUARD_EXIT_LOST);
        }
        int status;
        pid_t pid;
        while (sig == SIGCHLD && (pid = waitpid(-1, &status, flags)) > 0) {
            if (pid != child)
                continue; /* an orphan reparented here, reaped */
            if (WIFSTOPPED(status)) {
                report(a->report, LC__GUARD_STOPPED, 0);
                raise(SIGSTOP);
                continue;
            }
            /* What the command left running goes with it; the caller
             * SIGKILLs the group too if this could not be done. */
            kill_descendants();
            pass_on(status);
        }
    }
}

static void guard(const guard_args *a)
{
    /* Never a core file, nor a ptrace or /proc/PID/mem reader of the same
     * user: the guard holds a copy of the caller's memory, passwords
     * included. (The command gets a dumpable process back at its exec.) */
    prctl(PR_SET_DUMPABLE, 0);
    setpgid(0, 0);
    /* Every signal is blocked (lc__spawn forked with all blocked) and stays
     * so: the guard waits for SIGCHLD and SIGUSR2 with sigtimedwait, and
     * nothing else may stop or end it -- not the terminal's stop signals
     * (it stops itself with the command), not those meant for the command,
     * which reach the whole group (these are ignored: discarded, not left
     * pending). */
    for (size_t i = 0; i < N_GROUP_STOPS; i++)
        signal(group_stops[i], SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR2);
    prctl(PR_SET_PDEATHSIG, SIGUSR2);
    if (getppid() != a->parent)
        _exit(LC__GUARD_EXIT_LOST); /* the caller died before we could watch it */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    close_inherited(a->report);
    if (a->terminal)
        tcsetpgrp(0, getpgrp()); /* before the command exists: it never runs in the background */

    pid_t child = fork();
    if (child < 0)
        _exit(LC__GUARD_EXIT_INTERNAL);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the guard gone: no supervision */
        exec_command(a->cmd, a->env, a->report);
    }
    /* The command is in the group now: from here on, a signal the caller
     * sends to the group reaches it (held until exec_command unblocks it). */
    report(a->report, 's', 0);
    watch(a, child, &set);
}

/* The deadline is read and written by two processes: it must not need a
 * lock. */
#if INT64_MAX == LONG_MAX
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "a lock-free 64-bit atomic is needed");
#else
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "a lock-free 64-bit atomic is needed");
#endif

lc__deadline *lc__deadline_new(int64_t ns)
{
    lc__deadline *d =
        mmap(NULL, sizeof(*d), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED)
        return NULL;
    atomic_init(&d->ns, ns);
    atomic_init(&d->passed, 0);
    return d;
}

void lc__deadline_free(lc__deadline *d)
{
    if (d)
        munmap(d, sizeof(*d));
}

#define REC_STARTED 1
#define REC_STOPPED 2
#define REC_CLOSED  4

/* Reads the records waiting on the report pipe (it is non-blocking):
 * returns which kinds came (REC_*), noting an exec failure in g. At end
 * of file (the guard and the command are gone) it closes the pipe. */
static int read_records(lc__guard *g)
{
    report_rec r;
    int seen = 0;
    while (g->report >= 0) {
        ssize_t n = read(g->report, &r, sizeof(r));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return seen;
        if (n <= 0) {
            close(g->report);
            g->report = -1;
            return seen | REC_CLOSED;
        }
        if (n != (ssize_t)sizeof(r))
            continue; /* records are written whole: a short one is noise */
        if (r.kind == 's')
            seen |= REC_STARTED;
        else if (r.kind == LC__GUARD_STOPPED)
            seen |= REC_STOPPED;
        else if (r.kind == 'x')
            g->exec_errno = r.value;
    }
    return seen;
}

/* Waits until the guard says the command exists, or has exited (it died
 * trying; lc__guard_reap then tells how). */
static void await_start(lc__guard *g)
{
    for (;;) {
        struct pollfd fds[2] = {{g->report, POLLIN, 0}, {g->pidfd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return;
        if (read_records(g) & (REC_STARTED | REC_CLOSED) || fds[1].revents & POLLIN)
            return;
    }
}

static int pidfd_of(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Where pidfd_open is missing (Linux before 5.3, valgrind, some seccomp
 * filters): a thread waits for the guard's exit without reaping it
 * (WNOWAIT: the pid stays ours, so it cannot be reused meanwhile), then
 * makes an eventfd readable, which the caller polls as it would the
 * pidfd. Signals are left alone: the process's SIGCHLD handling is not
 * the library's. */
static void *exit_waiter(void *arg)
{
    lc__guard *g = arg;
    siginfo_t info;
    while (waitid(P_PID, (id_t)g->pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    uint64_t one = 1; /* also on ECHILD (someone else reaped it): lc__guard_reap says so */
    while (write(g->waiter_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* g->pidfd: a pidfd of the guard, or the fallback's eventfd; -1 with
 * errno set when neither can be had. */
static int watch_exit(lc__guard *g)
{
    if ((g->pidfd = pidfd_of(g->pid)) >= 0)
        return 0;
    if ((g->waiter_fd = eventfd(0, EFD_CLOEXEC)) < 0)
        return -1;
    int e = lc__thread_start(&g->waiter, NULL, exit_waiter, g);
    if (e != 0) {
        close(g->waiter_fd);
        g->waiter_fd = -1;
        errno = e;
        return -1;
    }
    g->has_waiter = 1;
    g->pidfd = g->waiter_fd;
    return 0;
}

/* After a failed start: the guard must not outlive it. */
static void abandon(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int lc__spawn(char *const *cmd, const lc__spawn_opts *opts, lc__guard *g)
{
    memset(g, 0, sizeof(*g));
    g->pidfd = g->report = g->waiter_fd = -1;
    /* As a shell does for a foreground job: only when the caller itself is
     * in the foreground of the terminal on its stdin. */
    g->terminal = opts->foreground && isatty(0) && tcgetpgrp(0) == getpgrp();
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) != 0)
        return -1;
    char **env = build_env(opts->lease, opts->env);
    if (env == NULL) {
        close(rep[0]);
        close(rep[1]);
        errno = ENOMEM;
        return -1;
    }
    /* As posix_spawn does: no signal handler of the caller's may run in the
     * child before the guard has set up its own handling. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        guard_args a = {cmd, env, parent, g->terminal, rep[1], opts};
        guard(&a);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(rep[1]);
    free_env(env);
    if (pid < 0) {
        close(rep[0]);
        errno = saved;
        return -1;
    }
    setpgid(pid, pid); /* also here, so the group exists when fork returns */
    g->pid = pid;
    g->report = rep[0];
    if (watch_exit(g) != 0) {
        saved = errno;
        abandon(pid);
        close(rep[0]);
        memset(g, 0, sizeof(*g));
        g->pidfd = g->report = g->waiter_fd = -1;
        errno = saved;
        return -1;
    }
    fcntl(g->report, F_SETFL, O_NONBLOCK);
    await_start(g);
    return 0;
}

int lc__guard_read(lc__guard *g)
{
    return (read_records(g) & REC_STOPPED) != 0;
}

int lc__guard_reap(lc__guard *g, int *status)
{
    pid_t got;
    while ((got = waitpid(g->pid, status, 0)) < 0 && errno == EINTR)
        ;
    return got == g->pid ? 1 : -1;
}

/* tcsetpgrp from a background group raises SIGTTOU unless the calling
 * thread blocks it: blocked here for the call only. */
static void give_terminal(pid_t group)
{
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &ttou, &old);
    tcsetpgrp(0, group);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void lc__guard_suspend(const lc__guard *g)
{
    /* The guard reports, then stops: continuing the group before it has
     * stopped would leave it stopped for good. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)g->pid, &info, WSTOPPED | WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    if (g->terminal && tcgetpgrp(0) == g->pid)
        give_terminal(getpgrp());
    /* Stops the caller as the shell's job; without job control (an
     * orphaned group) the kernel discards it and the command just goes
     * on. */
    raise(SIGTSTP);
}

void lc__guard_resume(const lc__guard *g)
{
    /* `fg` gave the caller the terminal back: pass it on. After `bg` it
     * stays with the shell. */
    if (g->terminal && tcgetpgrp(0) == getpgrp())
        give_terminal(g->pid);
    kill(-g->pid, SIGCONT);
}

void lc__guard_close(lc__guard *g)
{
    if (g->terminal && tcgetpgrp(0) == g->pid)
        give_terminal(getpgrp());
    if (g->has_waiter) {
        /* Reaped by now (or never to be): the thread has returned or is
         * about to. */
        pthread_join(g->waiter, NULL);
        g->has_waiter = 0;
    }
    if (g->pidfd >= 0)
        close(g->pidfd);
    if (g->report >= 0)
        close(g->report);
    g->pidfd = g->report = g->waiter_fd = -1;
}
