/* tests/unit/test_run.c -- lc_run and lc_run_under on the memory backend:
 * real commands (/bin/sh) under real leases, with short ttls. A test that
 * must act while a command runs does so from a helper thread, once the
 * command has said it started (a file in the test's directory); bounds on
 * time are several times what is expected, and what they prove is a
 * mechanism (SIGKILL came after the grace, not before), never speed. */
#include "testenv.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define TTL   600
#define EVERY 200

typedef struct fixture {
    lc_config *cfg;
    lc_memstore *store;
    lc_client *c;     /* runs */
    lc_client *other; /* holds, resets, inspects */
    char dir[64];     /* the test's directory, $DIR to the commands */
    char dir_env[80];
    const char *env[2];
    char name[LC_NAME_MAX + 1];
} fixture;

static lc_client *open_client(fixture *f)
{
    lc_client_opts o = {.memstore = f->store};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &o, &c, &err), LC_OK, &err);
    return c;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cfg = lct_config("memory");
    f->cfg->lock.ttl_ms = TTL;
    f->cfg->lock.renew_every_ms = EVERY;
    f->store = lc_memstore_new(NULL);
    assert_non_null(f->store);
    f->c = open_client(f);
    f->other = open_client(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lc-run-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->dir_env, sizeof(f->dir_env), "DIR=%s", f->dir);
    f->env[0] = f->dir_env;
    snprintf(f->name, sizeof(f->name), "%s", lct_name("run"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    lc_client_close(f->c);
    lc_client_close(f->other);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

/* Options with $DIR set for the command. */
static lc_run_opts opts_for(fixture *f)
{
    lc_run_opts o;
    memset(&o, 0, sizeof(o));
    o.env = f->env;
    return o;
}

/* Runs `sh -c script` under f->name. */
static lc_status run_sh(fixture *f, const char *script, const lc_run_opts *o, lc_run_report *rep,
                        lc_error *err)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    return lc_run(f->c, f->name, argv, o, rep, err);
}

static void inspect(fixture *f, lc_lock_info *info)
{
    lc_error err;
    lct_assert_rc(lc_inspect(f->other, f->name, info, &err), LC_OK, &err);
}

/* The lock is free and its last run was recorded with `error` (NULL:
 * none) and `exit_code` (-1: none), as the sync_count-th run. */
static void assert_recorded(fixture *f, const char *error, int exit_code, uint64_t sync_count)
{
    lc_lock_info info;
    inspect(f, &info);
    assert_int_equal(info.held, 0);
    assert_int_equal(info.sync_count, sync_count);
    if (exit_code >= 0) {
        assert_int_equal(info.has_last_exit, 1);
        assert_int_equal(info.last_exit, exit_code);
    }
    if (error == NULL) {
        assert_null(info.last_error);
    } else {
        assert_non_null(info.last_error);
        if (strstr(info.last_error, error) != info.last_error)
            fail_msg("last_error '%s' does not start with '%s'", info.last_error, error);
    }
    lc_lock_info_clear(&info);
}

static int file_in(fixture *f, const char *file)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, file);
    struct stat st;
    return stat(path, &st) == 0;
}

static int started(void *arg)
{
    return file_in(arg, "started");
}

/* ------------------------------------------------------------------------ */
/* Something done while the command runs, from a helper thread              */
/* ------------------------------------------------------------------------ */

typedef enum action {
    ACT_RESET,  /* force-release the lock */
    ACT_WRITE,  /* write the eventfd */
    ACT_SIGNAL, /* send a signal to this process */
} action;

typedef struct helper {
    fixture *f;
    action what;
    int fd;           /* ACT_WRITE */
    int sig;          /* ACT_SIGNAL */
    const char *name; /* ACT_RESET; NULL: f->name */
    int64_t done_ms;  /* when it acted */
    int acted;
    pthread_t t;
} helper;

