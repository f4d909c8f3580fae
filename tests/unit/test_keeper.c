/* tests/unit/test_keeper.c -- the lease keeper against the memory backend.
 *
 * Most cases drive a manual keeper (core/keeper_int.h) with a fake clock:
 * lc__keeper_tick is one renewal round, lc__keeper_check is the watchdog
 * waking up. The keeper's client wraps the memory table, so a test can
 * count backend calls, make the backend fail, stall a call, or deliver a
 * reply late. The last cases run the real threads on the system clock. */
#include "testenv.h"

#include "backends/backend_int.h"
#include "core/client_int.h"
#include "core/keeper_int.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TTL   300
#define EVERY 100

/* ------------------------------------------------------------------------ */
/* A backend table around the memory one                                    */
/* ------------------------------------------------------------------------ */

typedef struct wrap {
    const lc_backend_ops *mem;
    void *inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail;        /* renew calls answer LC_ERR_UNAVAILABLE */
    int stall;       /* after forwarding, block until cleared */
    int stalled;     /* a call is blocked now */
    int64_t late_ms; /* after forwarding, move the fake clock this far */
    lct_clock *fc;
    int renew_many_calls;
    int renew_calls;
    uint64_t requests;    /* what the table with `requests` reports: one per item */
    int watched_renewals; /* items renewed for `watched` */
    char watched[LC_NAME_MAX + 1];
} wrap;

static void wrap_after_call(wrap *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->late_ms && w->fc)
        lct_clock_advance(w->fc, w->late_ms);
    w->stalled = w->stall;
    pthread_cond_broadcast(&w->cv);
    while (w->stall)
        pthread_cond_wait(&w->cv, &w->mu);
    w->stalled = 0;
    pthread_mutex_unlock(&w->mu);
}

/* Reads an int that another thread writes under mu. */
static int read_locked(pthread_mutex_t *mu, const int *v)
{
    pthread_mutex_lock(mu);
    int x = *v;
    pthread_mutex_unlock(mu);
    return x;
}

static lc_status wrap_unreachable(lc_error *err)
{
    err->code = LC_ERR_UNAVAILABLE;
    snprintf(err->message, sizeof(err->message), "memory-wrapper: connect: Connection refused");
    return LC_ERR_UNAVAILABLE;
}

static int wrap_count(wrap *w, int many, const char *name)
{
    pthread_mutex_lock(&w->mu);
    int fail = w->fail;
    if (many)
        w->renew_many_calls++;
    else
        w->renew_calls++;
    if (name && strcmp(name, w->watched) == 0)
        w->watched_renewals++;
    pthread_mutex_unlock(&w->mu);
    return fail;
}

static lc_status wrap_renew_many(void *state, lc_renew_item *items, size_t n, lc_error *err)
{
    wrap *w = state;
    if (wrap_count(w, 1, NULL))
        return wrap_unreachable(err);
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, w->watched) == 0)
            w->watched_renewals++;
    w->requests += n;
    pthread_mutex_unlock(&w->mu);
    lc_status rc = w->mem->renew_many(w->inner, items, n, err);
    wrap_after_call(w);
    return rc;
}

static lc_status wrap_renew(void *state, const char *name, const char *token, int64_t ttl_ms,
                            lc_error *err)
{
    wrap *w = state;
    if (wrap_count(w, 0, name))
        return wrap_unreachable(err);
    return w->mem->renew(w->inner, name, token, ttl_ms, err);
}

static lc_status wrap_inspect(void *state, const char *name, lc_lock_info *out, lc_error *err)
{
    wrap *w = state;
    return w->mem->inspect(w->inner, name, out, err);
}

static const lc_backend_ops wrap_ops = {
    .name = "memory-wrapper",
    .renew = wrap_renew,
    .renew_many = wrap_renew_many,
    .inspect = wrap_inspect,
};

/* A backend that counts its requests: one per renewed item, as a
 * pipeline of one command per lease would. */
static uint64_t wrap_requests(void *state)
{
    wrap *w = state;
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->requests;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static const lc_backend_ops wrap_ops_counted = {
    .name = "memory-wrapper-counted",
    .renew = wrap_renew,
    .renew_many = wrap_renew_many,
    .inspect = wrap_inspect,
    .requests = wrap_requests,
};

/* The same without renew_many: the keeper must fall back to renew. */
static const lc_backend_ops wrap_ops_single = {
    .name = "memory-wrapper-single",
    .renew = wrap_renew,
    .inspect = wrap_inspect,
};

/* ------------------------------------------------------------------------ */
/* Fixture: a store, an ordinary client, the keeper's wrapped client        */
/* ------------------------------------------------------------------------ */

typedef struct losses {
    pthread_mutex_t mu;
    int count;
    char name[LC_NAME_MAX + 1];
    char reason[256];
} losses;

/* What on_renew reported (manual keepers only: read without a lock). */
typedef struct renewals {
    int count;
    char name[LC_NAME_MAX + 1];
    int64_t deadline_ns;
} renewals;

typedef struct fixture {
    lct_clock fc;     /* the clients' clock */
    lct_clock server; /* the store's clock; moves with fc unless told */
    lc_memstore *store;
    lc_config *cfg;
    lc_client *other; /* acquires, force-releases, inspects */
    wrap w;
    struct lc_client kc; /* the keeper's client, around w */
    lc_keeper *k;
    losses loss;
    renewals renewed;
} fixture;

static void on_renew(void *ctx, const char *name, int64_t deadline_ns)
{
    renewals *r = ctx;
    r->count++;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->deadline_ns = deadline_ns;
}

static void on_loss(void *ctx, const char *name, const char *reason)
{
    losses *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->count++;
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->reason, sizeof(l->reason), "%s", reason);
    pthread_mutex_unlock(&l->mu);
}

