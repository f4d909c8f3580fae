/* tests/conformance/conformance.c -- one suite, every backend.
 *
 * The memory backend runs it on a fake clock; the real servers run it on
 * real time with short ttls, waiting on conditions with deadlines. */
#include "conformance.h"

#include "backends/backend_int.h"
#include "core/client_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    const char *backend;
    lc_config *cfg;
    lct_clock fc;
    lc_memstore *store; /* memory only */
    lc_client *a, *b;   /* two holders */
} fixture;

static const char *g_backend;

static int is_memory(const fixture *f)
{
    return strcmp(f->backend, "memory") == 0;
}

/* Quorum mode: each master stamps a lease with its own clock, and a
 * failed attempt may take a fence number on a minority of masters. So a
 * time it reports may come from another master than the lease's (a few ms
 * apart), and fences strictly increase but may skip numbers. */
static int is_quorum(const fixture *f)
{
    return strcmp(f->backend, "redis-quorum") == 0;
}

/* a and b are the same instant, as this backend can tell. */
static void assert_same_time(const fixture *f, int64_t a, int64_t b)
{
    if (is_quorum(f))
        assert_true(a - b <= 50 && b - a <= 50);
    else
        assert_int_equal(a, b);
}

/* a is not before b, as this backend can tell. */
static void assert_not_before(const fixture *f, int64_t a, int64_t b)
{
    assert_true(a >= b - (is_quorum(f) ? 50 : 0));
}

static lc_client *open_client(fixture *f, const char *owner)
{
    lc_client_opts o;
    memset(&o, 0, sizeof(o));
    if (is_memory(f)) {
        o.clock = &f->fc.clock;
        o.memstore = f->store;
    }
    free(f->cfg->owner);
    f->cfg->owner = strdup(owner);
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &o, &c, &err), LC_OK, &err);
    return c;
}

static int setup(void **state)
{
    if (lct_backend_missing(g_backend))
        skip();
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->backend = g_backend;
    f->cfg = lct_config(g_backend);
    lct_clock_init(&f->fc);
    if (is_memory(f))
        f->store = lc_memstore_new(&f->fc.clock);
    f->a = open_client(f, "holder-a");
    f->b = open_client(f, "holder-b");
    /* Owners are copied by the clients; the config's owner is only a
     * default for clients opened later. */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    lc_client_close(f->a);
    lc_client_close(f->b);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

static lc_lease *take(lc_client *c, const char *name, int64_t ttl_ms)
{
    lc_acquire_opts o = {.ttl_ms = ttl_ms, .wait_ms = -1};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(c, name, &o, &l, &err), LC_OK, &err);
    return l;
}

static lc_status try_take(lc_client *c, const char *name, int64_t ttl_ms, lc_lease **l,
                          lc_error *err)
{
    lc_acquire_opts o = {.ttl_ms = ttl_ms, .wait_ms = -1};
    *l = NULL;
    return lc_acquire(c, name, &o, l, err);
}

static void inspect(lc_client *c, const char *name, lc_lock_info *info)
{
    lc_error err;
    lct_assert_rc(lc_inspect(c, name, info, &err), LC_OK, &err);
}

