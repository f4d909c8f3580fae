/* runner/guard.c -- the guard process between lockcoord and the command.
 *
 * Only async-signal-safe calls run after fork: lockcoord has keeper threads,
 * and a lock one of them held at fork time would never be released in the
 * child. The environment is therefore built before forking. */
#include "runner/run_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

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

static char *env_entry(const char *prefix, const char *value)
{
    size_t n = strlen(prefix) + strlen(value) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", prefix, value);
    return s;
}

/* environ without our variables, plus them for this lease. NULL on OOM. */
static char **build_env(const lc_lease *lease)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + N_OUR_VARS + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_ours(environ[i]))
            env[k++] = environ[i];
    char fence[32];
    snprintf(fence, sizeof(fence), "%llu", (unsigned long long)lc_lease_fence(lease));
    const char *cp = lc_lease_checkpoint(lease);
    const char *values[N_OUR_VARS] = {lc_lease_name(lease), lc_lease_token(lease), fence,
                                      lc_lease_owner(lease), cp ? cp : ""};
    for (size_t i = 0; i < N_OUR_VARS; i++)
        if ((env[k++] = env_entry(our_vars[i], values[i])) == NULL)
            return NULL; /* the process is about to exit anyway */
    return env;
}

static void write_str(int fd, const char *s)
{
    ssize_t unused = write(fd, s, strlen(s));
    (void)unused;
}

static void exec_command(char **cmd, char **env)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(cmd[0], cmd, env);
    int e = errno;
    write_str(2, "lockcoord: run: ");
    write_str(2, cmd[0]);
    write_str(2, ": ");
    write_str(2, strerror(e));
    write_str(2, "\n");
    _exit(e == ENOENT ? 127 : 126);
}

/* Exits the way the command did: same code, or the same signal -- which
 * for SIGSEGV, SIGABRT and the like would dump the guard's core, a copy of
 * lockcoord's memory with its secrets: the guard is not dumpable (set when
 * it starts) and its core limit is 0. */
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

/* Makes the guard's group -- CMD's -- the terminal's foreground group.
 * SIGTTOU, which a background group's tcsetpgrp raises, is blocked (as
 * lockcoord blocks it for the whole run). */
static void take_terminal(void)
{
    tcsetpgrp(0, getpgrp());
}

/* The command was stopped. The terminal's stop signals (Ctrl-Z, reading
 * it from the background) reach the guard too, as a member of the group;
 * a SIGSTOP or SIGTTOU (blocked here) of the command alone does not. Either
 * way the guard stops too, which tells lockcoord -- waiting for it with
 * WUNTRACED -- to stop as a shell job; lockcoord continues the group when
 * it is continued itself. */
static void stop_with_command(void)
{
    raise(SIGSTOP);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What the guard works with. */
typedef struct guard_args {
    char **cmd;
    char **env;
    pid_t parent;
    int terminal;
    int started; /* written to once the command exists */
    const lc__spawn_opts *opts;
} guard_args;

/* The guard's own watch over the lease's local deadline, which lockcoord
 * moves at every renewal: once it passes, SIGTERM to the group (the guard
 * ignores it), SIGKILL to the command after the grace. *kill_at: 0 before,
 * the SIGKILL time after, -1 once sent. Returns when to look again, 0 for
 * never. */
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

/* Until the command ends: then the guard exits as it did. */
static void watch(const guard_args *a, pid_t child, const sigset_t *set)
{
    int flags = WNOHANG | (a->terminal ? WUNTRACED : 0);
    int64_t kill_at = 0;
    for (;;) {
        int sig = wait_signal(set, enforce_deadline(a->opts, child, &kill_at));
        if (sig == SIGUSR2) {
            /* lockcoord died: everything goes. */
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
                stop_with_command();
                continue;
            }
            /* What the command left running goes with it; lockcoord
             * SIGKILLs the group too if this could not be done. */
            kill_descendants();
            pass_on(status);
        }
    }
}

static void guard(const guard_args *a)
{
    /* Never a core file, nor a ptrace or /proc/PID/mem reader of the same
     * user: the guard holds a copy of lockcoord's memory, passwords
     * included. (The command gets a dumpable process back at its exec.) */
    prctl(PR_SET_DUMPABLE, 0);
    setpgid(0, 0);
    /* Signals meant for the command reach the whole group: the guard
     * ignores them (ignored signals are discarded, not left pending). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    prctl(PR_SET_PDEATHSIG, SIGUSR2);
    if (getppid() != a->parent)
        _exit(LC__GUARD_EXIT_LOST); /* lockcoord died before we could watch it */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (a->terminal)
        take_terminal(); /* before CMD exists: it never runs in the background */

    pid_t child = fork();
    if (child < 0)
        _exit(LC__GUARD_EXIT_INTERNAL);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the guard gone: no supervision */
        exec_command(a->cmd, a->env);
    }
    /* CMD is in the group now: from here on, a signal lockcoord sends to
     * the group reaches it (held until exec_command unblocks it). */
    ssize_t unused = write(a->started, "", 1);
    (void)unused;
    close(a->started);
    watch(a, child, &set);
}

/* Waits until the guard has forked CMD (or died trying). */
static void await_start(int started)
{
    char c;
    while (read(started, &c, 1) < 0 && errno == EINTR)
        ;
    close(started);
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        if (is_ours(env[i]))
            free(env[i]);
    free(env);
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

int lc__spawn(char **cmd, const lc_lease *lease, const lc__spawn_opts *opts, lc__guard *g)
{
    g->pid = 0;
    /* As a shell does for a foreground job: only when lockcoord itself is
     * in the foreground of the terminal on its stdin. */
    g->terminal = isatty(0) && tcgetpgrp(0) == getpgrp();
    int started[2];
    if (pipe2(started, O_CLOEXEC) != 0)
        return -1;
    char **env = build_env(lease);
    if (env == NULL) {
        close(started[0]);
        close(started[1]);
        errno = ENOMEM;
        return -1;
    }
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(started[0]);
        guard_args a = {cmd, env, parent, g->terminal, started[1], opts};
        guard(&a);
    }
    int saved = errno;
    close(started[1]);
    if (pid > 0) {
        setpgid(pid, pid); /* also here, so the group exists when fork returns */
        await_start(started[0]);
        g->pid = pid;
    } else {
        close(started[0]);
    }
    free_env(env);
    errno = saved;
    return pid > 0 ? 0 : -1;
}

void lc__guard_suspend(const lc__guard *g)
{
    if (g->terminal && tcgetpgrp(0) == g->pid)
        tcsetpgrp(0, getpgrp());
    /* Stops lockcoord as the shell's job; without job control (an orphaned
     * group) the kernel discards it and the command just goes on. */
    raise(SIGTSTP);
}

void lc__guard_resume(const lc__guard *g)
{
    /* `fg` gave lockcoord the terminal back: pass it on. After `bg` it
     * stays with the shell. */
    if (g->terminal && tcgetpgrp(0) == getpgrp())
        tcsetpgrp(0, g->pid);
    kill(-g->pid, SIGCONT);
}

void lc__guard_end(const lc__guard *g)
{
    if (g->terminal && tcgetpgrp(0) == g->pid)
        tcsetpgrp(0, getpgrp());
}