static void *helper_main(void *arg)
{
    helper *h = arg;
    if (!lct_wait_for(started, h->f, 10000))
        return NULL;
    lc_error err;
    h->done_ms = lct_now_ms();
    switch (h->what) {
    case ACT_RESET: {
        /* Its own client: the fixture's `other` belongs to the test's
         * thread. */
        lc_client *c = open_client(h->f);
        h->acted = lc_force_release(c, h->name ? h->name : h->f->name, "test reset", NULL, NULL,
                                    &err) == LC_OK;
        lc_client_close(c);
        break;
    }
    case ACT_WRITE: {
        uint64_t one = 1;
        h->acted = write(h->fd, &one, sizeof(one)) == (ssize_t)sizeof(one);
        break;
    }
    case ACT_SIGNAL: h->acted = kill(getpid(), h->sig) == 0; break;
    }
    return NULL;
}

static void helper_start(helper *h)
{
    assert_int_equal(pthread_create(&h->t, NULL, helper_main, h), 0);
}

static void helper_join(helper *h)
{
    pthread_join(h->t, NULL);
    assert_true(h->acted);
}

/* ------------------------------------------------------------------------ */
/* Exit codes and signal deaths                                             */
/* ------------------------------------------------------------------------ */

static void test_run_exit_codes_passed_through_and_recorded(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f, "exit 0", &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_DONE);
    assert_int_equal(rep.started, 1);
    assert_int_equal(rep.exit_code, 0);
    assert_string_equal(rep.error, "");
    assert_int_equal(rep.recorded, 1);
    assert_true(rep.fence > 0);
    assert_recorded(f, NULL, 0, 1);

    lct_assert_rc(run_sh(f, "exit 3", &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_FAILED);
    assert_int_equal(rep.exit_code, 3);
    assert_int_equal(rep.term_signal, 0);
    assert_string_equal(rep.error, "exit status 3");
    assert_int_equal(rep.recorded, 1);
    assert_recorded(f, "exit status 3", 3, 2);
    assert_string_equal(lc_run_outcome_name(rep.outcome), "failed");
}

static void test_run_signal_death_is_signalled_128_plus_n(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f, "kill -KILL $$", &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_SIGNALLED);
    assert_int_equal(rep.term_signal, SIGKILL);
    assert_int_equal(rep.exit_code, 128 + SIGKILL);
    assert_string_equal(rep.error, "killed by signal 9 (Killed)");
    assert_recorded(f, "killed by signal 9", 128 + SIGKILL, 1);
}

/* The command cannot be executed: the errno comes back (the library does
 * not print it), the run is the shell's 127, recorded. */
static void test_run_command_not_found_reports_errno_127(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    lc_run_report rep;
    lc_error err;
    char *argv[] = {"/nonexistent/lockcoord-test-command", NULL};
    lct_assert_rc(lc_run(f->c, f->name, argv, &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_FAILED);
    assert_int_equal(rep.exec_errno, ENOENT);
    assert_int_equal(rep.exit_code, 127);
    assert_recorded(f, "exit status 127", 127, 1);
}

/* The command gets the lease's variables (they win over opts->env) and
 * the extra ones. */
static void test_run_environment_has_lease_and_extra_variables(void **state)
{
    fixture *f = *state;
    char name_env[LC_NAME_MAX + 8];
    snprintf(name_env, sizeof(name_env), "NAME=%s", f->name);
    const char *env[] = {f->dir_env, "LOCKCOORD_SLOT=42", "LOCKCOORD_TOKEN=forged", name_env, NULL};
    lc_run_opts o = opts_for(f);
    o.env = env;
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f,
                         "[ \"$LOCKCOORD_SLOT\" = 42 ] || exit 1; "
                         "[ \"$LOCKCOORD_LOCK\" = \"$NAME\" ] || exit 2; "
                         "[ \"$LOCKCOORD_FENCE\" -gt 0 ] || exit 3; "
                         "[ \"$LOCKCOORD_TOKEN\" != forged ] || exit 4; "
                         "[ ${#LOCKCOORD_TOKEN} -eq 32 ] || exit 5",
                         &o, &rep, &err),
                  LC_OK, &err);
    assert_int_equal(rep.exit_code, 0);
    assert_int_equal(rep.outcome, LC_RUN_DONE);
}