static void test_acquire_free_lock_succeeds(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/acquire");
    lc_lease *l = take(f->a, name, 5000);
    assert_string_equal(lc_lease_name(l), name);
    assert_int_equal(strlen(lc_lease_token(l)), LC_TOKEN_LEN);
    assert_true(lc_lease_fence(l) >= 1);
    assert_int_equal(lc_lease_ttl_ms(l), 5000);
    assert_string_equal(lc_lease_owner(l), "holder-a");
    assert_true(lc_lease_acquired_at_ms(l) > 0);
    assert_true(lc_lease_deadline_ns(l) > 0);

    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_true(info.held);
    assert_string_equal(info.owner, "holder-a");
    assert_int_equal(info.fence, lc_lease_fence(l));
    assert_true(info.expires_in_ms > 0 && info.expires_in_ms <= 5000);
    assert_true(info.held_for_ms >= 0);
    assert_true(info.last_started_at_ms > 0);
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_acquire_held_lock_conflict_names_holder(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/conflict");
    lc_lease *l = take(f->a, name, 5000);
    lc_lease *l2;
    lc_error err;
    assert_int_equal(try_take(f->b, name, 5000, &l2, &err), LC_ERR_CONFLICT);
    assert_null(l2);
    assert_int_equal(err.code, LC_ERR_CONFLICT);
    assert_string_equal(err.holder.owner, "holder-a");
    assert_int_equal(err.holder.fence, lc_lease_fence(l));
    assert_true(err.holder.acquired_at_ms > 0);
    assert_true(err.holder.expires_in_ms > 0 && err.holder.expires_in_ms <= 5000);
    lc_lease_free(l);
}

/* Every backend reports a conflict the same way: one message, and the
 * holder's fields as lc_inspect and the lease itself give them. */
static void test_conflict_report_same_fields_on_every_backend(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/report");
    lc_lease *l = take(f->a, name, 5000);
    lc_lock_info info;
    inspect(f->b, name, &info);
    char want[LC_NAME_MAX + 128];
    snprintf(want, sizeof(want), "lock '%s' is held by holder-a (fence %llu)", name,
             (unsigned long long)lc_lease_fence(l));
    /* At once, and after waiting in vain: the same report. */
    lc_acquire_opts opts[2] = {{.ttl_ms = 5000, .wait_ms = -1}, {.ttl_ms = 5000, .wait_ms = 100}};
    for (int i = 0; i < 2; i++) {
        lc_lease *l2 = NULL;
        lc_error err;
        assert_int_equal(lc_acquire(f->b, name, &opts[i], &l2, &err), LC_ERR_CONFLICT);
        assert_null(l2);
        assert_int_equal(err.code, LC_ERR_CONFLICT);
        assert_string_equal(err.message, want);
        assert_string_equal(err.holder.owner, info.owner);
        assert_int_equal(err.holder.fence, info.fence);
        assert_same_time(f, err.holder.acquired_at_ms, lc_lease_acquired_at_ms(l));
        assert_same_time(f, err.holder.acquired_at_ms, info.acquired_at_ms);
        assert_true(err.holder.expires_in_ms > 0);
        assert_not_before(f, info.expires_in_ms, err.holder.expires_in_ms);
    }
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

/* lc_client_open connects: against a server that is down it fails at once
 * with LC_ERR_UNAVAILABLE, naming what failed and never the password, and
 * leaves *out alone. The memory backend has no server: it always opens. */
static void test_open_against_down_server_fails_unavailable(void **state)
{
    fixture *f = *state;
    lc_config *cfg = lct_config_down(f->backend);
    lc_client *c = NULL;
    lc_error err;
    if (cfg == NULL) {
        lct_assert_rc(lc_client_open(f->cfg, NULL, &c, &err), LC_OK, &err);
        lc_client_close(c);
        return;
    }
    lc_client *untouched = (lc_client *)cfg;
    c = untouched;
    int64_t t0 = lct_now_ms();
    lct_assert_rc(lc_client_open(cfg, NULL, &c, &err), LC_ERR_UNAVAILABLE, &err);
    /* Refused at once; the connect timeout (2 s) is the outer bound. */
    assert_true(lct_now_ms() - t0 < 10000);
    assert_ptr_equal(c, untouched);
    assert_non_null(strstr(err.message, "connect"));
    assert_null(strstr(err.message, LCT_DOWN_SECRET));
    lc_config_free(cfg);
}

static void test_acquire_same_token_again_same_fence(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/retry");
    lc_lease *l = take(f->a, name, 5000);
    /* A retried acquire after a lost reply carries the same token. */
    lc_acquire_args a = {name, lc_lease_token(l), "holder-a", 5000, 0, 0};
    lc_grant g = {0, 0, NULL, 0, -1};
    lc_error err;
    lct_assert_rc(f->a->ops->acquire(f->a->state, &a, &g, &err), LC_OK, &err);
    assert_int_equal(g.fence, lc_lease_fence(l));
    free(g.checkpoint);
    lc_lease_free(l);
}

static void test_renew_and_release_with_token_succeed(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/renew");
    lc_lease *l = take(f->a, name, 2000);
    lc_error err;
    lct_assert_rc(lc_renew(f->a, l, 4000, &err), LC_OK, &err);
    assert_int_equal(lc_lease_ttl_ms(l), 4000);
    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_true(info.expires_in_ms > 2000);
    lc_lock_info_clear(&info);

    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    inspect(f->a, name, &info);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_false(info.held);
    lc_lock_info_clear(&info);

    lc_lease *l2 = take(f->b, name, 2000);
    assert_true(lc_lease_fence(l2) > lc_lease_fence(l));
    lc_lease_free(l2);
    lc_lease_free(l);
}

static void test_wrong_token_is_refused_as_lost(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/wrongtoken");
    lc_lease *l = take(f->a, name, 5000);
    lc_lease *fake;
    lc_error err;
    lct_assert_rc(lc_lease_attach(name, "0123456789abcdef0123456789abcdef", &fake, &err), LC_OK,
                  &err);
    assert_int_equal(lc_renew(f->b, fake, 5000, &err), LC_ERR_LOST);
    assert_int_equal(lc_release(f->b, fake, NULL, &err), LC_ERR_LOST);
    assert_int_equal(lc_checkpoint(f->b, fake, "x", &err), LC_ERR_LOST);

    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_int_equal(info.health, LC_HEALTH_HELD); /* untouched */
    assert_int_equal(info.sync_count, 0);
    assert_null(info.checkpoint);
    lc_lock_info_clear(&info);
    lc_lease_free(fake);
    lc_lease_free(l);
}

static void test_release_twice_second_is_lost(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/release2");
    lc_lease *l = take(f->a, name, 5000);
    lc_error err;
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    assert_int_equal(lc_release(f->a, l, NULL, &err), LC_ERR_LOST);
    lc_lease_free(l);
}

typedef struct reclaim_arg {
    fixture *f;
    const char *name;
    lc_lease *got;
} reclaim_arg;

static int reclaimed(void *p)
{
    reclaim_arg *r = p;
    lc_error err;
    lc_status rc = try_take(r->f->b, r->name, 5000, &r->got, &err);
    if (rc != LC_OK && rc != LC_ERR_CONFLICT)
        fail_msg("acquire while waiting for expiry: %s", err.message);
    return rc == LC_OK;
}

/* Takes `name` once its lease has lapsed: on the fake clock the caller has
 * moved time already; on a real server this waits for the condition. */
static lc_lease *reclaim(fixture *f, const char *name)
{
    reclaim_arg r = {f, name, NULL};
    if (is_memory(f))
        assert_true(reclaimed(&r));
    else
        assert_true(lct_wait_for(reclaimed, &r, 10000));
    return r.got;
}

static void test_expired_lease_is_stale_then_reclaimed(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/expiry");
    int64_t t0 = lct_now_ms();
    /* 1 s: the conflict below must come before the ttl ends, also on a
     * loaded machine. */
    lc_lease *l = take(f->a, name, 1000);
    lc_lease *l2;
    lc_error err;
    assert_int_equal(try_take(f->b, name, 5000, &l2, &err), LC_ERR_CONFLICT);

    if (is_memory(f)) {
        lct_clock_advance(&f->fc, 1010);
    } else {
        int64_t left = 1020 - (lct_now_ms() - t0);
        if (left > 0)
            lct_sleep_ms(left); /* let the ttl pass on purpose */
    }
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_int_equal(info.health, LC_HEALTH_STALE);
    assert_false(info.held);
    lc_lock_info_clear(&info);
    assert_int_equal(lc_renew(f->a, l, 300, &err), LC_ERR_LOST); /* expired = lost */

    lc_lease *got = reclaim(f, name);
    assert_true(lc_lease_fence(got) > lc_lease_fence(l));
    assert_int_equal(lc_release(f->a, l, NULL, &err), LC_ERR_LOST);
    lc_lease_free(got);
    lc_lease_free(l);
}

static void test_reclaim_not_before_ttl(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/notbefore");
    int64_t t0 = lct_now_ms();
    lc_lease *l = take(f->a, name, 300);
    if (is_memory(f)) {
        reclaim_arg early = {f, name, NULL};
        lct_clock_advance(&f->fc, 290);
        assert_false(reclaimed(&early));
        lct_clock_advance(&f->fc, 20);
    }
    lc_lease *got = reclaim(f, name);
    assert_true(lct_now_ms() - t0 >= 290 || is_memory(f));
    if (is_quorum(f))
        assert_true(lc_lease_fence(got) > lc_lease_fence(l));
    else
        assert_true(lc_lease_fence(got) == lc_lease_fence(l) + 1);
    lc_lease_free(got);
    lc_lease_free(l);
}

static void test_fences_strictly_increase_across_force_release(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/fences");
    uint64_t last = 0;
    lc_error err;
    for (int i = 0; i < 30; i++) {
        lc_lease *l = take(i % 2 ? f->a : f->b, name, 5000);
        assert_true(lc_lease_fence(l) > last);
        last = lc_lease_fence(l);
        if (i % 3 == 0) {
            int was_held = 0;
            lc_holder prev;
            lct_assert_rc(lc_force_release(f->a, name, "test reset", &was_held, &prev, &err), LC_OK,
                          &err);
            assert_true(was_held);
            assert_int_equal(prev.fence, last);
        } else {
            lct_assert_rc(lc_release(i % 2 ? f->a : f->b, l, NULL, &err), LC_OK, &err);
        }
        lc_lease_free(l);
    }
    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_int_equal(info.fence, last);
    lc_lock_info_clear(&info);
}

static void test_force_release_reports_holder_and_records_reason(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/reset");
    lc_lease *l = take(f->a, name, 5000);
    int was_held = 0;
    lc_holder prev;
    lc_error err;
    lct_assert_rc(lc_force_release(f->b, name, "stuck since Monday", &was_held, &prev, &err), LC_OK,
                  &err);
    assert_true(was_held);
    assert_string_equal(prev.owner, "holder-a");
    assert_int_equal(prev.fence, lc_lease_fence(l));

    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_false(info.held);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_non_null(info.last_error);
    assert_string_equal(info.last_error, "stuck since Monday");
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);

    /* The evicted holder finds out at its next renewal. */
    assert_int_equal(lc_renew(f->a, l, 5000, &err), LC_ERR_LOST);
    lc_lease *l2 = take(f->b, name, 5000);
    assert_true(lc_lease_fence(l2) > lc_lease_fence(l));
    lc_lease_free(l2);
    lc_lease_free(l);
}

static void test_force_release_free_lock_was_not_held(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/resetfree");
    int was_held = 1;
    lc_holder prev;
    lc_error err;
    lct_assert_rc(lc_force_release(f->a, name, "just in case", &was_held, &prev, &err), LC_OK,
                  &err);
    assert_false(was_held);
}

static void test_run_records_count_up(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/runs");
    lc_error err;
    lc_run_result failed = {.has_exit = 1, .exit_code = 3, .error = "exit status 3"};
    lc_lease *l = take(f->a, name, 5000);
    lct_assert_rc(lc_release(f->a, l, &failed, &err), LC_OK, &err);
    lc_lease_free(l);

    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_int_equal(info.sync_count, 1);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_true(info.has_last_exit);
    assert_int_equal(info.last_exit, 3);
    assert_string_equal(info.last_error, "exit status 3");
    assert_true(info.last_completed_at_ms > 0);
    lc_lock_info_clear(&info);

    lc_run_result ok = {.has_exit = 1, .exit_code = 0, .error = NULL};
    l = take(f->b, name, 5000);
    lct_assert_rc(lc_release(f->b, l, &ok, &err), LC_OK, &err);
    lc_lease_free(l);
    lct_assert_rc(lc_record_run(f->a, name, &failed, &err), LC_OK, &err);

    inspect(f->a, name, &info);
    assert_int_equal(info.sync_count, 3);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    lc_lock_info_clear(&info);

    l = take(f->b, name, 5000);
    lct_assert_rc(lc_release(f->b, l, &ok, &err), LC_OK, &err);
    lc_lease_free(l);
    inspect(f->a, name, &info);
    assert_int_equal(info.sync_count, 4);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_null(info.last_error);
    assert_int_equal(info.last_exit, 0);
    lc_lock_info_clear(&info);
}

static void test_checkpoint_kept_for_next_holder(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/checkpoint");
    lc_lease *l = take(f->a, name, 5000);
    assert_null(lc_lease_checkpoint(l));
    lc_error err;
    lct_assert_rc(lc_checkpoint(f->a, l, "cursor-42", &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    l = take(f->b, name, 5000);
    assert_non_null(lc_lease_checkpoint(l));
    assert_string_equal(lc_lease_checkpoint(l), "cursor-42");
    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_string_equal(info.checkpoint, "cursor-42");
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_renew_many_reports_each_lease(void **state)
{
    fixture *f = *state;
    char names[3][LC_NAME_MAX + 1];
    lc_lease *l[3];
    for (int i = 0; i < 3; i++) {
        snprintf(names[i], sizeof(names[i]), "%s", lct_name("conf/many"));
        l[i] = take(f->a, names[i], 5000);
    }
    lc_renew_item items[3] = {
        {names[0], lc_lease_token(l[0]), 6000, LC_ERR_INTERNAL},
        {names[1], "ffffffffffffffffffffffffffffffff", 6000, LC_ERR_INTERNAL},
        {names[2], lc_lease_token(l[2]), 6000, LC_ERR_INTERNAL},
    };
    lc_error err;
    lct_assert_rc(f->a->ops->renew_many(f->a->state, items, 3, &err), LC_OK, &err);
    assert_int_equal(items[0].status, LC_OK);
    assert_int_equal(items[1].status, LC_ERR_LOST);
    assert_int_equal(items[2].status, LC_OK);
    lc_lock_info info;
    inspect(f->a, names[2], &info);
    assert_true(info.expires_in_ms > 5000);
    lc_lock_info_clear(&info);
    for (int i = 0; i < 3; i++)
        lc_lease_free(l[i]);
}

static void test_inspect_unknown_lock_is_ready(void **state)
{
    fixture *f = *state;
    lc_lock_info info;
    inspect(f->a, lct_name("conf/never"), &info);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_int_equal(info.fence, 0);
    assert_int_equal(info.sync_count, 0);
    assert_false(info.held);
    assert_null(info.last_error);
    lc_lock_info_clear(&info);
}

static void test_list_includes_every_lock(void **state)
{
    fixture *f = *state;
    char n1[LC_NAME_MAX + 1], n2[LC_NAME_MAX + 1];
    snprintf(n1, sizeof(n1), "%s", lct_name("conf/list"));
    snprintf(n2, sizeof(n2), "%s", lct_name("conf/list"));
    lc_lease *l1 = take(f->a, n1, 5000);
    lc_lease *l2 = take(f->a, n2, 5000);
    lc_error err;
    lct_assert_rc(lc_release(f->a, l2, NULL, &err), LC_OK, &err);
    lc_lock_info *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_list(f->b, &list, &n, &err), LC_OK, &err);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, n1) == 0) {
            assert_int_equal(list[i].health, LC_HEALTH_HELD);
            seen |= 1;
        } else if (strcmp(list[i].name, n2) == 0) {
            assert_int_equal(list[i].health, LC_HEALTH_READY);
            assert_int_equal(list[i].sync_count, 1);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    lc_lock_list_free(list, n);
    lc_lease_free(l1);
    lc_lease_free(l2);
}

static void test_invalid_name_refused_before_backend(void **state)
{
    fixture *f = *state;
    lc_lease *l = NULL;
    lc_error err;
    assert_int_equal(try_take(f->a, "bad{name}", 1000, &l, &err), LC_ERR_INVALID);
    assert_null(l);
    assert_int_equal(try_take(f->a, "", 1000, &l, &err), LC_ERR_INVALID);
    lc_lock_info info;
    assert_int_equal(lc_inspect(f->a, "has space", &info, &err), LC_ERR_INVALID);
}

typedef struct releaser {
    lc_client *c;
    lc_lease *l;
    int64_t released_at_ms;
} releaser;

static void *release_later(void *p)
{
    releaser *r = p;
    lct_sleep_ms(300); /* the waiter is waiting by then: that is the point */
    lc_error err;
    r->released_at_ms = lct_now_ms();
    if (lc_release(r->c, r->l, NULL, &err) != LC_OK)
        r->released_at_ms = -1;
    return NULL;
}

/* With a long backoff, only the release notification can wake the waiter
 * this soon. */
static void test_wait_is_woken_by_release(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/wait");
    f->cfg->lock.retry_min_ms = 10000; /* polling alone: >= 5 s */
    f->cfg->lock.retry_max_ms = 20000;
    lc_lease *l = take(f->a, name, 10000);
    releaser r = {f->a, l, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 30000};
    lc_lease *got = NULL;
    lc_error err;
    lc_status rc = lc_acquire(f->b, name, &o, &got, &err);
    int64_t woke = lct_now_ms();
    pthread_join(t, NULL);
    lct_assert_rc(rc, LC_OK, &err);
    assert_true(r.released_at_ms > 0);
    assert_true(woke - r.released_at_ms < 3000);
    assert_true(lc_lease_fence(got) > lc_lease_fence(l));
    lc_lease_free(got);
    lc_lease_free(l);
}

static void test_wait_times_out_with_conflict(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/waitout");
    lc_lease *l = take(f->a, name, 10000);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 300};
    lc_lease *got = NULL;
    lc_error err;
    int64_t t0 = lct_now_ms();
    assert_int_equal(lc_acquire(f->b, name, &o, &got, &err), LC_ERR_CONFLICT);
    int64_t waited = lct_now_ms() - t0;
    assert_true(waited >= 290);
    assert_true(waited < 8000); /* the wait ended it, not the 10 s ttl */
    assert_string_equal(err.holder.owner, "holder-a");
    lc_lease_free(l);
}

/* A claim takes the lease without marking a run started: the grant says
 * the server's now and the start as recorded before. */
static void test_claim_leaves_last_start_and_reports_server_clock(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/claim");
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1, .claim = 1};
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->a, name, &o, &l, &err), LC_OK, &err);
    assert_int_equal(lc_lease_last_started_at_ms(l), -1); /* never ran */
    int64_t now1 = lc_lease_server_now_ms(l);
    assert_true(now1 > 0);
    int64_t started = 0;
    lct_assert_rc(lc_start_run(f->a, l, &started, &err), LC_OK, &err);
    assert_not_before(f, started, now1);
    assert_int_equal(lc_lease_last_started_at_ms(l), started);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_same_time(f, info.last_started_at_ms, started);
    assert_not_before(f, info.server_now_ms, started);
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    if (is_memory(f))
        lct_clock_advance(&f->fc, 50);
    lct_assert_rc(lc_acquire(f->b, name, &o, &l, &err), LC_OK, &err);
    assert_same_time(f, lc_lease_last_started_at_ms(l), started);
    assert_not_before(f, lc_lease_server_now_ms(l), started);
    inspect(f->a, name, &info);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_same_time(f, info.last_started_at_ms, started); /* still the run before */
    assert_not_before(f, info.acquired_at_ms, started);
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