static int loss_count(losses *l)
{
    return read_locked(&l->mu, &l->count);
}

static int loss_reported(void *arg)
{
    return loss_count(arg) > 0;
}

/* Builds f around the table `ops`, on the fake clocks or the system clock. */
static fixture *fixture_new(const lc_backend_ops *ops, int fake)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    lct_clock_init(&f->fc);
    lct_clock_init(&f->server);
    const lc_clock *clock = fake ? &f->fc.clock : lc_clock_system();
    f->store = lc_memstore_new(fake ? &f->server.clock : NULL);
    assert_non_null(f->store);
    f->cfg = lct_config("memory");
    f->cfg->lock.ttl_ms = TTL;
    f->cfg->lock.renew_every_ms = EVERY;
    lc_client_opts copts = {.clock = clock, .memstore = f->store};
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &copts, &f->other, &err), LC_OK, &err);

    wrap *w = &f->w;
    w->mem = lc__backend_find("memory");
    w->fc = fake ? &f->fc : NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    lc_backend_env env = {clock, NULL, NULL, f->store};
    lct_assert_rc(w->mem->open(f->cfg, &env, &w->inner, &err), LC_OK, &err);
    f->kc.ops = ops;
    f->kc.state = w;
    f->kc.cfg = f->cfg;
    f->kc.clock = clock;
    snprintf(f->kc.owner, sizeof(f->kc.owner), "keeper-test");
    pthread_mutex_init(&f->loss.mu, NULL);
    return f;
}

/* A keeper around f's wrapped client: manual on the fake clock, or with its
 * threads on the system clock. */
static int setup_keeper(void **state, const lc_backend_ops *ops, int threaded)
{
    fixture *f = fixture_new(ops, !threaded);
    lc_keeper_opts ko = {.renew_every_ms = EVERY, .on_loss = on_loss, .loss_ctx = &f->loss};
    if (!threaded) {
        ko.on_renew = on_renew;
        ko.renew_ctx = &f->renewed;
    }
    lc_error err;
    if (threaded)
        lct_assert_rc(lc__keeper_start_threaded(&f->kc, &ko, &f->k, &err), LC_OK, &err);
    else
        lct_assert_rc(lc__keeper_start_manual(&f->kc, &ko, &f->k, &err), LC_OK, &err);
    *state = f;
    return 0;
}

static int setup_manual(void **state)
{
    return setup_keeper(state, &wrap_ops, 0);
}

static int setup_single(void **state)
{
    return setup_keeper(state, &wrap_ops_single, 0);
}

static int setup_counted(void **state)
{
    return setup_keeper(state, &wrap_ops_counted, 0);
}

static int setup_threaded(void **state)
{
    return setup_keeper(state, &wrap_ops, 1);
}

static void unstall(wrap *w);

static int no_orphans(void *arg)
{
    (void)arg;
    return lc__keeper_orphans() == 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unstall(&f->w); /* a test that failed mid-stall must not hang here */
    lc_keeper_stop(f->k);
    assert_true(lct_wait_for(no_orphans, NULL, 2000));
    f->w.mem->close(f->w.inner);
    pthread_cond_destroy(&f->w.cv);
    pthread_mutex_destroy(&f->w.mu);
    pthread_mutex_destroy(&f->loss.mu);
    lc_client_close(f->other);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

static void advance(fixture *f, int64_t ms)
{
    pthread_mutex_lock(&f->w.mu);
    lct_clock_advance(&f->fc, ms);
    lct_clock_advance(&f->server, ms);
    pthread_mutex_unlock(&f->w.mu);
}

/* What the threads do over n renew_every periods. */
static void run_ticks(fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        advance(f, EVERY);
        lc__keeper_tick(f->k);
        lc__keeper_check(f->k);
    }
}

static lc_lease *take(fixture *f, const char *name)
{
    lc_acquire_opts ao = {.ttl_ms = TTL};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->other, name, &ao, &l, &err), LC_OK, &err);
    return l;
}

static lc_lease *take_kept(fixture *f, const char *name)
{
    lc_lease *l = take(f, name);
    lc_error err;
    lct_assert_rc(lc_keeper_add(f->k, l, &err), LC_OK, &err);
    return l;
}

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void assert_lost_with(fixture *f, lc_lease *l, const char *want)
{
    char reason[256] = "";
    assert_true(lc_keeper_lost(f->k, l, reason, sizeof(reason)));
    if (strstr(reason, want) == NULL)
        fail_msg("reason '%s' does not contain '%s'", reason, want);
    assert_true(readable(lc_keeper_fd(f->k), 0));
}

/* ------------------------------------------------------------------------ */
/* Deadlines                                                                */
/* ------------------------------------------------------------------------ */

static void test_keeper_deadline_after_subtracts_drift_allowance(void **state)
{
    (void)state;
    /* 1% of ttl plus 2 ms. */
    assert_int_equal(lc_deadline_after(1000000000, 300), 1000000000 + 295 * 1000000LL);
    assert_int_equal(lc_deadline_after(0, 30000), 29698 * 1000000LL);
    assert_int_equal(lc_deadline_after(0, 50), 48 * 1000000LL);
    assert_int_equal(lc_deadline_after(5, 1), 5); /* never before the send */
}