/* ------------------------------------------------------------------------ */
/* Timeout                                                                  */
/* ------------------------------------------------------------------------ */

/* A command that ends on SIGTERM: stopped at the timeout, long before
 * the (long) kill grace. */
static void test_run_timeout_stops_command_with_sigterm(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    o.timeout_ms = 200;
    o.timing.kill_grace_ms = 30000;
    lc_run_report rep;
    lc_error err;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(run_sh(f, "exec sleep 30", &o, &rep, &err), LC_OK, &err);
    int64_t dt = lct_now_ms() - t0;
    assert_int_equal(rep.outcome, LC_RUN_TIMEOUT);
    assert_int_equal(rep.term_signal, SIGTERM);
    assert_string_equal(rep.error, "timed out after 200ms");
    assert_true(dt >= 200);
    assert_true(dt < 10000); /* SIGTERM, not the 30 s grace nor the 30 s sleep */
    assert_recorded(f, "timed out after 200ms", 128 + SIGTERM, 1);
}

/* A command that ignores SIGTERM: SIGKILL once the grace has passed, and
 * not before. */
static void test_run_timeout_kills_after_grace_when_term_ignored(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    o.timeout_ms = 200;
    o.timing.kill_grace_ms = 400;
    lc_run_report rep;
    lc_error err;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(run_sh(f, "trap '' TERM; while :; do sleep 0.05; done", &o, &rep, &err), LC_OK,
                  &err);
    int64_t dt = lct_now_ms() - t0;
    assert_int_equal(rep.outcome, LC_RUN_TIMEOUT);
    assert_int_equal(rep.term_signal, SIGKILL);
    assert_true(dt >= 600); /* timeout + grace */
    assert_true(dt < 10000);
    assert_recorded(f, "timed out after 200ms", 128 + SIGKILL, 1);
}

/* A kill grace given as 0: SIGKILL right after SIGTERM. */
static void test_run_kill_grace_zero_set_kills_at_once(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    o.timeout_ms = 100;
    o.timing.kill_grace_set = 1; /* kill_grace_ms 0: no grace */
    lc_run_report rep;
    lc_error err;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(run_sh(f, "trap '' TERM; while :; do sleep 0.05; done", &o, &rep, &err), LC_OK,
                  &err);
    assert_int_equal(rep.outcome, LC_RUN_TIMEOUT);
    assert_int_equal(rep.term_signal, SIGKILL);
    assert_true(lct_now_ms() - t0 < 4000); /* the default grace would be 5 s */
}

/* ------------------------------------------------------------------------ */
/* Loss                                                                     */
/* ------------------------------------------------------------------------ */

/* A reset (force_release from another client): the keeper finds out at
 * its next renewal, the command gets SIGTERM, the run is recorded lost
 * without touching the lock. */
static void test_run_reset_stops_command_recorded_lost(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    o.timing.kill_grace_ms = 30000;
    helper h = {.f = f, .what = ACT_RESET};
    helper_start(&h);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f, "touch \"$DIR/started\"; exec sleep 30", &o, &rep, &err), LC_OK, &err);
    int64_t end = lct_now_ms();
    helper_join(&h);
    assert_int_equal(rep.outcome, LC_RUN_LOST);
    assert_int_equal(rep.term_signal, SIGTERM);
    assert_string_equal(rep.error, "lease lost: reset by an operator: test reset");
    assert_int_equal(rep.recorded, 1);
    assert_true(end - h.done_ms < 10000); /* the next renewal, not the 30 s sleep */
    assert_recorded(f, "lease lost: reset by an operator: test reset", 128 + SIGTERM, 1);
}

/* The same with a command that ignores SIGTERM: SIGKILL after the grace,
 * counted from the loss, which comes after the reset. */
