/* tests/unit/test_redact.c -- the redactor on valid and malformed URLs,
 * conninfo strings and the messages that quote them: the password never
 * survives, whatever no parser makes of the input. */
#include "testenv.h"

#include "config/redact_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every sample holds this password (or a form of it); no output may. */
#define PW "Hunter2pw"

static void expect_url(const char *in, const char *want)
{
    char *out = lc__redact_url(in);
    assert_non_null(out);
    if (want)
        assert_string_equal(out, want);
    assert_null(strstr(out, PW));
    free(out);
}

static void expect_conninfo(const char *in, const char *want)
{
    char *out = lc__redact_conninfo(in);
    assert_non_null(out);
    if (want)
        assert_string_equal(out, want);
    assert_null(strstr(out, PW));
    free(out);
}

static void test_redact_url_valid_forms_mask_only_the_password(void **state)
{
    (void)state;
    expect_url("redis://user:" PW "@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0");
    expect_url("redis://:" PW "@h", "redis://:***@h");
    expect_url("redis://h:6379/0", "redis://h:6379/0");
    expect_url("redis://user@h/0", "redis://user@h/0");
    expect_url("unix://:" PW "@/tmp/r.sock?db=2", "unix://:***@/tmp/r.sock?db=2");
    expect_url("unix:///tmp/r.sock?db=2&password=" PW, "unix:///tmp/r.sock?db=2&password=***");
    expect_url("redis://h/0?password=" PW "&db=3", "redis://h/0?password=***&db=3");
    expect_url("https://u:" PW "@h/x?api_key=" PW "&a=1", "https://u:***@h/x?api_key=***&a=1");
    expect_url("redis://[::1]:7000/3", "redis://[::1]:7000/3");
    /* An '@' in a query value is not user info. */
    expect_url("postgresql://h:5432/db?user=me@corp", "postgresql://h:5432/db?user=me@corp");
}

/* A password holding "NAME=" with a secret-looking NAME is masked whole,
 * and the host after it stays (the value of that "assignment" is part of
 * the password, not a secret running on over the host). */
static void test_redact_url_assignment_inside_password_keeps_host(void **state)
{
    (void)state;
    expect_url("redis://:mykey=" PW "@h:6379/1", "redis://:***@h:6379/1");
    expect_url("redis://8aKey=:" PW "@6380/1", "redis://8aKey=:***@6380/1"); /* in the user */
    /* A password read without an '@' is cut where the next "://" starts:
     * an assignment in it still counts, its value runs on past the cut. */
    expect_url("redis://h:x/0?password=://" PW, NULL);
    expect_url("redis://u:x" PW "/token=" PW "@h/1", "redis://u:***@h/1");
    expect_url("redis://:pw@h/0?password=" PW "@x&db=1", "redis://:***@h/0?password=***&db=1");
    expect_conninfo("postgresql://u:authkey=" PW "@db:5432/app", "postgresql://u:***@db:5432/app");
    /* ... nor hides a real assignment after it from the scan. */
    expect_url("unix://:&pass='x@/tmp/r.sock?db=5&password=" PW,
               "unix://:***@/tmp/r.sock?db=5&password=***");
    /* Outside a password such a value is masked as before. */
    expect_conninfo("host=h password=" PW "@x user=u", "host=h password=*** user=u");
}

/* Each of these is refused by libcurl or libpq, or read by them some other
 * way than the user meant; the password goes all the same. */
static void test_redact_url_malformed_still_masks_password(void **state)
{
    (void)state;
    expect_url("postgresql://user:" PW "@[127.0.0.1:5432/db",
               "postgresql://user:***@[127.0.0.1:5432/db");
    expect_url("postgresql://user:" PW "%zz@h/db", "postgresql://user:***@h/db");
    expect_url("postgresql://u@h/db?password=" PW "%z", "postgresql://u@h/db?password=***");
    /* Unencoded '/', '@', '?', '#' and ':' in the password. */
    expect_url("redis://u:Hun/ter2pw@h", "redis://u:***@h");
    expect_url("postgresql://u:" PW "/x@h/db", "postgresql://u:***@h/db");
    expect_url("postgresql://u:a@" PW "@h/db", "postgresql://u:***@h/db");
    expect_url("postgresql://u:ab?" PW "@h/db", "postgresql://u:***@h/db");
    expect_url("redis://u:ab#" PW "@h", "redis://u:***@h");
    expect_url("redis://u:a:" PW "@h", "redis://u:***@h");
    /* Unterminated, truncated, upper case, nothing after '@'. */
    expect_url("POSTGRESQL://u:" PW "@", "POSTGRESQL://u:***@");
    expect_url("redis://:" PW "@", "redis://:***@");
    expect_url("x://:" PW "@h ://:" PW "@g", NULL);
    expect_url("?password=" PW, "?password=***");
    expect_url("redis://h?password", "redis://h?password");
    expect_url("redis://h?password=", "redis://h?password=");
    expect_url("", "");
    expect_url("://", "://");
    expect_url(":@", ":@");
}