static void test_keeper_add_takes_deadline_from_lease(void **state)
{
    fixture *f = *state;
    int64_t sent = f->fc.mono_ns;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), lc_deadline_after(sent, TTL));
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), lc_lease_deadline_ns(l));
    assert_false(lc_keeper_lost(f->k, l, NULL, 0));
    assert_false(readable(lc_keeper_fd(f->k), 0));
    assert_int_equal(lc_keeper_remove(f->k, l), 0);
    lc_lease_free(l);
}

static void test_keeper_add_short_ttl_is_refused(void **state)
{
    fixture *f = *state;
    lc_acquire_opts ao = {.ttl_ms = 2 * EVERY};
    lc_lease *l;
    lc_error err;
    lct_assert_rc(lc_acquire(f->other, lct_name("keeper"), &ao, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_keeper_add(f->k, l, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "less than half the ttl"));
    lc_lease_free(l);
}

static void test_keeper_renewal_extends_deadline_from_send_time(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    advance(f, EVERY);
    int64_t sent = f->fc.mono_ns;
    f->w.late_ms = 40; /* the reply takes 40 ms */
    lc__keeper_tick(f->k);
    assert_int_equal(f->fc.mono_ns, sent + 40 * 1000000LL);
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), lc_deadline_after(sent, TTL));
    assert_false(lc_keeper_lost(f->k, l, NULL, 0));
    /* Renewed again and again, the lease outlives its ttl many times. */
    f->w.late_ms = 0;
    run_ticks(f, 10);
    assert_false(lc_keeper_lost(f->k, l, NULL, 0));
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->other, lc_lease_name(l), &info, &err), LC_OK, &err);
    assert_true(info.held);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    assert_int_equal(lc_keeper_remove(f->k, l), 0);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* Loss                                                                     */
/* ------------------------------------------------------------------------ */

static void test_keeper_force_released_is_lost_as_reset(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    int was_held = 0;
    lc_holder prev;
    lc_error err;
    lct_assert_rc(
        lc_force_release(f->other, lc_lease_name(l), "stuck job cleanup", &was_held, &prev, &err),
        LC_OK, &err);
    advance(f, EVERY);
    lc__keeper_tick(f->k);
    assert_lost_with(f, l, "reset by an operator: stuck job cleanup");
    assert_int_equal(loss_count(&f->loss), 1);
    assert_string_equal(f->loss.name, lc_lease_name(l));
    assert_string_equal(f->loss.reason, "reset by an operator: stuck job cleanup");
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_LOST);
    lc_lease_free(l);
}

static void test_keeper_taken_over_after_expiry_is_lost_as_taken_over(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    /* Only the server's time passes (a paused holder, a drifting clock):
     * the lease expires there and another owner takes it. */
    lct_clock_advance(&f->server, TTL + 1);
    lc_acquire_opts ao = {.ttl_ms = TTL, .owner = "intruder:42"};
    lc_lease *theirs;
    lc_error err;
    lct_assert_rc(lc_acquire(f->other, lc_lease_name(l), &ao, &theirs, &err), LC_OK, &err);
    lc__keeper_tick(f->k);
    char want[128];
    snprintf(want, sizeof(want), "taken over by intruder:42 (fence %llu)",
             (unsigned long long)lc_lease_fence(theirs));
    assert_lost_with(f, l, want);
    assert_int_equal(loss_count(&f->loss), 1);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_LOST);
    lc_lease_free(l);
    lc_lease_free(theirs);
}

static void test_keeper_backend_unreachable_is_lost_at_deadline(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    int64_t deadline = lc_keeper_deadline_ns(f->k, l);
    f->w.fail = 1;
    run_ticks(f, 2);
    assert_false(lc_keeper_lost(f->k, l, NULL, 0));
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), deadline);
    assert_false(readable(lc_keeper_fd(f->k), 0));
    /* One nanosecond short of the deadline nothing happens; at it, loss. */
    f->fc.mono_ns = deadline - 1;
    lc__keeper_check(f->k);
    assert_false(lc_keeper_lost(f->k, l, NULL, 0));
    f->fc.mono_ns = deadline;
    lc__keeper_check(f->k);
    assert_lost_with(f, l,
                     "deadline passed while the backend was unreachable: "
                     "memory-wrapper: connect: Connection refused");
    assert_int_equal(loss_count(&f->loss), 1);
    /* Lost is sticky: the backend coming back changes nothing. */
    f->w.fail = 0;
    int calls = f->w.renew_many_calls;
    lc__keeper_tick(f->k);
    assert_int_equal(f->w.renew_many_calls, calls); /* nothing left to renew */
    assert_true(lc_keeper_lost(f->k, l, NULL, 0));
    assert_int_equal(loss_count(&f->loss), 1);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_UNAVAILABLE);
    lc_lease_free(l);
}

static void test_keeper_late_reply_after_deadline_is_lost(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    int64_t deadline = lc_keeper_deadline_ns(f->k, l);
    advance(f, 250);
    f->w.late_ms = 100; /* the server renews, the reply lands after the deadline */
    lc__keeper_tick(f->k);
    assert_true(f->fc.mono_ns > deadline);
    assert_lost_with(f, l, "the renewal reply came");
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), deadline);
    /* The server did renew it; the keeper still never claims it again. */
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->other, lc_lease_name(l), &info, &err), LC_OK, &err);
    assert_true(info.held);
    lc_lock_info_clear(&info);
    f->w.late_ms = 0;
    int calls = f->w.renew_many_calls;
    lc__keeper_tick(f->k);
    lc__keeper_check(f->k);
    assert_int_equal(f->w.renew_many_calls, calls);
    assert_true(lc_keeper_lost(f->k, l, NULL, 0));
    assert_int_equal(loss_count(&f->loss), 1);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_UNAVAILABLE);
    lc_lease_free(l);
}