static void test_run_reset_kills_term_ignoring_command_after_grace(void **state)
{
    fixture *f = *state;
    lc_run_opts o = opts_for(f);
    o.timing.kill_grace_ms = 500;
    helper h = {.f = f, .what = ACT_RESET};
    helper_start(&h);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f, "trap '' TERM; touch \"$DIR/started\"; while :; do sleep 0.05; done",
                         &o, &rep, &err),
                  LC_OK, &err);
    int64_t end = lct_now_ms();
    helper_join(&h);
    assert_int_equal(rep.outcome, LC_RUN_LOST);
    assert_int_equal(rep.term_signal, SIGKILL);
    assert_true(end - h.done_ms >= 500);
    assert_true(end - h.done_ms < 10000);
    assert_recorded(f, "lease lost: reset by an operator", 128 + SIGKILL, 1);
}

/* A clock the test moves, read by the keeper's threads (atomics: no
 * lock is needed to read it). */
typedef struct atomic_clock {
    lc_clock clock;
    _Atomic int64_t mono_ns;
    _Atomic int64_t wall_ms;
} atomic_clock;

static int64_t ac_mono(void *ctx)
{
    return atomic_load(&((atomic_clock *)ctx)->mono_ns);
}

static int64_t ac_wall(void *ctx)
{
    return atomic_load(&((atomic_clock *)ctx)->wall_ms);
}

typedef struct jumper {
    fixture *f;
    atomic_clock *clock;
    pthread_t t;
} jumper;

static void *jump_main(void *arg)
{
    jumper *j = arg;
    if (lct_wait_for(started, j->f, 10000)) {
        atomic_fetch_add(&j->clock->mono_ns, 2LL * TTL * 1000000);
        atomic_fetch_add(&j->clock->wall_ms, 2LL * TTL);
    }
    return NULL;
}

/* On the injectable clock: time jumps past the lease's local deadline
 * while the command runs (as for a process that was not running): the
 * keeper declares the lease lost on its own clock, and the command is
 * stopped. */
static void test_run_local_deadline_passed_on_clock_stops_command(void **state)
{
    fixture *f = *state;
    atomic_clock ac = {{ac_mono, ac_wall, &ac}, 1000000000000LL, 1700000000000LL};
    lc_memstore *store = lc_memstore_new(&ac.clock);
    assert_non_null(store);
    lc_client_opts copts = {.clock = &ac.clock, .memstore = store};
    lc_client *c;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &copts, &c, &err), LC_OK, &err);
    jumper j = {f, &ac, 0};
    assert_int_equal(pthread_create(&j.t, NULL, jump_main, &j), 0);
    lc_run_opts o = opts_for(f);
    o.timing.kill_grace_ms = 30000;
    lc_run_report rep;
    char *argv[] = {"sh", "-c", "touch \"$DIR/started\"; exec sleep 30", NULL};
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_run(c, f->name, argv, &o, &rep, &err), LC_OK, &err);
    pthread_join(j.t, NULL);
    assert_int_equal(rep.outcome, LC_RUN_LOST);
    assert_int_equal(rep.term_signal, SIGTERM);
    assert_true(lct_now_ms() - t0 < 10000);
    if (strstr(rep.error, "lease lost: ") != rep.error)
        fail_msg("error: %s", rep.error);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(c, f->name, &info, &err), LC_OK, &err);
    assert_int_equal(info.held, 0);
    assert_int_equal(info.sync_count, 1);
    lc_lock_info_clear(&info);
    lc_client_close(c);
    lc_memstore_free(store);
}

static int64_t cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

typedef struct stop_then_reset {
    fixture *f;
    int stop;
    int acted;
    pthread_t t;
} stop_then_reset;