static void test_redact_conninfo_key_value_forms(void **state)
{
    (void)state;
    expect_conninfo("host=h password=" PW " user=u", "host=h password=*** user=u");
    expect_conninfo("host=h password='pg " PW "' user=u", "host=h password=*** user=u");
    expect_conninfo("host=h password = " PW " user=u", "host=h password = *** user=u");
    expect_conninfo("password='it\\'s " PW "'", "password=***");
    expect_conninfo("password=a\\ " PW " user=u", "password=*** user=u");
    expect_conninfo("sslpassword=" PW " host=h", "sslpassword=*** host=h");
    /* A value whose first byte is '=' keeps nothing of the password. */
    expect_conninfo("password==" PW, "password=***");
    /* Unterminated quote: everything after it. */
    expect_conninfo("host=h password='" PW " user=u", "host=h password=***");
    expect_conninfo("host=h PASSWORD=" PW, "host=h PASSWORD=***");
    /* A URI inside a value loses its password. */
    expect_conninfo("dbname=postgresql://u:" PW "@h/db host=x",
                    "dbname=postgresql://u:***@h/db host=x");
    /* URIs take the URL rules. */
    expect_conninfo("postgresql://app:" PW "@h1:5432,h2/db?password=" PW "&sslmode=require",
                    "postgresql://app:***@h1:5432,h2/db?password=***&sslmode=require");
    expect_conninfo("host=h dbname=app", "host=h dbname=app");
    /* '&' ends a value in a URL's query, not in key=value (libpq reads
     * it as part of the password). */
    expect_conninfo("host=h password=&" PW " user=u", "host=h password=*** user=u");
    expect_conninfo("host=h password=ab&" PW, "host=h password=***");
    expect_conninfo("mydb", "mydb");
    /* A secret-looking NAME inside another value, followed by whitespace:
     * libpq reads the next word as an assignment of its own (found by
     * fuzz_redact in CI). */
    expect_conninfo("host=x?api_key= password=&'" PW, "host=x?api_key= ***");
    expect_conninfo("host=h/x?ap_key= password=&'HX" PW " user=u",
                    "host=h/x?ap_key= *** user=u");
}

static void redact(char *buf, size_t size, const char *msg, const char *source)
{
    snprintf(buf, size, "%s", msg);
    lc__redact_msg(buf, size, source);
}