typedef struct ticker {
    lc_keeper *k;
    pthread_t t;
} ticker;

static void *tick_main(void *arg)
{
    lc__keeper_tick(((ticker *)arg)->k);
    return NULL;
}

static int is_stalled(void *arg)
{
    wrap *w = arg;
    return read_locked(&w->mu, &w->stalled);
}

static void unstall(wrap *w)
{
    pthread_mutex_lock(&w->mu);
    w->stall = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Starts a round in a thread and returns once its call is stuck. */
static void tick_stalled(fixture *f, ticker *t)
{
    f->w.stall = 1;
    t->k = f->k;
    assert_int_equal(pthread_create(&t->t, NULL, tick_main, t), 0);
    assert_true(lct_wait_for(is_stalled, &f->w, 2000));
}

static void test_keeper_stalled_renewal_does_not_delay_loss(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    int64_t deadline = lc_keeper_deadline_ns(f->k, l);
    advance(f, EVERY);
    ticker t;
    tick_stalled(f, &t);
    /* The server renewed, but the reply hangs while the deadline passes. */
    advance(f, TTL);
    lc__keeper_check(f->k);
    assert_lost_with(f, l,
                     "deadline passed while the backend was unreachable: "
                     "no reply to the renewal sent");
    assert_int_equal(loss_count(&f->loss), 1);
    unstall(&f->w);
    pthread_join(t.t, NULL);
    assert_true(lc_keeper_lost(f->k, l, NULL, 0));
    assert_int_equal(lc_keeper_deadline_ns(f->k, l), deadline);
    assert_int_equal(loss_count(&f->loss), 1);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_UNAVAILABLE);
    lc_lease_free(l);
}

/* The keeper itself did not run (a SIGSTOPped or starved process): no
 * round was sent before the deadline. The reason says so -- not "no
 * reply", not "unreachable" -- and the loss is LC_ERR_TIMEOUT, so the
 * caller knows the backend may answer. */
static void test_keeper_no_round_before_deadline_is_lost_as_not_running(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    advance(f, TTL);
    lc__keeper_check(f->k);
    assert_lost_with(f, l, "deadline passed while this process was not running");
    assert_null(strstr(f->loss.reason, "unreachable"));
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_TIMEOUT);
    lc_lease_free(l);
}

/* The same, when the renewer wakes first on resume and its round, sent
 * after the deadline, is in flight when the watchdog looks (this used to
 * say "no reply to the renewal sent 0 ms ago"). */
static void test_keeper_round_sent_after_deadline_is_lost_as_not_running(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    advance(f, TTL);
    ticker t;
    tick_stalled(f, &t);
    lc__keeper_check(f->k);
    assert_lost_with(f, l, "deadline passed while this process was not running");
    assert_null(strstr(f->loss.reason, "no reply"));
    unstall(&f->w);
    pthread_join(t.t, NULL);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_TIMEOUT);
    lc_lease_free(l);
}

/* ... and when that round's reply is what finds the deadline passed. */
static void test_keeper_reply_to_round_sent_after_deadline_is_lost_as_not_running(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    advance(f, TTL);
    lc__keeper_tick(f->k);
    assert_lost_with(f, l, "deadline passed while this process was not running");
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_TIMEOUT);
    lc_lease_free(l);
}

/* on_renew reports every successful renewal's new deadline, and nothing
 * else. */
