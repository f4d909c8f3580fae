/* tests/unit/test_cancel.c -- the client's own logic on the memory backend:
 * cancelling a waiting acquire through lc_acquire_opts.cancel_fd. Waits are
 * real (short), and every bound is several times what is expected. */
#include "testenv.h"

#include "core/client_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct fixture {
    lc_config *cfg;
    lc_memstore *store;
    lc_client *holder, *waiter;
    lc_backend_ops no_watch; /* memory without release notifications */
    int cancel;              /* an eventfd */
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
    /* A long backoff: only the cancel (or a release) can end a wait soon. */
    f->cfg->lock.retry_min_ms = 3000;
    f->cfg->lock.retry_max_ms = 5000;
    f->store = lc_memstore_new(NULL);
    assert_non_null(f->store);
    f->holder = open_client(f);
    f->waiter = open_client(f);
    f->no_watch = *f->waiter->ops;
    f->no_watch.watch = NULL;
    f->no_watch.wait = NULL;
    f->no_watch.unwatch = NULL;
    f->cancel = eventfd(0, EFD_CLOEXEC);
    assert_true(f->cancel > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->cancel);
    lc_client_close(f->holder);
    lc_client_close(f->waiter);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

static void fire(int fd)
{
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static lc_lease *hold(fixture *f, const char *name)
{
    lc_acquire_opts o = {.ttl_ms = 20000, .owner = "holder"};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->holder, name, &o, &l, &err), LC_OK, &err);
    return l;
}

typedef struct canceller {
    int fd;
    int64_t delay_ms;
    int64_t fired_at_ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    lct_sleep_ms(c->delay_ms); /* the waiter is waiting by then: that is the point */
    c->fired_at_ms = lct_now_ms();
    fire(c->fd);
    return NULL;
}

/* Waits on `name` for up to 10 s with f->cancel fired after 150 ms; checks
 * that the wait ended with LC_ERR_CANCELLED soon after, having taken
 * nothing. */
static void wait_and_cancel(fixture *f, const char *name)
{
    canceller c = {f->cancel, 150, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 10000, .cancel_fd = f->cancel};
    lc_lease *got = NULL;
    lc_error err;
    lc_status rc = lc_acquire(f->waiter, name, &o, &got, &err);
    int64_t ended = lct_now_ms();
    pthread_join(t, NULL);
    lct_assert_rc(rc, LC_ERR_CANCELLED, &err);
    assert_null(got);
    assert_true(ended - c.fired_at_ms < 1500); /* the backoff alone is 3 s or more */
    assert_string_equal(lc_status_name(LC_ERR_CANCELLED), "cancelled");
}

static void test_acquire_cancel_fd_readable_before_takes_nothing(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/cancel-before");
    fire(f->cancel);
    lc_acquire_opts o = {.ttl_ms = 5000, .cancel_fd = f->cancel};
    lc_lease *got = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->waiter, name, &o, &got, &err), LC_ERR_CANCELLED, &err);
    assert_null(got);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->holder, name, &info, &err), LC_OK, &err);
    assert_false(info.held);
    assert_int_equal(info.fence, 0); /* no attempt was made */
    lc_lock_info_clear(&info);
}

static void test_acquire_cancel_while_waiting_for_release_returns_cancelled(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/cancel-watching");
    lc_lease *l = hold(f, name);
    wait_and_cancel(f, name);
    /* The holder's lease is untouched. */
    lc_error err;
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->holder, name, &info, &err), LC_OK, &err);
    assert_true(info.held);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_acquire_cancel_while_sleeping_without_watch_returns_cancelled(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/cancel-sleeping");
    lc_lease *l = hold(f, name);
    f->waiter->ops = &f->no_watch;
    wait_and_cancel(f, name);
    lc_lease_free(l);
}

typedef struct releaser {
    lc_client *c;
    lc_lease *l;
    int64_t released_at_ms;
} releaser;

static void *release_later(void *arg)
{
    releaser *r = arg;
    lct_sleep_ms(150); /* the waiter is waiting by then: that is the point */
    lc_error err;
    r->released_at_ms = lct_now_ms();
    if (lc_release(r->c, r->l, NULL, &err) != LC_OK)
        r->released_at_ms = -1;
    return NULL;
}

/* A cancel fd that never fires changes nothing: a release still wakes the
 * waiter at once (the wait is only cut into slices). */
static void test_acquire_unfired_cancel_fd_still_woken_by_release(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/cancel-unfired");
    lc_lease *l = hold(f, name);
    releaser r = {f->holder, l, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 10000, .cancel_fd = f->cancel};
    lc_lease *got = NULL;
    lc_error err;
    lc_status rc = lc_acquire(f->waiter, name, &o, &got, &err);
    int64_t woke = lct_now_ms();
    pthread_join(t, NULL);
    lct_assert_rc(rc, LC_OK, &err);
    assert_true(r.released_at_ms > 0);
    assert_true(woke - r.released_at_ms < 1500);
    assert_true(lc_lease_fence(got) > lc_lease_fence(l));
    lc_lease_free(got);
    lc_lease_free(l);
}

/* A wait that runs out with the fd unfired is a conflict, as always. */
static void test_acquire_unfired_cancel_fd_times_out_with_conflict(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/cancel-timeout");
    lc_lease *l = hold(f, name);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 200, .cancel_fd = f->cancel};
    lc_lease *got = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->waiter, name, &o, &got, &err), LC_ERR_CONFLICT, &err);
    assert_null(got);
    assert_string_equal(err.holder.owner, "holder");
    lc_lease_free(l);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_acquire_cancel_fd_readable_before_takes_nothing),
        T(test_acquire_cancel_while_waiting_for_release_returns_cancelled),
        T(test_acquire_cancel_while_sleeping_without_watch_returns_cancelled),
        T(test_acquire_unfired_cancel_fd_still_woken_by_release),
        T(test_acquire_unfired_cancel_fd_times_out_with_conflict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
