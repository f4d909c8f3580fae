/* tests/integration/bench_ref_cases.h -- the backend's floor
 * (lc_bench_ref_*), the same cases for every backend that has one:
 * included by test_redis_bench.c, test_redis_cluster_bench.c and
 * test_pg_bench.c, which define BENCH_BACKEND first. */
#ifndef BENCH_BACKEND
#error "define BENCH_BACKEND before including bench_ref_cases.h"
#endif

#include "testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    lc_config *cfg;
    lc_client *c;
    lc_bench_ref *a, *b;
} fixture;

static int setup(void **state)
{
    if (lct_backend_missing(BENCH_BACKEND))
        return 0;
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cfg = lct_config(BENCH_BACKEND);
    lc_error err;
    lct_assert_rc(lc_client_open(f->cfg, NULL, &f->c, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_open(f->c, &f->a, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_open(f->c, &f->b, &err), LC_OK, &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    lc_bench_ref_close(f->a);
    lc_bench_ref_close(f->b);
    lc_client_close(f->c);
    lc_config_free(f->cfg);
    free(f);
    return 0;
}

#define SKIP_IF_MISSING(state)                                                                     \
    do {                                                                                           \
        if (*(state) == NULL)                                                                      \
            skip();                                                                                \
    } while (0)

static void token(char out[LC_TOKEN_LEN + 1])
{
    lc_error err;
    lct_assert_rc(lc_token_new(out, &err), LC_OK, &err);
}

static void test_bench_ref_held_is_conflict_until_released(void **state)
{
    SKIP_IF_MISSING(state);
    fixture *f = *state;
    const char *name = lct_name("bench-ref");
    char t1[LC_TOKEN_LEN + 1], t2[LC_TOKEN_LEN + 1];
    token(t1);
    token(t2);
    lc_error err;
    lct_assert_rc(lc_bench_ref_acquire(f->a, name, t1, 10000, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_acquire(f->b, name, t2, 10000, &err), LC_ERR_CONFLICT, &err);
    lct_assert_rc(lc_bench_ref_release(f->b, name, t2, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_bench_ref_release(f->a, name, t1, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_release(f->a, name, t1, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_bench_ref_acquire(f->b, name, t2, 10000, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_release(f->b, name, t2, &err), LC_OK, &err);
}

static void test_bench_ref_expired_is_free(void **state)
{
    SKIP_IF_MISSING(state);
    fixture *f = *state;
    const char *name = lct_name("bench-ref");
    char t1[LC_TOKEN_LEN + 1], t2[LC_TOKEN_LEN + 1];
    token(t1);
    token(t2);
    lc_error err;
    lct_assert_rc(lc_bench_ref_acquire(f->a, name, t1, 50, &err), LC_OK, &err);
    lct_sleep_ms(150); /* let the ttl pass on purpose */
    lct_assert_rc(lc_bench_ref_acquire(f->b, name, t2, 10000, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_release(f->a, name, t1, &err), LC_ERR_LOST, &err);
    lct_assert_rc(lc_bench_ref_release(f->b, name, t2, &err), LC_OK, &err);
}

static void test_bench_ref_lives_apart_from_locks(void **state)
{
    SKIP_IF_MISSING(state);
    fixture *f = *state;
    const char *name = lct_name("bench-ref");
    char t[LC_TOKEN_LEN + 1];
    token(t);
    lc_error err;
    lc_lease *l = NULL;
    lct_assert_rc(lc_acquire(f->c, name, NULL, &l, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_acquire(f->a, name, t, 10000, &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_release(f->a, name, t, &err), LC_OK, &err);
    lc_lock_info info;
    lct_assert_rc(lc_inspect(f->c, name, &info, &err), LC_OK, &err);
    assert_true(info.held);
    assert_int_equal(info.fence, lc_lease_fence(l));
    lc_lock_info_clear(&info);
    lct_assert_rc(lc_release(f->c, l, NULL, &err), LC_OK, &err);
    lc_lease_free(l);
}

static void test_bench_ref_renew_extends_only_held(void **state)
{
    SKIP_IF_MISSING(state);
    fixture *f = *state;
    enum {
        N = 4
    };
    char names[N][LC_NAME_MAX + 1], tokens[N][LC_TOKEN_LEN + 1];
    const char *np[N], *tp[N];
    lc_error err;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "%s", lct_name("bench-ref"));
        token(tokens[i]);
        np[i] = names[i];
        tp[i] = tokens[i];
        lct_assert_rc(lc_bench_ref_acquire(f->a, np[i], tp[i], 10000, &err), LC_OK, &err);
    }
    if (strcmp(BENCH_BACKEND, "redis-cluster") == 0) {
        /* One script over keys of many slots: no floor to measure. */
        size_t renewed = 0;
        lct_assert_rc(lc_bench_ref_renew(f->a, np, tp, N, 20000, &renewed, &err), LC_ERR_CONFIG,
                      &err);
        for (int i = 0; i < N; i++)
            lct_assert_rc(lc_bench_ref_release(f->a, np[i], tp[i], &err), LC_OK, &err);
        return;
    }
    lct_assert_rc(lc_bench_ref_release(f->a, np[1], tp[1], &err), LC_OK, &err);
    token(tokens[2]); /* a token that does not hold names[2] */
    size_t renewed = 99;
    lct_assert_rc(lc_bench_ref_renew(f->a, np, tp, N, 20000, &renewed, &err), LC_OK, &err);
    assert_int_equal(renewed, 2);
    lct_assert_rc(lc_bench_ref_renew(f->a, np, tp, 0, 20000, &renewed, &err), LC_OK, &err);
    assert_int_equal(renewed, 0);
    lct_assert_rc(lc_bench_ref_release(f->a, np[0], tp[0], &err), LC_OK, &err);
    lct_assert_rc(lc_bench_ref_release(f->a, np[3], tp[3], &err), LC_OK, &err);
}

static void test_bench_ref_bad_arguments_are_invalid(void **state)
{
    SKIP_IF_MISSING(state);
    fixture *f = *state;
    char t[LC_TOKEN_LEN + 1];
    token(t);
    lc_error err;
    lct_assert_rc(lc_bench_ref_acquire(f->a, "a{b}", t, 1000, &err), LC_ERR_INVALID, &err);
    lct_assert_rc(lc_bench_ref_acquire(f->a, "ok", "not-a-token", 1000, &err), LC_ERR_INVALID,
                  &err);
    lct_assert_rc(lc_bench_ref_acquire(f->a, "ok", t, 1, &err), LC_ERR_INVALID, &err);
    const char *np[] = {"ok"}, *tp[] = {"\"},{"};
    lct_assert_rc(lc_bench_ref_renew(f->a, np, tp, 1, 1000, NULL, &err), LC_ERR_INVALID, &err);
    assert_non_null(lc_bench_ref_floor(f->a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bench_ref_held_is_conflict_until_released, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bench_ref_expired_is_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_ref_lives_apart_from_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_ref_renew_extends_only_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_ref_bad_arguments_are_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