/* A plain acquire starts its run with the lease, as before claims. */
static void test_acquire_without_claim_marks_run_started(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/noclaim");
    lc_lease *l = take(f->a, name, 5000);
    assert_int_equal(lc_lease_last_started_at_ms(l), lc_lease_acquired_at_ms(l));
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_same_time(f, info.last_started_at_ms, lc_lease_acquired_at_ms(l));
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_start_run_with_wrong_token_is_lost(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/startlost");
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1, .claim = 1};
    lc_lease *l = NULL, *other = NULL;
    lc_error err;
    lct_assert_rc(lc_acquire(f->a, name, &o, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_lease_attach(name, "ffffffffffffffffffffffffffffffff", &other, &err), LC_OK,
                  &err);
    int64_t at = 42;
    assert_int_equal(lc_start_run(f->b, other, &at, &err), LC_ERR_LOST);
    assert_int_equal(at, 42);
    assert_int_equal(lc_abandon(f->b, other, &err), LC_ERR_LOST);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_int_equal(info.last_started_at_ms, -1);
    assert_true(info.held);
    lc_lock_info_clear(&info);
    lc_lease_free(other);
    lc_lease_free(l);
}

/* Abandon gives the lease back and records nothing: the last run's
 * record, its start and sync_count stay; the next acquire gets a higher
 * fence at once. */
static void test_abandon_releases_without_record(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/abandon");
    lc_error err;
    lc_run_result failed = {.has_exit = 1, .exit_code = 2, .error = "first run failed"};
    lc_lease *l = take(f->a, name, 5000);
    lct_assert_rc(lc_release(f->a, l, &failed, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_lock_info before;
    inspect(f->a, name, &before);

    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1, .claim = 1};
    lct_assert_rc(lc_acquire(f->b, name, &o, &l, &err), LC_OK, &err);
    uint64_t fence = lc_lease_fence(l);
    lct_assert_rc(lc_abandon(f->b, l, &err), LC_OK, &err);
    assert_int_equal(lc_abandon(f->b, l, &err), LC_ERR_LOST);
    lc_lease_free(l);

    lc_lock_info after;
    inspect(f->a, name, &after);
    assert_false(after.held);
    assert_false(after.stale);
    assert_int_equal(after.sync_count, before.sync_count);
    assert_same_time(f, after.last_started_at_ms, before.last_started_at_ms);
    assert_same_time(f, after.last_completed_at_ms, before.last_completed_at_ms);
    assert_string_equal(after.last_error, "first run failed");
    assert_int_equal(after.last_exit, 2);
    assert_int_equal(after.health, LC_HEALTH_FAILED);
    lc_lock_info_clear(&before);
    lc_lock_info_clear(&after);

    l = take(f->a, name, 5000);
    assert_true(lc_lease_fence(l) > fence);
    lc_lease_free(l);
}

/* Everything a job's run record carries comes back from inspect. */
static void test_run_record_fields_round_trip(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/record");
    lc_error err;
    char long_error[LC_ERROR_MAX + 100];
    memset(long_error, 'e', sizeof(long_error) - 1);
    long_error[sizeof(long_error) - 1] = '\0';
    memcpy(long_error + LC_ERROR_MAX - 1, "\xc3\xa9", 2); /* a character across the cut */
    lc_run_result failed = {.error = long_error,
                            .outcome = LC_OUTCOME_TIMEOUT,
                            .http_status = 504,
                            .attempts = 3,
                            .missed_slots = 2,
                            .duration_ms = 1234};
    lc_lease *l = take(f->a, name, 5000);
    lct_assert_rc(lc_release(f->a, l, &failed, &err), LC_OK, &err);
    lc_lease_free(l);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_int_equal(info.last_outcome, LC_OUTCOME_TIMEOUT);
    assert_int_equal(info.last_http_status, 504);
    assert_int_equal(info.last_attempts, 3);
    assert_int_equal(info.last_missed_slots, 2);
    assert_int_equal(info.last_duration_ms, 1234);
    assert_false(info.has_last_exit);
    assert_int_equal(info.last_success_at_ms, -1);
    assert_int_equal(info.consecutive_failures, 1);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_non_null(info.last_error);
    assert_int_equal(strlen(info.last_error), LC_ERROR_MAX - 1); /* cut before the character */
    lc_lock_info_clear(&info);

    lc_run_result lost = {.error = "lease lost", .outcome = LC_OUTCOME_LOST};
    lct_assert_rc(lc_record_run(f->b, name, &lost, &err), LC_OK, &err);
    inspect(f->b, name, &info);
    assert_int_equal(info.last_outcome, LC_OUTCOME_LOST);
    assert_int_equal(info.last_http_status, 0);
    assert_int_equal(info.last_attempts, 1);
    assert_int_equal(info.last_missed_slots, 0);
    assert_int_equal(info.consecutive_failures, 2);
    assert_int_equal(info.sync_count, 2);
    lc_lock_info_clear(&info);

    if (is_memory(f))
        lct_clock_advance(&f->fc, 20);
    lc_run_result ok = {.http_status = 200, .attempts = 2};
    l = take(f->a, name, 5000);
    if (is_memory(f))
        lct_clock_advance(&f->fc, 30);
    lct_assert_rc(lc_release(f->a, l, &ok, &err), LC_OK, &err);
    inspect(f->b, name, &info);
    assert_int_equal(info.last_outcome, LC_OUTCOME_OK);
    assert_int_equal(info.last_http_status, 200);
    assert_int_equal(info.last_attempts, 2);
    assert_int_equal(info.consecutive_failures, 0);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_not_before(f, info.last_success_at_ms, lc_lease_acquired_at_ms(l));
    assert_int_equal(info.last_success_at_ms, info.last_completed_at_ms);
    /* No duration given: measured by the backend from the run's start. */
    assert_true(info.last_duration_ms >= 0);
    assert_true(info.last_duration_ms < 5000);
    if (is_memory(f))
        assert_int_equal(info.last_duration_ms, 30);
    lc_lock_info_clear(&info);
    lc_lease_free(l);
}

static void test_inspect_reports_server_clock(void **state)
{
    fixture *f = *state;
    lc_lock_info info;
    inspect(f->a, lct_name("conf/clock"), &info);
    assert_true(info.server_now_ms > 1500000000000LL); /* after 2017: a real clock */
    assert_int_equal(info.last_outcome, LC_OUTCOME_DEFAULT);
    assert_int_equal(info.last_success_at_ms, -1);
    lc_lock_info_clear(&info);
}

static void test_pause_refuses_acquire_naming_who_and_why(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/pause");
    lc_error err;
    lct_assert_rc(lc_pause(f->a, name, NULL, "db upgrade", 0, &err), LC_OK, &err);
    lc_lease *l = NULL;
    assert_int_equal(try_take(f->b, name, 5000, &l, &err), LC_ERR_PAUSED);
    assert_null(l);
    assert_int_equal(err.code, LC_ERR_PAUSED);
    assert_non_null(strstr(err.message, "paused by holder-a: db upgrade"));
    assert_string_equal(err.holder.owner, "holder-a");
    /* A wait does not wait out a pause. */
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 5000};
    int64_t t0 = lct_now_ms();
    assert_int_equal(lc_acquire(f->b, name, &o, &l, &err), LC_ERR_PAUSED);
    assert_true(lct_now_ms() - t0 < 4000);

    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_true(info.paused);
    assert_int_equal(info.health, LC_HEALTH_PAUSED);
    assert_string_equal(lc_health_name(info.health), "paused");
    assert_string_equal(info.paused_by, "holder-a");
    assert_string_equal(info.paused_reason, "db upgrade");
    assert_int_equal(info.paused_until_ms, -1);
    lc_lock_info_clear(&info);

    int was = 0;
    lct_assert_rc(lc_resume(f->b, name, &was, &err), LC_OK, &err);
    assert_true(was);
    lct_assert_rc(lc_resume(f->b, name, &was, &err), LC_OK, &err);
    assert_false(was);
    inspect(f->b, name, &info);
    assert_false(info.paused);
    assert_null(info.paused_reason);
    assert_int_equal(info.health, LC_HEALTH_READY);
    lc_lock_info_clear(&info);
    l = take(f->b, name, 5000);
    lct_assert_rc(lc_release(f->b, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_pause_leaves_live_lease_alone(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/pauseheld");
    lc_error err;
    lc_lease *l = take(f->a, name, 5000);
    lct_assert_rc(lc_pause(f->b, name, "operator", "hold on", 0, &err), LC_OK, &err);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_true(info.paused);
    assert_true(info.held);
    assert_int_equal(info.health, LC_HEALTH_HELD); /* the run goes on */
    assert_string_equal(info.paused_by, "operator");
    lc_lock_info_clear(&info);
    /* A retried acquire of the lease already held is still the holder's. */
    lc_acquire_args a = {name, lc_lease_token(l), "holder-a", 5000, 0, 0};
    lc_grant g = {0, 0, NULL, 0, -1};
    lct_assert_rc(f->a->ops->acquire(f->a->state, &a, &g, &err), LC_OK, &err);
    assert_int_equal(g.fence, lc_lease_fence(l));
    free(g.checkpoint);
    lct_assert_rc(lc_renew(f->a, l, 5000, &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    assert_int_equal(try_take(f->a, name, 5000, &l, &err), LC_ERR_PAUSED);
    inspect(f->b, name, &info);
    assert_int_equal(info.health, LC_HEALTH_PAUSED);
    assert_int_equal(info.sync_count, 1);
    lc_lock_info_clear(&info);
}

typedef struct take_arg {
    fixture *f;
    const char *name;
    lc_lease *got;
} take_arg;

static int taken(void *p)
{
    take_arg *a = p;
    lc_error err;
    return try_take(a->f->b, a->name, 5000, &a->got, &err) == LC_OK;
}

static void test_pause_for_lifts_itself_on_server_clock(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/pausefor");
    lc_error err;
    lct_assert_rc(lc_pause(f->a, name, NULL, "one moment", 300, &err), LC_OK, &err);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_true(info.paused);
    assert_true(info.paused_until_ms > info.server_now_ms);
    assert_true(info.paused_until_ms <= info.server_now_ms + 300);
    lc_lock_info_clear(&info);
    lc_lease *l = NULL;
    assert_int_equal(try_take(f->b, name, 5000, &l, &err), LC_ERR_PAUSED);
    take_arg a = {f, name, NULL};
    if (is_memory(f))
        lct_clock_advance(&f->fc, 310);
    assert_true(lct_wait_for(taken, &a, 10000));
    inspect(f->b, name, &info);
    assert_false(info.paused);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->b, a.got, NULL, &err), LC_OK, &err);
    lc_lease_free(a.got);
}

static void test_pause_unknown_lock_is_listed(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/pausenew");
    lc_error err;
    lct_assert_rc(lc_pause(f->a, name, NULL, "not yet", 0, &err), LC_OK, &err);
    lc_lock_info *list = NULL;
    size_t n = 0;
    lct_assert_rc(lc_list(f->b, &list, &n, &err), LC_OK, &err);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) {
            found = 1;
            assert_true(list[i].paused);
            assert_string_equal(list[i].paused_reason, "not yet");
            assert_int_equal(list[i].health, LC_HEALTH_PAUSED);
        }
    assert_true(found);
    lc_lock_list_free(list, n);
}

static void test_pause_bad_input_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/pausebad");
    lc_error err;
    assert_int_equal(lc_pause(f->a, name, NULL, "", 0, &err), LC_ERR_INVALID);
    assert_int_equal(lc_pause(f->a, name, NULL, NULL, 0, &err), LC_ERR_INVALID);
    assert_int_equal(lc_pause(f->a, name, NULL, "why", -1, &err), LC_ERR_INVALID);
    assert_int_equal(lc_pause(f->a, name, NULL, "bad\nline", 0, &err), LC_ERR_INVALID);
    assert_int_equal(lc_pause(f->a, "bad name", NULL, "why", 0, &err), LC_ERR_INVALID);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_false(info.paused);
    lc_lock_info_clear(&info);
}

static lc_run_entry *history(lc_client *c, const char *name, size_t limit, int64_t since, size_t *n)
{
    lc_run_entry *list = NULL;
    lc_error err;
    lct_assert_rc(lc_history(c, name, limit, since, &list, n, &err), LC_OK, &err);
    return list;
}

static void test_history_entry_per_release_newest_first(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/history");
    lc_error err;
    size_t n = 9;
    lc_run_entry *list = history(f->a, name, 0, 0, &n);
    assert_int_equal(n, 0);
    lc_run_entries_free(list, n);

    uint64_t fences[3];
    lc_lease *l = take(f->a, name, 5000);
    fences[0] = lc_lease_fence(l);
    lc_run_result failed = {.has_exit = 1, .exit_code = 3, .error = "exit status 3", .attempts = 2};
    lct_assert_rc(lc_release(f->a, l, &failed, &err), LC_OK, &err);
    lc_lease_free(l);
    l = take(f->b, name, 5000);
    fences[1] = lc_lease_fence(l);
    lc_run_result ok = {.has_exit = 1, .exit_code = 0, .http_status = 204, .duration_ms = 42};
    lct_assert_rc(lc_release(f->b, l, &ok, &err), LC_OK, &err);
    lc_lease_free(l);
    /* A run recorded without its lease (lost before its release). */
    l = take(f->a, name, 5000);
    fences[2] = lc_lease_fence(l);
    lc_run_result lost = {.outcome = LC_OUTCOME_LOST, .error = "lease lost"};
    lct_assert_rc(lc_record_run(f->a, name, &lost, &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);

    list = history(f->b, name, 0, 0, &n);
    assert_int_equal(n, 4); /* the last release recorded a run too */
    assert_int_equal(list[0].outcome, LC_OUTCOME_OK);
    assert_int_equal(list[0].fence, fences[2]);
    assert_int_equal(list[1].outcome, LC_OUTCOME_LOST);
    assert_string_equal(list[1].error, "lease lost");
    assert_int_equal(list[2].outcome, LC_OUTCOME_OK);
    assert_int_equal(list[2].fence, fences[1]);
    assert_string_equal(list[2].owner, "holder-b");
    assert_true(list[2].has_exit);
    assert_int_equal(list[2].exit_code, 0);
    assert_int_equal(list[2].http_status, 204);
    assert_int_equal(list[2].duration_ms, 42);
    assert_null(list[2].error);
    assert_int_equal(list[3].outcome, LC_OUTCOME_FAILED);
    assert_int_equal(list[3].fence, fences[0]);
    assert_string_equal(list[3].owner, "holder-a");
    assert_int_equal(list[3].exit_code, 3);
    assert_int_equal(list[3].attempts, 2);
    assert_string_equal(list[3].error, "exit status 3");
    assert_true(list[3].started_at_ms > 0);
    assert_true(list[3].completed_at_ms >= list[3].started_at_ms);
    assert_true(list[0].completed_at_ms >= list[3].completed_at_ms);
    int64_t newest = list[0].completed_at_ms;
    lc_run_entries_free(list, n);

    list = history(f->b, name, 2, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].fence, fences[2]);
    lc_run_entries_free(list, n);
    list = history(f->b, name, 0, newest + 1, &n);
    assert_int_equal(n, 0);
    lc_run_entries_free(list, n);
    list = history(f->b, name, 0, newest, &n);
    assert_true(n >= 1);
    lc_run_entries_free(list, n);
}

static void test_history_keeps_last_configured_entries(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/historycap");
    lc_error err;
    f->cfg->lock.history = 3;
    lc_client *c = open_client(f, "capped");
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        lc_lease *l = take(c, name, 5000);
        last = lc_lease_fence(l);
        lct_assert_rc(lc_release(c, l, NULL, &err), LC_OK, &err);
        lc_lease_free(l);
    }
    size_t n = 0;
    lc_run_entry *list = history(c, name, 0, 0, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].fence, last - i);
    lc_run_entries_free(list, n);
    lc_lock_info info;
    inspect(c, name, &info);
    assert_int_equal(info.sync_count, 5);
    lc_lock_info_clear(&info);
    lc_client_close(c);
}

