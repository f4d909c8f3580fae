/* tests/unit/test_client.c -- what the client refuses before any backend
 * is touched: ttls out of range, text that is not clean UTF-8 or holds
 * control characters (and owners cut on character boundaries). Runs on the memory backend; a
 * refusal must leave the store as it was. Also what lc_record_lost tells
 * the backend of a lost lease, and which token each attempt of a waiting
 * acquire carries. */
#include "testenv.h"

#include "core/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    lc_config *cfg;
    lc_memstore *store;
    lc_client *c;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cfg = lct_config("memory");
    f->store = lc_memstore_new(NULL);
    assert_non_null(f->store);
    lc_client_opts o = {.memstore = f->store};
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, &o, &f->c, &err), LC_OK, &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lc_client_close(f->c);
    lc_memstore_free(f->store);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

/* The lock was never taken: ready with fence 0. */
static void assert_untouched(fixture *f, const char *name)
{
    lc_lock_info info;
    lc_error err;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_READY);
    assert_int_equal(info.fence, 0);
    assert_int_equal(info.sync_count, 0);
    lc_lock_info_clear(&info);
}

static lc_status try_acquire(fixture *f, const char *name, int64_t ttl_ms, const char *owner,
                             lc_lease **l, lc_error *err)
{
    lc_acquire_opts o = {.ttl_ms = ttl_ms, .wait_ms = -1, .owner = owner};
    *l = NULL;
    return lc_acquire(f->c, name, &o, l, err);
}

/* ------------------------------------------------------------------------ */
/* ttl bounds                                                               */
/* ------------------------------------------------------------------------ */