/* The messages libpq gives for the conninfo strings above. */
static void test_redact_msg_hides_what_libpq_quotes(void **state)
{
    (void)state;
    char buf[256];
    redact(buf, sizeof(buf), "invalid percent-encoded token: \"" PW "%zz\"",
           "postgresql://user:" PW "%zz@h/db");
    assert_string_equal(buf, "invalid percent-encoded token: \"***\"");
    redact(buf, sizeof(buf), "invalid percent-encoded token: \"" PW "%z\"",
           "postgresql://u@h/db?password=" PW "%z");
    assert_string_equal(buf, "invalid percent-encoded token: \"***\"");
    redact(buf, sizeof(buf),
           "end of string reached when looking for matching \"]\" in IPv6 host address in URI: "
           "\"postgresql://user:" PW "@[127.0.0.1:5432/db\"",
           "postgresql://user:" PW "@[127.0.0.1:5432/db");
    assert_string_equal(buf, "end of string reached when looking for matching \"]\" in IPv6 host "
                             "address in URI: \"postgresql://user:***@[127.0.0.1:5432/db\"");
    /* Decoded and unquoted forms of the password are hidden too. */
    redact(buf, sizeof(buf), "server said: Hun ter2pw!", "postgresql://u:Hun%20ter2pw@h/db");
    assert_string_equal(buf, "server said: ***!");
    redact(buf, sizeof(buf), "got it's Hunter2pw", "host=h password='it\\'s Hunter2pw'");
    assert_string_equal(buf, "got ***");
    redact(buf, sizeof(buf), "said pw&Hunter2pw", "host=h password=pw&Hunter2pw");
    assert_string_equal(buf, "said ***");
    /* A quote opening a value in a query does not hide the password
     * after it (a URL has no quoting: libcurl reads ?password= as is). */
    redact(buf, sizeof(buf), "denied for Hunter2pw", "redis://h/0?pass='x&password=Hunter2pw");
    assert_string_equal(buf, "denied for ***");
    redact(buf, sizeof(buf), "denied for Hunter2pw", "unix:///tmp/key=a?db=0&password=Hunter2pw");
    assert_string_equal(buf, "denied for ***");
    redact(buf, sizeof(buf), "denied for Hunter2pw", "unix:///tmp/key=a?password=Hunter2pw");
    assert_string_equal(buf, "denied for ***");
    /* A password libpq misread as a port. */
    redact(buf, sizeof(buf), "invalid integer value \"Hun\" for connection option \"port\"",
           "postgresql://u:Hun/ter@h/db");
    assert_string_equal(buf, "invalid integer value \"***\" for connection option \"port\"");
}

/* Without a source: whatever looks like a secret. */
static void test_redact_msg_generic_patterns(void **state)
{
    (void)state;
    char buf[256];
    redact(buf, sizeof(buf), "missing \"=\" after \"POSTGRESQL://u:" PW "@h/db\" in string", NULL);
    assert_string_equal(buf, "missing \"=\" after \"POSTGRESQL://u:***@h/db\" in string");
    redact(buf, sizeof(buf), "unsupported query 'password=" PW "'", NULL);
    assert_null(strstr(buf, PW));
    redact(buf, sizeof(buf), "bad: host=h password = '" PW " x' port=1", NULL);
    assert_string_equal(buf, "bad: host=h password = *** port=1");
    redact(buf, sizeof(buf), "url redis://h?db=1&token=" PW "&x=2 done", NULL);
    assert_string_equal(buf, "url redis://h?db=1&token=***&x=2 done");
    redact(buf, sizeof(buf), "nothing secret: 127.0.0.1:6379 a=b", NULL);
    assert_string_equal(buf, "nothing secret: 127.0.0.1:6379 a=b");
}

/* Short passwords are hidden where they stand alone, not inside words. */
static void test_redact_msg_short_password_only_as_token(void **state)
{
    (void)state;
    char buf[256];
    redact(buf, sizeof(buf), "unable: \"ab\"", "postgresql://u:ab@h/db");
    assert_string_equal(buf, "unable: \"***\"");
}

/* A message already cut inside the password: its tail goes. */
static void test_redact_msg_cut_inside_password_masks_tail(void **state)
{
    (void)state;
    char buf[24];
    const char *src = "postgresql://u:" PW "@h/db";
    redact(buf, sizeof(buf), "12345678901234567890Hun", src); /* 23 bytes: cut */
    assert_string_equal(buf, "12345678901234567890***");
    /* Not cut: a tail that begins the password stays. */
    redact(buf, sizeof(buf), "say Hun", src);
    assert_string_equal(buf, "say Hun");
}

/* Masks can make a message longer: it is cut to the buffer, never past. */
static void test_redact_msg_output_fits_buffer(void **state)
{
    (void)state;
    char buf[12];
    redact(buf, sizeof(buf), "a b c d e f", "postgresql://u:a@h/db");
    assert_true(strlen(buf) < sizeof(buf));
    assert_string_equal(buf, "*** b c d e");
    lc__redact_msg(NULL, 10, NULL);
    char one[1] = {'x'};
    lc__redact_msg(one, 1, PW);
    assert_int_equal(one[0], '\0');
}

/* A password that decodes to a NUL first (%00) is no empty secret: the
 * message is scanned once, not past its end. */