/* Owner and error text come back from the history as they went in:
 * quotes, backslashes, slashes and non-ASCII included. */
static void test_history_keeps_text_exactly(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/historytext");
    const char *owner = "we \"q\" \\ a/b \xc3\xbc\xe2\x9c\x93";
    const char *error = "exit \"3\": C:\\tmp\\x </tmp/y> \xe2\x9c\x97";
    lc_error err;
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = -1, .owner = owner};
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(f->a, name, &o, &l, &err), LC_OK, &err);
    lc_run_result failed = {.has_exit = 1, .exit_code = 3, .error = error};
    lct_assert_rc(lc_release(f->a, l, &failed, &err), LC_OK, &err);
    lc_lease_free(l);
    size_t n = 0;
    lc_run_entry *list = history(f->b, name, 0, 0, &n);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].owner, owner);
    assert_string_equal(list[0].error, error);
    assert_int_equal(list[0].exit_code, 3);
    lc_run_entries_free(list, n);
}

/* A lease that expired unreleased (its holder was killed) is history the
 * next time the lock is taken: "abandoned", with that holder and fence. A
 * lease released normally leaves no such entry. */
static void test_history_reclaimed_stale_lease_is_abandoned(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/abandoned");
    lc_error err;
    lc_lease *first = take(f->a, name, 300);
    lct_assert_rc(lc_release(f->a, first, NULL, &err), LC_OK, &err);
    lc_lease *l = take(f->a, name, 300);
    if (is_memory(f))
        lct_clock_advance(&f->fc, 310);
    lc_lease *got = reclaim(f, name);
    size_t n = 0;
    lc_run_entry *list = history(f->b, name, 0, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].outcome, LC_OUTCOME_ABANDONED);
    assert_string_equal(lc_outcome_name(list[0].outcome), "abandoned");
    assert_int_equal(list[0].fence, lc_lease_fence(l));
    assert_string_equal(list[0].owner, "holder-a");
    assert_true(list[0].started_at_ms > 0);
    assert_int_equal(list[0].completed_at_ms, -1);
    assert_int_equal(list[1].outcome, LC_OUTCOME_OK);
    assert_int_equal(list[1].fence, lc_lease_fence(first));
    lc_run_entries_free(list, n);
    lct_assert_rc(lc_release(f->b, got, NULL, &err), LC_OK, &err);
    list = history(f->b, name, 0, 0, &n);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].fence, lc_lease_fence(got));
    assert_int_equal(list[0].outcome, LC_OUTCOME_OK);
    lc_run_entries_free(list, n);
    lc_lease_free(got);
    lc_lease_free(l);
    lc_lease_free(first);
}

