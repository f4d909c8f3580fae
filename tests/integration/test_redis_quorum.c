/* tests/integration/test_redis_quorum.c -- quorum mode (redis.quorum)
 * against three private redis-servers (scripts/servers.sh
 * redis-quorum-start) that this test freezes with SIGSTOP and always
 * thaws and stops: with one master frozen locks are still acquired and
 * renewed; with two frozen an acquire fails within its wait and a kept
 * lease is declared lost before its ttl; fences strictly increase across
 * all of it. Short timeouts keep it fast. */
#include "testenv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MASTERS        3
#define CMD_TIMEOUT_MS 300
#define TTL_MS         1500

typedef struct fixture {
    char dir[64];
    char urls[1024];
    pid_t pid[MASTERS];
    lc_config *cfg;
    lc_client *c;
    uint64_t last_fence;
} fixture;

static fixture *g_fixture; /* for the thaw on a failed assertion */

static void servers(const char *cmd, fixture *f, char *out, size_t size)
{
    const char *src = getenv("LOCKCOORD_SRC");
    char line[512];
    snprintf(line, sizeof(line), "'%s/scripts/servers.sh' %s '%s/q'", src ? src : ".", cmd, f->dir);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    size_t used = 0;
    while (out && used + 1 < size && fgets(out + used, (int)(size - used), p))
        used += strlen(out + used);
    int rc = pclose(p);
    if (rc != 0 && out)
        fail_msg("%s failed (%d)", line, rc);
}

static pid_t pid_of(const fixture *f, int i)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/q/master%d/redis.pid", f->dir, i + 1);
    FILE *p = fopen(path, "r");
    long pid = 0;
    if (p == NULL || fscanf(p, "%ld", &pid) != 1)
        fail_msg("no pid in %s", path);
    fclose(p);
    return (pid_t)pid;
}

static void thaw_all(fixture *f)
{
    for (int i = 0; i < MASTERS; i++)
        if (f->pid[i] > 0)
            kill(f->pid[i], SIGCONT);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lcquorum-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    g_fixture = f;
    servers("redis-quorum-start", f, f->urls, sizeof(f->urls));
    for (int i = 0; i < MASTERS; i++)
        f->pid[i] = pid_of(f, i);
    f->cfg = lc_config_new("redis");
    assert_non_null(f->cfg);
    lct_set_quorum(f->cfg, f->urls);
    assert_int_equal(f->cfg->redis.n_quorum, MASTERS);
    f->cfg->redis.command_timeout_ms = CMD_TIMEOUT_MS;
    f->cfg->redis.connect_timeout_ms = CMD_TIMEOUT_MS;
    f->cfg->lock.retry_min_ms = 20;
    f->cfg->lock.retry_max_ms = 100;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, NULL, &f->c, &err), LC_OK, &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    thaw_all(f);
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    servers("redis-quorum-stop", f, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    g_fixture = NULL;
    free(f);
    return 0;
}

static void on_abort(int sig)
{
    if (g_fixture)
        thaw_all(g_fixture);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Takes `name`, waiting up to wait_ms for it (-1: not at all), and
 * checks that its fence is above every fence before. */
static lc_lease *take_within(fixture *f, const char *name, int64_t wait_ms)
{
    lc_acquire_opts o = {.ttl_ms = TTL_MS, .wait_ms = wait_ms};
    lc_lease *l = NULL;
    lc_error err;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_acquire(f->c, name, &o, &l, &err), LC_OK, &err);
    /* One command timeout at most for a master that just froze; the bound
     * is several times that. */
    assert_true(lct_now_ms() - t0 < (wait_ms > 0 ? wait_ms : 0) + 10 * CMD_TIMEOUT_MS);
    assert_true(lc_lease_fence(l) > f->last_fence);
    f->last_fence = lc_lease_fence(l);
    return l;
}

static lc_lease *take(fixture *f, const char *name)
{
    return take_within(f, name, -1);
}