static void *stop_then_reset_main(void *arg)
{
    stop_then_reset *h = arg;
    if (!lct_wait_for(started, h->f, 10000))
        return NULL;
    uint64_t one = 1;
    lc_error err;
    lc_client *c = open_client(h->f);
    h->acted = write(h->stop, &one, sizeof(one)) == (ssize_t)sizeof(one) &&
               lc_force_release(c, h->f->name, "test reset", NULL, NULL, &err) == LC_OK;
    lc_client_close(c);
    return NULL;
}

/* A loss while the command is already being stopped (its kill grace
 * runs): the run ends lost, and waits out the grace asleep -- the loss
 * does not keep waking the supervising thread up (it used to spin on the
 * keeper's descriptor for the rest of the grace). */
static void test_run_loss_during_kill_grace_is_lost_without_spinning(void **state)
{
    fixture *f = *state;
    int stop = eventfd(0, EFD_CLOEXEC);
    assert_true(stop > 0);
    lc_run_opts o = opts_for(f);
    o.stop_fd = stop;
    o.timing.kill_grace_ms = 1500;
    stop_then_reset h = {f, stop, 0, 0};
    assert_int_equal(pthread_create(&h.t, NULL, stop_then_reset_main, &h), 0);
    lc_run_report rep;
    lc_error err;
    int64_t cpu0 = cpu_ms();
    lct_assert_rc(run_sh(f, "trap '' TERM; touch \"$DIR/started\"; while :; do sleep 0.05; done",
                         &o, &rep, &err),
                  LC_OK, &err);
    int64_t cpu = cpu_ms() - cpu0;
    pthread_join(h.t, NULL);
    assert_true(h.acted);
    assert_int_equal(rep.outcome, LC_RUN_LOST);
    assert_int_equal(rep.term_signal, SIGKILL);
    /* Asleep, a run costs a few ms of CPU; spinning for the grace, about
     * as much as the grace itself. */
    if (cpu >= 400)
        fail_msg("the run used %lld ms of CPU during a 1500 ms kill grace", (long long)cpu);
    close(stop);
}

/* ------------------------------------------------------------------------ */
/* Conflict and stop requests                                               */
/* ------------------------------------------------------------------------ */

static void test_run_conflict_starts_nothing_records_nothing(void **state)
{
    fixture *f = *state;
    lc_acquire_opts ao = {.ttl_ms = 5000, .owner = "the-holder"};
    lc_lease *held;
    lc_error err;
    lct_assert_rc(lc_acquire(f->other, f->name, &ao, &held, &err), LC_OK, &err);
    lc_run_opts o = opts_for(f);
    lc_run_report rep;
    assert_int_equal(run_sh(f, "touch \"$DIR/ran\"", &o, &rep, &err), LC_ERR_CONFLICT);
    assert_int_equal(err.code, LC_ERR_CONFLICT);
    assert_string_equal(err.holder.owner, "the-holder");
    assert_int_equal(rep.outcome, LC_RUN_CONFLICT);
    assert_int_equal(rep.started, 0);
    assert_int_equal(rep.exit_code, -1);
    assert_int_equal(rep.recorded, 0);
    assert_int_equal(rep.fence, 0);
    assert_string_equal(rep.holder.owner, "the-holder");
    assert_int_equal(rep.holder.fence, lc_lease_fence(held));
    assert_false(file_in(f, "ran"));
    lc_lock_info info;
    inspect(f, &info);
    assert_int_equal(info.held, 1);
    assert_string_equal(info.owner, "the-holder");
    assert_int_equal(info.sync_count, 0);
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->other, held, NULL, &err), LC_OK, &err);
    lc_lease_free(held);
}

/* stop_fd readable before the run: nothing is taken, nothing started. */
static void test_run_stop_fd_before_start_interrupts_takes_nothing(void **state)
{
    fixture *f = *state;
    int stop = eventfd(1, EFD_CLOEXEC);
    assert_true(stop > 0);
    lc_run_opts o = opts_for(f);
    o.stop_fd = stop;
    lc_run_report rep;
    lc_error err;
    assert_int_equal(run_sh(f, "touch \"$DIR/ran\"", &o, &rep, &err), LC_ERR_CANCELLED);
    assert_int_equal(rep.outcome, LC_RUN_INTERRUPTED);
    assert_int_equal(rep.started, 0);
    assert_int_equal(rep.fence, 0);
    assert_string_equal(rep.error, "interrupted while waiting for the lock; nothing was acquired");
    assert_false(file_in(f, "ran"));
    lc_lock_info info;
    inspect(f, &info);
    assert_int_equal(info.fence, 0);
    assert_int_equal(info.sync_count, 0);
    lc_lock_info_clear(&info);
    close(stop);
}