/* The lock as its holder b has it: held, with b's fence and owner. */
static void assert_held_by(fixture *f, const char *name, const lc_lease *l)
{
    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_true(info.held);
    assert_int_equal(info.fence, lc_lease_fence(l));
    assert_string_equal(info.owner, lc_lease_owner(l));
    assert_int_equal(info.last_outcome, LC_OUTCOME_LOST);
    lc_lock_info_clear(&info);
}

/* entry is the lost run of lease l, recorded by lc_record_lost. */
static void assert_lost_run_of(fixture *f, const lc_run_entry *entry, const lc_lease *l)
{
    assert_int_equal(entry->outcome, LC_OUTCOME_LOST);
    assert_int_equal(entry->fence, lc_lease_fence(l));
    assert_string_equal(entry->owner, lc_lease_owner(l));
    assert_same_time(f, entry->started_at_ms, lc_lease_last_started_at_ms(l));
    assert_string_equal(entry->error, "lease lost");
    assert_not_before(f, entry->completed_at_ms, entry->started_at_ms);
}

static void record_lost(fixture *f, lc_lease *lost)
{
    lc_error err;
    lc_run_result res = {.outcome = LC_OUTCOME_LOST, .error = "lease lost"};
    lct_assert_rc(lc_record_lost(f->a, lost, &res, &err), LC_OK, &err);
}