static void test_keeper_on_renew_reports_each_new_deadline(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    assert_int_equal(f->renewed.count, 0);
    for (int i = 1; i <= 3; i++) {
        advance(f, EVERY);
        int64_t sent = f->fc.mono_ns;
        lc__keeper_tick(f->k);
        assert_int_equal(f->renewed.count, i);
        assert_string_equal(f->renewed.name, lc_lease_name(l));
        assert_int_equal(f->renewed.deadline_ns, lc_deadline_after(sent, TTL));
        assert_int_equal(f->renewed.deadline_ns, lc_keeper_deadline_ns(f->k, l));
    }
    f->w.fail = 1;
    run_ticks(f, 1);
    assert_int_equal(f->renewed.count, 3);
    assert_int_equal(lc_keeper_remove(f->k, l), 0);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* One round trip per tick; removal                                         */
/* ------------------------------------------------------------------------ */

#define MANY 1000

static void test_keeper_many_leases_one_call_per_tick(void **state)
{
    fixture *f = *state;
    lc_lease **ls = calloc(MANY, sizeof(*ls));
    assert_non_null(ls);
    for (int i = 0; i < MANY; i++)
        ls[i] = take_kept(f, lct_name("keeper-many"));
    for (int round = 1; round <= 3; round++) {
        advance(f, EVERY);
        int64_t sent = f->fc.mono_ns;
        lc__keeper_tick(f->k);
        assert_int_equal(f->w.renew_many_calls, round);
        assert_int_equal(f->w.renew_calls, 0);
        for (int i = 0; i < MANY; i++)
            assert_int_equal(lc_keeper_deadline_ns(f->k, ls[i]), lc_deadline_after(sent, TTL));
    }
    lc__keeper_check(f->k);
    assert_int_equal(loss_count(&f->loss), 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(lc_keeper_remove(f->k, ls[i]), 0);
        lc_lease_free(ls[i]);
    }
    free(ls);
}

static void test_keeper_without_renew_many_renews_each(void **state)
{
    fixture *f = *state;
    lc_lease *ls[3];
    for (int i = 0; i < 3; i++)
        ls[i] = take_kept(f, lct_name("keeper"));
    advance(f, EVERY);
    int64_t sent = f->fc.mono_ns;
    lc__keeper_tick(f->k);
    assert_int_equal(f->w.renew_calls, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lc_keeper_deadline_ns(f->k, ls[i]), lc_deadline_after(sent, TTL));
        assert_int_equal(lc_keeper_remove(f->k, ls[i]), 0);
        lc_lease_free(ls[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

static void remove_all(fixture *f, lc_lease **ls, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(lc_keeper_remove(f->k, ls[i]), 0);
        lc_lease_free(ls[i]);
    }
}

static void assert_tick_times(const lc_keeper_stats *st)
{
    assert_true(st->last_tick_ns >= 0);
    assert_true(st->max_tick_ns >= st->last_tick_ns);
    assert_true(st->total_tick_ns >= st->max_tick_ns);
    assert_true(st->total_tick_ns <= (int64_t)st->ticks * st->max_tick_ns);
}

static void test_keeper_stats_count_rounds_calls_and_renewals(void **state)
{
    fixture *f = *state;
    lc_keeper_stats st;
    lc_keeper_read_stats(f->k, &st);
    assert_int_equal(st.ticks, 0);
    assert_int_equal(st.last_tick_ns, 0);
    lc__keeper_tick(f->k); /* nothing kept: no round */
    lc_lease *ls[3];
    for (int i = 0; i < 3; i++)
        ls[i] = take_kept(f, lct_name("keeper-stats"));
    run_ticks(f, 2);
    lc_keeper_read_stats(f->k, &st);
    assert_int_equal(st.ticks, 2);
    assert_int_equal(st.calls, 2); /* one renew_many call per round */
    assert_int_equal(st.renewals, 6);
    assert_tick_times(&st);
    remove_all(f, ls, 3);
}

static void test_keeper_stats_count_backend_requests(void **state)
{
    fixture *f = *state;
    lc_lease *ls[4];
    for (int i = 0; i < 4; i++)
        ls[i] = take_kept(f, lct_name("keeper-stats"));
    run_ticks(f, 1);
    lc_keeper_stats st;
    lc_keeper_read_stats(f->k, &st);
    assert_int_equal(st.ticks, 1);
    assert_int_equal(st.calls, 4); /* what the backend counted, not its one call */
    assert_int_equal(st.renewals, 4);
    remove_all(f, ls, 4);
}

static void test_keeper_stats_without_renew_many_count_each_renew(void **state)
{
    fixture *f = *state;
    lc_lease *ls[3];
    for (int i = 0; i < 3; i++)
        ls[i] = take_kept(f, lct_name("keeper-stats"));
    run_ticks(f, 1);
    lc_keeper_stats st;
    lc_keeper_read_stats(f->k, &st);
    assert_int_equal(st.ticks, 1);
    assert_int_equal(st.calls, 3);
    assert_int_equal(st.renewals, 3);
    assert_tick_times(&st);
    remove_all(f, ls, 3);
}

static void test_keeper_removed_lease_is_not_renewed(void **state)
{
    fixture *f = *state;
    lc_lease *gone = take_kept(f, lct_name("keeper"));
    lc_lease *stays = take_kept(f, lct_name("keeper"));
    snprintf(f->w.watched, sizeof(f->w.watched), "%s", lc_lease_name(gone));
    advance(f, EVERY);
    lc__keeper_tick(f->k);
    assert_int_equal(f->w.watched_renewals, 1);
    int64_t kept_deadline = lc_keeper_deadline_ns(f->k, gone);
    assert_int_equal(lc_keeper_remove(f->k, gone), 0);
    assert_int_equal(lc_lease_deadline_ns(gone), kept_deadline); /* handed back */
    assert_int_equal(lc_keeper_deadline_ns(f->k, gone), 0);
    for (int i = 0; i < 3; i++) {
        advance(f, EVERY);
        lc__keeper_tick(f->k);
    }
    assert_int_equal(f->w.renew_many_calls, 4);
    assert_int_equal(f->w.watched_renewals, 1);
    assert_int_equal(lc_keeper_remove(f->k, stays), 0);
    advance(f, EVERY);
    lc__keeper_tick(f->k);
    assert_int_equal(f->w.renew_many_calls, 4); /* nothing kept: no call */
    lc_lease_free(gone);
    lc_lease_free(stays);
}

typedef struct remover {
    lc_keeper *k;
    lc_lease *lease;
    pthread_mutex_t mu;
    int done;
    int lost;
    pthread_t t;
} remover;

static void *remove_main(void *arg)
{
    remover *r = arg;
    int lost = lc_keeper_remove(r->k, r->lease);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    r->lost = lost;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int removed(void *arg)
{
    remover *r = arg;
    return read_locked(&r->mu, &r->done);
}

static void test_keeper_remove_waits_for_renewal_in_flight(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    advance(f, EVERY);
    ticker t;
    tick_stalled(f, &t);
    remover r = {.k = f->k, .lease = l};
    pthread_mutex_init(&r.mu, NULL);
    assert_int_equal(pthread_create(&r.t, NULL, remove_main, &r), 0);
    /* While the renewal is in flight, remove must not return. */
    assert_false(lct_wait_for(removed, &r, 150));
    unstall(&f->w);
    assert_true(lct_wait_for(removed, &r, 2000));
    pthread_join(r.t, NULL);
    pthread_join(t.t, NULL);
    assert_int_equal(r.lost, 0);
    pthread_mutex_destroy(&r.mu);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* Hooks of one lease                                                       */
/* ------------------------------------------------------------------------ */

/* A new on_renew starts from the present, then follows every renewal of
 * its own lease only, and stops once cleared. */
static void test_keeper_hook_on_renew_starts_from_present_and_follows_its_lease(void **state)
{
    fixture *f = *state;
    lc_lease *mine = take_kept(f, lct_name("keeper"));
    lc_lease *other = take_kept(f, lct_name("keeper"));
    renewals seen = {0};
    lc_lease_hooks h = {.on_renew = on_renew, .renew_ctx = &seen};
    lc_error err;
    lct_assert_rc(lc_keeper_hook(f->k, mine, &h, &err), LC_OK, &err);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.name, lc_lease_name(mine));
    assert_int_equal(seen.deadline_ns, lc_keeper_deadline_ns(f->k, mine));
    advance(f, EVERY);
    int64_t sent = f->fc.mono_ns;
    lc__keeper_tick(f->k);
    assert_int_equal(seen.count, 2); /* not 3: the other lease is not its own */
    assert_int_equal(seen.deadline_ns, lc_deadline_after(sent, TTL));
    assert_int_equal(f->renewed.count, 2); /* the keeper's own hook hears of both */
    lct_assert_rc(lc_keeper_hook(f->k, mine, NULL, &err), LC_OK, &err);
    run_ticks(f, 2);
    assert_int_equal(seen.count, 2);
    assert_int_equal(lc_keeper_remove(f->k, mine), 0);
    assert_int_equal(lc_keeper_remove(f->k, other), 0);
    lc_lease_free(mine);
    lc_lease_free(other);
}

/* A lease's own on_loss hears of its loss only, once, after the keeper's. */
static void test_keeper_hook_on_loss_reports_its_lease_only(void **state)
{
    fixture *f = *state;
    lc_lease *mine = take_kept(f, lct_name("keeper"));
    lc_lease *other = take_kept(f, lct_name("keeper"));
    losses seen = {.count = 0};
    pthread_mutex_init(&seen.mu, NULL);
    lc_lease_hooks h = {.on_loss = on_loss, .loss_ctx = &seen};
    lc_error err;
    lct_assert_rc(lc_keeper_hook(f->k, mine, &h, &err), LC_OK, &err);
    lct_assert_rc(lc_force_release(f->other, lc_lease_name(other), "other", NULL, NULL, &err),
                  LC_OK, &err);
    run_ticks(f, 1);
    assert_int_equal(loss_count(&f->loss), 1);
    assert_int_equal(loss_count(&seen), 0);
    lct_assert_rc(lc_force_release(f->other, lc_lease_name(mine), "mine", NULL, NULL, &err), LC_OK,
                  &err);
    run_ticks(f, 2);
    assert_int_equal(loss_count(&f->loss), 2);
    assert_int_equal(loss_count(&seen), 1);
    assert_string_equal(seen.name, lc_lease_name(mine));
    assert_string_equal(seen.reason, "reset by an operator: mine");
    assert_int_equal(lc_keeper_remove(f->k, mine), LC_ERR_LOST);
    assert_int_equal(lc_keeper_remove(f->k, other), LC_ERR_LOST);
    pthread_mutex_destroy(&seen.mu);
    lc_lease_free(mine);
    lc_lease_free(other);
}

/* A keeper without an on_loss of its own still calls a lease's. */
static void test_keeper_hook_on_loss_without_keeper_hook_is_called(void **state)
{
    (void)state;
    fixture *f = fixture_new(&wrap_ops, 1);
    lc_keeper_opts ko = {.renew_every_ms = EVERY};
    lc_error err;
    lct_assert_rc(lc__keeper_start_manual(&f->kc, &ko, &f->k, &err), LC_OK, &err);
    lc_lease *l = take_kept(f, lct_name("keeper"));
    losses seen = {.count = 0};
    pthread_mutex_init(&seen.mu, NULL);
    lc_lease_hooks h = {.on_loss = on_loss, .loss_ctx = &seen};
    lct_assert_rc(lc_keeper_hook(f->k, l, &h, &err), LC_OK, &err);
    lct_assert_rc(lc_force_release(f->other, lc_lease_name(l), "gone", NULL, NULL, &err), LC_OK,
                  &err);
    run_ticks(f, 1);
    assert_int_equal(loss_count(&seen), 1);
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_LOST);
    pthread_mutex_destroy(&seen.mu);
    lc_lease_free(l);
    void *st = f;
    teardown(&st);
}

static void test_keeper_hook_on_lease_not_kept_is_invalid(void **state)
{
    fixture *f = *state;
    lc_lease *l = take(f, lct_name("keeper"));
    lc_lease_hooks h = {.on_renew = on_renew, .renew_ctx = &f->renewed};
    lc_error err;
    assert_int_equal(lc_keeper_hook(f->k, l, &h, &err), LC_ERR_INVALID);
    assert_non_null(strstr(err.message, "is not kept"));
    assert_int_equal(f->renewed.count, 0);
    lc_lease_free(l);
}

/* An on_loss hook that takes its time (the test holds it), and the thread
 * that runs the watchdog's step which calls it. */
typedef struct slow_loss {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, go, returned;
    remover *r; /* whether remove had returned when the hook did */
    int remove_done_in_hook;
    lc_keeper *k;
    pthread_t t;
} slow_loss;

static void slow_on_loss(void *ctx, const char *name, const char *reason)
{
    (void)name;
    (void)reason;
    slow_loss *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->entered = 1;
    pthread_cond_broadcast(&s->cv);
    while (!s->go)
        pthread_cond_wait(&s->cv, &s->mu);
    s->remove_done_in_hook = removed(s->r);
    pthread_mutex_unlock(&s->mu);
}

static void *check_main(void *arg)
{
    slow_loss *s = arg;
    lc__keeper_check(s->k);
    return NULL;
}

static int hook_entered(void *arg)
{
    slow_loss *s = arg;
    return read_locked(&s->mu, &s->entered);
}

/* lc_keeper_remove does not return while the lease's own on_loss runs: the
 * hook's context may be freed once it returns. */
static void test_keeper_remove_waits_for_lease_on_loss_under_way(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    remover r = {.k = f->k, .lease = l};
    pthread_mutex_init(&r.mu, NULL);
    slow_loss s = {.r = &r, .k = f->k};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    lc_lease_hooks h = {.on_loss = slow_on_loss, .loss_ctx = &s};
    lc_error err;
    lct_assert_rc(lc_keeper_hook(f->k, l, &h, &err), LC_OK, &err);
    advance(f, TTL); /* past the local deadline: the check declares the loss */
    assert_int_equal(pthread_create(&s.t, NULL, check_main, &s), 0);
    assert_true(lct_wait_for(hook_entered, &s, 2000));
    assert_int_equal(pthread_create(&r.t, NULL, remove_main, &r), 0);
    /* While the hook runs, remove must not return. */
    assert_false(lct_wait_for(removed, &r, 150));
    pthread_mutex_lock(&s.mu);
    s.go = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    assert_true(lct_wait_for(removed, &r, 2000));
    pthread_join(s.t, NULL);
    pthread_join(r.t, NULL);
    assert_int_equal(s.remove_done_in_hook, 0);
    assert_int_equal(r.lost, LC_ERR_TIMEOUT);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    pthread_mutex_destroy(&r.mu);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* The threads, on the system clock                                         */
/* ------------------------------------------------------------------------ */

static int64_t sys_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_keeper_threads_keep_lease_and_signal_reset(void **state)
{
    (void)state;
    lc_memstore *store = lc_memstore_new(NULL);
    lc_config *cfg = lct_config("memory");
    cfg->lock.ttl_ms = TTL;
    cfg->lock.renew_every_ms = EVERY;
    lc_client_opts copts = {.memstore = store};
    losses loss = {.count = 0};
    pthread_mutex_init(&loss.mu, NULL);
    lc_keeper_opts ko = {.on_loss = on_loss, .loss_ctx = &loss}; /* renew_every from cfg */
    lc_client *other;
    lc_keeper *k;
    lc_lease *l;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &copts, &other, &err), LC_OK, &err);
    lct_assert_rc(lc_keeper_start(cfg, &copts, &ko, &k, &err), LC_OK, &err);
    lct_assert_rc(lc_acquire(other, lct_name("keeper"), NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_keeper_add(k, l, &err), LC_OK, &err);

    lct_sleep_ms(4 * TTL); /* let the ttl pass four times over, on purpose */
    lc_lock_info info;
    lct_assert_rc(lc_inspect(other, lc_lease_name(l), &info, &err), LC_OK, &err);
    assert_true(info.held);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    assert_false(lc_keeper_lost(k, l, NULL, 0));
    assert_true(lc_keeper_deadline_ns(k, l) > sys_now_ns());

    int was_held;
    lc_holder prev;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(
        lc_force_release(other, lc_lease_name(l), "operator reset", &was_held, &prev, &err), LC_OK,
        &err);
    assert_true(readable(lc_keeper_fd(k), 2000));
    int64_t elapsed = lct_now_ms() - t0;
    /* The reason proves it was the renewal that noticed the reset (the
     * watchdog would say "deadline passed"); the bound only says it came
     * promptly, with room for a loaded machine. */
    if (elapsed > 10 * EVERY)
        fail_msg("loss signalled %lld ms after the reset", (long long)elapsed);
    char reason[256];
    assert_true(lc_keeper_lost(k, l, reason, sizeof(reason)));
    assert_string_equal(reason, "reset by an operator: operator reset");
    assert_true(lct_wait_for(loss_reported, &loss, 2000)); /* before remove cancels it */
    assert_int_equal(lc_keeper_remove(k, l), LC_ERR_LOST);
    lc_keeper_stop(k);
    assert_int_equal(loss_count(&loss), 1);
    assert_string_equal(loss.reason, "reset by an operator: operator reset");
    lc_lease_free(l);
    lc_client_close(other);
    lc_memstore_free(store);
    lc_config_free(cfg);
    pthread_mutex_destroy(&loss.mu);
}

static int renewals_at_least_two(void *arg)
{
    wrap *w = arg;
    return read_locked(&w->mu, &w->renew_many_calls) >= 2;
}

static void test_keeper_threads_frozen_backend_lost_at_deadline(void **state)
{
    fixture *f = *state;
    lc_lease *l = take_kept(f, lct_name("keeper"));
    assert_true(lct_wait_for(renewals_at_least_two, &f->w, 2000));
    /* The server freezes: the next renewal call never returns. */
    pthread_mutex_lock(&f->w.mu);
    f->w.stall = 1;
    pthread_mutex_unlock(&f->w.mu);
    assert_true(readable(lc_keeper_fd(f->k), 2000));
    int64_t late_ns = sys_now_ns() - lc_keeper_deadline_ns(f->k, l);
    assert_true(late_ns >= 0);
    /* The renewal never returns, so only the watchdog can have declared
     * the loss (the reason below says so); this bound says it did so at the
     * deadline and not at some later wake-up, with room for a loaded
     * machine under TSan. */
    if (late_ns > 500 * 1000000LL)
        fail_msg("loss signalled %lld ms after the local deadline", (long long)(late_ns / 1000000));
    assert_true(is_stalled(&f->w)); /* the renewal is still stuck */
    char reason[256];
    assert_true(lc_keeper_lost(f->k, l, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "deadline passed while the backend was unreachable"));
    /* The callback comes from the watchdog just after the fd: wait for it
     * (removing the lease first would cancel it). */
    assert_true(lct_wait_for(loss_reported, &f->loss, 2000));
    /* Neither removing the lost lease nor stopping waits for the stuck
     * call: the holder can exit before the server's ttl runs out. */
    int64_t t0 = lct_now_ms();
    assert_int_equal(lc_keeper_remove(f->k, l), LC_ERR_UNAVAILABLE);
    lc_keeper_stop(f->k);
    f->k = NULL;
    assert_true(lct_now_ms() - t0 < 2000); /* the stuck call never returns by itself */
    assert_true(is_stalled(&f->w));
    assert_int_equal(loss_count(&f->loss), 1);
    unstall(&f->w);
    assert_true(lct_wait_for(no_orphans, NULL, 2000));
    lc_lease_free(l);
}

typedef struct unstaller {
    wrap *w;
    int delay_us;
    pthread_t t;
} unstaller;

static void *unstall_main(void *arg)
{
    unstaller *u = arg;
    struct timespec ts = {0, u->delay_us * 1000L};
    nanosleep(&ts, NULL);
    unstall(u->w);
    return NULL;
}

/* The stuck renewal finishes while lc_keeper_stop is running: whichever of
 * the two ends up freeing the keeper, nothing is touched after it is freed
 * (ThreadSanitizer and ASan watch this test in scripts/test.sh). */
static void test_keeper_stop_races_with_stuck_renewal_returning(void **state)
{
    fixture *f = *state;
    lc_keeper_opts ko = {.renew_every_ms = EVERY, .on_loss = on_loss, .loss_ctx = &f->loss};
    lc_error err;
    for (int i = 0; i < 24; i++) {
        if (f->k == NULL)
            lct_assert_rc(lc__keeper_start_threaded(&f->kc, &ko, &f->k, &err), LC_OK, &err);
        lc_lease *l = take_kept(f, lct_name("keeper"));
        pthread_mutex_lock(&f->w.mu);
        f->w.stall = 1;
        pthread_mutex_unlock(&f->w.mu);
        assert_true(lct_wait_for(is_stalled, &f->w, 2000));
        unstaller u = {&f->w, (i % 8) * 50, 0};
        assert_int_equal(pthread_create(&u.t, NULL, unstall_main, &u), 0);
        lc_keeper_stop(f->k);
        f->k = NULL;
        pthread_join(u.t, NULL);
        assert_true(lct_wait_for(no_orphans, NULL, 2000));
        lc_lease_free(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeper_deadline_after_subtracts_drift_allowance),
        cmocka_unit_test_setup_teardown(test_keeper_add_takes_deadline_from_lease, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_add_short_ttl_is_refused, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_renewal_extends_deadline_from_send_time,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_force_released_is_lost_as_reset, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_taken_over_after_expiry_is_lost_as_taken_over,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_backend_unreachable_is_lost_at_deadline,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_late_reply_after_deadline_is_lost, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_stalled_renewal_does_not_delay_loss,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_no_round_before_deadline_is_lost_as_not_running,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(
            test_keeper_round_sent_after_deadline_is_lost_as_not_running, setup_manual, teardown),
        cmocka_unit_test_setup_teardown(
            test_keeper_reply_to_round_sent_after_deadline_is_lost_as_not_running, setup_manual,
            teardown),
        cmocka_unit_test_setup_teardown(test_keeper_on_renew_reports_each_new_deadline,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_many_leases_one_call_per_tick, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_without_renew_many_renews_each, setup_single,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_stats_count_rounds_calls_and_renewals,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_stats_count_backend_requests, setup_counted,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_stats_without_renew_many_count_each_renew,
                                        setup_single, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_removed_lease_is_not_renewed, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_remove_waits_for_renewal_in_flight,
                                        setup_manual, teardown),
        cmocka_unit_test_setup_teardown(
            test_keeper_hook_on_renew_starts_from_present_and_follows_its_lease, setup_manual,
            teardown),
        cmocka_unit_test_setup_teardown(test_keeper_hook_on_loss_reports_its_lease_only,
                                        setup_manual, teardown),
        cmocka_unit_test(test_keeper_hook_on_loss_without_keeper_hook_is_called),
        cmocka_unit_test_setup_teardown(test_keeper_hook_on_lease_not_kept_is_invalid, setup_manual,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keeper_remove_waits_for_lease_on_loss_under_way,
                                        setup_manual, teardown),
        cmocka_unit_test(test_keeper_threads_keep_lease_and_signal_reset),
        cmocka_unit_test_setup_teardown(test_keeper_stop_races_with_stuck_renewal_returning,
                                        setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_threads_frozen_backend_lost_at_deadline,
                                        setup_threaded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