/* stop_fd readable while the command runs: SIGTERM to it, and the run
 * is interrupted, recorded with the command's own exit. */
static void test_run_stop_fd_while_running_sends_sigterm(void **state)
{
    fixture *f = *state;
    int stop = eventfd(0, EFD_CLOEXEC);
    assert_true(stop > 0);
    lc_run_opts o = opts_for(f);
    o.stop_fd = stop;
    o.timing.kill_grace_ms = 30000;
    helper h = {.f = f, .what = ACT_WRITE, .fd = stop};
    helper_start(&h);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f,
                         "trap 'exit 7' TERM; touch \"$DIR/started\"; "
                         "while :; do sleep 0.05; done",
                         &o, &rep, &err),
                  LC_OK, &err);
    helper_join(&h);
    assert_int_equal(rep.outcome, LC_RUN_INTERRUPTED);
    assert_int_equal(rep.exit_code, 7);
    assert_int_equal(rep.stop_signal, 0);
    assert_recorded(f, "exit status 7", 7, 1);
    close(stop);
}

/* A signalfd as stop_fd: the signal that came is the one the command
 * gets (here SIGUSR1, which the test blocks in every thread). */
static void test_run_signalfd_passes_the_signal_on(void **state)
{
    fixture *f = *state;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    assert_true(sfd > 0);
    lc_run_opts o = opts_for(f);
    o.stop_fd = sfd;
    o.stop_fd_is_signalfd = 1;
    o.timing.kill_grace_ms = 30000;
    helper h = {.f = f, .what = ACT_SIGNAL, .sig = SIGUSR1};
    helper_start(&h);
    lc_run_report rep;
    lc_error err;
    lct_assert_rc(run_sh(f,
                         "trap 'exit 9' USR1; trap 'exit 8' TERM; touch \"$DIR/started\"; "
                         "while :; do sleep 0.05; done",
                         &o, &rep, &err),
                  LC_OK, &err);
    helper_join(&h);
    assert_int_equal(rep.stop_signal, SIGUSR1);
    assert_int_equal(rep.exit_code, 9);
    assert_int_equal(rep.outcome, LC_RUN_INTERRUPTED);
    assert_recorded(f, "exit status 9", 9, 1);
    close(sfd);
}

/* ------------------------------------------------------------------------ */
/* A keeper given: shared, and lc_run_under                                  */
/* ------------------------------------------------------------------------ */

typedef struct runner {
    fixture *f;
    lc_client *c;
    lc_keeper *k;
    const char *name;
    const char *script;
    lc_run_report rep;
    lc_status rc;
    pthread_t t;
} runner;

static void *runner_main(void *arg)
{
    runner *r = arg;
    lc_run_opts o = opts_for(r->f);
    o.keeper = r->k;
    o.timing.kill_grace_ms = 30000;
    char *argv[] = {"sh", "-c", (char *)r->script, NULL};
    r->rc = lc_run(r->c, r->name, argv, &o, &r->rep, NULL);
    return NULL;
}

/* Two runs on two threads keep their leases with one keeper: a reset of
 * one stops that one only. */