static void test_quorum_one_master_frozen_acquires_and_renews(void **state)
{
    fixture *f = *state;
    char name[LC_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", lct_name("quorum/one"));
    lc_lease *l = take(f, name);
    lc_error err;
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    kill(f->pid[2], SIGSTOP);
    l = take(f, name);
    for (int i = 0; i < 5; i++)
        lct_assert_rc(lc_renew(f->c, l, TTL_MS, &err), LC_OK, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    l = take(f, name);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    /* Thawed, the master that missed those acquires is behind: the next
     * majority may include it, and the fence still goes up. */
    kill(f->pid[2], SIGCONT);
    kill(f->pid[0], SIGSTOP);
    l = take(f, name);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    kill(f->pid[0], SIGCONT);
    for (int i = 0; i < 3; i++) {
        l = take(f, name);
        lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
        lc_lease_free(l);
    }
}

static void test_quorum_two_masters_frozen_acquire_fails_within_wait(void **state)
{
    fixture *f = *state;
    char name[LC_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", lct_name("quorum/two"));
    lc_lease *l = take(f, name);
    lc_error err;
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    kill(f->pid[0], SIGSTOP);
    kill(f->pid[1], SIGSTOP);
    lc_acquire_opts o = {.ttl_ms = TTL_MS, .wait_ms = 500};
    l = NULL;
    int64_t t0 = lct_now_ms();
    lc_status rc = lc_acquire(f->c, name, &o, &l, &err);
    int64_t took = lct_now_ms() - t0;
    assert_null(l);
    if (rc != LC_ERR_UNAVAILABLE && rc != LC_ERR_TIMEOUT)
        fail_msg("acquire with two of three masters frozen: %s (%s)", lc_status_name(rc),
                 err.message);
    assert_true(took < 500 + 10 * CMD_TIMEOUT_MS);

    /* Thawed: an attempt whose answer was lost may have taken the lock
     * on the frozen masters (they run it when they wake); it is free
     * again within a ttl at the latest, and its fence goes on from the
     * last. */
    thaw_all(f);
    l = take_within(f, name, 3 * TTL_MS);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_quorum_two_masters_frozen_kept_lease_lost_before_ttl(void **state)
{
    fixture *f = *state;
    char name[LC_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", lct_name("quorum/lost"));
    lc_keeper *k = NULL;
    lc_keeper_opts ko = {.renew_every_ms = TTL_MS / 5};
    lc_error err;
    lct_assert_rc(lc_keeper_start(f->cfg, NULL, &ko, &k, &err), LC_OK, &err);
    lc_lease *l = take(f, name);
    int64_t acquired = lct_now_ms();
    lct_assert_rc(lc_keeper_add(k, l, &err), LC_OK, &err);
    /* Renewed through a few rounds with one master frozen. */
    kill(f->pid[1], SIGSTOP);
    lct_sleep_ms(TTL_MS); /* past the first ttl on purpose */
    assert_int_equal(lc_keeper_lost(k, l, NULL, 0), LC_OK);

    kill(f->pid[2], SIGSTOP);
    int64_t frozen = lct_now_ms();
    char reason[256] = "";
    while (lc_keeper_lost(k, l, reason, sizeof(reason)) == LC_OK &&
           lct_now_ms() - frozen < 3 * TTL_MS)
        lct_sleep_ms(5);
    int64_t lost_at = lct_now_ms();
    lc_status lost = lc_keeper_lost(k, l, reason, sizeof(reason));
    if (lost == LC_OK)
        fail_msg("the lease was not lost with two of three masters frozen");
    /* Lost at the local deadline of the last renewal that reached a
     * majority (sent before the freeze), which comes before that
     * renewal's ttl runs out on the masters; the slack is for the
     * watchdog's wake-up on a busy machine. */
    if (lost != LC_ERR_UNAVAILABLE)
        fail_msg("lost as %s (%s), want the deadline's unavailable", lc_status_name(lost), reason);
    assert_true(lost_at - frozen <= TTL_MS + 250);
    assert_true(lost_at > acquired);
    lc_keeper_remove(k, l);
    lc_keeper_stop(k);
    thaw_all(f);
    lc_lease_free(l);

    /* Lost here, the lease may still live on the masters until its ttl:
     * the next holder waits for that, with a higher fence. */
    l = take_within(f, name, 3 * TTL_MS);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* Runs redis-cli against master i (0-based) with `args` (shell words). */
static void on_master(const fixture *f, int i, const char *args)
{
    char line[1024];
    snprintf(line, sizeof(line), "redis-cli -p $(cat '%s/q/master%d/redis.port') %s >/dev/null",
             f->dir, i + 1, args);
    assert_int_equal(system(line), 0);
}

/* A minority's stray lease -- an attempt that took one master and failed
 * elsewhere, not yet given back -- carries a higher fence than the lease
 * the majority holds. A reset must name the majority's holder (the one
 * whose lease it ends), and so must a refused acquire. Found by the
 * torture test: the reset named the stray, and its real victim was then
 * seen to overlap the next holder. */
static void test_quorum_reset_names_majority_holder_not_stray(void **state)
{
    fixture *f = *state;
    char name[LC_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", lct_name("quorum/stray"));
    lc_lease *l = take(f, name);
    uint64_t fence = lc_lease_fence(l);
    char args[768];
    const char *p = f->cfg->redis.key_prefix;
    snprintf(args, sizeof(args),
             "EVAL \"redis.call('SET', KEYS[1], 'stray-token', 'PX', 60000); "
             "redis.call('SET', KEYS[2], ARGV[1]); "
             "redis.call('HSET', KEYS[3], 'owner', 'stray:1', 'fence', ARGV[1])\" "
             "3 '%s:{%s}:lock' '%s:{%s}:fence' '%s:{%s}:meta' %llu",
             p, name, p, name, p, name, (unsigned long long)fence + 5);
    on_master(f, 2, args);

    lc_error err;
    lc_acquire_opts o = {.ttl_ms = TTL_MS, .wait_ms = -1};
    lc_lease *other = NULL;
    lct_assert_rc(lc_acquire(f->c, name, &o, &other, &err), LC_ERR_CONFLICT, &err);
    assert_int_equal(err.holder.fence, fence);
    assert_string_not_equal(err.holder.owner, "stray:1");

    int was_held = 0;
    lc_holder prev;
    lct_assert_rc(lc_force_release(f->c, name, "test", &was_held, &prev, &err), LC_OK, &err);
    assert_true(was_held);
    assert_int_equal(prev.fence, fence);
    assert_string_not_equal(prev.owner, "stray:1");
    lc_lease_free(l);
}

int main(void)
{
    signal(SIGABRT, on_abort);
    signal(SIGSEGV, on_abort);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quorum_reset_names_majority_holder_not_stray, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quorum_one_master_frozen_acquires_and_renews, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quorum_two_masters_frozen_acquire_fails_within_wait,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_two_masters_frozen_kept_lease_lost_before_ttl,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