/* The history holds one run: the lost one of lease `lost`. Returns its
 * duration. */
static int64_t assert_only_run_lost(fixture *f, const char *name, const lc_lease *lost)
{
    size_t n = 0;
    lc_run_entry *list = history(f->b, name, 0, 0, &n);
    assert_int_equal(n, 1);
    assert_lost_run_of(f, &list[0], lost);
    int64_t duration = list[0].duration_ms;
    lc_run_entries_free(list, n);
    return duration;
}

/* b's release after a's lost run: b's own entry on top, then a's. */
static void release_and_check(fixture *f, const char *name, lc_lease *lost, lc_lease *l)
{
    lc_error err;
    lct_assert_rc(lc_release(f->b, l, NULL, &err), LC_OK, &err);
    size_t n = 0;
    lc_run_entry *list = history(f->a, name, 0, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].outcome, LC_OUTCOME_OK);
    assert_int_equal(list[0].fence, lc_lease_fence(l));
    assert_string_equal(list[0].owner, "holder-b");
    assert_same_time(f, list[0].started_at_ms, lc_lease_last_started_at_ms(l));
    assert_lost_run_of(f, &list[1], lost);
    lc_run_entries_free(list, n);
}

/* A lease lost to a takeover (its holder was stopped past its ttl, then
 * went on): the next holder found it stale and wrote "abandoned" for it;
 * the lost run's record takes that entry's place, as the lost lease's own
 * -- its fence, owner and start, its duration counted from that start --
 * and the new holder keeps the lock as it has it. */