static void test_run_shared_keeper_loss_stops_its_run_only(void **state)
{
    fixture *f = *state;
    lc_client_opts copts = {.memstore = f->store};
    lc_keeper *k;
    lc_error err;
    lct_assert_rc(lc_keeper_start(f->cfg, &copts, NULL, &k, &err), LC_OK, &err);
    char other_name[LC_NAME_MAX + 1];
    snprintf(other_name, sizeof(other_name), "%s", lct_name("run"));
    runner lost = {.f = f,
                   .c = open_client(f),
                   .k = k,
                   .name = f->name,
                   .script = "touch \"$DIR/started\"; exec sleep 30"};
    runner kept = {.f = f,
                   .c = open_client(f),
                   .k = k,
                   .name = other_name,
                   .script = "touch \"$DIR/kept\"; while [ ! -e \"$DIR/go\" ]; do sleep 0.02; "
                             "done"};
    assert_int_equal(pthread_create(&kept.t, NULL, runner_main, &kept), 0);
    assert_int_equal(pthread_create(&lost.t, NULL, runner_main, &lost), 0);
    helper h = {.f = f, .what = ACT_RESET};
    helper_start(&h);
    helper_join(&h);
    pthread_join(lost.t, NULL);
    lct_assert_rc(lost.rc, LC_OK, &err);
    assert_int_equal(lost.rep.outcome, LC_RUN_LOST);
    /* The other one still runs, under a lease still kept. */
    assert_true(file_in(f, "kept"));
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->other, other_name, &info, &err), LC_OK, &err);
    assert_int_equal(info.held, 1);
    lc_lock_info_clear(&info);
    char go[128];
    snprintf(go, sizeof(go), "%s/go", f->dir);
    FILE *fp = fopen(go, "w");
    assert_non_null(fp);
    fclose(fp);
    pthread_join(kept.t, NULL);
    lct_assert_rc(kept.rc, LC_OK, &err);
    assert_int_equal(kept.rep.outcome, LC_RUN_DONE);
    assert_int_equal(kept.rep.recorded, 1);
    lc_keeper_stop(k);
    lc_client_close(lost.c);
    lc_client_close(kept.c);
}

typedef struct keeper_lease {
    lc_keeper *k;
    lc_lease *lease;
} keeper_lease;

static int keeper_says_lost(void *arg)
{
    keeper_lease *kl = arg;
    return lc_keeper_lost(kl->k, kl->lease, NULL, 0) != LC_OK;
}

/* lc_run_under runs twice under one held, kept lease (retries): nothing
 * is recorded, the lease stays held and kept. */