static void test_redact_msg_password_decoding_to_nul_is_no_empty_secret(void **state)
{
    (void)state;
    char buf[256];
    redact(buf, sizeof(buf), "redis.url: unknown query parameter 'x'", "redis://:%00@h/?x=1");
    assert_string_equal(buf, "redis.url: unknown query parameter 'x'");
    redact(buf, sizeof(buf), "said Hun", "postgresql://u:%00Hun%00ter@h/db");
    assert_string_equal(buf, "said Hun");
}

/* Every cut of a URL with a password, redacted, shows no 4-byte piece of
 * it: no prefix of the input confuses the scanner into letting it out. */
static void test_redact_every_prefix_of_url_hides_password(void **state)
{
    (void)state;
    const char *inputs[] = {"postgresql://user:" PW "@[::1]:5432/db?password=" PW,
                            "host=h password='" PW "' user=u", "redis://u:" PW "@h/0"};
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        size_t n = strlen(inputs[k]);
        for (size_t cut = 0; cut <= n; cut++) {
            char *in = strndup(inputs[k], cut);
            assert_non_null(in);
            char *u = lc__redact_url(in), *c = lc__redact_conninfo(in);
            char msg[256];
            redact(msg, sizeof(msg), in, in);
            for (size_t i = 0; i + 4 <= strlen(PW); i++) {
                char piece[5];
                memcpy(piece, &PW[i], 4);
                piece[4] = '\0';
                if (strstr(u, piece) || strstr(c, piece) || strstr(msg, piece))
                    fail_msg("'%s' leaks '%s': url '%s' conninfo '%s' msg '%s'", in, piece, u, c,
                             msg);
            }
            free(u);
            free(c);
            free(in);
        }
    }
}

/* This process's CPU time in ms: what the redactor itself spent, whatever
 * else loads the machine. */
static int64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A megabyte of repetitive or hostile text is redacted in linear time:
 * each URL ends where the next "://" starts, repeated secrets are searched
 * once. The bound is CPU time, many times the expected fraction of a
 * second even under TSan; quadratic work on a megabyte (10^12 steps)
 * would take far longer. */
static void test_redact_megabyte_of_nasty_input_in_seconds(void **state)
{
    (void)state;
    static const char *const pats[] = {"://",     "://a@", "password=a ", "://[",    "@",
                                       "://u:p/", "'",     "password='",  "://h:x/", "a=b&"};
    size_t cap = (1u << 20) + 64;
    char *buf = malloc(cap);
    assert_non_null(buf);
    int64_t t0 = cpu_ms();
    for (size_t k = 0; k < sizeof(pats) / sizeof(pats[0]); k++) {
        size_t pl = strlen(pats[k]), n = 0;
        while (n + pl < cap - 1) {
            memcpy(buf + n, pats[k], pl);
            n += pl;
        }
        buf[n] = '\0';
        char *u = lc__redact_url(buf), *c = lc__redact_conninfo(buf), msg[1024];
        assert_non_null(u);
        assert_non_null(c);
        snprintf(msg, sizeof(msg), "%s", buf);
        lc__redact_msg(msg, sizeof(msg), buf);
        free(u);
        free(c);
    }
    size_t n = 0;
    for (int i = 0; n + 40 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "://u:p%d@ password=%d ", i, i);
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", buf);
    lc__redact_msg(msg, sizeof(msg), buf);
    assert_null(strstr(msg, "p1@"));
    assert_true(cpu_ms() - t0 < 60000);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_url_valid_forms_mask_only_the_password),
        cmocka_unit_test(test_redact_url_malformed_still_masks_password),
        cmocka_unit_test(test_redact_conninfo_key_value_forms),
        cmocka_unit_test(test_redact_url_assignment_inside_password_keeps_host),
        cmocka_unit_test(test_redact_msg_hides_what_libpq_quotes),
        cmocka_unit_test(test_redact_msg_generic_patterns),
        cmocka_unit_test(test_redact_msg_short_password_only_as_token),
        cmocka_unit_test(test_redact_msg_cut_inside_password_masks_tail),
        cmocka_unit_test(test_redact_msg_output_fits_buffer),
        cmocka_unit_test(test_redact_msg_password_decoding_to_nul_is_no_empty_secret),
        cmocka_unit_test(test_redact_every_prefix_of_url_hides_password),
        cmocka_unit_test(test_redact_megabyte_of_nasty_input_in_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