static void test_history_lost_lease_replaces_its_abandoned_entry(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/lostover");
    lc_error err;
    lc_lease *lost = take(f->a, name, 300);
    if (is_memory(f))
        lct_clock_advance(&f->fc, 310);
    lc_lease *l = reclaim(f, name);
    size_t n = 0;
    lc_run_entry *list = history(f->a, name, 0, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].outcome, LC_OUTCOME_ABANDONED);
    lc_run_entries_free(list, n);
    if (is_memory(f))
        lct_clock_advance(&f->fc, 20);

    record_lost(f, lost);
    int64_t duration = assert_only_run_lost(f, name, lost);
    /* Counted from the lost lease's start: the ttl passed before b took it. */
    if (is_memory(f))
        assert_int_equal(duration, 330);
    else
        assert_not_before(f, duration, 300);
    assert_held_by(f, name, l);
    lc_lock_info info;
    inspect(f->a, name, &info);
    assert_int_equal(info.sync_count, 1);
    assert_int_equal(info.consecutive_failures, 1);
    assert_same_time(f, info.last_started_at_ms, lc_lease_last_started_at_ms(l));
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_renew(f->b, l, 5000, &err), LC_OK, &err);

    release_and_check(f, name, lost, l);
    lc_lease_free(l);
    lc_lease_free(lost);
}

/* A lease lost to an operator's reset, the lock taken again since: no
 * "abandoned" entry stands for the lost run, so its record adds one of
 * its own, and the holder's fence, owner, token and health stay. */
static void test_history_lost_lease_after_reset_adds_own_entry(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/lostreset");
    lc_error err;
    lc_lease *lost = take(f->a, name, 5000);
    lct_assert_rc(lc_force_release(f->b, name, "stuck", NULL, NULL, &err), LC_OK, &err);
    lc_lease *l = take(f->b, name, 5000);

    record_lost(f, lost);
    assert_only_run_lost(f, name, lost);
    assert_held_by(f, name, l);
    lct_assert_rc(lc_renew(f->b, l, 5000, &err), LC_OK, &err);

    release_and_check(f, name, lost, l);
    lc_lease_free(l);
    lc_lease_free(lost);
}

typedef struct stale_arg {
    fixture *f;
    const char *name;
} stale_arg;

static int is_stale(void *p)
{
    stale_arg *s = p;
    lc_lock_info info;
    inspect(s->f->a, s->name, &info);
    int stale = info.health == LC_HEALTH_STALE;
    lc_lock_info_clear(&info);
    return stale;
}

/* A lost lease recorded before anyone took the lock again: the lock no
 * longer counts it as running, so the next holder adds no "abandoned"
 * entry for the same run. */
static void test_history_lost_lease_recorded_before_reclaim_shows_once(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/lostfirst");
    lc_lease *lost = take(f->a, name, 300);
    stale_arg sa = {f, name};
    if (is_memory(f))
        lct_clock_advance(&f->fc, 310);
    else
        assert_true(lct_wait_for(is_stale, &sa, 10000));
    assert_true(is_stale(&sa));

    record_lost(f, lost);
    lc_lock_info info;
    inspect(f->b, name, &info);
    assert_int_equal(info.health, LC_HEALTH_FAILED);
    assert_int_equal(info.fence, lc_lease_fence(lost));
    assert_int_equal(info.last_outcome, LC_OUTCOME_LOST);
    lc_lock_info_clear(&info);

    lc_lease *l = take(f->b, name, 5000);
    assert_only_run_lost(f, name, lost);
    release_and_check(f, name, lost, l);
    lc_lease_free(l);
    lc_lease_free(lost);
}

/* ---- the line of waiters ------------------------------------------------ */

#define TOK1 "11111111111111111111111111111111"
#define TOK2 "22222222222222222222222222222222"
#define TOK3 "33333333333333333333333333333333"

/* One attempt straight through the backend's table, as one turn of a
 * waiting acquire (queue_ms > 0) or a no-wait acquire (0) makes it. */
static lc_status attempt(lc_client *c, const char *name, const char *token, int64_t queue_ms,
                         uint64_t *fence, lc_error *err)
{
    lc_acquire_args a = {name, token, "waiter", 5000, 0, queue_ms};
    lc_grant g = {0, 0, NULL, 0, -1};
    lc_status rc = c->ops->acquire(c->state, &a, &g, err);
    free(g.checkpoint);
    if (fence)
        *fence = g.fence;
    return rc;
}

