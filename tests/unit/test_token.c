/* tests/unit/test_token.c -- tokens: 32 lowercase hex characters of 128
 * random bits; 10,000 of them are all distinct and use every digit about
 * equally often, drawn by one thread or several, and a forked child never
 * draws what its parent draws. */
#include "testenv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MANY 10000

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void new_token(char out[LC_TOKEN_LEN + 1])
{
    lc_error err;
    lct_assert_rc(lc_token_new(out, &err), LC_OK, &err);
}

static int cmp_token(const void *a, const void *b)
{
    return memcmp(a, b, LC_TOKEN_LEN);
}

static void test_token_length_is_32(void **state)
{
    (void)state;
    char tok[LC_TOKEN_LEN + 2];
    memset(tok, 'X', sizeof(tok));
    new_token(tok);
    assert_int_equal(LC_TOKEN_LEN, 32);
    assert_int_equal(strlen(tok), 32);
    assert_int_equal(tok[LC_TOKEN_LEN + 1], 'X'); /* nothing written past the NUL */
}

static void test_token_only_lowercase_hex(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        char tok[LC_TOKEN_LEN + 1];
        new_token(tok);
        for (int i = 0; i < LC_TOKEN_LEN; i++)
            if (!is_lower_hex(tok[i]))
                fail_msg("token '%s': byte %d is '%c'", tok, i, tok[i]);
    }
}

static void test_token_10000_all_distinct(void **state)
{
    (void)state;
    char(*toks)[LC_TOKEN_LEN + 1] = calloc(MANY, sizeof(*toks));
    assert_non_null(toks);
    for (int i = 0; i < MANY; i++)
        new_token(toks[i]);
    qsort(toks, MANY, sizeof(*toks), cmp_token);
    for (int i = 1; i < MANY; i++)
        if (memcmp(toks[i - 1], toks[i], LC_TOKEN_LEN) == 0)
            fail_msg("token '%s' was drawn twice", toks[i]);
    free(toks);
}

#define THREADS 4

static void *draw_many(void *arg)
{
    char(*toks)[LC_TOKEN_LEN + 1] = arg;
    for (int i = 0; i < MANY / THREADS; i++)
        if (lc_token_new(toks[i], NULL) != LC_OK)
            toks[i][0] = '\0';
    return NULL;
}

static void test_token_threads_10000_all_distinct(void **state)
{
    (void)state;
    char(*toks)[LC_TOKEN_LEN + 1] = calloc(MANY, sizeof(*toks));
    assert_non_null(toks);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, draw_many, toks + i * (MANY / THREADS)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(toks, MANY, sizeof(*toks), cmp_token);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(strlen(toks[i]), LC_TOKEN_LEN);
    for (int i = 1; i < MANY; i++)
        if (memcmp(toks[i - 1], toks[i], LC_TOKEN_LEN) == 0)
            fail_msg("token '%s' was drawn twice", toks[i]);
    free(toks);
}

/* The tokens are drawn from a pool of random bytes: a child made by fork
 * must not draw the bytes its parent draws next. */
static void test_token_fork_child_draws_other_tokens(void **state)
{
    (void)state;
    char first[LC_TOKEN_LEN + 1], parent[3][LC_TOKEN_LEN + 1], child[3][LC_TOKEN_LEN + 1];
    new_token(first); /* the pool is filled: more bytes wait in it */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        for (int i = 0; i < 3; i++)
            if (lc_token_new(child[i], NULL) != LC_OK ||
                write(fd[1], child[i], LC_TOKEN_LEN) != LC_TOKEN_LEN)
                _exit(1);
        _exit(0);
    }
    close(fd[1]);
    for (int i = 0; i < 3; i++)
        new_token(parent[i]);
    size_t got = 0;
    char buf[3 * LC_TOKEN_LEN];
    for (ssize_t n; got < sizeof(buf) && (n = read(fd[0], buf + got, sizeof(buf) - got)) > 0;)
        got += (size_t)n;
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof(buf));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (memcmp(buf + i * LC_TOKEN_LEN, parent[j], LC_TOKEN_LEN) == 0)
                fail_msg("the child drew its parent's token %.32s", parent[j]);
}