static void test_acquire_ttl_over_365d_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/ttl-max");
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 3000000LL * 3600000, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "at most 365d"));
    lct_assert_rc(try_acquire(f, name, LC_DURATION_MAX_MS + 1, NULL, &l, &err), LC_ERR_INVALID,
                  &err);
    assert_untouched(f, name);
    /* Exactly the maximum is a lease that is not lost at once. */
    lct_assert_rc(try_acquire(f, name, LC_DURATION_MAX_MS, NULL, &l, &err), LC_OK, &err);
    assert_true(lc_lease_deadline_ns(l) > lc_clock_system()->mono_ns(NULL));
    lct_assert_rc(lc_renew(f->c, l, LC_DURATION_MAX_MS + 1, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_renew(f->c, l, LC_DURATION_MAX_MS, &err), LC_OK, &err);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_acquire_ttl_under_minimum_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/ttl-min");
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 1, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "at least 10ms"));
    lct_assert_rc(try_acquire(f, name, LC_TTL_MIN_MS - 1, NULL, &l, &err), LC_ERR_INVALID, &err);
    assert_untouched(f, name);
    lct_assert_rc(try_acquire(f, name, LC_TTL_MIN_MS, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_renew(f->c, l, LC_TTL_MIN_MS - 1, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* Text: refused before the backend, cut on character boundaries            */
/* ------------------------------------------------------------------------ */

static void test_acquire_unclean_owner_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/owner");
    static const char *const bad[] = {"\x1b[31mEVIL\x1b[0m", "host\xff", "two\nlines",
                                      "csi\xc2\x9b"};
    lc_lease *l;
    lc_error err;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lct_assert_rc(try_acquire(f, name, 5000, bad[i], &l, &err), LC_ERR_INVALID, &err);
        assert_non_null(strstr(err.message, "invalid owner: "));
        assert_null(l);
    }
    assert_untouched(f, name);
}

static void test_acquire_long_owner_cut_on_character_boundary(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/long-owner");
    char owner[301]; /* 100 x "漢" */
    for (int i = 0; i < 100; i++)
        memcpy(owner + 3 * i, "\xe6\xbc\xa2", 3);
    owner[300] = '\0';
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 5000, owner, &l, &err), LC_OK, &err);
    assert_int_equal(strlen(lc_lease_owner(l)), 255); /* 85 whole characters */
    lct_assert_rc(lc_text_check(lc_lease_owner(l), 255, &err), LC_OK, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_string_equal(info.owner, lc_lease_owner(l));
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_release_unclean_error_is_invalid_and_keeps_lease(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/error");
    lc_lease *l;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 5000, NULL, &l, &err), LC_OK, &err);
    lc_run_result bad = {.has_exit = 1, .exit_code = 1, .error = "upstream \xff\xfe"};
    lct_assert_rc(lc_release(f->c, l, &bad, &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "invalid error text: not valid UTF-8"));
    lc_run_result esc = {.has_exit = 1, .exit_code = 1, .error = "\x1b]0;pwned\x07"};
    lct_assert_rc(lc_release(f->c, l, &esc, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_checkpoint(f->c, l, "page\x1b[2J", &err), LC_ERR_INVALID, &err);
    assert_non_null(strstr(err.message, "invalid checkpoint: control character U+001B"));
    /* Nothing reached the backend: still held, nothing recorded. */
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_int_equal(info.health, LC_HEALTH_HELD);
    assert_int_equal(info.sync_count, 0);
    assert_null(info.checkpoint);
    lc_lock_info_clear(&info);
    lc_run_result ok = {
        .has_exit = 1, .exit_code = 1, .error = "upstream returned 503 \xe2\x80\x94 retry later"};
    lct_assert_rc(lc_release(f->c, l, &ok, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_reset_unclean_reason_is_invalid(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/reason");
    lc_error err;
    int was_held = -1;
    lct_assert_rc(lc_force_release(f->c, name, "ops\x1b[8m", &was_held, NULL, &err), LC_ERR_INVALID,
                  &err);
    assert_non_null(strstr(err.message, "invalid reason: "));
    assert_int_equal(was_held, -1);
    assert_untouched(f, name);
}

static void test_record_run_stores_unclean_error_escaped(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/record");
    lc_run_result res = {
        .has_exit = 1, .exit_code = 76, .error = "lease lost: taken over by \x1b[31mEVIL\xff"};
    lc_error err;
    lct_assert_rc(lc_record_run(f->c, name, &res, &err), LC_OK, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_string_equal(info.last_error, "lease lost: taken over by \\x1b[31mEVIL\\xff");
    lc_lock_info_clear(&info);
}

/* The last entry of name's history (there must be one). */
static lc_run_entry newest_run(lc_client *c, const char *name)
{
    lc_run_entry *list = NULL;
    size_t n = 0;
    lc_error err;
    lct_assert_rc(lc_history(c, name, 1, 0, &list, &n, &err), LC_OK, &err);
    assert_int_equal(n, 1);
    lc_run_entry e = list[0];
    e.error = NULL;
    lc_run_entries_free(list, n);
    return e;
}

/* A claim lost before its run started knows the run before it as the
 * last start: its own run is counted from the lease instead. */
static void test_record_lost_unstarted_claim_counts_from_its_lease(void **state)
{
    (void)state;
    lct_clock fc;
    lct_clock_init(&fc);
    lc_config *cfg = lct_config("memory");
    lc_memstore *store = lc_memstore_new(&fc.clock);
    lc_client_opts o = {.clock = &fc.clock, .memstore = store};
    lc_client *c = NULL;
    lc_error err;
    lct_assert_rc(lc_client_open(cfg, &o, &c, &err), LC_OK, &err);
    const char *name = lct_name("client/lostclaim");
    lc_acquire_opts ao = {.ttl_ms = 5000, .wait_ms = -1};
    lc_lease *first = NULL, *claim = NULL;
    lct_assert_rc(lc_acquire(c, name, &ao, &first, &err), LC_OK, &err);
    lct_assert_rc(lc_release(c, first, NULL, &err), LC_OK, &err);
    lct_clock_advance(&fc, 100);
    ao.claim = 1;
    lct_assert_rc(lc_acquire(c, name, &ao, &claim, &err), LC_OK, &err);
    assert_int_equal(lc_lease_last_started_at_ms(claim), lc_lease_acquired_at_ms(first));
    lct_clock_advance(&fc, 50);

    lc_run_result lost = {.outcome = LC_OUTCOME_LOST, .error = "lease lost"};
    lct_assert_rc(lc_record_lost(c, claim, &lost, &err), LC_OK, &err);
    lc_run_entry e = newest_run(c, name);
    assert_int_equal(e.outcome, LC_OUTCOME_LOST);
    assert_int_equal(e.fence, lc_lease_fence(claim));
    assert_int_equal(e.started_at_ms, lc_lease_acquired_at_ms(claim));
    assert_int_equal(e.duration_ms, 50);
    lc_lease_free(claim);
    lc_lease_free(first);
    lc_client_close(c);
    lc_memstore_free(store);
    lc_config_free(cfg);
}

/* A lease known by name and token only (lc_lease_attach) has no fence
 * or owner to give the record: it is the lock's, as lc_record_run's. */
static void test_record_lost_attached_lease_is_recorded_as_record_run(void **state)
{
    fixture *f = *state;
    const char *name = lct_name("client/lostattached");
    lc_lease *l = NULL, *attached = NULL;
    lc_error err;
    lct_assert_rc(try_acquire(f, name, 5000, "holder", &l, &err), LC_OK, &err);
    lct_assert_rc(lc_lease_attach(name, lc_lease_token(l), &attached, &err), LC_OK, &err);
    lc_run_result lost = {.outcome = LC_OUTCOME_LOST, .error = "lease lost"};
    lct_assert_rc(lc_record_lost(f->c, attached, &lost, &err), LC_OK, &err);
    lc_run_entry e = newest_run(f->c, name);
    assert_int_equal(e.outcome, LC_OUTCOME_LOST);
    assert_int_equal(e.fence, lc_lease_fence(l));
    assert_string_equal(e.owner, "holder");
    lc_lease_free(attached);
    lc_lease_free(l);
}

/* ------------------------------------------------------------------------ */
/* the token of each attempt of a waiting acquire                           */
/* ------------------------------------------------------------------------ */

/* The memory backend's ops with acquire wrapped: it records each
 * attempt's token, and gives the holder's lease back before the third. */
#define ATTEMPTS_MAX 8
static const lc_backend_ops *memory_ops;
static char attempt_token[ATTEMPTS_MAX][LC_TOKEN_LEN + 1];
static int attempts;
static lc_client *holder_client;
static lc_lease *holder_lease;
static int no_line;    /* as a backend without a line: queue_ms ignored */
static int release_at; /* the attempt before which the holder lets go; 0: never */

static lc_status recording_acquire(void *st, const lc_acquire_args *a, lc_grant *g, lc_error *err)
{
    if (attempts < ATTEMPTS_MAX)
        snprintf(attempt_token[attempts], sizeof(attempt_token[0]), "%s", a->token);
    if (++attempts == release_at) {
        lc_error e;
        lct_assert_rc(lc_release(holder_client, holder_lease, NULL, &e), LC_OK, &e);
    }
    lc_acquire_args b = *a;
    if (no_line)
        b.queue_ms = 0;
    return memory_ops->acquire(st, &b, g, err);
}

/* A waiting acquire of `name` for wait_ms, through the memory backend's
 * ops with acquire wrapped (recording_acquire), with its line of waiters
 * or without one (no leave, queue_ms ignored), while "holder" holds the
 * lock until the release_at-th attempt (0: throughout; then it is given
 * back after). */
static lc_status wait_through(fixture *f, const char *name, int line, int release, int64_t wait_ms,
                              lc_lease **l, lc_error *err)
{
    lct_assert_rc(try_acquire(f, name, 5000, "holder", &holder_lease, err), LC_OK, err);
    holder_client = f->c;
    memory_ops = f->c->ops;
    lc_backend_ops ops = *memory_ops;
    ops.acquire = recording_acquire;
    no_line = !line;
    if (no_line)
        ops.leave = NULL;
    release_at = release;
    attempts = 0;
    f->c->ops = &ops;
    lc_acquire_opts o = {.ttl_ms = 5000, .wait_ms = wait_ms};
    *l = NULL;
    lc_status rc = lc_acquire(f->c, name, &o, l, err);
    f->c->ops = memory_ops;
    lc_error e;
    if (release == 0)
        lct_assert_rc(lc_release(f->c, holder_lease, NULL, &e), LC_OK, &e);
    lc_lease_free(holder_lease);
    holder_lease = NULL;
    return rc;
}

/* Gives back a lease the test took. */
static void give_back(fixture *f, lc_lease *l)
{
    lc_error err;
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

/* Without a line of waiters (Redis quorum), every attempt carries a token
 * of its own, and the lease is the granted attempt's: a give-back or a
 * late grant of an earlier attempt can never touch it. */
static void test_acquire_without_line_fresh_token_each_attempt(void **state)
{
    fixture *f = *state;
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(wait_through(f, lct_name("client/noline"), 0, 3, 5000, &l, &err), LC_OK, &err);
    assert_int_equal(attempts, 3);
    assert_string_not_equal(attempt_token[0], attempt_token[1]);
    assert_string_not_equal(attempt_token[1], attempt_token[2]);
    assert_string_not_equal(attempt_token[0], attempt_token[2]);
    assert_string_equal(lc_lease_token(l), attempt_token[2]);
    give_back(f, l);
}

/* A fresh token per attempt changes nothing else: a wait that runs out
 * is the conflict it was, naming the holder, with no lease. */
static void test_acquire_without_line_wait_runs_out_as_conflict(void **state)
{
    fixture *f = *state;
    lc_lease *l = NULL;
    lc_error err;
    assert_int_equal(wait_through(f, lct_name("client/nolineout"), 0, 0, 300, &l, &err),
                     LC_ERR_CONFLICT);
    assert_null(l);
    assert_string_equal(err.holder.owner, "holder");
    assert_true(attempts >= 2);
}

static void test_acquire_with_line_keeps_its_token(void **state)
{
    fixture *f = *state;
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(wait_through(f, lct_name("client/line"), 1, 3, 5000, &l, &err), LC_OK, &err);
    assert_int_equal(attempts, 3);
    assert_string_equal(attempt_token[0], attempt_token[1]);
    assert_string_equal(attempt_token[1], attempt_token[2]);
    assert_string_equal(lc_lease_token(l), attempt_token[0]);
    give_back(f, l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_ttl_over_365d_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_ttl_under_minimum_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_unclean_owner_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_long_owner_cut_on_character_boundary, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_unclean_error_is_invalid_and_keeps_lease,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_unclean_reason_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_run_stores_unclean_error_escaped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_record_lost_unstarted_claim_counts_from_its_lease,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_lost_attached_lease_is_recorded_as_record_run,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_without_line_fresh_token_each_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_without_line_wait_runs_out_as_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acquire_with_line_keeps_its_token, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