static void give_back(lc_client *c, const char *name, const char *token)
{
    lc_error err;
    lct_assert_rc(c->ops->abandon(c->state, name, token, &err), LC_OK, &err);
}

/* Two waiters lined up behind a holder; the holder releases. Returns 1
 * when the backend keeps a line of waiters (leave). One without (quorum
 * mode) is held to what it promises instead: the free lock goes to
 * whoever asks first, the second waiter here; then 0 ends the case. */
static int line_of_two(fixture *f, const char *name, int64_t first_queue_ms)
{
    lc_lease *l = take(f->a, name, 5000);
    lc_error err;
    assert_int_equal(attempt(f->b, name, TOK1, first_queue_ms, NULL, &err), LC_ERR_CONFLICT);
    assert_string_equal(err.holder.owner, "holder-a");
    assert_int_equal(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_ERR_CONFLICT);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    if (f->a->ops->leave != NULL)
        return 1;
    lct_assert_rc(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_OK, &err);
    give_back(f->b, name, TOK2);
    return 0;
}

static void test_free_lock_goes_to_first_waiter_in_line(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/line");
    if (!line_of_two(f, name, 10000))
        return;
    lc_error err;
    /* The second waiter asks first after the release: refused. */
    assert_int_equal(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_ERR_CONFLICT);
    assert_non_null(strstr(err.message, "waiter ahead in line"));
    uint64_t fence = 0;
    lct_assert_rc(attempt(f->b, name, TOK1, 10000, &fence, &err), LC_OK, &err);
    assert_true(fence > 0);
    give_back(f->b, name, TOK1);
    lct_assert_rc(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_OK, &err);
    give_back(f->b, name, TOK2);
}

static void test_no_wait_acquire_ignores_line(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/linebypass");
    if (!line_of_two(f, name, 10000))
        return;
    lc_error err;
    lct_assert_rc(attempt(f->a, name, TOK3, 0, NULL, &err), LC_OK, &err);
    give_back(f->a, name, TOK3);
    lct_assert_rc(attempt(f->b, name, TOK1, 10000, NULL, &err), LC_OK, &err);
    give_back(f->b, name, TOK1);
}

typedef struct second_arg {
    fixture *f;
    const char *name;
} second_arg;

/* The second in line asks (renewing its own promise) until it is granted. */
static int second_granted(void *p)
{
    second_arg *a = p;
    lc_error err;
    return attempt(a->f->b, a->name, TOK2, 10000, NULL, &err) == LC_OK;
}

static void test_waiter_past_its_promise_loses_its_place(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/linedead");
    int64_t t0 = lct_now_ms();
    if (!line_of_two(f, name, 300))
        return; /* the first waiter then "dies" */
    lc_error err;
    second_arg a = {f, name};
    if (is_memory(f)) {
        assert_int_equal(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_ERR_CONFLICT);
        lct_clock_advance(&f->fc, 310);
        assert_true(second_granted(&a));
    } else {
        assert_true(lct_wait_for(second_granted, &a, 10000));
        assert_true(lct_now_ms() - t0 >= 290); /* not before the promise ran out */
    }
    give_back(f->b, name, TOK2);
    /* Dropped from the line, it asks again and takes the free lock. */
    assert_int_equal(attempt(f->b, name, TOK1, 10000, NULL, &err), LC_OK);
    give_back(f->b, name, TOK1);
}

static void test_waiter_that_leaves_gives_place_up(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/lineleave");
    if (!line_of_two(f, name, 10000))
        return;
    lc_error err;
    lct_assert_rc(f->b->ops->leave(f->b->state, name, TOK1, &err), LC_OK, &err);
    lct_assert_rc(attempt(f->b, name, TOK2, 10000, NULL, &err), LC_OK, &err);
    give_back(f->b, name, TOK2);
}

/* A waiting acquire that gives up leaves the line: the lock is not kept
 * for it after its wait ended. */
static void test_wait_timed_out_leaves_line(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("conf/linetimeout");
    lc_lease *l = take(f->a, name, 10000);
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = 100};
    lc_lease *got = NULL;
    lc_error err;
    assert_int_equal(lc_acquire(f->b, name, &o, &got, &err), LC_ERR_CONFLICT);
    lct_assert_rc(lc_release(f->a, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
    lct_assert_rc(attempt(f->a, name, TOK3, 10000, NULL, &err), LC_OK, &err);
    give_back(f->a, name, TOK3);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int lc_conformance_run(const char *backend)
{
    g_backend = backend;
    const struct CMUnitTest tests[] = {
        T(test_acquire_free_lock_succeeds),
        T(test_acquire_held_lock_conflict_names_holder),
        T(test_conflict_report_same_fields_on_every_backend),
        T(test_open_against_down_server_fails_unavailable),
        T(test_acquire_same_token_again_same_fence),
        T(test_renew_and_release_with_token_succeed),
        T(test_wrong_token_is_refused_as_lost),
        T(test_release_twice_second_is_lost),
        T(test_expired_lease_is_stale_then_reclaimed),
        T(test_reclaim_not_before_ttl),
        T(test_fences_strictly_increase_across_force_release),
        T(test_force_release_reports_holder_and_records_reason),
        T(test_force_release_free_lock_was_not_held),
        T(test_run_records_count_up),
        T(test_checkpoint_kept_for_next_holder),
        T(test_renew_many_reports_each_lease),
        T(test_inspect_unknown_lock_is_ready),
        T(test_list_includes_every_lock),
        T(test_invalid_name_refused_before_backend),
        T(test_wait_is_woken_by_release),
        T(test_wait_times_out_with_conflict),
        T(test_free_lock_goes_to_first_waiter_in_line),
        T(test_no_wait_acquire_ignores_line),
        T(test_waiter_past_its_promise_loses_its_place),
        T(test_waiter_that_leaves_gives_place_up),
        T(test_wait_timed_out_leaves_line),
        T(test_claim_leaves_last_start_and_reports_server_clock),
        T(test_acquire_without_claim_marks_run_started),
        T(test_start_run_with_wrong_token_is_lost),
        T(test_abandon_releases_without_record),
        T(test_run_record_fields_round_trip),
        T(test_inspect_reports_server_clock),
        T(test_pause_refuses_acquire_naming_who_and_why),
        T(test_pause_leaves_live_lease_alone),
        T(test_pause_for_lifts_itself_on_server_clock),
        T(test_pause_unknown_lock_is_listed),
        T(test_pause_bad_input_is_invalid),
        T(test_history_entry_per_release_newest_first),
        T(test_history_keeps_last_configured_entries),
        T(test_history_keeps_text_exactly),
        T(test_history_reclaimed_stale_lease_is_abandoned),
        T(test_history_lost_lease_replaces_its_abandoned_entry),
        T(test_history_lost_lease_after_reset_adds_own_entry),
        T(test_history_lost_lease_recorded_before_reclaim_shows_once),
    };
    char group[64];
    snprintf(group, sizeof(group), "conformance/%s", backend);
    return _cmocka_run_group_tests(group, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