/* 320,000 hex digits: each of the 16 should appear 20,000 times, with a
 * standard deviation of about 137. A 10% band only fails for a broken
 * encoder (a missing digit, a stuck nibble), never by chance. */
static void test_token_digits_evenly_spread(void **state)
{
    (void)state;
    long count[16] = {0};
    for (int n = 0; n < MANY; n++) {
        char tok[LC_TOKEN_LEN + 1];
        new_token(tok);
        for (int i = 0; i < LC_TOKEN_LEN; i++)
            count[tok[i] <= '9' ? tok[i] - '0' : tok[i] - 'a' + 10]++;
    }
    long want = (long)MANY * LC_TOKEN_LEN / 16;
    for (int d = 0; d < 16; d++)
        if (count[d] < want * 9 / 10 || count[d] > want * 11 / 10)
            fail_msg("hex digit %x appeared %ld times, want about %ld", d, count[d], want);
}

static void test_token_null_error_tolerated(void **state)
{
    (void)state;
    char tok[LC_TOKEN_LEN + 1];
    assert_int_equal(lc_token_new(tok, NULL), LC_OK);
    assert_int_equal(strlen(tok), LC_TOKEN_LEN);
}

static void assert_token_invalid(const char *token, const char *msg)
{
    lc_error err;
    lct_assert_rc(lc_token_check(token, &err), LC_ERR_INVALID, &err);
    assert_string_equal(err.message, msg);
}

static void test_token_check_new_token_ok(void **state)
{
    (void)state;
    char t[LC_TOKEN_LEN + 1];
    new_token(t);
    lc_error err;
    lct_assert_rc(lc_token_check(t, &err), LC_OK, &err);
    lct_assert_rc(lc_token_check("0123456789abcdef0123456789abcdef", &err), LC_OK, &err);
}

static void test_token_check_wrong_length_invalid(void **state)
{
    (void)state;
    assert_token_invalid("abc", "invalid token: expected 32 lowercase hex characters, got 3");
    assert_token_invalid("0123456789abcdef0123456789abcdef0",
                         "invalid token: expected 32 lowercase hex characters, got 33");
    assert_token_invalid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                         "invalid token: expected 32 lowercase hex characters, got 64");
    assert_token_invalid("", "missing token");
    assert_token_invalid(NULL, "missing token");
}

static void test_token_check_not_lowercase_hex_invalid(void **state)
{
    (void)state;
    assert_token_invalid("0123456789ABCDEF0123456789abcdef",
                         "invalid token: expected lowercase hex characters, got byte 0x41 at 10");
    assert_token_invalid("0123456789abcdef0123456789abcdeg",
                         "invalid token: expected lowercase hex characters, got byte 0x67 at 31");
    assert_token_invalid("0123456789abcdef 123456789abcdef",
                         "invalid token: expected lowercase hex characters, got byte 0x20 at 16");
}

static void test_token_attach_checks_format(void **state)
{
    (void)state;
    lc_lease *l = NULL;
    lc_error err;
    lct_assert_rc(lc_lease_attach("a", "abc", &l, &err), LC_ERR_INVALID, &err);
    assert_null(l);
    lct_assert_rc(lc_lease_attach("a", "0123456789abcdef0123456789abcdef", &l, &err), LC_OK, &err);
    lc_lease_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_length_is_32),
        cmocka_unit_test(test_token_only_lowercase_hex),
        cmocka_unit_test(test_token_10000_all_distinct),
        cmocka_unit_test(test_token_threads_10000_all_distinct),
        cmocka_unit_test(test_token_fork_child_draws_other_tokens),
        cmocka_unit_test(test_token_digits_evenly_spread),
        cmocka_unit_test(test_token_check_new_token_ok),
        cmocka_unit_test(test_token_check_wrong_length_invalid),
        cmocka_unit_test(test_token_check_not_lowercase_hex_invalid),
        cmocka_unit_test(test_token_attach_checks_format),
        cmocka_unit_test(test_token_null_error_tolerated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