static void test_run_under_held_lease_runs_again_records_nothing(void **state)
{
    fixture *f = *state;
    lc_client_opts copts = {.memstore = f->store};
    lc_keeper *k;
    lc_lease *lease;
    lc_error err;
    lct_assert_rc(lc_keeper_start(f->cfg, &copts, NULL, &k, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(f->c, f->name, NULL, &lease, &err), LC_OK, &err);
    lct_assert_rc(lc_keeper_add(k, lease, &err), LC_OK, &err);
    lc_run_opts o = opts_for(f);
    lc_run_report rep;
    char *fail_argv[] = {"sh", "-c", "exit 4", NULL};
    char *ok_argv[] = {"sh", "-c", "[ -n \"$LOCKCOORD_TOKEN\" ]", NULL};
    lct_assert_rc(lc_run_under(k, lease, fail_argv, &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_FAILED);
    assert_int_equal(rep.exit_code, 4);
    assert_string_equal(rep.error, "exit status 4");
    assert_int_equal(rep.recorded, 0);
    assert_int_equal(rep.fence, lc_lease_fence(lease));
    lct_assert_rc(lc_run_under(k, lease, ok_argv, &o, &rep, &err), LC_OK, &err);
    assert_int_equal(rep.outcome, LC_RUN_DONE);
    assert_int_equal(lc_keeper_lost(k, lease, NULL, 0), LC_OK);
    lc_lock_info info;
    inspect(f, &info);
    assert_int_equal(info.held, 1);
    assert_int_equal(info.sync_count, 0);
    lc_lock_info_clear(&info);

    /* Once lost, it does not start the command. */
    lct_assert_rc(lc_force_release(f->other, f->name, "gone", NULL, NULL, &err), LC_OK, &err);
    keeper_lease kl = {k, lease};
    assert_true(lct_wait_for(keeper_says_lost, &kl, 10000)); /* at its next renewal */
    char *touch_argv[] = {"sh", "-c", "touch \"$DIR/ran\"", NULL};
    lc_status rc = lc_run_under(k, lease, touch_argv, &o, &rep, &err);
    assert_int_equal(rc, LC_ERR_LOST);
    assert_int_equal(rep.outcome, LC_RUN_LOST);
    assert_int_equal(rep.started, 0);
    assert_string_equal(rep.error, "lease lost: reset by an operator: gone");
    assert_false(file_in(f, "ran"));
    assert_int_equal(lc_keeper_remove(k, lease), LC_ERR_LOST);
    lc_lease_free(lease);
    lc_keeper_stop(k);
}

static void test_run_without_command_is_invalid(void **state)
{
    fixture *f = *state;
    lc_run_report rep;
    lc_error err;
    char *none[] = {NULL};
    assert_int_equal(lc_run(f->c, f->name, none, NULL, &rep, &err), LC_ERR_INVALID);
    assert_int_equal(rep.outcome, LC_RUN_ERROR);
    assert_int_equal(rep.started, 0);
    assert_int_equal(lc_run(f->c, f->name, NULL, NULL, &rep, &err), LC_ERR_INVALID);
    char *argv[] = {"true", NULL};
    assert_int_equal(lc_run(f->c, f->name, argv, NULL, NULL, &err), LC_ERR_INVALID);
    lc_run_opts o = opts_for(f);
    o.timing.ttl_ms = 1000;
    o.timing.renew_every_ms = 600;
    assert_int_equal(lc_run(f->c, f->name, argv, &o, &rep, &err), LC_ERR_INVALID);
    assert_string_equal(err.message, "renew_every (600ms) must be less than half the ttl (1s)");
}

/* pidfd_open(2) made to fail with ENOSYS for this process and what it
 * forks, as on Linux before 5.3 and under valgrind: a seccomp filter, for
 * the second round, where lc_run watches its guard through a thread. */
static void without_pidfd_open(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 434 /* pidfd_open */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp");
        exit(1);
    }
    if (syscall(434, getpid(), 0) != -1 || errno != ENOSYS) {
        fprintf(stderr, "pidfd_open still works\n");
        exit(1);
    }
}

int main(void)
{
    /* SIGUSR1 goes to the signalfd only: blocked before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_exit_codes_passed_through_and_recorded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_signal_death_is_signalled_128_plus_n, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_command_not_found_reports_errno_127, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_environment_has_lease_and_extra_variables, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_timeout_stops_command_with_sigterm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_timeout_kills_after_grace_when_term_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_kill_grace_zero_set_kills_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_reset_stops_command_recorded_lost, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_reset_kills_term_ignoring_command_after_grace,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_local_deadline_passed_on_clock_stops_command,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_loss_during_kill_grace_is_lost_without_spinning,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_conflict_starts_nothing_records_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_stop_fd_before_start_interrupts_takes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_stop_fd_while_running_sends_sigterm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_signalfd_passes_the_signal_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_shared_keeper_loss_stops_its_run_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_under_held_lease_runs_again_records_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_without_command_is_invalid, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* The paths that wait for the guard's exit, once more without pidfds. */
#define AGAIN(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest without_pidfds[] = {
        AGAIN(test_run_exit_codes_passed_through_and_recorded),
        AGAIN(test_run_signal_death_is_signalled_128_plus_n),
        AGAIN(test_run_command_not_found_reports_errno_127),
        AGAIN(test_run_timeout_kills_after_grace_when_term_ignored),
        AGAIN(test_run_reset_stops_command_recorded_lost),
        AGAIN(test_run_stop_fd_while_running_sends_sigterm),
    };
    without_pidfd_open();
    return failed + cmocka_run_group_tests(without_pidfds, NULL, NULL);
}
